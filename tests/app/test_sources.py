"""Byte sources: a pty as the serial port, capture files, pipes, the recorder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.app.captures import parse_hex_text
from cosem_reader.app.sources import (
    CaptureSource,
    Item,
    Recorder,
    SerialSettings,
    SerialSource,
    SourceEvent,
    StreamSource,
)
from cosem_reader.errors import SourceError
from tests.support.pty_meter import PtyMeter


class Reader:
    """Consumes a source in a thread, keeping bytes and events with their arrival time."""

    def __init__(self, items: Iterator[Item]) -> None:
        self.data = bytearray()
        self.events: list[SourceEvent] = []
        self.arrivals: list[tuple[float, int]] = []
        self.error: BaseException | None = None
        self._items = items
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if isinstance(item, SourceEvent):
                    self.events.append(item)
                elif item:
                    self.data += item
                    self.arrivals.append((time.monotonic(), len(self.data)))
        except BaseException as error:
            self.error = error

    def wait(self, predicate: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out; events {self.events}"
            time.sleep(0.01)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


def serial_settings(path: Path, stall: float = 30.0) -> SerialSettings:
    return SerialSettings(port=str(path), stall_timeout=stall, reopen_max_delay=2.0)


class TestSerialSource:
    def test_bytes_arrive_within_a_tick(self, meter: PtyMeter) -> None:
        """Event-driven: a byte written now is yielded well within the read timeout."""
        stop = threading.Event()
        reader = Reader(SerialSource(serial_settings(meter.path)).items(stop))
        try:
            reader.wait(lambda: reader.kinds() == ["opened"])
            for count in range(1, 6):
                sent = time.monotonic()
                meter.write(bytes([0x68 + count]))
                reader.wait(lambda count=count: len(reader.data) >= count)
                assert reader.arrivals[-1][0] - sent < 0.25
            assert bytes(reader.data) == bytes(range(0x69, 0x6E))
        finally:
            stop.set()
            reader.thread.join(5)

    def test_line_settings_in_the_opened_event(self, meter: PtyMeter) -> None:
        """The first event names the port and its line settings."""
        stop = threading.Event()
        settings = SerialSettings(port=str(meter.path), parity="even")
        reader = Reader(SerialSource(settings).items(stop))
        try:
            reader.wait(lambda: reader.events)
            assert reader.events[0].message.endswith("2400 8E1")
        finally:
            stop.set()
            reader.thread.join(5)

    def test_unplug_replug(self, meter: PtyMeter) -> None:
        """lost once, then opened 'is back', and bytes flow from the new pty."""
        stop = threading.Event()
        reader = Reader(SerialSource(serial_settings(meter.path)).items(stop))
        try:
            reader.wait(lambda: reader.kinds() == ["opened"])
            meter.unplug()
            reader.wait(lambda: "lost" in reader.kinds())
            time.sleep(1.2)
            meter.replug()
            reader.wait(lambda: len(reader.events) == 3)
            assert reader.kinds() == ["opened", "lost", "opened"]
            assert "is back" in reader.events[2].message
            meter.write(b"\x68\x01\x02")
            reader.wait(lambda: bytes(reader.data) == b"\x68\x01\x02")
        finally:
            stop.set()
            reader.thread.join(5)

    def test_stall_once_then_resumed(self, meter: PtyMeter) -> None:
        """Silence is reported once however long it lasts; bytes bring 'resumed'."""
        stop = threading.Event()
        reader = Reader(SerialSource(serial_settings(meter.path, stall=0.5)).items(stop))
        try:
            reader.wait(lambda: "stalled" in reader.kinds())
            time.sleep(1.6)
            assert reader.kinds() == ["opened", "stalled"]
            meter.write(b"\x16")
            reader.wait(lambda: "resumed" in reader.kinds())
            assert bytes(reader.data) == b"\x16"
        finally:
            stop.set()
            reader.thread.join(5)

    def test_missing_port_waits_and_says_why_once(self, tmp_path: Path) -> None:
        """A port that is not there yet: one 'waiting' event with the by-id hint."""
        stop = threading.Event()
        reader = Reader(SerialSource(serial_settings(tmp_path / "none")).items(stop))
        try:
            reader.wait(lambda: reader.events)
            time.sleep(1.5)
            assert reader.kinds() == ["waiting"]
            assert "/dev/serial/by-id/" in reader.events[0].message
        finally:
            stop.set()
            reader.thread.join(5)

    def test_fail_fast(self, tmp_path: Path) -> None:
        """With fail_fast (--once) the first failure raises SourceError."""
        source = SerialSource(serial_settings(tmp_path / "none"), fail_fast=True)
        with pytest.raises(SourceError, match=r"cannot open serial port .*No such file"):
            list(source.items(threading.Event()))

    def test_socket_url(self) -> None:
        """pyserial URLs open the same way: socket:// to a local listener."""
        import socket  # noqa: PLC0415

        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            port = server.getsockname()[1]
            stop = threading.Event()
            reader = Reader(SerialSource(SerialSettings(port=f"socket://127.0.0.1:{port}"))
                            .items(stop))
            try:
                connection, _ = server.accept()
                with connection:
                    # pyserial empties the socket's input once connected: send after that.
                    reader.wait(lambda: reader.events)
                    connection.sendall(b"\x68\xfa\xfa\x68")
                    reader.wait(lambda: bytes(reader.data) == b"\x68\xfa\xfa\x68")
            finally:
                stop.set()
                reader.thread.join(5)
            assert reader.kinds()[0] == "opened"


