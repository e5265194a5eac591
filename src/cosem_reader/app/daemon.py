"""``cosem-reader read``: the daemon, and ``cosem-reader config check``.

One thread per meter reads its byte source (:mod:`cosem_reader.app.sources`) and
feeds every chunk straight to a :class:`~cosem_reader.pipeline.decoder.StreamDecoder`,
so a reading is handed on the moment the stop byte of its last telegram
arrives.  Readings go to MQTT (:class:`~cosem_reader.output.mqtt.MqttPublisher`) or,
without MQTT, to the console: a short line per reading on a terminal, one JSON
object per line when stdout is a pipe.

Nothing a meter sends stops the daemon.  A wrong key is logged once per
``error_log_interval`` with a count, the meter is marked offline, and reading
goes on — the user may be fixing the key.  A lost or silent port is reported
once and reopened with back-off.

Exit codes (sysexits.h): 0 stopped by SIGTERM/SIGINT or the end of a replay,
65 (EX_DATAERR) ``--once`` met a wrong key or a replay held no reading,
66 (EX_NOINPUT) the replay file is missing, 69 (EX_UNAVAILABLE) ``--once``
could not open the port (without ``--once`` the daemon waits for it),
70 (EX_SOFTWARE) a bug, 78 (EX_CONFIG) a configuration error — systemd's
``RestartPreventExitStatus=78`` keeps a broken config from restarting in a loop.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, TextIO

from cosem_reader.app.collector import settle_after_start_up
from cosem_reader.app.config import (
    OPTIONS,
    ConfigProblems,
    DebugSettings,
    MeterSettings,
    Settings,
    load_settings,
    render_settings,
)
from cosem_reader.app.config_import import add_import_command
from cosem_reader.app.sources import (
    ByteSource,
    CaptureSource,
    Recorder,
    SerialSource,
    SourceEvent,
    StreamSource,
)
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS
from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.plausibility import PlausibilityChecker
from cosem_reader.cosem.readings import Notification, load_timezone
from cosem_reader.errors import (
    ConfigError,
    CosemReaderError,
    FrameError,
    SecurityError,
    SegmentError,
    SourceError,
)
from cosem_reader.link import hdlc, mbus
from cosem_reader.output.jsonout import (
    ciphered_header,
    dumps,
    notification_json,
    notification_to_dict,
)
from cosem_reader.pipeline.decoder import Decoded, Layer, StreamDecoder
from cosem_reader.security.authentication import (
    FrameCounterStore,
    MemoryCounterStore,
    RejectedPushError,
    describe_title,
)
from cosem_reader.security.ciphering import CipheredApdu, is_ciphered, parse_ciphered_apdu

__all__ = [
    "EX_CONFIG",
    "EX_DATAERR",
    "EX_NOINPUT",
    "EX_OK",
    "EX_SOFTWARE",
    "EX_UNAVAILABLE",
    "MeterRunner",
    "RedactingFilter",
    "add_commands",
    "configure_logging",
    "run_config_check",
    "run_read",
]

if TYPE_CHECKING:
    from cosem_reader.output.spool import SpoolCounterStore

log = logging.getLogger("cosem_reader.app.daemon")
trace = logging.getLogger("cosem_reader.trace")

EX_OK = 0
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78

#: ``--trace`` names and the debug switches each one turns on.
TRACE_LAYERS: dict[str, tuple[str, ...]] = {
    "serial": ("log_serial",),
    "telegram": ("log_telegram_raw", "log_telegram_json"),
    "apdu": ("log_apdu_raw", "log_apdu_json", "log_apdu_encrypted_hex", "log_apdu_decrypted_hex"),
    "cosem": ("log_cosem_json",),
    "xml": ("log_cosem_xml",),
    "obis": ("log_obis_json", "log_obis_plain"),
    "timings": ("log_timings",),
}


# -- logging ------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Replaces every secret in a log record by ``***``: the safety net under the rule
    that no code logs a key or password in the first place.

    A key is matched as hex in any case, with or without separators between the
    byte pairs; other secrets (the MQTT password) as given.
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.pattern: re.Pattern[str] | None = None
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Sequence[str]) -> None:
        """The strings to hide from now on."""
        parts: list[str] = []
        for secret in sorted(set(secrets), key=len, reverse=True):
            if not secret:
                continue
            if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", secret):
                pairs = [secret[i : i + 2] for i in range(0, len(secret), 2)]
                parts.append(r"[\s:_-]?".join(pairs))
            elif len(secret) < 4:
                # A very short password would otherwise blank out letters everywhere.
                parts.append(rf"(?<![\w]){re.escape(secret)}(?![\w])")
            else:
                parts.append(re.escape(secret))
        self.pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        return self.pattern.sub("***", text) if self.pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, redact it, and keep the record."""
        if self.pattern is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_SYSLOG_PRIORITY: Final = {
    logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2,
}


