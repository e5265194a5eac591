"""Byte sources for the daemon: a serial port (or pyserial URL), a capture file, stdin.

Each source is an iterator of what happened, in order: the bytes as they arrive
(``b""`` once per idle tick, so the reader can look at the clock), and
:class:`SourceEvent` for what a user should hear about once — the port opened,
lost, stalled, back.  The daemon consumes every source through the same loop,
so a replayed capture takes exactly the path live bytes take.

A serial port is read event-driven: whatever is waiting, or else one byte
within a short timeout (``read(in_waiting or 1)``), so the bytes of a telegram
reach the decoder within one tick of their arrival and a push is decoded when
its last stop byte arrives — never after an idle gap, which says nothing about
where a frame ends (the two telegrams of an EVN push are 160 ms apart).

When the port fails (USB adapter unplugged: ``SerialException``/``OSError`` on
read, or the device node vanishes) the source reports it once and reopens it
with back-off, 1 s doubling to ``reopen_max_delay``; when it delivers nothing
for ``stall_timeout`` seconds it is reported stalled once and reopened.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import serial

from cosem_reader.app.captures import parse_hex_text, read_capture_file
from cosem_reader.errors import ConfigError, SourceError

__all__ = [
    "CHUNK",
    "ByteSource",
    "CaptureSource",
    "Recorder",
    "SerialSettings",
    "SerialSource",
    "SourceEvent",
    "StreamSource",
]

log = logging.getLogger(__name__)

#: Longest wait for bytes in one read; the reader looks at its clocks this often.
TICK = 0.1

#: Bytes of a capture or a pipe read at once: a dozen pushes.  The decoder keeps the
#: readings of a whole read alive together, and the garbage collector scans them: 64 KiB
#: reads cost 3 % more instructions per push (10,000 Netz NÖ pushes, --replay -).
CHUNK = 4096

EventKind = Literal["opened", "lost", "waiting", "stalled", "resumed", "ended"]

_PARITY = {
    "none": serial.PARITY_NONE,
    "even": serial.PARITY_EVEN,
    "odd": serial.PARITY_ODD,
    "mark": serial.PARITY_MARK,
    "space": serial.PARITY_SPACE,
}
_STOPBITS = {
    1.0: serial.STOPBITS_ONE,
    1.5: serial.STOPBITS_ONE_POINT_FIVE,
    2.0: serial.STOPBITS_TWO,
}


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """Something about the source a user should hear about once."""

    kind: EventKind
    message: str
    #: Whether the source delivers bytes again after this event (opened, resumed).
    healthy: bool = False


Item = bytes | SourceEvent


@dataclass(frozen=True)
class SerialSettings:
    """How to open a serial port (or pyserial URL); app/config builds it from the options."""

    port: str | None
    baudrate: int = 2400
    bytesize: int = 8
    parity: str = "none"
    stopbits: float = 1.0
    stall_timeout: float = 60.0
    exclusive: bool = True
    reopen_max_delay: float = 30.0


class ByteSource:
    """What the daemon reads: :meth:`items` yields bytes, ``b""`` ticks and events."""

    #: Short name for log lines (the port, the file).
    description: str = "?"
    #: Live sources can start in the middle of a push; captures start at their beginning.
    live: bool = True

    def items(self, stop: threading.Event) -> Iterator[Item]:
        """Bytes as they arrive until ``stop`` is set or the source ends."""
        raise NotImplementedError


# -- serial port --------------------------------------------------------------------------


def _is_device_path(port: str) -> bool:
    return "://" not in port


def _open_hint(port: str, error: BaseException) -> str:
    code = getattr(error, "errno", None)
    text = str(error)
    if code == errno.EACCES or "Permission denied" in text:
        return (
            "no permission: add the user to the group that owns the device"
            f" (usually: sudo usermod -aG dialout $USER, then log in again; ls -l {port})"
        )
    if code == errno.ENOENT or "No such file" in text or "could not open port" in text:
        if _is_device_path(port):
            return (
                "is the adapter plugged in? list the ports with ls -l /dev/serial/by-id/"
                " and use that path"
            )
        return "is the host reachable and the port right?"
    if code == errno.EBUSY or "Resource temporarily unavailable" in text or "exclusively" in text:
        return "another program holds the port (a second cosem-reader?)"
    return "check the port name and the adapter"


class SerialSource(ByteSource):
    """A serial port or any pyserial URL (``socket://host:port``, ``rfc2217://…``).

    With ``fail_fast`` the first failure to open raises :class:`SourceError`
    (for ``--once``); otherwise the source waits for the port to appear.
    """

    def __init__(self, settings: SerialSettings, *, fail_fast: bool = False, tick: float = TICK
                 ) -> None:
        if not settings.port:
            raise ConfigError("serial.port is not set", hint="pass --port /dev/serial/by-id/...")
        self.settings = settings
        self.port_name = settings.port
        self.description = settings.port
        self.fail_fast = fail_fast
        self.tick = tick
        self._port: serial.Serial | None = None

    def open(self) -> serial.Serial:
        """Open the port with the configured line settings; :class:`SourceError` if it fails."""
        settings = self.settings
        try:
            port = serial.serial_for_url(settings.port, do_not_open=True)
            port.baudrate = settings.baudrate
            port.bytesize = settings.bytesize
            port.parity = _PARITY[settings.parity]
            port.stopbits = _STOPBITS[settings.stopbits]
            port.timeout = self.tick
            if settings.exclusive and _is_device_path(self.port_name):
                # flock(): a second reader of the same adapter would steal bytes silently.
                port.exclusive = True
            port.open()
        except (serial.SerialException, OSError, ValueError) as error:
            code = getattr(error, "errno", None)
            reason = os.strerror(code) if isinstance(code, int) else str(error)
            raise SourceError(
                f"cannot open serial port {self.port_name}: {reason}",
                hint=_open_hint(self.port_name, error),
            ) from None
        return port

    def close(self) -> None:
        """Close the port if it is open."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _wait_for_port(self, stop: threading.Event, lost: bool) -> Iterator[Item]:
        """Open the port, retrying with back-off; yields ticks while waiting."""
        delay = 1.0
        reported = lost
        while not stop.is_set():
            try:
                self._port = self.open()
            except SourceError as error:
                if self.fail_fast:
                    raise
                if not reported:
                    reported = True
                    yield SourceEvent("waiting", f"{error}; waiting for it")
                else:
                    log.debug("%s", error)
                deadline = time.monotonic() + delay
                while not stop.is_set() and time.monotonic() < deadline:
                    stop.wait(min(self.tick, max(0.0, deadline - time.monotonic())))
                    yield b""
                delay = min(delay * 2, self.settings.reopen_max_delay)
                continue
            return

    def items(self, stop: threading.Event) -> Iterator[Item]:
        """Bytes from the port; reopens it when it is lost or stalls."""
        self._stalled = False
        self._stalled_since = 0.0
        state = "first"
        try:
            while not stop.is_set():
                yield from self._wait_for_port(stop, lost=state == "lost")
                if self._port is None:
                    return
                if state == "first":
                    yield SourceEvent("opened", f"reading serial port {self.describe()}", True)
                elif state == "lost":
                    yield SourceEvent("opened", f"serial port {self.port_name} is back", True)
                else:
                    log.debug("reopened serial port %s", self.port_name)
                cause = yield from self._read_until_trouble(stop)
                self.close()
                if cause is None:
                    return
                if cause == "reopen":
                    state = "stalled"
                    continue
                state = "lost" if cause.kind == "lost" else "stalled"
                yield cause
        finally:
            self.close()

    def describe(self) -> str:
        """Port name and line settings, e.g. ``/dev/ttyUSB0 2400 8N1``."""
        s = self.settings
        return f"{self.port_name} {s.baudrate} {s.bytesize}{s.parity[0].upper()}{s.stopbits:g}"

    def _read_until_trouble(
        self, stop: threading.Event
    ) -> Generator[Item, None, SourceEvent | Literal["reopen"] | None]:
        """Read until stopped (None), lost or stalled (the event), or a silent reopen."""
        port = self._port
        assert port is not None
        last_data = last_check = time.monotonic()
        while not stop.is_set():
            try:
                data = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError) as error:
                return SourceEvent(
                    "lost",
                    f"serial port {self.port_name} lost ({error}); reopening it when it"
                    " returns",
                )
            now = time.monotonic()
            if data:
                if self._stalled:
                    self._stalled = False
                    yield SourceEvent(
                        "resumed",
                        f"serial port {self.port_name} delivers bytes again"
                        f" after {now - self._stalled_since:.0f} s of silence",
                        True,
                    )
                last_data = now
                yield data
                continue
            yield b""
            if now - last_check >= 1.0:
                last_check = now
                if _is_device_path(self.port_name) and not os.path.exists(self.port_name):
                    return SourceEvent(
                        "lost",
                        f"serial port {self.port_name} disappeared (adapter unplugged?);"
                        " reopening it when it returns",
                    )
            if now - last_data >= self.settings.stall_timeout:
                # A silent port is reopened once per stall period: that revives hung
                # adapters and half-open TCP connections; the user hears of it once.
                if self._stalled:
                    return "reopen"
                self._stalled = True
                self._stalled_since = last_data
                return SourceEvent(
                    "stalled",
                    f"no bytes from {self.port_name} for {self.settings.stall_timeout:g} s;"
                    " is the meter's customer interface enabled and the cable plugged in?",
                )
        return None


