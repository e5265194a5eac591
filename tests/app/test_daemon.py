"""``cosem-reader read`` end to end: a pty as the meter's port, the daemon in a subprocess.

Pushes come from the project's own encoder (tests/support/encoder.py).  Every wait
has a timeout, so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from cosem_reader.app.daemon import RedactingFilter, configure_logging
from tests.support.broker import Broker, broker_fixture  # noqa: F401  (the fixture)
from tests.support.daemon import KEY, SYSTEM_TITLE, WRONG_KEY, Daemon, push, run_python
from tests.support.dsmr_telegrams import telegram
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import Subscriber

FRAME_COUNTER = re.compile(r'"frame_counter": (\d+)')


def frame_counters(lines: list[str]) -> list[int]:
    """The frame counter of each JSON reading line."""
    return [json.loads(line)["frame_counter"] for line in lines if line.startswith("{")]


def read_args(meter: PtyMeter, *extra: str, key: bytes = KEY) -> list[str]:
    return ["--port", str(meter.path), "--key", key.hex(), "--stall-timeout", "30", *extra]


class TestSerial:
    def test_start_mid_push_then_every_push_decodes(self, meter: PtyMeter) -> None:
        """The cut first push is skipped quietly; each following push gives one JSON line."""
        daemon = Daemon(read_args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0)[137:])
            for index in (1, 2, 3):
                meter.write(push(index))
            daemon.wait_for_readings(3)
            assert frame_counters(daemon.stdout) == [1001, 1002, 1003]
            reading = json.loads(daemon.stdout[0])
            assert reading["system_title"] == SYSTEM_TITLE.hex().upper()
            assert reading["values"]["1-0:1.8.0"]["unit"] == "Wh"
            assert not any("WARNING" in line or "ERROR" in line for line in daemon.stderr), (
                daemon.output()
            )
        finally:
            assert daemon.stop() == 0

    def test_reading_is_handed_on_when_its_last_byte_arrives(self, meter: PtyMeter) -> None:
        """No idle timeout: the push is out while the line stays busy with the next one,
        and a piped stdout is flushed when the input has nothing more (not buffered)."""
        daemon = Daemon(read_args(meter), env={"PYTHONUNBUFFERED": ""})
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0))
            daemon.wait_for_readings(1)
            following = push(1)
            meter.write(push(1)[:10])
            sent = time.monotonic()
            meter.write(following[10:])
            daemon.wait_for_readings(2, timeout=5)
            assert time.monotonic() - sent < 2.0
        finally:
            assert daemon.stop() == 0

    def test_unplug_and_replug(self, meter: PtyMeter) -> None:
        """Pulling the adapter is logged once; the daemon reopens the port and reads on."""
        daemon = Daemon(read_args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0))
            daemon.wait_for_readings(1)
            meter.unplug()
            daemon.wait_for_stderr("lost")
            time.sleep(1.5)
            meter.replug()
            daemon.wait_for_stderr("is back", timeout=20)
            meter.write(push(1))
            meter.write(push(2))
            daemon.wait_for_readings(3)
            assert frame_counters(daemon.stdout) == [1000, 1001, 1002]
            warnings = [line for line in daemon.stderr if "WARNING" in line]
            assert len(warnings) == 1, daemon.output()
            assert "ttyMETER" in warnings[0]
        finally:
            assert daemon.stop() == 0

    def test_port_absent_at_start_is_waited_for(self, tmp_path: Path) -> None:
        """A daemon waits for the adapter to appear, saying so once."""
        path = tmp_path / "ttyLATER"
        daemon = Daemon(["--port", str(path), "--key", KEY.hex()])
        meter = None
        try:
            daemon.wait_for_stderr("waiting for it")
            assert "/dev/serial/by-id" in "\n".join(daemon.stderr)
            meter = PtyMeter(path)
            daemon.wait_for_stderr("reading serial port", timeout=20)
            meter.write(push(4))
            daemon.wait_for_readings(1)
        finally:
            assert daemon.stop() == 0
            if meter is not None:
                meter.close()

    def test_once_with_missing_port_exits_69(self, tmp_path: Path) -> None:
        """With --once the first failure to open is final: exit code 69 and the reason."""
        daemon = Daemon(["--port", str(tmp_path / "nothing"), "--key", KEY.hex(), "--once"])
        assert daemon.wait() == 69
        assert any("cannot open serial port" in line for line in daemon.stderr), daemon.output()

    def test_once_with_a_missing_port_named_capture_exits_69(self, tmp_path: Path) -> None:
        """A port is no capture file, whatever its name holds (it once ended with 66)."""
        daemon = Daemon(["--port", str(tmp_path / "capture"), "--key", KEY.hex(), "--once"])
        assert daemon.wait() == 69
        assert any("cannot open serial port" in line for line in daemon.stderr), daemon.output()

    def test_stall_is_reported_once_and_recovers(self, meter: PtyMeter) -> None:
        """A silent port is reported once per silence, then reading resumes by itself."""
        daemon = Daemon(["--port", str(meter.path), "--key", KEY.hex(), "--stall-timeout", "1"])
        try:
            daemon.wait_for_stderr("reading serial port")
            daemon.wait_for_stderr("no bytes from", timeout=10)
            time.sleep(2.5)
            assert sum("no bytes from" in line for line in daemon.stderr) == 1, daemon.output()
            meter.write(push(5))
            daemon.wait_for_readings(1)
            daemon.wait_for_stderr("delivers bytes again")
        finally:
            assert daemon.stop() == 0

    def test_record_writes_the_raw_bytes(self, meter: PtyMeter, tmp_path: Path) -> None:
        """--record appends exactly the bytes the port delivered, cut first push included."""
        record = tmp_path / "capture.bin"
        daemon = Daemon(read_args(meter, "--record", str(record)))
        wire = push(0)[50:] + push(1) + push(2)
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(wire)
            daemon.wait_for_readings(2)
        finally:
            assert daemon.stop() == 0
        assert record.read_bytes() == wire
        assert KEY not in record.read_bytes()
        assert KEY.hex().encode() not in record.read_bytes().lower()


class TestWrongKey:
    def test_one_clear_line_and_it_keeps_running(self, meter: PtyMeter) -> None:
        """A wrong key: one error line naming the key as the cause, no crash, no readings."""
        daemon = Daemon(read_args(meter, key=WRONG_KEY))
        try:
            daemon.wait_for_stderr("reading serial port")
            for index in range(4):
                meter.write(push(index))
            daemon.wait_for_stderr("wrong key")
            time.sleep(1.0)
            assert daemon.process.poll() is None, daemon.output()
            errors = [line for line in daemon.stderr if "ERROR" in line]
            assert len(errors) == 1, daemon.output()
            assert "wrong key" in errors[0]
            assert "key" in errors[0].split("wrong key", 1)[1] or "32 hex" in errors[0]
            assert daemon.stdout == []
        finally:
            assert daemon.stop() == 0

    def test_once_with_wrong_key_exits_65(self, tmp_path: Path) -> None:
        """--once with a wrong key ends at once with EX_DATAERR, not after waiting forever."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0) + push(1))
        daemon = Daemon(["--replay", str(capture), "--key", WRONG_KEY.hex(), "--once"])
        assert daemon.wait() == 65
        assert sum("wrong key" in line for line in daemon.stderr) == 1, daemon.output()


