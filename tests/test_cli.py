"""``cosem-reader decode``: captures to readings, and one clear line for every user error."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.encoder import (
    Register,
    ciphered_push,
    data_notification,
    flat_body,
    kaifa_ma309m_body,
    mbus_push,
)
from support.make_demo import DEMO_KEY, demo_capture

from cosem_reader import __version__
from cosem_reader.cli import main

KEY = bytes(range(16, 32))
TITLE = b"KFM\x10\x10\x00\x00\x42"
BUNDLED_DEMO = Path(__file__).parent.parent / "src/cosem_reader/demo/kaifa-ma309m-demo.bin"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_push(frame_counter: int = 7, flat: bool = False) -> bytes:
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
    return mbus_push(ciphered_push(plaintext, KEY, TITLE, frame_counter))


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
    """A capture cut in the middle of a push: the complete push decodes, the cut one is named."""
    path = tmp_path / "cut.bin"
    wire = one_push(7) + one_push(8)
    path.write_bytes(wire[: len(wire) - 40])
    code, out, err = run(["decode", "--key", KEY.hex(), str(path)], capsys)
    assert code == 65
    assert len(out.splitlines()) == 1
    assert "truncated" in _one_error_line(err)


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


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """--debug re-raises instead of the one-line message."""
    with pytest.raises(OSError, match="does not exist"):
        main(["--debug", "decode", "/nonexistent/capture.bin"])


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
        "from cosem_reader.cli import main\n"
        "main(['--version'])\n"
        "print(sorted(m for m in ('cryptography', 'paho', 'serial') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [f"cosem-reader {__version__}", "[]"]


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
