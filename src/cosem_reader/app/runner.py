"""One meter in its own thread: its byte source fed to a decoder, the readings handed on.

Every chunk goes straight to a :class:`~cosem_reader.pipeline.decoder.StreamDecoder`,
so a reading is handed on the moment the stop byte of its last telegram arrives.
What the runner decides itself is little: which pushes are this meter's, and the
exit code; availability (:mod:`~cosem_reader.app.availability`), what is logged how
often and when to stop (:mod:`~cosem_reader.app.limits`) and the debug logs
(:mod:`~cosem_reader.app.tracing`) are its parts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cosem_reader.app.availability import Availability, Output, offline_reason
from cosem_reader.app.config import MeterSettings, Settings
from cosem_reader.app.console import Console
from cosem_reader.app.exit_codes import EX_DATAERR, EX_OK, EX_SOFTWARE, exit_code_for
from cosem_reader.app.limits import ProblemLog, StopLimits
from cosem_reader.app.sources import (
    CHUNK,
    ByteSource,
    CaptureSource,
    Recorder,
    SerialSource,
    SourceEvent,
    StreamSource,
)
from cosem_reader.app.tracing import Tracer
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS
from cosem_reader.cosem.plausibility import PlausibilityChecker
from cosem_reader.cosem.readings import Notification, load_timezone
from cosem_reader.errors import ConfigError, CosemReaderError, SecurityError, SourceError
from cosem_reader.pipeline.decoder import Decoded, Layer, StreamDecoder
from cosem_reader.security.authentication import (
    FrameCounterStore,
    MemoryCounterStore,
    RejectedPushError,
)
from cosem_reader.security.ciphering import CipheredApdu

__all__ = ["MeterRunner"]

log = logging.getLogger(__name__)
trace = logging.getLogger("cosem_reader.trace")

#: What names the meter it came from (a tuple: isinstance is quicker with one than a union).
_TITLED = (Notification, CipheredApdu, RejectedPushError)


class MeterRunner:
    """Reads one meter's source, decodes, and hands readings on; runs in its own thread."""

    def __init__(
        self,
        meter: MeterSettings,
        settings: Settings,
        stop: threading.Event,
        *,
        console: Console | None = None,
        publisher: Any | None = None,
        counter_store: FrameCounterStore | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.meter = meter
        self.settings = settings
        self.stop = stop
        #: Log lines of a named meter start with ``[name] ``; a single unnamed one needs none.
        self.label = f"[{meter.name}] " if meter.name else ""
        self.output = Output(meter, publisher, console)
        self.publisher = publisher
        self.exit_code = EX_OK
        self.readings = 0
        self.bytes = 0
        self._done = threading.Event()
        self._on_finished = on_finished
        self._problems = ProblemLog(settings.error_log_interval, self.label)
        self._stops = StopLimits(settings, self.label)
        self.availability = Availability(self.output, self.label, meter.silence_timeout)
        self._errors_since_open = 0
        self._security_failed = False
        self._push_started: float | None = None
        #: The wall-clock time of that first byte: its lag behind the meter's clock.
        self._push_started_at = 0.0
        self._previous_time: datetime | None = None
        self._tracer = Tracer(settings.debug, self.label, settings)
        #: The system title this meter's readings come from (configured, else the first).
        self.system_title = meter.system_title
        #: Pushes of other meters seen on this meter's port.
        self.foreign_pushes = 0
        #: The last authenticated frame counters; a persistent store keeps them across runs.
        self._counters = counter_store if counter_store is not None else MemoryCounterStore()
        self._plausibility = PlausibilityChecker(meter.max_power)
        # Decided once: the settings are frozen, and these are asked for every push.
        replay = bool(meter.replay)
        #: A capture read at full speed: the time of arrival says nothing about the meter's.
        self._fast_replay = replay and not settings.realtime
        self._paced = replay and settings.realtime
        self._log_timings = settings.debug.log_timings
        self.thread = threading.Thread(target=self.run, name=f"meter {meter.label}", daemon=True)

    @property
    def finished(self) -> bool:
        """Whether the runner has ended (stopped, replay over, or failed)."""
        return self._done.is_set()

    def make_source(self) -> ByteSource:
        """The byte source of this meter: a capture, stdin, or the serial port."""
        meter = self.meter
        if meter.replay == "-":
            return StreamSource(as_hex=meter.replay_hex)
        if meter.replay:
            chunk = 64 if self.settings.realtime else CHUNK
            return CaptureSource(meter.replay, as_hex=meter.replay_hex, chunk_size=chunk)
        return SerialSource(meter.serial, fail_fast=self.settings.once)

    def run(self) -> None:
        """The thread's body: never lets an exception escape silently."""
        try:
            self.exit_code = self._run()
        except (SourceError, ConfigError) as error:
            what = "config error: " if isinstance(error, ConfigError) else ""
            log.error("%s%s%s", self.label, what, error)
            self.exit_code = exit_code_for(error)
        except Exception:
            log.exception("%sunexpected error; please report it with the log above",
                          self.label)
            self.exit_code = EX_SOFTWARE
        finally:
            self._done.set()
            if self._on_finished is not None:
                self._on_finished()

    def _new_decoder(self, layer: Layer) -> StreamDecoder:
        tracer = self._tracer
        # Hooks only for the logs turned on: a call per telegram and APDU saved otherwise.
        framed = tracer.frames_wanted
        return StreamDecoder(
            key=self.meter.key,
            auth_key=self.meter.auth_key,
            layer=layer,
            local_zone=load_timezone(self.meter.timezone),
            on_frame=tracer.on_frame if framed else None,
            on_link_apdu=tracer.on_link_apdu if framed else None,
            on_apdu=tracer.on_plaintext if self.settings.debug.log_apdu_decrypted_hex else None,
            layouts=(*self.settings.decoding.layouts, *KNOWN_LAYOUTS),
            scalers=self.settings.decoding.scalers,
            require_authentication=self.meter.require_authentication,
            counter_store=self._counters,
        )

    def _run(self) -> int:
        source = self.make_source()
        recorder = Recorder(self.meter.record) if self.meter.record else None
        layer: Layer = self.meter.layer  # type: ignore[assignment]
        decoder = self._new_decoder(layer)
        try:
            ended = self._read(source, decoder, recorder)
            if ended:
                for result in decoder.flush():
                    if isinstance(result, CosemReaderError):
                        self._on_error(result, at_end=True)
                    else:
                        self._on_result(result, 0.0)
        finally:
            self.output.flush()  # whatever ended the reading
            if recorder is not None:
                recorder.close()
        if self.settings.once and self._security_failed and not self.readings:
            return EX_DATAERR
        if not ended:
            return EX_OK  # a stop_after_* limit was reached: what the user asked for
        if self.meter.replay and not self.readings and not self.stop.is_set():
            log.error("%sno reading in %s", self.label,
                      "standard input" if self.meter.replay == "-" else self.meter.replay)
            return EX_DATAERR
        return EX_OK

    def _read(self, source: ByteSource, decoder: StreamDecoder, recorder: Recorder | None) -> bool:
        """Feed the source to ``decoder`` until a limit is reached (``False``) or it ends."""
        for item in source.items(self.stop):
            if isinstance(item, SourceEvent):
                self._on_event(item)
                if item.kind == "opened":
                    # Another adapter, or the same after a reset: nothing half read
                    # carries over, and the link layer is recognised anew.
                    decoder.restart_link()
                continue
            if item and self._feed(item, decoder, recorder):
                return False
            # Every tick, not only idle ones: noise must not keep the meter online.
            self.availability.check_silence(time.monotonic())
        return True

    def _feed(self, item: bytes, decoder: StreamDecoder, recorder: Recorder | None) -> bool:
        """One chunk through the decoder; whether the runner should stop."""
        now = time.monotonic()
        chunk = self._stops.cut(item, self.bytes)
        if self._push_started is None:
            self._push_started = now
            self._push_started_at = time.time()
        started = time.perf_counter()
        results, chunk = self._stops.feed(decoder, chunk, self._tracer.on_bytes)
        decode_time = time.perf_counter() - started
        self.bytes += len(chunk)
        if recorder is not None:
            recorder.write(chunk)
        for result in results:
            if self.settings.once and (self.readings or self._security_failed):
                break  # one chunk of a capture can hold many pushes
            if self._on_result(result, decode_time):
                self._security_failed = True
        if results:
            self.output.flush()
        counters = decoder.counters
        return self._stops.reached(self.bytes, counters.frames, counters.apdus,
                                   done=bool(self.readings or self._security_failed))

    # -- what came out ------------------------------------------------------------------

    def _on_event(self, event: SourceEvent) -> None:
        if event.kind in ("opened", "resumed"):
            log.info("%s%s", self.label, event.message)
            self._errors_since_open = 0
            self.availability.restart_silence(time.monotonic())
        elif event.kind == "ended":
            log.info("%s%s (%d readings)", self.label, event.message, self.readings)
        else:
            log.warning("%s%s", self.label, event.message)
            self.availability.lost(event.message)
            self._push_started = None

    def _on_result(self, result: Decoded, decode_time: float) -> bool:
        """Hand ``result`` on; whether it is this meter's push that its security failed."""
        if self._foreign(result):
            return False
        if isinstance(result, Notification):
            self._on_notification(result, decode_time)
            return False
        if isinstance(result, CipheredApdu):
            self._problems.no_key(result)
            self.availability.lost("no key")
            return True
        self._on_error(result)
        return isinstance(result, SecurityError)

    def _foreign(self, result: Decoded) -> bool:
        """Whether ``result`` is another meter's push: counted and logged, nothing else."""
        title = result.system_title if isinstance(result, _TITLED) else None
        if title is None or self.system_title in (None, title):
            return False
        self.foreign_pushes += 1
        self._problems.foreign(title, self.system_title, self.foreign_pushes)
        return True

    def _on_notification(self, notification: Notification, decode_time: float) -> None:
        now = time.monotonic()
        if self.system_title is None and notification.system_title is not None:
            self.system_title = notification.system_title
        notification, withheld = self._plausibility.check(notification,
                                                          None if self._fast_replay else now)
        for item in withheld:
            self._problems.withheld(item)
        self.readings += 1
        self.availability.arrived(now, self.readings)
        self._tracer.on_notification(notification)
        started = time.perf_counter()
        self.output.publish(notification)
        publish_time = time.perf_counter() - started
        if self._log_timings:
            receive = now - self._push_started if self._push_started is not None else 0.0
            self._tracer.timings(notification, self._push_started_at, receive,
                                 decode_time, publish_time)
        self._push_started = None
        if self._paced:
            self.output.flush()  # before the pause, not with the chunk
            self._pace(notification)

    def _pace(self, notification: Notification) -> None:
        """Replay at the meter's pace: the time between two pushes' time stamps."""
        moment = notification.timestamp
        delay = self.settings.realtime_interval
        if moment is not None and self._previous_time is not None:
            delta = (moment - self._previous_time).total_seconds()
            if 0 <= delta <= 3600:
                delay = delta
        if moment is not None:
            self._previous_time = moment
        if self.readings > 1 or moment is None:
            self.stop.wait(delay)

    def _on_error(self, error: CosemReaderError, at_end: bool = False) -> None:
        self._errors_since_open += 1
        cut_expected = at_end or (self.readings == 0 and self._errors_since_open <= 2)
        self._problems.error(error, cut_expected=cut_expected)
        reason = offline_reason(error)
        if reason is not None and self.readings == 0:
            self.availability.lost(reason)