class TestReplay:
    def test_a_run_without_mqtt_loads_neither_paho_nor_ssl(self, tmp_path: Path) -> None:
        """MQTT and TLS code (10 MB of memory) is loaded only when a publisher connects."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0) + push(1))
        code = (
            "import sys\n"
            "from cosem_reader.app.cli import main\n"
            f"code = main(['read', '--replay', {str(capture)!r}, '--key', {KEY.hex()!r}])\n"
            "print('loaded', code, sorted(n for n in sys.modules if n.split('.')[0] in "
            "{'paho', 'ssl', '_ssl'}))\n"
        )
        result = run_python(code, tmp_path)
        assert frame_counters(result.stdout.splitlines()) == [1000, 1001], result.stderr
        assert result.stdout.splitlines()[-1] == "loaded 0 []"

    def test_replay_once(self, tmp_path: Path) -> None:
        """--replay --once prints the first reading and exits 0."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0) + push(1) + push(2))
        daemon = Daemon(["--replay", str(capture), "--key", KEY.hex(), "--once"])
        assert daemon.wait() == 0, daemon.output()
        assert frame_counters(daemon.stdout) == [1000]

    def test_replay_hex_to_the_end(self, tmp_path: Path) -> None:
        """A hex capture is replayed through to its end; exit 0."""
        capture = tmp_path / "capture.hex"
        capture.write_text("\n".join(push(i).hex(" ") for i in range(3)) + "\n", "ascii")
        daemon = Daemon(["--replay", str(capture), "--hex", "--key", KEY.hex()])
        assert daemon.wait() == 0, daemon.output()
        assert frame_counters(daemon.stdout) == [1000, 1001, 1002]

    def test_replay_realtime_keeps_the_pace(self, tmp_path: Path) -> None:
        """--realtime waits the meter's 5 s between two pushes."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0) + push(1))
        started = time.monotonic()
        daemon = Daemon(["--replay", str(capture), "--key", KEY.hex(), "--realtime"])
        assert daemon.wait() == 0, daemon.output()
        assert time.monotonic() - started >= 4.5
        assert frame_counters(daemon.stdout) == [1000, 1001]

    def test_missing_capture_exits_66(self, tmp_path: Path) -> None:
        """A replay file that does not exist: one line, EX_NOINPUT."""
        daemon = Daemon(["--replay", str(tmp_path / "missing.bin"), "--key", KEY.hex()])
        assert daemon.wait() == 66
        assert any("does not exist" in line for line in daemon.stderr), daemon.output()

    def test_bad_hex_in_a_replay_exits_66(self, tmp_path: Path) -> None:
        """Hex text that is not hex is unusable input (66) whatever the file is called.

        The code was chosen by the word "capture" in the message, so a file named
        otherwise ended with 69, the code of a port that cannot be opened.
        """
        replay = tmp_path / "meter.hex"
        replay.write_text("68 FA FA 68 5G\n", "ascii")
        daemon = Daemon(["--replay", str(replay), "--hex", "--key", KEY.hex()])
        assert daemon.wait() == 66
        assert any("not hex" in line for line in daemon.stderr), daemon.output()

    def test_an_unwritable_recording_exits_69_whatever_its_name(self, tmp_path: Path) -> None:
        """A recording that cannot be written is no missing input, even named capture.bin."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0))
        record = tmp_path / "absent" / "capture.bin"
        daemon = Daemon(["--replay", str(capture), "--record", str(record), "--key", KEY.hex()])
        assert daemon.wait() == 69
        assert any("cannot write the recording" in line for line in daemon.stderr), (
            daemon.output()
        )

    def test_line_format_on_request(self, tmp_path: Path) -> None:
        """--format line prints one short line per reading with units."""
        capture = tmp_path / "capture.bin"
        capture.write_bytes(push(0))
        daemon = Daemon(["--replay", str(capture), "--key", KEY.hex(), "--format", "line"])
        assert daemon.wait() == 0, daemon.output()
        assert len(daemon.stdout) == 1
        assert daemon.stdout[0].startswith("08:00:00")
        assert "1.8.0" in daemon.stdout[0]
        assert "Wh" in daemon.stdout[0]