class TestCaptures:
    def test_binary_capture_in_chunks(self, tmp_path: Path) -> None:
        """All bytes in order, between an opened and an ended event."""
        data = bytes(range(256)) * 40
        capture = tmp_path / "c.bin"
        capture.write_bytes(data)
        items = list(CaptureSource(capture, chunk_size=1000).items(threading.Event()))
        assert isinstance(items[0], SourceEvent)
        assert items[0].kind == "opened"
        assert isinstance(items[-1], SourceEvent)
        assert items[-1].kind == "ended"
        chunks = [item for item in items if isinstance(item, bytes)]
        assert b"".join(chunks) == data
        assert max(len(chunk) for chunk in chunks) == 1000

    def test_hex_capture(self, tmp_path: Path) -> None:
        """Hex text with spaces, colons and 0x prefixes."""
        capture = tmp_path / "c.hex"
        capture.write_text("68 FA:fa 0x68\n16\n", "ascii")
        chunks = [i for i in CaptureSource(capture, as_hex=True).items(threading.Event())
                  if isinstance(i, bytes)]
        assert b"".join(chunks) == b"\x68\xfa\xfa\x68\x16"

    def test_bad_hex_names_the_place(self, tmp_path: Path) -> None:
        """A non-hex character is reported with its position."""
        capture = tmp_path / "c.hex"
        capture.write_text("68 FG", "ascii")
        with pytest.raises(SourceError, match="character 'G' at digit 4"):
            list(CaptureSource(capture, as_hex=True).items(threading.Event()))

    def test_missing_capture(self, tmp_path: Path) -> None:
        """A missing file is a SourceError saying so."""
        with pytest.raises(SourceError, match="does not exist"):
            list(CaptureSource(tmp_path / "none").items(threading.Event()))

    def test_pipe_hex_stream(self) -> None:
        """A pipe delivers hex line by line until end of file."""
        read_end, write_end = os.pipe()
        with os.fdopen(read_end, "rb") as stream:
            os.write(write_end, b"68 FA\nFA 68 ")
            os.write(write_end, b"16")
            os.close(write_end)
            items = list(StreamSource(stream, as_hex=True).items(threading.Event()))
        data = b"".join(item for item in items if isinstance(item, bytes))
        assert data == b"\x68\xfa\xfa\x68\x16"
        assert isinstance(items[-1], SourceEvent)
        assert items[-1].kind == "ended"


@given(st.binary(max_size=200), st.sampled_from([" ", ":", "\n", ""]), st.booleans())
def test_hex_text_round_trip(data: bytes, separator: str, upper: bool) -> None:
    """Any bytes written as hex with any separator and case read back the same."""
    text = data.hex(separator) if separator else data.hex()
    assert parse_hex_text(text.upper() if upper else text, "test") == data


def test_recorder_appends(tmp_path: Path) -> None:
    """The recording grows by exactly what was written, across recorders."""
    path = tmp_path / "rec.bin"
    first = Recorder(path)
    first.write(b"\x68\xfa")
    first.close()
    second = Recorder(path)
    second.write(b"\xfa\x68")
    second.close()
    assert path.read_bytes() == b"\x68\xfa\xfa\x68"


def test_recorder_unwritable(tmp_path: Path) -> None:
    """A recording in a missing directory is a SourceError with a hint."""
    with pytest.raises(SourceError, match="cannot write the recording"):
        Recorder(tmp_path / "missing" / "rec.bin")


def test_the_serial_source_needs_no_daemon_or_publisher_settings() -> None:
    """sources carries its own SerialSettings: importing it loads neither app/config nor MQTT."""
    code = (
        "import sys, cosem_reader.app.sources;"
        " print([m for m in ('cosem_reader.app.config', 'cosem_reader.app.settings',"
        " 'cosem_reader.output.mqtt') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
