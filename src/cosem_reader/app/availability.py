"""Where a meter's readings go, and whether they arrive (MQTT's availability topic).

A meter is online from its first reading on and offline when its source is lost,
when it is silent for ``silence_timeout`` or, before its first reading, when its
pushes cannot be deciphered.  Only a change is handed on, with the reason.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cosem_reader.app.config import MeterSettings
from cosem_reader.app.console import Console
from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError, SecurityError
from cosem_reader.security.authentication import RejectedPushError

__all__ = ["Availability", "Output", "offline_reason"]

log = logging.getLogger(__name__)


class Output:
    """What a runner hands readings to: MQTT, or the console (availability logged only)."""

    def __init__(self, meter: MeterSettings, mqtt: Any | None, console: Console | None) -> None:
        self.meter = meter
        self.mqtt = mqtt
        self.console = console

    def publish(self, notification: Notification) -> None:
        if self.mqtt is not None:
            self.mqtt.publish(notification)
        elif self.console is not None:
            self.console.show(self.meter, notification)

    def flush(self) -> None:
        """Hand on what :meth:`publish` printed (MQTT sends each reading by itself)."""
        if self.console is not None:
            self.console.flush()

    def set_available(self, online: bool, reason: str | None) -> None:
        if self.mqtt is not None:
            self.mqtt.set_available(online, reason)


def offline_reason(error: CosemReaderError) -> str | None:
    """Why a meter whose push failed with ``error`` is offline; ``None``: no reason to be.

    A forged or replayed push says nothing about whether the meter's readings arrive;
    a push the key cannot open does.  Decided by the error's class and its declared
    ``cause``, not by the words of its message.
    """
    if isinstance(error, RejectedPushError):
        return "wrong key" if error.cause == "key" else None
    return str(error) if isinstance(error, SecurityError) else None


class Availability:
    """Whether one meter's readings arrive: the state, the silence timer, the log line."""

    def __init__(self, output: Output, label: str, silence_timeout: float) -> None:
        self.output = output
        self.label = label
        self.silence_timeout = silence_timeout
        #: ``None`` until the first change: the first one is always handed on.
        self.online: bool | None = None
        self.last_reading = time.monotonic()

    def restart_silence(self, now: float) -> None:
        """A source (re)opened: the silence is counted from now."""
        self.last_reading = now

    def arrived(self, now: float, readings: int) -> None:
        """A reading arrived (the ``readings``-th): online."""
        self.last_reading = now
        if self.online is True:
            return
        self.online = True
        log.info("%sreadings arrive%s", self.label, "" if readings <= 1 else " again")
        self.output.set_available(True, None)

    def lost(self, reason: str) -> None:
        """Offline, for ``reason`` (a line for the user)."""
        if self.online is False:
            return
        self.online = False
        self.output.set_available(False, reason)

    def check_silence(self, now: float) -> None:
        """Offline when no reading came for ``silence_timeout`` seconds."""
        if self.online and now - self.last_reading >= self.silence_timeout:
            self.lost(f"no reading for {self.silence_timeout:g} s")