class _JournalFormatter(logging.Formatter):
    """``<priority>message``: journald reads the syslog priority and adds its own time."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def _under_journald(stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd set up (``JOURNAL_STREAM=dev:inode``).

    systemd.exec(5): the variable is inherited by children whose stderr may be
    redirected elsewhere, so the device and inode must match the stream's.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":", 1))
        info = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def configure_logging(level: str, secrets: Sequence[str] = (),
                      stream: TextIO | None = None) -> RedactingFilter:
    """Log to stderr at ``level``, secrets redacted; no own timestamps under journald."""
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    if _under_journald(target):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
        ))
    redacting = RedactingFilter(secrets)
    handler.addFilter(redacting)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # paho's own logger chatters at DEBUG on every packet.
    logging.getLogger("paho").setLevel(max(logging.INFO, logging.getLogger().level))
    return redacting


# -- console output -----------------------------------------------------------------------


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
        """Print one reading."""
        decoding = self.settings.decoding
        if self.mode == "json":
            text = notification_json(
                notification, decoding.language, decoding.name_format, meter.name or None
            )
        else:
            text = self.line(meter, notification)
        # When the reader of the pipe goes away, reading goes on.
        with self._lock, contextlib.suppress(BrokenPipeError):
            print(text, file=self.stream, flush=True)

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


# -- one meter ----------------------------------------------------------------------------


class _RateLimit:
    """Logs one kind of recurring problem at most once per interval, with a count."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        count = self._suppressed.pop(kind, 0)
        if count:
            message += f" ({count} more since the last message)"
        self._last[kind] = now
        log.log(level, "%s", message)

    def forget(self, kind: str) -> None:
        self._last.pop(kind, None)
        self._suppressed.pop(kind, None)


_NUMBERS = re.compile(r"[0-9A-Fa-f]{4,}|\d+")


def _error_kind(error: CosemReaderError) -> str:
    """Errors that differ only in numbers (offsets, counters) are one kind."""
    return f"{type(error).__name__}:{_NUMBERS.sub('#', error.message)}"


