"""``cosem-reader decode``: captures to readings, and one clear line for every user error."""

from __future__ import annotations

import io
import itertools
import json
import select
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosem_reader import __version__
from cosem_reader.app.captures import HexTextReader, parse_hex_text
from cosem_reader.app.cli import main
from cosem_reader.errors import CosemReaderError
from cosem_reader.pipeline.decoder import StreamDecoder
from cosem_reader.security.ciphering import parse_ciphered_apdu
from tests.support.encoder import (
    Register,
    ciphered_push,
    data_notification,
    flat_body,
    kaifa_ma309m_body,
    mbus_push,
)
from tests.support.make_demo import DEMO_KEY, demo_capture
from tests.support.vectors import vector_params

KEY = bytes(range(16, 32))
TITLE = b"KFM\x10\x10\x00\x00\x42"
LLC = b"\xe6\xe7\x00"
BUNDLED_DEMO = Path(__file__).parents[2] / "src/cosem_reader/demo/kaifa-ma309m-demo.bin"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_push(frame_counter: int = 7, flat: bool = False) -> bytes:
    return mbus_push(one_apdu(frame_counter, flat))


def one_apdu(frame_counter: int = 7, flat: bool = False) -> bytes:
    moment = datetime(2024, 7, 1, 10, 30, 5)
    registers = [
        Register("1.0.1.8.0.255", 1327456, "double-long-unsigned", 0, 30),
        Register("1.0.32.7.0.255", 2292, "long-unsigned", -1, 35),
        Register("1.0.13.7.0.255", 998, "long-unsigned", -3, 255),
    ]
    if flat:
        body = flat_body(moment, registers, "181220000009", deviation=-120)
    else:
        body = kaifa_ma309m_body(
            moment, registers, "1KFM0200234804", "KFM1200200234804", -120, True
        )
    plaintext = data_notification(body, invoke_id=0x8006870E)
    return ciphered_push(plaintext, KEY, TITLE, frame_counter)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "capture.bin"
    path.write_bytes(one_push(7) + one_push(8, flat=True))
    return path


