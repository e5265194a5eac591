"""Readings on the console: a short line each on a terminal, JSON lines in a pipe.

A reading is written when it is decoded and flushed with the others of the same chunk
of input (:meth:`Console.flush`): one system call per chunk, not per push, and no
reading waits for input that has not arrived.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
from typing import TextIO

from cosem_reader.app.config import MeterSettings, Settings
from cosem_reader.cosem.readings import Notification
from cosem_reader.output.jsonout import dumps, notification_json

__all__ = ["Console"]


class Console:
    """Readings on stdout: a short line each on a terminal, JSON lines when piped."""

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.settings = settings
        mode = settings.console
        if mode == "auto":
            mode = "line" if self.stream.isatty() else "json"
        self.mode = mode
        self._lock = threading.Lock()

    def show(self, meter: MeterSettings, notification: Notification) -> None:
        """Print one reading; :meth:`flush` hands it to the reader of the stream."""
        decoding = self.settings.decoding
        if self.mode == "json":
            text = notification_json(
                notification, decoding.language, decoding.name_format, meter.name or None,
                decoding.name_delimiters,
            )
        else:
            text = self.line(meter, notification)
        # When the reader of the pipe goes away, reading goes on.
        with self._lock:
            try:  # noqa: SIM105 - contextlib.suppress costs half a microsecond per reading
                self.stream.write(text + "\n")
            except BrokenPipeError:
                pass

    def flush(self) -> None:
        """Hand what was printed to the reader of the stream."""
        with self._lock, contextlib.suppress(BrokenPipeError):
            self.stream.flush()

    def line(self, meter: MeterSettings, notification: Notification) -> str:
        """``12:00:05 main  1.8.0 12345.678 kWh  2.8.0 …`` cut to the terminal width."""
        moment = notification.timestamp
        stamp = moment.strftime("%H:%M:%S") if moment is not None else "--:--:--"
        head = f"{stamp} {meter.name}" if meter.name else stamp
        parts = []
        # Energy and power first: what a glance at the meter is for.
        first = {(1, 8): 0, (2, 8): 1, (1, 7): 2, (2, 7): 3}
        readings = sorted(
            notification.readings,
            key=lambda r: first.get((r.obis.c, r.obis.d), 4) if r.obis is not None else 5,
        )
        for reading in readings:
            if reading.obis is None or reading.unit is None:
                continue
            code = f"{reading.obis.c}.{reading.obis.d}.{reading.obis.e}"
            value = dumps(reading.value).strip('"')
            parts.append(f"{code} {value} {reading.unit}")
        if not parts:
            parts = [f"{len(notification.readings)} values"]
        width = shutil.get_terminal_size((120, 24)).columns
        text = head + "  " + "  ".join(parts)
        return text if len(text) <= width else text[: max(10, width - 1)] + "…"