class _Tracer:
    """The per-layer debug logs of smart-meter-mbus-dlms, each behind its switch."""

    def __init__(self, debug: DebugSettings, label: str, settings: Settings) -> None:
        self.debug = debug
        self.label = label
        self.settings = settings
        self._serial = bytearray()
        self._frames_wanted = (
            debug.log_telegram_raw or debug.log_telegram_json or debug.log_apdu_raw
            or debug.log_apdu_json or debug.log_apdu_encrypted_hex
        )
        self._xml_missing = False

    def on_bytes(self, chunk: bytes) -> None:
        debug = self.debug
        if debug.log_serial:
            self._serial += chunk
            if len(self._serial) >= max(1, debug.log_serial_min_bytes):
                trace.info("%sserial: %d bytes: %s", self.label, len(self._serial),
                           self._serial.hex(" ").upper())
                self._serial.clear()

    def on_frame(self, frame: mbus.LongFrame | hdlc.HdlcFrame) -> None:
        if self._frames_wanted:
            self._telegram(frame)

    def on_link_apdu(self, apdu: bytes) -> None:
        if self._frames_wanted:
            self._apdu(apdu)

    def _telegram(self, frame: mbus.LongFrame | hdlc.HdlcFrame) -> None:
        fields = dataclasses.asdict(frame)
        if self.debug.log_telegram_raw:
            payload = fields.get("user_data", fields.get("information", b""))
            trace.info("%stelegram: %s", self.label, bytes(payload).hex(" ").upper())
        if self.debug.log_telegram_json:
            trace.info("%stelegram: %s", self.label, dumps(fields))

    def _apdu(self, apdu: bytes) -> None:
        debug = self.debug
        if debug.log_apdu_raw:
            trace.info("%sAPDU: %s", self.label, apdu.hex(" ").upper())
        if not (debug.log_apdu_json or debug.log_apdu_encrypted_hex) or not is_ciphered(apdu):
            return
        try:
            ciphered = parse_ciphered_apdu(apdu)
        except CosemReaderError as error:
            trace.info("%sAPDU: security header unreadable: %s", self.label, error)
            return
        if debug.log_apdu_json:
            trace.info("%sAPDU: %s", self.label, dumps(ciphered_header(ciphered)))
        if debug.log_apdu_encrypted_hex:
            trace.info("%sAPDU ciphertext: %s", self.label, ciphered.ciphertext.hex(" ").upper())

    def on_plaintext(self, apdu: bytes) -> None:
        if self.debug.log_apdu_decrypted_hex:
            trace.info("%sAPDU plaintext: %s", self.label, apdu.hex(" ").upper())

    def on_notification(self, notification: Notification) -> None:
        debug = self.debug
        decoding = self.settings.decoding
        if debug.log_cosem_json:
            trace.info("%sCOSEM: %s", self.label, dumps(notification.tree))
        if debug.log_cosem_xml:
            self._xml(notification)
        if debug.log_obis_json:
            body = notification_to_dict(notification, decoding.language, decoding.name_format)
            trace.info("%sOBIS: %s", self.label, dumps(body))
        if debug.log_obis_plain:
            for reading in notification.readings:
                name = (
                    format_name(reading.obis, decoding.language, decoding.name_format,
                                decoding.name_delimiters)
                    if reading.obis is not None else ""
                )
                value = dumps(reading.value).strip('"')
                unit = f" {reading.unit}" if reading.unit else ""
                trace.info("%sOBIS %s %s: %s%s", self.label, reading.key, name, value, unit)

    def _xml(self, notification: Notification) -> None:
        try:
            # Imported by name: the XML writer is optional in this build.
            writer = importlib.import_module("cosem_reader.output.gurux_xml")
        except ImportError:
            if not self._xml_missing:
                self._xml_missing = True
                log.warning("log_cosem_xml: the Gurux XML writer is not available in this build")
            return
        trace.info("%sXML:\n%s", self.label, writer.apdu_to_xml(notification.tree))


