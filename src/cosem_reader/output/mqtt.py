"""MQTT output: one publisher per meter, paho-mqtt 2.x, a broker restart loses no reading.

Topics of a meter (``<base>`` is ``topic_base``, ``<meter>`` the meter id):

``<base>/<meter>/state``
    one JSON object per reading (:func:`cosem_reader.output.jsonout.notification_to_dict`):
    ``timestamp``, ``system_title``, ``values`` keyed by OBIS code, each with ``value``,
    ``unit`` and ``name``; date-times in ``date_time_format``.
``<base>/<meter>/<identifier>``
    one plain value per reading and OBIS code (``12937``, or ``12937 Wh`` with
    ``include_unit``): what ioBroker and openHAB map one to one onto states.  The
    identifier is the OBIS code with ``:``, ``.`` and ``*`` turned into ``_``
    (``1-0_1_8_0``), or the reading's name with ``topic_identifier = "name"``.
``<base>/<meter>/availability``
    retained ``online``/``offline``; ``offline`` is the connection's last will, and is
    also sent while the meter is silent or the key is wrong (:meth:`MqttPublisher.set_available`).
``<discovery_prefix>/sensor/<meter>/<obis slug>/config``
    Home Assistant discovery (:mod:`cosem_reader.output.homeassistant`), retained, sent before
    the second of two consecutive readings of one layout that carry a new OBIS code (at
    most :data:`~cosem_reader.output.homeassistant.MAX_ENTITIES` per meter), again after every
    (re)connect and whenever Home Assistant announces ``online`` on
    ``<discovery_prefix>/status``.

Every topic level built from meter data passes :func:`sanitize_level`: umlauts spelt
out (when configured), the invalid-character regex applied, and whatever that leaves,
no ``+``, ``#``, ``/``, NUL or control character and no empty level, so a meter (or a
name template) cannot inject a wildcard or an extra level.

Delivery.  Readings go out at QoS 1 (by default).  The publisher keeps its own ordered
queue of messages (:class:`~cosem_reader.output.outbox.Outbox`); a message leaves it only when
the broker acknowledges it (PUBACK).  Messages are handed to paho only while connected,
at most :data:`WINDOW` at a time; after a reconnect paho's own copies are dropped and
every unacknowledged message is sent again from the queue, in the original order, so a
broker restart loses nothing and reorders nothing.  With ``spool`` the readings at risk
are also on disk (:mod:`cosem_reader.output.spool`).  While the
broker is unreachable the queue holds up to ``queue_size`` readings (all messages of
one reading count as one); beyond that the oldest reading is dropped, with one warning
per overflow episode.  paho reconnects with back-off
(``reconnect_min_delay`` … ``reconnect_max_delay``); an unreachable broker at start is
retried the same way.

Several meters: each :class:`MqttPublisher` is one meter with its own connection,
because MQTT allows one last will per connection and each meter's availability topic
needs its own.  The default client id therefore carries the meter id.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.readings import Notification, Reading, ReadingValue, system_timezone
from cosem_reader.errors import ConfigError
from cosem_reader.output.homeassistant import (
    MAX_ENTITIES,
    DiscoveryGate,
    device_info,
    discovery_messages,
    obis_slug,
    renamed_config,
)
from cosem_reader.output.jsonout import dumps, notification_to_dict
from cosem_reader.output.outbox import Message as _Message
from cosem_reader.output.outbox import Outbox
from cosem_reader.output.spool import MeterSpool, Spool, open_spool

if TYPE_CHECKING:
    # paho (and ssl with it) is imported when a publisher connects: the settings and
    # payloads here serve every run, and a run without MQTT should not carry 10 MB of
    # MQTT and TLS code in its memory.
    import ssl

    import paho.mqtt.client as paho
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "DATE_TIME_FORMATS",
    "MqttPublisher",
    "MqttSettings",
    "format_date_time",
    "meter_id_from",
    "parse_mqtt_url",
    "reading_identifier",
    "sanitize_level",
    "state_payload",
    "value_payload",
]

logger = logging.getLogger(__name__)

#: ``epoch`` seconds, ``js`` milliseconds since the epoch, ``iso`` ISO 8601 with the
#: meter's UTC offset, ``iso-local`` ISO 8601 in this machine's time zone.
DATE_TIME_FORMATS = ("epoch", "iso", "js", "iso-local")
_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True, "tls": True}
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)
# MQTT wildcards, the level separator, NUL, control characters and lone surrogates
# (which UTF-8 cannot encode): never inside a level, whatever the user's regex allows.
_NEVER_IN_LEVEL = re.compile("[+#/\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ONLINE, _OFFLINE = "online", "offline"
_REDACTED = "***"


@dataclass(frozen=True)
class MqttSettings:
    """The ``[mqtt]`` settings of one meter.

    ``url`` (``mqtt[s]://[user:pass@]host[:port]``), when given, sets ``host``,
    ``port``, ``tls`` and, where it names them, ``username`` and ``password``
    (a URL it cannot read is a :class:`ConfigError` naming ``mqtt.url``).  The ranges
    and choices are checked once, by the option declarations of
    :mod:`cosem_reader.app.options` when the daemon's config builds these settings; a
    library user building them directly gets the field types only.
    """

    enabled: bool = False
    url: str | None = field(default=None, repr=False)
    host: str = "localhost"
    port: int | None = None
    tls: bool = False
    reject_unauthorized: bool = True
    ca_file: str | None = None
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "3.1.1"
    qos: int = 1
    topic_base: str = "cosem-reader"
    topic_identifier: str = "code"
    invalid_characters: str = r"[^A-Za-z0-9_\-]"
    invalid_character_replacement: str = "_"
    replace_umlauts: bool = True
    publish_json: bool = True
    publish_values: bool = True
    include_unit: bool = False
    date_time_format: str = "iso"
    min_interval: float = 0.0
    publish_at_seconds: tuple[int, ...] = ()
    publish_at_minutes: tuple[int, ...] = ()
    retain: bool = False
    queue_size: int = 10000
    test_mode: bool = False
    homeassistant_discovery: bool = True
    discovery_prefix: str = "homeassistant"
    language: str = "en"
    name_template: str | None = None
    keepalive: int = 60
    expire_after: int | None = None
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 30
    spool: str | None = None
    spool_max_mb: int = 50

    def __post_init__(self) -> None:
        if self.url:
            tls, host, port, username, password = parse_mqtt_url(self.url)
            object.__setattr__(self, "tls", tls)
            object.__setattr__(self, "host", host)
            if port is not None:
                object.__setattr__(self, "port", port)
            if username is not None:
                object.__setattr__(self, "username", username)
            if password is not None:
                object.__setattr__(self, "password", password)

    @property
    def effective_port(self) -> int:
        """The port to connect to: the configured one, else 8883 with TLS, 1883 without."""
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with the password (also inside the URL) replaced by ``***``."""
        result = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.password is not None:
            result["password"] = _REDACTED
        if self.url:
            parts = urlsplit(self.url)
            if parts.password is not None:
                netloc = parts.netloc.replace(f":{parts.password}@", f":{_REDACTED}@", 1)
                result["url"] = parts._replace(netloc=netloc).geturl()
        return result


def parse_mqtt_url(url: str) -> tuple[bool, str, int | None, str | None, str | None]:
    """``mqtt[s]://[user:pass@]host[:port]`` → ``(tls, host, port, username, password)``.

    User name and password are percent-decoded (``p%40ss`` is ``p@ss``).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigError(
            f"mqtt.url: cannot read the URL ({error})",
            hint="write mqtt[s]://[user:pass@]host[:port]",
        ) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"mqtt.url: scheme {parts.scheme!r} is not supported",
            hint="use mqtt:// (plain, port 1883) or mqtts:// (TLS, port 8883)",
        )
    if not parts.hostname:
        raise ConfigError("mqtt.url: names no host", hint="write mqtt[s]://[user:pass@]host[:port]")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return _SCHEMES[parts.scheme], parts.hostname, port, username, password


# --------------------------------------------------------------------------- topics and payloads


def sanitize_level(
    text: str,
    invalid_characters: str = r"[^A-Za-z0-9_\-]",
    replacement: str = "_",
    replace_umlauts: bool = True,
) -> str:
    """One topic level from meter data or a name: never a wildcard, separator or empty.

    Umlauts become ``ae``/``oe``/``ue``/``ss`` first (when asked), then every match of
    ``invalid_characters`` becomes ``replacement``; ``+``, ``#``, ``/``, NUL and control
    characters are replaced by ``_`` whatever the pattern allowed, and an empty result
    is ``_``.
    """
    if replace_umlauts:
        text = text.translate(_UMLAUTS)
    if invalid_characters:
        text = re.sub(invalid_characters, lambda _match: replacement, text)
    text = _NEVER_IN_LEVEL.sub("_", text)
    return text or "_"


def _level(text: str, settings: MqttSettings) -> str:
    return sanitize_level(
        text,
        settings.invalid_characters,
        settings.invalid_character_replacement,
        settings.replace_umlauts,
    )


def meter_id_from(notification: Notification) -> str:
    """A meter id for topics: the system title in lower-case hex, else the meter number."""
    if notification.system_title:
        return notification.system_title.hex()
    for reading in notification.readings:
        if (
            reading.obis is not None
            and (reading.obis.c, reading.obis.d) == (96, 1)
            and isinstance(reading.value, str | int)
        ):
            return sanitize_level(str(reading.value))
    return "meter"


def reading_identifier(reading: Reading, settings: MqttSettings) -> str:
    """The per-value topic level of a reading: ``1-0_1_8_0``, or its sanitised name."""
    if reading.obis is None:
        return _level(f"position_{reading.position}", settings)
    if settings.topic_identifier == "name":
        return _level(
            format_name(reading.obis, settings.language, settings.name_template), settings
        )
    return _level(obis_slug(reading.obis), settings)


def format_date_time(value: datetime, date_time_format: str) -> str | int:
    """A date-time as ``epoch`` seconds, ``js`` milliseconds, ``iso`` or ``iso-local``.

    ``iso`` keeps the UTC offset the meter stated, ``iso-local`` converts to this
    machine's time zone.
    """
    if date_time_format == "epoch":
        return int(value.timestamp())
    if date_time_format == "js":
        return int(value.timestamp() * 1000)
    if date_time_format == "iso-local":
        return value.astimezone(system_timezone()).isoformat()
    return value.isoformat()


def state_payload(notification: Notification, settings: MqttSettings) -> str:
    """The JSON state message of one reading, date-times in ``settings.date_time_format``."""
    document = notification_to_dict(notification, settings.language, settings.name_template)
    if settings.date_time_format != "iso":
        formatted: dict[str, str | int] = {}
        instants = [r.value for r in notification.readings if isinstance(r.value, datetime)]
        if notification.timestamp is not None:
            instants.append(notification.timestamp)
        for instant in instants:
            if isinstance(instant, datetime):
                formatted[instant.isoformat()] = format_date_time(
                    instant, settings.date_time_format
                )
        if document.get("timestamp") in formatted:
            document["timestamp"] = formatted[document["timestamp"]]
        for group in ("values", "values_by_position"):
            for entry in document.get(group, {}).values():
                value = entry.get("value")
                if isinstance(value, str) and value in formatted:
                    entry["value"] = formatted[value]
    return dumps(document)


def value_payload(reading: Reading, settings: MqttSettings) -> str | None:
    """The plain payload of one per-value topic (``233.7`` / ``233.7 V``); None for no value."""
    value: ReadingValue | str | int = reading.value
    if value is None:
        return None
    if isinstance(value, datetime):
        text = str(format_date_time(value, settings.date_time_format))
    elif isinstance(value, str):
        text = value
    else:
        text = dumps(value)
    if settings.include_unit and reading.unit:
        text = f"{text} {reading.unit}"
    return text


# --------------------------------------------------------------------------- rate limiting


class _Schedule:
    """Which readings to publish: ``min_interval`` and ``publish_at_seconds``/``_minutes``.

    A reading's time is the meter's timestamp, else the wall clock.  With a schedule
    the first reading at or after each scheduled instant is published; with a minimum
    interval a reading closer than that to the last published one is skipped.  A clock
    that goes back restarts both.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self.min_interval = settings.min_interval
        self.seconds = sorted(set(settings.publish_at_seconds))
        self.minutes = frozenset(settings.publish_at_minutes)
        self.scheduled = bool(self.seconds or self.minutes)
        self.last: datetime | None = None
        self.next_slot: datetime | None = None

    def due(self, when: datetime) -> bool:
        """Whether a reading at ``when`` is published; remembers it when it is."""
        if self.last is not None and when < self.last:
            self.last = None
            self.next_slot = None
        if (
            self.last is not None
            and self.min_interval > 0
            and (when - self.last).total_seconds() < self.min_interval
        ):
            return False
        if self.scheduled:
            if self.next_slot is None:
                self.next_slot = self._slot_after(when - timedelta(microseconds=1))
            if when < self.next_slot:
                return False
            self.next_slot = self._slot_after(when)
        self.last = when
        return True

    def _slot_after(self, instant: datetime) -> datetime:
        """The first scheduled instant strictly after ``instant``."""
        seconds = self.seconds or [0]
        minute = instant.replace(second=0, microsecond=0)
        for step in range(24 * 60 + 2):
            candidate_minute = minute + timedelta(minutes=step)
            if self.minutes and candidate_minute.minute not in self.minutes:
                continue
            for second in seconds:
                candidate = candidate_minute + timedelta(seconds=second)
                if candidate > instant:
                    return candidate
        return instant + timedelta(hours=1)  # pragma: no cover - every minute set has a slot


# --------------------------------------------------------------------------- the publisher

#: Messages handed to paho and not yet acknowledged, at most.  Enough to keep a LAN
#: broker busy; small enough that a callback hands paho little work at a time, so paho
#: keeps answering PINGREQs and PUBACKs while a backlog drains.
WINDOW = 64


class MqttPublisher:
    """Publishes one meter's readings to an MQTT broker.

    ``meter_id`` is this meter's topic level; without it the first notification names
    the meter (:func:`meter_id_from`), and the connection waits for it (the last will
    needs the availability topic).  All methods are thread-safe and never block on the
    network, except :meth:`stop`, which waits up to ``timeout`` for the queue to drain.

    The queue is an :class:`~cosem_reader.output.outbox.Outbox`; this class is its paho
    adapter: it hands paho at most :data:`WINDOW` messages at a time and one more per
    PUBACK, from whichever thread gets there first, and no thread waits for another
    to do so (a thread that finds the hand-over busy leaves a note and returns).
    """

    def __init__(self, settings: MqttSettings, meter_id: str | None = None) -> None:
        self.settings = settings
        self.meter_id = _level(meter_id, settings) if meter_id else None
        self._schedule = _Schedule(settings)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one hand-over to paho at a time
        self._pump_wanted = False
        self._handing_over = True  # False once stop() has counted what is left
        self._drained = threading.Condition(self._lock)
        self._outbox = Outbox(settings.queue_size, WINDOW)
        self._sequence = 0
        self._spool_file: Spool | None = open_spool(settings.spool, settings.spool_max_mb)
        self._spool: MeterSpool | None = None  # once the meter id is known
        self._available = True
        self._connected = False
        self._started = False
        self._stopping = False
        self._broker_down_logged = False
        self._tls_problem: str | None = None
        self._gate = DiscoveryGate()
        self._discovery: dict[str, bytes] = {}
        self._device: dict[str, Any] | None = None
        self._last_state: _Message | None = None
        self._client: paho.Client | None = None

    # -- public API -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._connected

    @property
    def pending(self) -> int:
        """Readings not yet acknowledged by the broker."""
        with self._lock:
            return self._outbox.pending

    @property
    def spool(self) -> Spool | None:
        """The open ``mqtt.spool``, also the place for the frame counters; None without one."""
        return self._spool_file

    @property
    def topic_prefix(self) -> str | None:
        """``<topic_base>/<meter>``, None until the meter id is known."""
        return f"{self.settings.topic_base}/{self.meter_id}" if self.meter_id else None

    @property
    def availability_topic(self) -> str | None:
        """``<topic_base>/<meter>/availability``, None until the meter id is known."""
        prefix = self.topic_prefix
        return f"{prefix}/availability" if prefix else None

    @property
    def state_topic(self) -> str | None:
        """``<topic_base>/<meter>/state``, None until the meter id is known."""
        prefix = self.topic_prefix
        return f"{prefix}/state" if prefix else None

    def start(self) -> None:
        """Connect in the background; an unreachable broker is retried with back-off."""
        if self._started:
            return
        self._started = True
        if self.settings.test_mode:
            logger.info("MQTT test mode: nothing is published, no broker is contacted")
            return
        if self.meter_id is not None:
            self._restore()
            self._connect()

    def publish(self, notification: Notification) -> None:
        """Queue one reading (discovery for new OBIS codes first) and send it when connected."""
        if self.meter_id is None:
            self.meter_id = _level(meter_id_from(notification), self.settings)
            if self._started and not self.settings.test_mode:
                self._restore()
                self._connect()
        when = notification.timestamp or datetime.now().astimezone()
        if not self._schedule.due(when):
            logger.debug("reading of %s skipped by the publishing schedule", when.isoformat())
            return
        with self._lock:
            messages = self._reading_messages(notification)
            if not self.settings.test_mode:
                self._enqueue(messages)
        if self.settings.test_mode:
            for message in messages:
                logger.info(
                    "MQTT test mode, would publish %s: %s",
                    message.topic,
                    message.payload.decode("utf-8", errors="replace"),
                )
            return
        self._pump()

    def set_available(self, online: bool, reason: str | None = None) -> None:
        """Publish ``online``/``offline`` on the retained availability topic (when it changes)."""
        with self._lock:
            changed = online != self._available
            self._available = online
            if not changed:
                return
            topic = self.availability_topic
            if topic is not None and not self.settings.test_mode and self._connected:
                self._queue_availability()
        state = _ONLINE if online else _OFFLINE
        if self.settings.test_mode:
            logger.info("MQTT test mode, would publish %s: %s", self.availability_topic, state)
        elif reason:
            # Before its first reading an unnamed meter has no topic level yet.
            who = f"meter {self.meter_id}" if self.meter_id else "the meter"
            logger.info("%s %s: %s", who, state, reason)
        self._pump()

    def _filter_paho_log(self, record: logging.LogRecord) -> bool:
        """Keep paho's expected complaints out of the log.

        While this publisher stops, paho's network thread may run once more after
        ``disconnect()`` and complain that the client is not connected; while the
        broker is away it says so on every retry (and that a socket failed when it
        went).  The outage is already one warning of
        ours, so these lines are debug output.
        """
        if record.levelno < logging.ERROR:
            return True
        if self._stopping:
            return False
        message = record.getMessage()
        if "not connected" in message or "failed to receive on socket" in message:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), publish ``offline``, disconnect.

        The whole call takes at most ``timeout`` seconds plus a moment; the readings
        not delivered by then are counted in a warning, exactly when the broker
        confirmed all it was sent.
        """
        client = self._client
        if client is None:
            self._close_spool()
            return
        deadline = time.monotonic() + timeout
        # Hand over until 1.5 s before the deadline, wait for the PUBACKs of what is
        # out until 0.5 s before it, and keep the rest for ``offline``.
        drain_until = deadline - min(1.5, timeout * 0.4)
        confirm_until = deadline - min(0.5, timeout * 0.15)
        with self._lock:
            self._stopping = True
            # Also while disconnected: the broker may come back within the timeout.
            while self._outbox.pending and time.monotonic() < drain_until:
                self._drained.wait(max(0.0, min(0.1, drain_until - time.monotonic())))
            # Hand over nothing more, and wait for what is out, so the count is exact.
            self._handing_over = False
            while self._outbox.in_flight and self._connected and time.monotonic() < confirm_until:
                self._drained.wait(0.02)
            left, in_doubt = self._outbox.pending, self._outbox.in_flight
            connected = self._connected
            if self._spool is not None:
                self._spool.flush()
                self._spool.secure()
        if left:
            logger.warning(
                "MQTT: %d reading(s) not delivered to %s before stopping%s%s",
                left,
                self.settings.host,
                f" ({in_doubt} message(s) of them sent but not confirmed)" if in_doubt else "",
                "; the spool keeps them for the next start" if self._spool is not None else "",
            )
        if connected:
            self._send_offline(client, deadline)
        client.disconnect()
        client.loop_stop()
        # The paho logger is shared by every publisher of the process.
        logging.getLogger(f"{__name__}.paho").removeFilter(self._filter_paho_log)
        self._close_spool()
        self._client = None
        self._connected = False

    def _close_spool(self) -> None:
        if self._spool_file is not None:
            self._spool_file.close()
            self._spool_file = self._spool = None

    def _send_offline(self, client: paho.Client, deadline: float) -> None:
        """``offline`` on the availability topic, waited for until ``deadline``."""
        topic = self.availability_topic
        assert topic is not None
        # paho's window has room for one message beyond the outbox's (see _connect).
        with self._send_lock:
            info = client.publish(topic, _OFFLINE, self.settings.qos, retain=True)
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError) as error:
            logger.debug("MQTT: offline not confirmed: %s", error)

    # -- building messages ----------------------------------------------------------

    # -- building messages ----------------------------------------------------------

    def _reading_messages(self, notification: Notification) -> list[_Message]:
        settings = self.settings
        prefix = self.topic_prefix
        assert prefix is not None
        qos, retain = settings.qos, settings.retain
        messages: list[_Message] = []
        if settings.homeassistant_discovery:
            messages.extend(self._new_discovery(notification))
        if settings.publish_json:
            payload = state_payload(notification, settings).encode("utf-8")
            messages.append(_Message(f"{prefix}/state", payload, qos, retain))
        if settings.publish_values:
            for reading in notification.readings:
                text = value_payload(reading, settings)
                if text is None:
                    continue
                topic = f"{prefix}/{reading_identifier(reading, settings)}"
                messages.append(_Message(topic, text.encode("utf-8"), qos, retain))
        return messages

    def _new_discovery(self, notification: Notification) -> list[_Message]:
        """Discovery configs of the OBIS codes confirmed and not announced before.

        An OBIS code counts once two consecutive pushes of one layout carry it
        (:class:`~cosem_reader.output.homeassistant.DiscoveryGate`): noise on the line never
        makes a Home Assistant entity.
        """
        assert self.meter_id is not None
        if self._device is None:
            self._device = device_info(self.meter_id, notification)
        full = self._gate.is_full
        codes = self._gate.confirm(notification)
        if self._gate.is_full and not full:
            logger.warning(
                "meter %s: %d OBIS codes announced to Home Assistant, the most one meter"
                " gets; codes seen later get no entity (they are still in the state message)",
                self.meter_id,
                MAX_ENTITIES,
            )
        if not codes:
            return []
        state_topic, availability_topic = self.state_topic, self.availability_topic
        assert state_topic is not None
        assert availability_topic is not None
        confirmed = replace(
            notification, readings=tuple(r for r in notification.readings if r.obis in codes)
        )
        configs = discovery_messages(
            confirmed,
            meter_id=self.meter_id,
            state_topic=state_topic,
            availability_topic=availability_topic,
            discovery_prefix=self.settings.discovery_prefix,
            language=self.settings.language,
            name_template=self.settings.name_template,
            date_time_format=self.settings.date_time_format,
            expire_after=self.settings.expire_after,
            qos=self.settings.qos,
            device=self._device,
        )
        messages: list[_Message] = []
        for topic, payload in configs:
            if topic in self._discovery:
                continue
            data = dumps(payload).encode("utf-8")
            self._discovery[topic] = data
            messages.append(self._control(topic, data, "discovery"))
        return messages

    def _control(self, topic: str, payload: bytes, kind: str) -> _Message:
        return _Message(topic, payload, self.settings.qos, True, kind=kind)

    # -- the queue (callers hold self._lock) ------------------------------------------

    def _restore(self) -> None:
        """Queue the readings the spool kept from before, first and in order."""
        if self._spool_file is None or self._spool is not None:
            return
        assert self.meter_id is not None
        spool = self._spool = MeterSpool(self._spool_file, self.meter_id)
        kept = spool.restore()
        with self._lock:
            for reading, messages in kept:
                spool.completed(self._outbox.add(messages, reading), drained=False)
            spool.flush()
        if kept:
            logger.warning(
                "MQTT spool %s: %d reading(s) kept from before are sent first",
                self._spool_file.path,
                len(kept),
            )

    def _enqueue(self, messages: list[_Message]) -> None:
        if self._spool is not None:
            reading = self._spool.number()
            at_risk = not self._connected or self._outbox.pending > 0
            self._spool.queued(reading, messages, at_risk)
        else:
            self._sequence += 1
            reading = self._sequence
        overflowing = self._outbox.dropped > 0
        for message in messages:
            if self.settings.publish_json and message.topic.endswith("/state"):
                self._last_state = message
        dropped = self._outbox.add(messages, reading)
        if self._spool is not None and dropped:
            self._spool.completed(dropped, drained=False)
        if self._outbox.dropped and not overflowing:
            logger.warning(
                "MQTT queue full (%d readings) while %s is unreachable: dropping the oldest"
                " readings; raise mqtt.queue_size to keep more",
                self.settings.queue_size,
                self.settings.host,
            )

    def _queue_availability(self) -> None:
        """Replace any unsent availability message by the current state, at the front."""
        topic = self.availability_topic
        if topic is None:
            return
        self._outbox.discard_unsent("availability")
        payload = (_ONLINE if self._available else _OFFLINE).encode("ascii")
        self._outbox.add_first([self._control(topic, payload, "availability")])

    def _completed(self, readings: list[int]) -> None:
        """Readings the broker now holds completely."""
        if self._spool is not None and readings:
            self._spool.completed(readings, drained=not self._outbox.pending)
        if not readings or self._outbox.pending:
            return
        if self._outbox.dropped:
            logger.warning(
                "MQTT queue drained; %d reading(s) were dropped while the broker was unreachable",
                self._outbox.dropped,
            )
            self._outbox.dropped = 0
        self._drained.notify_all()

    # -- handing over to paho -----------------------------------------------------------

    def _pump(self) -> None:
        """Hand paho what the window allows; a thread that finds this busy does not wait."""
        client = self._client
        if client is None:
            return
        while True:
            with self._lock:
                self._pump_wanted = True
            if not self._send_lock.acquire(blocking=False):
                return  # the thread handing over sees _pump_wanted and goes on
            try:
                with self._lock:
                    self._pump_wanted = False
                self._hand_over(client)
            finally:
                self._send_lock.release()
            with self._lock:
                if not self._pump_wanted:
                    return

    def _hand_over(self, client: paho.Client) -> None:
        """Publish the outbox's messages while it gives any (callers hold _send_lock)."""
        from paho.mqtt.enums import MQTTErrorCode  # noqa: PLC0415 - see TYPE_CHECKING above

        while True:
            with self._lock:
                handing_over = self._connected and self._handing_over
                message = self._outbox.take() if handing_over else None
            if message is None:
                return
            try:
                info = client.publish(message.topic, message.payload, message.qos, message.retain)
            except ValueError as error:
                logger.error("MQTT: cannot publish on %r: %s", message.topic, error)
                with self._lock:
                    self._completed(self._outbox.abandoned(message))
                continue
            with self._lock:
                if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    # Without a connection paho keeps its copy, which the next
                    # on_connect drops; the outbox sends the message again then.
                    self._completed(self._outbox.sent(message, info.mid))
                    if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                        continue
                else:
                    # MQTT_ERR_QUEUE_SIZE and whatever else: the next PUBACK or
                    # connection tries again, in order.
                    self._outbox.refused(message)
                    logger.debug("MQTT: paho refused %s: %s", message.topic, info.rc)
            return

    # -- paho ------------------------------------------------------------------------

    def _connect(self) -> None:
        if self._client is not None:
            return
        import paho.mqtt.client as paho  # noqa: PLC0415 - see TYPE_CHECKING above
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: PLC0415

        settings = self.settings
        availability_topic = self.availability_topic
        assert availability_topic is not None
        client_id = settings.client_id or sanitize_level(
            f"cosem-reader-{socket.gethostname()}-{self.meter_id}"
        )
        protocol = (
            MQTTProtocolVersion.MQTTv5 if settings.protocol == "5" else MQTTProtocolVersion.MQTTv311
        )
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else True,
        )
        paho_log = logging.getLogger(f"{__name__}.paho")
        paho_log.addFilter(self._filter_paho_log)
        client.enable_logger(paho_log)
        # A bug in a callback must not end the network loop (and with it reconnection).
        client.suppress_exceptions = True
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set_context(self._tls_context())
        client.will_set(availability_topic, _OFFLINE, settings.qos, retain=True)
        client.reconnect_delay_set(settings.reconnect_min_delay, settings.reconnect_max_delay)
        # One more than the outbox's window: paho counts an acknowledged message until
        # on_publish returns, and stop() sends ``offline`` beside the window.
        client.max_inflight_messages_set(WINDOW + 1)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        port = settings.effective_port
        logger.info(
            "MQTT: connecting to %s:%d as %s (%s%s)",
            settings.host,
            port,
            client_id,
            f"MQTT {settings.protocol}",
            ", TLS" if settings.tls else "",
        )
        if protocol == MQTTProtocolVersion.MQTTv5:
            client.connect_async(settings.host, port, settings.keepalive, clean_start=True)
        else:
            client.connect_async(settings.host, port, settings.keepalive)
        client.loop_start()

    def _tls_context(self) -> ssl.SSLContext:
        import ssl  # noqa: PLC0415 - see TYPE_CHECKING above

        context = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.reject_unauthorized:
            logger.warning(
                "MQTT: TLS certificate verification is off (reject_unauthorized = false):"
                " anyone on the path can read and change what is published"
            )
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        publisher = self

        class _Socket(ssl.SSLSocket):
            # paho reports a failed handshake as a failed connection, without the
            # reason; keep the certificate's reason for the log line.
            def do_handshake(self, block: bool = False) -> None:
                try:
                    super().do_handshake(block)
                except ssl.SSLCertVerificationError as error:
                    publisher._tls_problem = str(error.verify_message or error.reason)
                    raise

        context.sslsocket_class = _Socket
        return context

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error(
                "MQTT: %s:%d refused the connection: %s;"
                " check mqtt.username, mqtt.password and mqtt.client_id",
                self.settings.host,
                self.settings.effective_port,
                reason_code,
            )
            return
        with self._send_lock:
            # paho would resend its own unacknowledged copies; the outbox resends them
            # instead, in order, together with what was queued while disconnected.
            client.drop_out_messages()
            # An MQTT 5 broker may take fewer unacknowledged messages than the window.
            receive_maximum = getattr(properties, "ReceiveMaximum", None)
            with self._lock:
                self._outbox.window = min(WINDOW, receive_maximum or WINDOW)
                self._outbox.reconnected()
                self._outbox.add_first(
                    self._control(topic, data, "discovery")
                    for topic, data in self._discovery.items()
                )
                self._queue_availability()
                self._connected = True
                pending = self._outbox.pending
            was_down = self._broker_down_logged
            self._broker_down_logged = False
            self._tls_problem = None
        logger.log(
            logging.WARNING if was_down else logging.INFO,
            "MQTT: connected to %s:%d%s",
            self.settings.host,
            self.settings.effective_port,
            f", sending {pending} queued reading(s)" if pending else "",
        )
        if self.settings.homeassistant_discovery:
            client.subscribe(f"{self.settings.discovery_prefix}/status", qos=1)
            client.subscribe(f"{self.settings.discovery_prefix}/sensor/+/+/config", qos=1)
        self._pump()

    def _on_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        if self._broker_down_logged:
            return
        self._broker_down_logged = True
        if self._tls_problem is not None:
            logger.error(
                "MQTT: the TLS certificate of %s:%d is not accepted (%s); set mqtt.ca_file to"
                " the CA that signed it, or mqtt.reject_unauthorized = false to accept any"
                " certificate; retrying, readings are queued meanwhile",
                self.settings.host,
                self.settings.effective_port,
                self._tls_problem,
            )
            return
        logger.warning(
            "MQTT: cannot reach %s:%d; retrying, readings are queued meanwhile",
            self.settings.host,
            self.settings.effective_port,
        )

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connected = False
            stopping = self._stopping
            if self._spool is not None:
                self._spool.secure()
            self._drained.notify_all()
        if not stopping and not self._broker_down_logged:
            self._broker_down_logged = True
            logger.warning(
                "MQTT: connection to %s:%d lost (%s); reconnecting, readings are queued meanwhile",
                self.settings.host,
                self.settings.effective_port,
                reason_code,
            )

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        _reason_code: ReasonCode,
        _properties: Properties,
    ) -> None:
        with self._lock:
            self._completed(self._outbox.acknowledged(mid))
        self._pump()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if message.retain and renamed_config(
            message.topic, message.payload, self.meter_id, self._device
        ):
            logger.info("MQTT: clearing %s, this meter's config before a rename", message.topic)
            with self._lock:
                self._outbox.add([self._control(message.topic, b"", "discovery")])
            self._pump()
            return
        # Retained births are replays, not a Home Assistant that just started.
        if message.retain or message.payload.strip() != b"online":
            return
        logger.info("MQTT: Home Assistant is online, sending discovery again")
        with self._lock:
            if not self._connected:
                return
            again = [
                self._control(topic, data, "discovery") for topic, data in self._discovery.items()
            ]
            last = self._last_state
            if last is not None and not self.settings.retain:
                # Entities are unknown after discovery until the next state arrives.
                again.append(replace(last, kind="resend"))
            self._outbox.add(again)
        self._pump()