class TestConfigErrors:
    def test_bad_config_one_line_exit_78(self, tmp_path: Path) -> None:
        """A wrong type in the file: one line naming the key, the value and the file; 78."""
        config = tmp_path / "config.toml"
        config.write_text('[serial]\nport = "/dev/ttyUSB0"\n[mqtt]\nport = "abc"\n', "utf-8")
        daemon = Daemon(["--config", str(config)])
        assert daemon.wait() == 78
        assert daemon.stderr == [
            f"cosem-reader: config error: mqtt.port: expected an integer, got 'abc' (in {config})"
        ]

    def test_bad_key_flag(self) -> None:
        """A key that is not 32 hex digits: exit 78, and the message does not repeat it."""
        daemon = Daemon(["--port", "/dev/null", "--key", "12345678901234567890XYZ"])
        assert daemon.wait() == 78
        assert len(daemon.stderr) == 1
        assert "--key" in daemon.stderr[0]
        assert "XYZ" not in daemon.stderr[0]


class TestSecrets:
    def test_key_never_in_the_log_at_any_level(self, meter: PtyMeter, tmp_path: Path) -> None:
        """--debug with every per-layer log on: the key shows up nowhere."""
        config = tmp_path / "config.toml"
        config.write_text(f'[decryption]\nkey = "{KEY.hex()}"\n', "utf-8")
        config.chmod(0o600)
        daemon = Daemon(["--config", str(config), "--port", str(meter.path), "--debug",
                         "--trace", "all", "--format", "json"])
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0)[100:] + push(1) + push(2))
            daemon.wait_for_readings(2)
            daemon.wait_for_stderr("timings", count=2)
        finally:
            assert daemon.stop() == 0
        text = "\n".join(daemon.stderr).lower()
        assert "telegram" in text
        assert "apdu plaintext" in text
        assert "obis" in text
        for form in (KEY.hex(), KEY.hex(" "), KEY.hex(":")):
            assert form not in text

    def test_filter_redacts_what_code_should_never_log(self) -> None:
        """The safety net: a record with the key (any case, separators) or password is redacted."""
        stream = io.StringIO()
        configure_logging("debug", [KEY.hex(), "hunter22"], stream=stream)
        try:
            logger = logging.getLogger("cosem_reader.test")
            logger.debug("key %s", KEY.hex().upper())
            logger.info("key %s and password hunter22", KEY.hex(" "))
            try:
                raise ValueError(f"bad {KEY.hex()}")
            except ValueError:
                logger.exception("failed")
        finally:
            logging.basicConfig(force=True, handlers=[logging.NullHandler()])
        text = stream.getvalue()
        assert text.count("***") == 4, text
        assert KEY.hex() not in text.lower()
        assert "hunter22" not in text

    def test_journald_lines_carry_priority_not_time(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Under systemd (JOURNAL_STREAM names our stderr): <priority>message, no timestamp."""
        path = tmp_path / "journal"
        with path.open("w", encoding="utf-8") as stream:
            info = os.fstat(stream.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
            configure_logging("info", stream=stream)
            try:
                logging.getLogger("cosem_reader.test").warning("port lost")
                logging.getLogger("cosem_reader.test").info("port back")
            finally:
                logging.basicConfig(force=True, handlers=[logging.NullHandler()])
        assert path.read_text("utf-8").splitlines() == ["<4>port lost", "<6>port back"]

    def test_plain_stderr_has_timestamps(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """JOURNAL_STREAM inherited but stderr redirected elsewhere: normal lines."""
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        stream = io.StringIO()
        configure_logging("info", stream=stream)
        try:
            logging.getLogger("cosem_reader.test").info("hello")
        finally:
            logging.basicConfig(force=True, handlers=[logging.NullHandler()])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO hello\n", stream.getvalue())

    @given(st.binary(min_size=16, max_size=16), st.sampled_from(["", " ", ":", "-"]),
           st.booleans())
    def test_redaction_of_any_key_spelling(self, key: bytes, separator: str, upper: bool) -> None:
        """Whatever key, separator and case: the hex is gone from the message."""
        spelled = key.hex(separator) if separator else key.hex()
        spelled = spelled.upper() if upper else spelled
        redacting = RedactingFilter([key.hex()])
        assert redacting.redact(f"x {spelled} y") == "x *** y"


@pytest.mark.broker
class TestMqtt:
    def test_pty_to_broker_to_subscriber(
        self, meter: PtyMeter, broker: Broker, subscribe: Callable[..., Subscriber]
    ) -> None:
        """Readings reach a subscriber: state JSON in order, availability online."""
        subscriber = subscribe(broker.host, broker.port, ("test-base/#",))
        daemon = Daemon(read_args(meter, "--mqtt-url", broker.url, "--topic-base", "test-base",
                                  "--name", "main"))

        def states() -> list[int]:
            return [json.loads(p)["frame_counter"] for p in subscriber.payloads(
                "test-base/main/state")]

        def availability() -> list[str]:
            return subscriber.payloads("test-base/main/availability")

        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0)[200:])
            for index in (1, 2, 3):
                meter.write(push(index))
            subscriber.wait_for(lambda _messages: len(states()) >= 3, timeout=20)
            assert states() == [1001, 1002, 1003], daemon.output()
            assert daemon.stdout == []
        finally:
            assert daemon.stop() == 0
        subscriber.wait_for(lambda _messages: availability()[-1:] == ["offline"])
        assert availability()[0] == "online"

    def test_wrong_key_marks_the_meter_offline(self, meter: PtyMeter, broker: Broker) -> None:
        """A wrong key: availability offline (retained), no state, the daemon keeps running."""
        daemon = Daemon(read_args(meter, "--mqtt-url", broker.url, "--topic-base", "wk",
                                  "--name", "main", key=WRONG_KEY))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0) + push(1))
            daemon.wait_for_stderr("wrong key")
            retained = subscribe_once(broker, "wk/main/availability")
            assert retained == b"offline"
            assert daemon.process.poll() is None
        finally:
            assert daemon.stop() == 0

    def test_a_refused_plain_telegram_is_not_called_a_wrong_key(
        self, meter: PtyMeter, broker: Broker
    ) -> None:
        """With an authentication key a plain DSMR telegram is refused; the meter went
        offline as "wrong key" because the message names the key, though no key is wrong."""
        daemon = Daemon(["--port", str(meter.path), "--auth-key", KEY.hex(), "--layer", "dsmr",
                         "--mqtt-url", broker.url, "--topic-base", "pt", "--name", "p1"])
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(telegram("ISK5\\2M550T-1012", ["1-0:1.8.1(000001.000*kWh)"]))
            daemon.wait_for_stderr("offline: a plain DSMR telegram arrived")
            assert not any("wrong key" in line for line in daemon.stderr), daemon.output()
        finally:
            assert daemon.stop() == 0


def subscribe_once(broker: Broker, topic: str, timeout: float = 10.0) -> bytes | None:
    """The retained message on ``topic``, waiting up to ``timeout`` for it."""
    got: list[bytes] = []
    arrived = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-retained")

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        arrived.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrived.wait(0.1)
            if got and got[-1] == b"offline":
                break
    finally:
        client.loop_stop()
        client.disconnect()
    return got[-1] if got else None


class TestParity:
    """The debug switches behave as smart-meter-mbus-dlms's (issue 13)."""

    @staticmethod
    def replay(tmp_path: Path, pushes: int, *extra: str, env: dict[str, str] | None = None,
               ) -> Daemon:
        capture = tmp_path / "capture.bin"
        capture.write_bytes(b"".join(push(index) for index in range(pushes)))
        return Daemon(["--replay", str(capture), "--key", KEY.hex(), *extra], env=env)

    @staticmethod
    def raw_telegrams(daemon: Daemon) -> list[bytes]:
        return [
            bytes.fromhex(line.split("telegram: ")[1])
            for line in daemon.stderr
            if re.search(r"telegram: [0-9A-F]{2} ", line)
        ]

    def test_stop_after_telegrams_stops_exactly(self, tmp_path: Path) -> None:
        """A capture arrives in one chunk of twenty telegrams: still 3 are read, not 20."""
        env = {"COSEM_READER_DEBUG_STOP_AFTER_TELEGRAMS": "3"}
        daemon = self.replay(tmp_path, 10, "--trace", "telegram", env=env)
        assert daemon.wait() == 0, daemon.output()
        assert len(self.raw_telegrams(daemon)) == 3, daemon.output()
        assert frame_counters(daemon.stdout) == [1000]  # the second push is half read
        assert any("stopping after 3 telegrams" in line for line in daemon.stderr)
        assert not any("no reading" in line for line in daemon.stderr), daemon.output()

    def test_stop_after_apdus_stops_exactly(self, tmp_path: Path) -> None:
        env = {"COSEM_READER_DEBUG_STOP_AFTER_APDUS": "2"}
        daemon = self.replay(tmp_path, 10, env=env)
        assert daemon.wait() == 0, daemon.output()
        assert frame_counters(daemon.stdout) == [1000, 1001]
        assert any("stopping after 2 APDUs" in line for line in daemon.stderr)

    def test_a_stop_before_any_reading_is_no_failure(self, tmp_path: Path) -> None:
        """The limit asked for is reached: exit 0, not 'no reading in the capture'."""
        env = {"COSEM_READER_DEBUG_STOP_AFTER_TELEGRAMS": "1"}
        daemon = self.replay(tmp_path, 3, env=env)
        assert daemon.wait() == 0, daemon.output()
        assert daemon.stdout == []
        assert not any("no reading" in line for line in daemon.stderr), daemon.output()

    def test_log_telegram_raw_shows_the_whole_frame(self, tmp_path: Path) -> None:
        """``68 L L 68 … CS 16`` as it came over the line, not only the user data."""
        daemon = self.replay(tmp_path, 2, "--trace", "telegram")
        assert daemon.wait() == 0, daemon.output()
        assert b"".join(self.raw_telegrams(daemon)) == push(0) + push(1)

    def test_log_timings_has_the_first_byte_to_the_millisecond(self, meter: PtyMeter) -> None:
        """The wall-clock time of a push's first byte, beside the meter's time: the lag
        of the meter's clock can be read off (the original README's measurement)."""
        daemon = Daemon(read_args(meter, "--trace", "timings"))
        try:
            daemon.wait_for_stderr("reading serial port")
            data = push(0)
            sent = datetime.now().astimezone()
            meter.write(data)
            daemon.wait_for_stderr("timings:")
            line = next(line for line in daemon.stderr if "timings:" in line)
            found = re.search(r"first byte at (\S+), meter time (\S+),", line)
            assert found, line
            first = datetime.fromisoformat(found[1])
            assert re.search(r"T\d\d:\d\d:\d\d\.\d{3}[+-]", found[1]), line
            assert sent - timedelta(seconds=1) <= first <= sent + timedelta(seconds=5)
            assert found[2] == "2026-03-01T08:00:00+01:00"
        finally:
            assert daemon.stop() == 0

    def test_name_delimiters_reach_the_json_lines(self, tmp_path: Path) -> None:
        """Not only the debug log: the readings' names lose the empty parts' "; "."""
        env = {
            "COSEM_READER_DECODING_NAME_FORMAT": "[measurement]; [channel]; [previousMeasurement];",
            "COSEM_READER_DECODING_NAME_DELIMITERS": "; ",
        }
        daemon = self.replay(tmp_path, 1, env=env)
        assert daemon.wait() == 0, daemon.output()
        values = json.loads(daemon.stdout[0])["values"]
        assert values["1-0:32.7.0"]["name"] == "Voltage L1"