class _Publisher:
    """What a runner hands readings to: MQTT, or the console (availability logged only)."""

    def __init__(self, runner: MeterRunner, mqtt: Any | None, console: Console | None) -> None:
        self.runner = runner
        self.mqtt = mqtt
        self.console = console

    def publish(self, notification: Notification) -> None:
        if self.mqtt is not None:
            self.mqtt.publish(notification)
        elif self.console is not None:
            self.console.show(self.runner.meter, notification)

    def set_available(self, online: bool, reason: str | None) -> None:
        if self.mqtt is not None:
            self.mqtt.set_available(online, reason)


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
    ) -> None:
        self.meter = meter
        self.settings = settings
        self.stop = stop
        #: Log lines of a named meter start with ``[name] ``; a single unnamed one needs none.
        self.label = f"[{meter.name}] " if meter.name else ""
        self.output = _Publisher(self, publisher, console)
        self.publisher = publisher
        self.exit_code = EX_OK
        self.readings = 0
        self.bytes = 0
        self._done = threading.Event()
        self._limit = _RateLimit(settings.error_log_interval)
        self._available: bool | None = None
        self._last_reading = time.monotonic()
        self._last_bytes = 0.0
        self._errors_since_open = 0
        self._push_started: float | None = None
        self._previous_time: datetime | None = None
        self._tracer = _Tracer(settings.debug, self.label, settings)
        #: The system title this meter's readings come from (configured, else the first).
        self.system_title = meter.system_title
        #: Pushes of other meters seen on this meter's port.
        self.foreign_pushes = 0
        #: The last authenticated frame counters; a persistent store keeps them across runs.
        self._counters = counter_store if counter_store is not None else MemoryCounterStore()
        self._plausibility = PlausibilityChecker(meter.max_power)
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
            chunk = 64 if self.settings.realtime else 4096
            return CaptureSource(meter.replay, as_hex=meter.replay_hex, chunk_size=chunk)
        return SerialSource(meter.serial, fail_fast=self.settings.once)

    def run(self) -> None:
        """The thread's body: never lets an exception escape silently."""
        try:
            self.exit_code = self._run()
        except SourceError as error:
            log.error("%s%s", self.label, error)
            self.exit_code = EX_NOINPUT if "capture" in error.message else EX_UNAVAILABLE
        except ConfigError as error:
            log.error("%sconfig error: %s", self.label, error)
            self.exit_code = EX_CONFIG
        except Exception:
            log.exception("%sunexpected error; please report it with the log above",
                          self.label)
            self.exit_code = EX_SOFTWARE
        finally:
            self._done.set()

    def _new_decoder(self, layer: Layer) -> StreamDecoder:
        return StreamDecoder(
            key=self.meter.key,
            auth_key=self.meter.auth_key,
            layer=layer,
            local_zone=load_timezone(self.meter.timezone),
            on_frame=self._tracer.on_frame,
            on_link_apdu=self._tracer.on_link_apdu,
            on_apdu=self._tracer.on_plaintext,
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
        debug = self.settings.debug
        security_failed = False
        try:
            for item in source.items(self.stop):
                if isinstance(item, SourceEvent):
                    self._on_event(item)
                    if item.kind == "opened":
                        # Another adapter, or the same after a reset: nothing half read
                        # carries over, and the link layer is recognised anew.
                        decoder.restart_link()
                    continue
                now = time.monotonic()
                if item:
                    chunk = item
                    if debug.stop_after_bytes and self.bytes + len(chunk) > debug.stop_after_bytes:
                        chunk = chunk[: debug.stop_after_bytes - self.bytes]
                    self.bytes += len(chunk)
                    self._last_bytes = now
                    if self._push_started is None:
                        self._push_started = now
                    if recorder is not None:
                        recorder.write(chunk)
                    self._tracer.on_bytes(chunk)
                    started = time.perf_counter()
                    results = decoder.feed(chunk)
                    decode_time = time.perf_counter() - started
                    for result in results:
                        if self.settings.once and (self.readings or security_failed):
                            break  # one chunk of a capture can hold many pushes
                        if self._on_result(result, decode_time) == "security":
                            security_failed = True
                    if self._should_stop(decoder, security_failed):
                        break
                # Every tick, not only idle ones: noise must not keep the meter online.
                self._check_silence(time.monotonic())
            else:
                for result in decoder.flush():
                    if isinstance(result, CosemReaderError):
                        self._on_error(result, at_end=True)
                    else:
                        self._on_result(result, 0.0)
        finally:
            if recorder is not None:
                recorder.close()
        if self.settings.once and security_failed and not self.readings:
            return EX_DATAERR
        if self.meter.replay and not self.readings and not self.stop.is_set():
            log.error("%sno reading in %s", self.label,
                      "standard input" if self.meter.replay == "-" else self.meter.replay)
            return EX_DATAERR
        return EX_OK

    def _should_stop(self, decoder: StreamDecoder, security_failed: bool) -> bool:
        debug = self.settings.debug
        counters = decoder.counters
        limits = (
            (debug.stop_after_bytes, self.bytes, "bytes"),
            (debug.stop_after_telegrams, counters.frames, "telegrams"),
            (debug.stop_after_apdus, counters.apdus, "APDUs"),
        )
        for limit, count, what in limits:
            if limit and count >= limit:
                log.info("%sstopping after %d %s (debug.stop_after_%s)", self.label, count,
                         what, what.lower())
                return True
        return self.settings.once and bool(self.readings or security_failed)

    # -- what came out ------------------------------------------------------------------

    def _on_event(self, event: SourceEvent) -> None:
        if event.kind in ("opened", "resumed"):
            log.info("%s%s", self.label, event.message)
            self._errors_since_open = 0
            self._last_reading = time.monotonic()
        elif event.kind == "ended":
            log.info("%s%s (%d readings)", self.label, event.message, self.readings)
        else:
            log.warning("%s%s", self.label, event.message)
            self._set_available(False, event.message)
            self._push_started = None

    def _on_result(self, result: Decoded, decode_time: float) -> str | None:
        if self._foreign(result):
            return None
        if isinstance(result, Notification):
            self._on_notification(result, decode_time)
            return None
        if isinstance(result, CipheredApdu):
            title = result.system_title.hex().upper() if result.system_title else "?"
            self._limit.log(
                logging.ERROR, "no-key",
                f"{self.label}the meter (system title {title}) ciphers its pushes and no key"
                " was given; set --key, key_file or COSEM_READER_KEY (32 hex digits from your"
                " grid operator)",
            )
            self._set_available(False, "no key")
            return "security"
        self._on_error(result)
        return "security" if isinstance(result, SecurityError) else None

    def _foreign(self, result: Decoded) -> bool:
        """Whether ``result`` is another meter's push: counted and logged, nothing else."""
        title = result.system_title if isinstance(
            result, Notification | CipheredApdu | RejectedPushError) else None
        if title is None or self.system_title in (None, title):
            return False
        self.foreign_pushes += 1
        self._limit.log(
            logging.WARNING, f"foreign:{title.hex()}",
            f"{self.label}ignored a push of another meter (system title {describe_title(title)});"
            f" this meter is {describe_title(self.system_title)} ({self.foreign_pushes} such"
            " pushes so far); set system_title if that is the wrong one",
        )
        return True

    def _on_notification(self, notification: Notification, decode_time: float) -> None:
        now = time.monotonic()
        if self.system_title is None and notification.system_title is not None:
            self.system_title = notification.system_title
        # A capture read at full speed: the time of arrival says nothing about the meter's.
        fast_replay = bool(self.meter.replay) and not self.settings.realtime
        notification, withheld = self._plausibility.check(notification,
                                                          None if fast_replay else now)
        for item in withheld:
            self._limit.log(logging.WARNING, f"withheld:{item.reading.key}:{item.cause}",
                            f"{self.label}{item.reason}")
        self.readings += 1
        self._last_reading = now
        self._set_available(True, None)
        self._tracer.on_notification(notification)
        started = time.perf_counter()
        self.output.publish(notification)
        publish_time = time.perf_counter() - started
        if self.settings.debug.log_timings:
            receive = now - self._push_started if self._push_started is not None else 0.0
            trace.info(
                "%stimings: receive %.3f s, decode %.2f ms, publish %.2f ms",
                self.label, receive, decode_time * 1000, publish_time * 1000,
            )
        self._push_started = None
        if self.settings.realtime and self.meter.replay:
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
        if isinstance(error, RejectedPushError) and error.cause != "key":
            # A forged or replayed push says nothing about whether readings arrive.
            self._limit.log(logging.WARNING, f"rejected:{error.cause}:"
                            f"{describe_title(error.system_title)}", f"{self.label}{error}")
            return
        if isinstance(error, SecurityError):
            title = error.system_title if isinstance(error, RejectedPushError) else None
            self._limit.log(logging.ERROR, f"SecurityError:{describe_title(title)}",
                            f"{self.label}{error}")
            if self.readings == 0:
                self._set_available(False, "wrong key" if "key" in error.message else str(error))
            return
        if isinstance(error, FrameError | SegmentError) and (
            at_end or (self.readings == 0 and self._errors_since_open <= 2)
        ):
            # The first push after opening is usually cut (the port opened mid-push),
            # and a capture may end inside one: expected, not worth a warning.
            log.info("%sincomplete push ignored: %s", self.label, error)
            return
        self._limit.log(logging.WARNING, _error_kind(error), f"{self.label}{error.layer}"
                        f" error: {error}")

    def _check_silence(self, now: float) -> None:
        silence = self.meter.silence_timeout
        if self._available and now - self._last_reading >= silence:
            self._set_available(False, f"no reading for {silence:g} s")

    def _set_available(self, online: bool, reason: str | None) -> None:
        if self._available == online:
            return
        self._available = online
        if online:
            log.info("%sreadings arrive%s", self.label,
                     "" if self.readings <= 1 else " again")
        self.output.set_available(online, reason)


# -- the commands -------------------------------------------------------------------------


def _publisher_for(meter: MeterSettings, settings: Settings) -> Any | None:
    if not settings.mqtt_enabled:
        return None
    from cosem_reader.output.mqtt import MqttPublisher  # noqa: PLC0415

    mqtt = settings.mqtt
    if meter.topic_base:
        mqtt = dataclasses.replace(mqtt, topic_base=meter.topic_base)
    return MqttPublisher(mqtt, meter.name)


def _spool_counters(publisher: Any | None) -> SpoolCounterStore | None:
    """With ``mqtt.spool`` the frame counters outlive the process, so a replayed push is
    refused after a restart too; without one they are kept in memory."""
    spool = getattr(publisher, "spool", None)
    if spool is None:
        return None
    from cosem_reader.output.spool import SpoolCounterStore  # noqa: PLC0415 (sqlite3 only with a spool)

    return SpoolCounterStore(spool)


def _apply_trace(settings: Settings, names: str | None) -> Settings:
    if not names:
        return settings
    chosen = [part.strip().lower() for part in names.split(",") if part.strip()]
    switches: dict[str, bool] = {}
    for name in chosen:
        if name == "all":
            for group in TRACE_LAYERS.values():
                switches.update(dict.fromkeys(group, True))
        elif name in TRACE_LAYERS:
            switches.update(dict.fromkeys(TRACE_LAYERS[name], True))
        else:
            raise ConfigProblems([ConfigError(
                f"--trace: unknown layer {name!r}",
                hint="use " + ", ".join([*TRACE_LAYERS, "all"]),
            )])
    return dataclasses.replace(settings, debug=dataclasses.replace(settings.debug, **switches))


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        option.flag.lstrip("-").replace("-", "_"): getattr(
            args, option.flag.lstrip("-").replace("-", "_"), None
        )
        for option in OPTIONS
        if option.flag
    }