def test_json_lines_carry_exact_values_units_names_and_time(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One JSON object per push: OBIS keys, exact decimals, units, names, ISO time with offset."""
    code, out, err = run(["decode", "--key", KEY.hex(), str(capture)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    first: dict[str, Any] = json.loads(lines[0])
    assert first["timestamp"] == "2024-07-01T10:30:05+02:00"
    assert first["system_title"] == TITLE.hex().upper()
    assert first["frame_counter"] == 7
    assert first["values"]["1-0:1.8.0"] == {
        "value": 1327456,
        "unit": "Wh",
        "name": "Active energy import (+A)",
    }
    assert '"value": 229.2' in lines[0]
    assert '"value": 0.998' in lines[0]
    assert first["values"]["1-0:13.7.0"]["unit"] is None
    assert first["values"]["0-0:96.1.0"]["value"] == "1KFM0200234804"
    flat: dict[str, Any] = json.loads(lines[1])
    assert flat["values_by_position"]["10"]["value"] == "181220000009"
    assert flat["values_by_position"]["0"]["value"] == "2024-07-01T10:30:05+02:00"
    assert flat["values"]["1-0:32.7.0"]["value"] == 229.2


def test_text_format_in_german(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The text table names the values in German when asked."""
    code, out, _ = run(
        ["decode", "--format", "text", "--language", "de", "--key", KEY.hex(), str(capture)], capsys
    )
    assert code == 0
    assert "Spannung L1" in out
    assert "229.2 V" in out
    assert "(ohne OBIS-Code)" in out


def test_hex_capture_with_whitespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--hex reads hex text, whitespace and line breaks ignored."""
    wire = one_push().hex().upper()
    path = tmp_path / "capture.hex"
    path.write_text("\n".join(wire[i : i + 64] for i in range(0, len(wire), 64)) + "\n")
    code, out, _ = run(["decode", "--hex", "--key", KEY.hex(), str(path)], capsys)
    assert code == 0
    assert json.loads(out)["frame_counter"] == 7


def test_without_key_prints_the_security_header(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key: each APDU's security header, and a line saying a key is needed."""
    code, out, err = run(["decode", "--format", "text", str(capture)], capsys)
    assert code == 0
    assert "system title 4B464D1010000042 (Kaifa)" in out
    assert "security control 0x21 (suite 1, encrypted)" in out
    assert "frame counter 7" in out
    assert "pass --key" in err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    assert "Traceback" not in err
    return lines[0]


def test_wrong_key_is_one_line_and_non_zero(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong key: one line naming the key as the problem, exit 65, no traceback."""
    code, out, err = run(["decode", "--key", "00" * 16, str(capture)], capsys)
    assert code == 65
    assert out == ""
    line = _one_error_line(err)
    assert "wrong key" in line
    assert "00" * 16 not in err


def test_truncated_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture cut in the middle of a push: the complete push decodes, the cut one is a
    warning (a capture stopped with Ctrl-C ends like this), and every complete push decoded."""
    path = tmp_path / "cut.bin"
    wire = one_push(7) + one_push(8)
    path.write_bytes(wire[: len(wire) - 40])
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 1
    first = _one_error_line(err)
    assert "warning" in first
    assert "truncated" in first
    assert "1 push(es) decoded, 0 failed, 1 warning(s)" in err


def test_partial_first_push_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture started in the middle of a push (as `cat /dev/ttyUSB0` does): exit 0."""
    path = tmp_path / "late.bin"
    path.write_bytes(one_push(7)[50:] + one_push(8))
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 0, err
    assert [json.loads(line)["frame_counter"] for line in out.splitlines()] == [8]
    assert "frame warning: " in _one_error_line(err)
    assert "warning(s)" in err


def test_a_failed_complete_push_among_good_ones_is_exit_65(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A complete push that does not decode (here: the first byte of its ciphertext
    altered, the frames checksummed afterwards) fails the run though the others decoded."""
    damaged = bytearray(one_apdu(8))
    damaged[len(damaged) - len(parse_ciphered_apdu(bytes(damaged)).ciphertext)] ^= 0xFF
    path = tmp_path / "mixed.bin"
    path.write_bytes(one_push(7) + mbus_push(bytes(damaged)))
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 65
    assert len(out.splitlines()) == 1
    assert "1 push(es) decoded, 1 failed" in err


@pytest.mark.parametrize("layer", ["auto", "raw"])
def test_llc_pdus_without_hdlc(
    layer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`E6 E7 00` and the APDU, as P1 dongles hand pushes on: --layer raw and auto read them."""
    path = tmp_path / "llc.bin"
    path.write_bytes(LLC + one_apdu(7) + LLC + one_apdu(8, flat=True))
    code, out, err = run(["decode", "--layer", layer, "--key", KEY.hex(), str(path)], capsys)
    assert code == 0, err
    assert [json.loads(line)["frame_counter"] for line in out.splitlines()] == [7, 8]
    assert err == ""


def test_llc_pdus_joined_in_the_middle_of_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A P1 line of LLC PDUs read from the middle of one: the rest of that one is passed
    over, every whole one decodes."""
    pushes = [LLC + one_apdu(counter) for counter in range(120)]
    path = tmp_path / "llc-late.bin"
    path.write_bytes(pushes[0][20:] + b"".join(pushes[1:]))
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 0, err
    assert [json.loads(line)["frame_counter"] for line in out.splitlines()] == list(range(1, 120))


@pytest.mark.parametrize("vector", vector_params(lambda v: v["link_layer"] == "hdlc"))
def test_llc_pdus_of_real_hdlc_pushes(vector: dict[str, Any]) -> None:
    """The LLC PDUs inside each real HDLC push, without their frames, decode the same."""
    key = bytes.fromhex(vector["key"]) if vector["key"] else None
    link_apdus: list[bytes] = []
    framed = StreamDecoder(key=key, layer="hdlc", on_link_apdu=link_apdus.append)
    expected = framed.feed(bytes.fromhex(vector["hex"])) + framed.flush()
    expected = [r for r in expected if not isinstance(r, CosemReaderError)]
    assert expected
    bare = StreamDecoder(key=key)
    llc_pdus = b"".join(LLC + apdu for apdu in link_apdus)
    found = bare.feed(llc_pdus) + bare.flush()
    assert bare.active_layer == "raw"
    assert [r for r in found if not isinstance(r, CosemReaderError)] == expected


@pytest.mark.parametrize("vector", vector_params(lambda v: v["link_layer"] == "hdlc"))
def test_stray_bytes_after_a_real_hdlc_push(
    vector: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A few stray bytes after the last HDLC frame: the push decodes, a warning, exit 0."""
    path = tmp_path / "stray.bin"
    path.write_bytes(bytes.fromhex(vector["hex"]) + b"\x00\x12\x34")
    argv = ["decode", str(path)] + (["--key", vector["key"]] if vector["key"] else [])
    if vector["auth_key"]:
        argv += ["--auth-key", vector["auth_key"]]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out
    assert "skipped 3 stray bytes after an HDLC frame" in err
    assert "Traceback" not in err


def test_non_hex_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--hex on text that is not hex: one line saying where, exit 66."""
    path = tmp_path / "capture.hex"
    path.write_text("68 FA FA 68 5G\n")
    code, _, err = run(["decode", "--hex", str(path)], capsys)
    assert code == 66
    assert "not hex: character 'G'" in _one_error_line(err)


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A capture that does not exist: one line, exit 66."""
    code, _, err = run(["decode", "/nonexistent/capture.bin"], capsys)
    assert code == 66
    assert "does not exist" in _one_error_line(err)


def test_malformed_key_never_echoes_the_key(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key of the wrong length is a config error that does not print the key."""
    code, _, err = run(["decode", "--key", "ABCDEF0123", str(capture)], capsys)
    assert code == 78
    assert "32 hex digits" in _one_error_line(err)
    assert "ABCDEF0123" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    """--debug, before or after the subcommand, re-raises instead of the one-line message."""
    argv = ["decode", "/nonexistent/capture.bin"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(OSError, match="does not exist"):
        main(argv)


def test_key_with_0x_prefix_names_the_prefix(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--key 0x…` (as some portals show it): the error names the prefix, not a position."""
    code, _, err = run(["decode", "--key", "0x" + KEY.hex(), str(capture)], capsys)
    assert code == 78
    assert "0x" in _one_error_line(err)
    assert "without the 0x prefix" in err
    assert KEY.hex() not in err


def test_hex_text_without_hex_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hex text given without --hex: one line that says to add --hex."""
    path = tmp_path / "capture.txt"
    path.write_text(one_push().hex(" ").upper() + "\n")
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 66
    assert out == ""
    line = _one_error_line(err)
    assert "add --hex" in line
    assert len(err.splitlines()) == 1


def test_zero_runs_are_no_pushes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`0F 00 00 00 00 00 00` decodes as a data-notification of null-data, and runs of it
    (every binary file has zero runs) passed for bare APDUs: no readings, one line, 65."""
    path = tmp_path / "zeros.bin"
    path.write_bytes(b"\x01\x02" + b"\x0f\x00\x00\x00\x00\x00\x00" * 4000)
    code, out, err = run(["decode", str(path)], capsys)
    assert code == 65
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "no meter push in" in _one_error_line(err)


@pytest.mark.skipif(shutil.which("ls") is None, reason="no ls binary to feed")
def test_a_file_that_is_no_capture(capsys: pytest.CaptureFixture[str]) -> None:
    """A program instead of a capture: no readings, one line, exit 65 (its zero runs and
    x86 code used to pass for data-notifications)."""
    code, out, err = run(["decode", str(shutil.which("ls"))], capsys)
    assert code == 65
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "no meter push in" in _one_error_line(err)


def test_stdin_and_layer_flag() -> None:
    """'-' reads standard input; --layer mbus forces the link layer."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosem_reader",
            "decode",
            "--layer",
            "mbus",
            "--key",
            KEY.hex(),
            "-",
        ],
        input=one_push(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["frame_counter"] == 7


def test_bundled_demo_capture_is_what_the_encoder_writes() -> None:
    """The demo capture shipped in the package comes from our encoder (run `make demo-capture`)."""
    assert BUNDLED_DEMO.read_bytes() == demo_capture()


def test_demo_decodes(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo capture decodes with the demo key into three pushes."""
    code, out, _ = run(["decode", "--key", DEMO_KEY.hex(), str(BUNDLED_DEMO)], capsys)
    assert code == 0
    assert len(out.splitlines()) == 3


def test_version_starts_without_the_heavy_imports() -> None:
    """`--version` answers without importing cryptography, paho or pyserial."""
    script = (
        "import sys\n"
        "from cosem_reader.app.cli import main\n"
        "main(['--version'])\n"
        "print(sorted(m for m in ('cryptography', 'paho', 'serial') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [f"cosem-reader {__version__}", "[]"]


def test_decode_starts_without_the_daemon_imports(capture: Path) -> None:
    """`decode` leaves out what only the other commands use: the daemon, its settings,
    MQTT and paho, the discovery command, the demo's resource look-up."""
    unused = (
        "paho",
        "serial",
        "cosem_reader.app.daemon",
        "cosem_reader.app.config",
        "cosem_reader.app.discovery_command",
        "cosem_reader.output.mqtt",
        "importlib.resources",
    )
    script = (
        "import sys\n"
        "from cosem_reader.app.cli import main\n"
        f"code = main(['--debug', 'decode', '--key', '{KEY.hex()}', sys.argv[1]])\n"
        f"print(code, sorted(m for m in {unused!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(capture)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stdout.splitlines()[-1] == "0 []"


class _CountingOutput(io.StringIO):
    """Standard output that counts its writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


@pytest.mark.parametrize("output_format", ["json", "text", "xml"])
def test_the_pushes_of_one_read_are_one_write(
    capture: Path, output_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unbuffered standard output (PYTHONUNBUFFERED, as the container sets) costs a system
    call per write: the pushes of one chunk of input go out in one."""
    output = _CountingOutput()
    monkeypatch.setattr(sys, "stdout", output)
    assert main(["decode", "--key", KEY.hex(), "--format", output_format, str(capture)]) == 0
    assert output.getvalue().count("frame counter" if output_format == "text" else "\n") >= 2
    assert output.writes == 1


def _read_line_within(stream: IO[bytes], seconds: float) -> bytes:
    """The next line of a child's output, or b"" when none came in time."""
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else b""


def test_stdin_prints_each_push_as_it_arrives() -> None:
    """`cat /dev/ttyUSB0 | cosem-reader decode -`: a push written to a pipe that stays
    open is printed at once, not at the end of the input."""
    command = [sys.executable, "-m", "cosem_reader", "decode", "--key", KEY.hex(), "-"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            # The first push also waits for the interpreter to start.
            child.stdin.write(one_push(7))
            child.stdin.flush()
            first = _read_line_within(child.stdout, 30)
            assert json.loads(first)["frame_counter"] == 7
            child.stdin.write(one_push(8))
            child.stdin.flush()
            second = _read_line_within(child.stdout, 1)
            assert second, "the second push was not printed within a second"
            assert json.loads(second)["frame_counter"] == 8
        finally:
            child.stdin.close()
            child.wait(timeout=30)
    assert child.returncode == 0


@settings(max_examples=50)
@given(
    data=st.binary(max_size=64),
    separators=st.lists(st.sampled_from(["", " ", "\n", ":", ", ", "0x", "\r\n"]), min_size=1),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_hex_text_read_in_pieces_is_the_whole_text(
    data: bytes, separators: list[str], cuts: list[int]
) -> None:
    """Hex text cut anywhere (inside a digit pair, between `0` and `x`) reads as the whole."""
    text = "".join(
        separators[index % len(separators)] + f"{byte:02X}" for index, byte in enumerate(data)
    ).encode()
    reader = HexTextReader("test")
    pieces = [text[a:b] for a, b in itertools.pairwise([0, *sorted(cuts), len(text)])]
    assert b"".join(reader.feed(piece) for piece in pieces) + reader.flush() == data
    assert parse_hex_text(text.decode(), "test") == data


@pytest.mark.parametrize("vector", vector_params(lambda v: v["id"] == "no-kaifa-ma304h3e-list1"))
def test_stdin_prints_a_short_push_without_waiting_for_more(vector: dict[str, Any]) -> None:
    """A 41-byte push (Kaifa MA304 list 1) alone on an open pipe is printed: telling hex
    text from meter bytes does not hold back what is plainly not text."""
    command = [sys.executable, "-m", "cosem_reader", "decode", "-"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(bytes.fromhex(vector["hex"]))
            child.stdin.flush()
            line = _read_line_within(child.stdout, 30)
            assert line, "the push was not printed while the pipe stayed open"
            assert json.loads(line)["values"]
        finally:
            child.stdin.close()
            child.wait(timeout=30)


def test_auth_key_rejects_untagged_pushes_unless_told_not_to(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --auth-key only authenticated pushes count; the error says how to turn that off."""
    auth_key = bytes(range(32, 48)).hex()
    code, out, err = run(["decode", "--key", KEY.hex(), "--auth-key", auth_key, str(capture)],
                         capsys)
    assert code != 0
    assert out == ""
    assert "push rejected: it has no authentication tag" in err
    assert "--no-require-authentication" in err
    code, out, err = run(["decode", "--key", KEY.hex(), "--auth-key", auth_key,
                          "--no-require-authentication", str(capture)], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 2