# -- captures and pipes -------------------------------------------------------------------

class CaptureSource(ByteSource):
    """A capture file, binary or hex text, handed out in chunks."""

    live = False

    def __init__(self, path: str | Path, *, as_hex: bool = False, chunk_size: int = CHUNK
                 ) -> None:
        self.path = Path(path)
        self.description = str(path)
        self.as_hex = as_hex
        self.chunk_size = chunk_size

    def read_all(self) -> bytes:
        """The capture's bytes; :class:`SourceError` when it cannot be read."""
        return read_capture_file(self.path, as_hex=self.as_hex, flag="the --replay path")

    def items(self, stop: threading.Event) -> Iterator[Item]:
        """The capture in chunks, then an ``ended`` event."""
        data = self.read_all()
        yield SourceEvent("opened", f"replaying {self.path} ({len(data)} bytes)", True)
        view = memoryview(data)
        for start in range(0, len(data), self.chunk_size):
            if stop.is_set():
                return
            yield bytes(view[start : start + self.chunk_size])
        yield SourceEvent("ended", f"end of {self.path}")


class StreamSource(ByteSource):
    """A pipe or other file descriptor (``--replay -`` reads stdin), until end of file."""

    def __init__(self, stream: BinaryIO | None = None, *, as_hex: bool = False,
                 tick: float = TICK) -> None:
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.description = "standard input"
        self.as_hex = as_hex
        self.tick = tick

    def items(self, stop: threading.Event) -> Iterator[Item]:
        """Bytes as the pipe delivers them; hex text is converted line by line."""
        fd = self.stream.fileno()
        pending = ""
        yield SourceEvent("opened", "reading standard input", True)
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], self.tick)
            if not ready:
                yield b""
                continue
            chunk = os.read(fd, CHUNK)
            if not chunk:
                if self.as_hex and pending.strip():
                    yield parse_hex_text(pending, self.description)
                yield SourceEvent("ended", "end of standard input")
                return
            if not self.as_hex:
                yield chunk
                continue
            pending += chunk.decode("ascii", errors="replace")
            cut = max(pending.rfind("\n"), pending.rfind(" "))
            if cut >= 0:
                complete, pending = pending[: cut + 1], pending[cut + 1 :]
                yield parse_hex_text(complete, self.description)


# -- recording ----------------------------------------------------------------------------


class Recorder:
    """Appends the raw bytes received to a file, for bug reports and ``--replay``.

    Only bytes from the source go in: never keys, never decoded values.  A write
    error is logged once and ends the recording, never the reading.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        try:
            self._file: BinaryIO | None = path.open("ab")
        except OSError as error:
            raise SourceError(
                f"cannot write the recording {path}: {error.strerror}",
                hint="check that the directory exists and is writable",
            ) from None

    def write(self, data: bytes) -> None:
        """Append ``data`` and flush, so a crash loses nothing already received."""
        if self._file is None or not data:
            return
        try:
            self._file.write(data)
            self._file.flush()
            self.written += len(data)
        except OSError as error:
            log.error("recording to %s stopped: %s", self.path, error.strerror)
            self.close()

    def close(self) -> None:
        """Close the file."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