def _report_config(error: ConfigError, stream: TextIO) -> int:
    problems = error.problems if isinstance(error, ConfigProblems) else [error]
    for problem in problems:
        print(f"cosem-reader: config error: {problem}", file=stream)
    return EX_CONFIG


def run_read(args: argparse.Namespace) -> int:
    """``cosem-reader read``: read meters until SIGTERM/SIGINT (or the replay ends)."""
    try:
        settings = load_settings(args.config, _flags(args))
        settings = _apply_trace(settings, getattr(args, "trace", None))
    except ConfigError as error:
        return _report_config(error, sys.stderr)
    level = "debug" if getattr(args, "debug", False) else settings.log_level
    configure_logging(level, settings.secrets)
    for warning in settings.warnings:
        log.warning("%s", warning)
    return run_settings(settings)


def run_settings(settings: Settings, console_stream: TextIO | None = None) -> int:
    """Run the meters of ``settings`` until stopped; the process's exit code."""
    stop = threading.Event()
    console = None if settings.mqtt_enabled else Console(settings, console_stream)
    runners: list[MeterRunner] = []
    counter_stores: list[SpoolCounterStore] = []
    for meter in settings.meters:
        publisher = _publisher_for(meter, settings)
        counters = _spool_counters(publisher)
        if counters is not None:
            counter_stores.append(counters)
        runners.append(
            MeterRunner(
                meter, settings, stop, console=console, publisher=publisher, counter_store=counters
            )
        )
    signals = _install_signal_handlers(stop)
    settle_after_start_up()
    try:
        for runner in runners:
            if runner.publisher is not None:
                runner.publisher.start()
            runner.thread.start()
        while not stop.is_set():
            if all(runner.finished for runner in runners):
                break
            failed = [r for r in runners if r.finished and r.exit_code == EX_SOFTWARE]
            if failed:
                # One meter's thread died of a bug: let systemd restart the whole thing.
                stop.set()
                break
            stop.wait(0.2)
        stop.set()
        for runner in runners:
            runner.thread.join(timeout=10)
    finally:
        for counters in counter_stores:
            counters.flush()  # before the publishers close their spools
        # All publishers share one budget, so the process is gone within 5 s of SIGTERM.
        deadline = time.monotonic() + 4.0
        for runner in runners:
            if runner.publisher is not None:
                try:
                    runner.publisher.stop(timeout=max(0.5, deadline - time.monotonic()))
                except Exception:
                    log.exception("%sstopping the MQTT publisher failed", runner.label)
        _restore_signal_handlers(signals)
    codes = [runner.exit_code for runner in runners]
    for preferred in (EX_SOFTWARE, EX_CONFIG, EX_NOINPUT, EX_UNAVAILABLE, EX_DATAERR):
        if preferred in codes:
            return preferred
    return EX_OK


