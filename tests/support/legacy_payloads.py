"""The MQTT payload functions as they were before the fast JSON path (issue 14).

Kept unchanged as the reference the faster functions are held to: the state message
through ``dumps(notification_to_dict(…))`` with its date-times rewritten in the dict,
every per-value number through ``dumps``, every topic level sanitised afresh.
"""

from __future__ import annotations

from datetime import datetime

from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.readings import Notification, Reading, ReadingValue
from cosem_reader.output.homeassistant import obis_slug
from cosem_reader.output.jsonout import dumps, notification_to_dict
from cosem_reader.output.mqtt.payloads import format_date_time
from cosem_reader.output.mqtt.settings import MqttSettings, topic_level


def reading_identifier(reading: Reading, settings: MqttSettings) -> str:
    """The per-value topic level of a reading: ``1-0_1_8_0``, or its sanitised name."""
    if reading.obis is None:
        return topic_level(f"position_{reading.position}", settings)
    if settings.topic_identifier == "name":
        return topic_level(
            format_name(reading.obis, settings.language, settings.name_template), settings
        )
    return topic_level(obis_slug(reading.obis), settings)


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
