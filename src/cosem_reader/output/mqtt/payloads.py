"""What is published for a reading: topics and payload bytes, per value and as JSON state."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from decimal import Decimal

from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.obis_code import ObisCode
from cosem_reader.cosem.readings import Notification, Reading, ReadingValue, system_timezone
from cosem_reader.output.homeassistant import obis_slug
from cosem_reader.output.jsonout import dumps, notification_json, number_text
from cosem_reader.output.mqtt.settings import MqttSettings, sanitize_level, topic_level
from cosem_reader.output.outbox import Message

__all__ = [
    "OFFLINE",
    "ONLINE",
    "control_message",
    "format_date_time",
    "meter_id_from",
    "reading_identifier",
    "reading_messages",
    "state_payload",
    "value_payload",
]

#: The payloads of the retained availability topic.
ONLINE, OFFLINE = "online", "offline"


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
        return topic_level(f"position_{reading.position}", settings)
    found = (
        reading.obis,
        settings.topic_identifier,
        settings.language,
        settings.name_template,
        settings.name_delimiters,
        settings.invalid_characters,
        settings.invalid_character_replacement,
        settings.replace_umlauts,
    )
    level = _LEVELS.get(found)
    if level is None:
        if len(_LEVELS) >= _LEVELS_LIMIT:
            _LEVELS.clear()
        level = _LEVELS[found] = _topic_level_of_code(reading.obis, settings)
    return level


def _topic_level_of_code(code: ObisCode, settings: MqttSettings) -> str:
    if settings.topic_identifier == "name":
        name = format_name(
            code, settings.language, settings.name_template, settings.name_delimiters
        )
        return topic_level(name, settings)
    return topic_level(obis_slug(code), settings)


#: The topic level of each OBIS code under the settings it depends on: a meter sends the
#: same codes every push, and sanitising one takes two regular expressions.  Emptied
#: when full, so that codes that never repeat cannot grow it without end.
_LEVELS: dict[tuple[object, ...], str] = {}
_LEVELS_LIMIT = 4096


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
    """The JSON state message of one reading, date-times in ``settings.date_time_format``.

    It is decode's JSON (:func:`notification_json`, the same text as
    ``dumps(notification_to_dict(…))``), the ISO date-times then rewritten when another
    format is asked for.
    """
    text = notification_json(
        notification, settings.language, settings.name_template, delimiters=settings.name_delimiters
    )
    if settings.date_time_format == "iso":
        return text
    instants = [r.value for r in notification.readings if isinstance(r.value, datetime)]
    if notification.timestamp is not None:
        instants.append(notification.timestamp)
    formatted = {
        instant.isoformat(): dumps(format_date_time(instant, settings.date_time_format))
        for instant in instants
    }

    def rewrite(match: re.Match[str]) -> str:
        shown = formatted.get(match[2])
        return match[0] if shown is None else f'"{match[1]}": {shown}'

    return _ISO_VALUE.sub(rewrite, text)


#: The notification's ``"timestamp"`` and each entry's ``"value"`` when it is a string of
#: the characters of an ISO date-time.  A key's quotes cannot stand inside a JSON
#: string (there every quote is escaped), so a match is always a key and its value.
#: Any such string equal to a date-time of the push is rewritten, as before.
_ISO_VALUE = re.compile(r'"(timestamp|value)": "([0-9T:+.\-]+)"')


def value_payload(reading: Reading, settings: MqttSettings) -> str | None:
    """The plain payload of one per-value topic (``233.7`` / ``233.7 V``); None for no value."""
    value: ReadingValue | str | int = reading.value
    if value is None:
        return None
    kind = type(value)
    if kind is Decimal:
        text = number_text(value)  # type: ignore[arg-type]
    elif kind is int:
        text = str(value)
    elif isinstance(value, datetime):
        text = str(format_date_time(value, settings.date_time_format))
    elif isinstance(value, str):
        text = value
    else:
        text = dumps(value)
    if settings.include_unit and reading.unit:
        text = f"{text} {reading.unit}"
    return text


def reading_messages(
    notification: Notification, settings: MqttSettings, prefix: str
) -> list[Message]:
    """The state message and the per-value messages of one reading under ``prefix``."""
    qos, retain = settings.qos, settings.retain
    messages: list[Message] = []
    if settings.publish_json:
        payload = state_payload(notification, settings).encode("utf-8")
        messages.append(Message(_topic(prefix, "state"), payload, qos, retain))
    if settings.publish_values:
        for reading in notification.readings:
            text = value_payload(reading, settings)
            if text is None:
                continue
            topic = _topic(prefix, reading_identifier(reading, settings))
            messages.append(Message(topic, text.encode("utf-8"), qos, retain))
    return messages


def _topic(prefix: str, level: str) -> str:
    """``prefix/level`` as one string for every reading: a queue of readings (the broker
    away, or slower than the meter) holds each topic once instead of once per message."""
    return sys.intern(f"{prefix}/{level}")


def control_message(topic: str, payload: bytes, settings: MqttSettings, kind: str) -> Message:
    """A retained message about the meter rather than a reading: discovery, availability."""
    return Message(topic, payload, settings.qos, True, kind=kind)