def _install_signal_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def run_config_check(args: argparse.Namespace) -> int:
    """``cosem-reader config check``: validate, then print the effective settings redacted."""
    try:
        settings = load_settings(args.config, _flags(args))
    except ConfigError as error:
        return _report_config(error, sys.stderr)
    for warning in settings.warnings:
        print(f"cosem-reader: warning: {warning}", file=sys.stderr)
    print(render_settings(settings, as_json=args.json))
    return EX_OK


# -- argument parsing -------------------------------------------------------------------


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option that has one; values are checked by the config loader."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: "
                        "./cosem-reader.toml, ~/.config/cosem-reader/config.toml, "
                        "/etc/cosem-reader/config.toml)")
    for option in OPTIONS:
        if option.flag is None:
            continue
        dest = option.flag.lstrip("-").replace("-", "_")
        text = option.help
        if option.default not in (None, (), ""):
            text += f" (default: {option.default})"
        if option.kind == "bool":
            parser.add_argument(option.flag, dest=dest, action="store_const", const="true",
                                default=None, help=text)
        elif option.kind == "choice":
            parser.add_argument(option.flag, dest=dest, metavar="|".join(option.choices),
                                default=None, help=text)
        else:
            metavar = "HEX" if option.kind == "key" else option.key.upper()
            parser.add_argument(option.flag, dest=dest, metavar=metavar, default=None, help=text)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``read`` and ``config check`` to the ``cosem-reader`` command line."""
    read = commands.add_parser(
        "read",
        help="read a meter 24/7 and publish to MQTT or the console",
        description="Read pushes from a serial port (or a capture) and hand every reading "
        "to MQTT, or print it. Flags override environment variables (COSEM_READER_*), "
        "which override the config file.",
    )
    _add_setting_flags(read)
    read.add_argument("--trace", metavar="LAYERS", help="turn on the per-layer debug logs: "
                      + ", ".join([*TRACE_LAYERS, "all"]) + " (comma-separated)")
    read.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help="log at debug level and show tracebacks")
    read.set_defaults(handler=run_read)

    config = commands.add_parser("config", help="check or import the configuration")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate the config and print the effective settings (secrets redacted)",
        description="Validate the settings (file, environment, flags) and print them with "
        "keys and passwords as ***. Exit code 78 on a problem.",
    )
    _add_setting_flags(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    check.set_defaults(handler=run_config_check)
    add_import_command(actions)
    config.set_defaults(handler=_config_usage(config))


def _config_usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 64

    return usage


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cosem_reader.app.daemon``: the read command alone (for tests and debugging)."""
    parser = argparse.ArgumentParser(prog="cosem-reader")
    commands = parser.add_subparsers(dest="command")
    add_commands(commands)
    args = parser.parse_args(["read", *(argv if argv is not None else sys.argv[1:])])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
