"""Home Assistant MQTT discovery for a meter: pure functions from readings to config messages.

Home Assistant creates an entity for every retained JSON message on
``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`` (node and object
ids only ``[a-zA-Z0-9_-]``).  cosem-reader sends one ``sensor`` per OBIS code the meter
actually sends, on ``<prefix>/sensor/<meter>/<obis slug>/config``; all sensors of a
meter share one ``device`` (identified by the system title, else the meter number, never
by a name the user chose; the manufacturer taken from the FLAG id in the first three
bytes of the system title) and read their value from the
meter's one JSON state message through a ``value_template``, so one message per reading
updates every sensor.

What the Energy dashboard needs, and what the payloads therefore carry:

* energy registers (``1-0:1.8.0`` import, ``2.8.0`` export): ``device_class: energy``,
  ``state_class: total_increasing``, unit ``Wh`` exactly as the meter sends it (HA's
  energy class accepts Wh, kWh, MWh …);
* power (``1.7.0``/``2.7.0``), voltage, current, frequency: ``measurement`` with ``W``,
  ``V``, ``A``, ``Hz``;
* power factor (``13.7.0``): ``device_class: power_factor`` and no unit (HA accepts no
  unit or ``%``; the meter sends a plain ratio);
* text and identifier registers (meter number ``0-0:96.1.0``): no device or state
  class, ``entity_category: diagnostic``.
* a number whose scale is unknown (sent without scaler-unit, no meter profile or
  ``[scalers]`` entry for it): no unit, no device class and no ``total_increasing``,
  so a raw ``564`` is never graphed as 564 A or counted as energy.

* reactive energy (``3.8.0``/``4.8.0``, ``varh``): ``device_class: reactive_energy``
  (Home Assistant 2025.6 and later), reactive and apparent power: ``reactive_power``
  (``var``) and ``apparent_power`` (``VA``), both ``measurement``; apparent energy
  (``VAh``) has no device class in Home Assistant and keeps only its unit.

A device class whose allowed units do not include the reading's unit is left out:
Home Assistant rejects the whole entity for such a pair.

Meters that alternate lists (Norwegian list 1/2/3, Kaifa) leave codes out of some
pushes; the value template then renders an empty string, which Home Assistant ignores
(the entity keeps its last value) instead of logging a template error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from cosem_reader import __version__
from cosem_reader.cosem.manufacturers import MANUFACTURERS, flag_id, manufacturer
from cosem_reader.cosem.obis import (
    DEFAULT_DELIMITERS,
    ObisCode,
    ObisInfo,
    describe,
    format_name,
)
from cosem_reader.cosem.readings import Notification, Reading

__all__ = [
    "MANUFACTURERS",
    "MAX_ENTITIES",
    "METER_NUMBER",
    "ORIGIN_NAME",
    "DiscoveryGate",
    "device_identifier",
    "device_info",
    "discovery_messages",
    "flag_id",
    "manufacturer",
    "obis_slug",
    "origin",
    "published_by_us",
    "renamed_config",
    "sensor_config",
    "value_template",
]

ORIGIN_NAME = "cosem-reader"
#: The meter number register: the device's serial number in the discovery ``device``.
METER_NUMBER = ObisCode(0, 0, 96, 1, 0)

#: Units Home Assistant accepts per device class (those a meter can send), after
#: ``DEVICE_CLASS_UNITS`` in home-assistant/core ``components/sensor/const.py``.
_ALLOWED_UNITS: Mapping[str, frozenset[str | None]] = MappingProxyType(
    {
        "energy": frozenset({"Wh", "kWh", "MWh", "GWh", "MJ", "GJ"}),
        "power": frozenset({"W", "kW", "MW"}),
        "reactive_energy": frozenset({"varh", "kvarh"}),
        "reactive_power": frozenset({"var", "kvar"}),
        "apparent_power": frozenset({"VA", "kVA"}),
        "voltage": frozenset({"V", "mV", "kV"}),
        "current": frozenset({"A", "mA"}),
        "frequency": frozenset({"Hz", "kHz", "MHz"}),
        "power_factor": frozenset({None, "%"}),
    }
)

#: DLMS unit symbols whose Home Assistant spelling differs.
_HA_UNITS: Mapping[str, str] = MappingProxyType({"m3": "m³", "m3/h": "m³/h"})

_SLUG_SEPARATORS = re.compile(r"[:.*&]")
_NOT_ENTITY_ID = re.compile(r"[^a-z0-9_]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def obis_slug(code: ObisCode) -> str:
    """The OBIS code as a topic level and object id: ``1-0:1.8.0`` → ``1-0_1_8_0``."""
    return _SLUG_SEPARATORS.sub("_", str(code))


def value_template(code: ObisCode) -> str:
    """The Jinja template that reads one OBIS code's value from the JSON state message.

    A push that lacks the code renders an empty string, which Home Assistant's MQTT
    sensor ignores, so a meter that alternates lists raises no template error.
    """
    return "{{ value_json['values'].get('" + str(code) + "', {}).get('value', '') }}"


def device_identifier(meter_id: str, notification: Notification | None = None) -> str:
    """What identifies the meter's device in Home Assistant: its system title, else serial.

    A topic name a user chose (``--name house``) is not unique across installations;
    the system title is (FLAG id and serial).  Without a system title the meter number
    ``0-0:96.1.0`` stands in, and only without either the meter id.
    """
    if notification is not None:
        if notification.system_title:
            return notification.system_title.hex()
        serial = _meter_number(notification)
        if serial is not None:
            return _NOT_ID.sub("_", serial)
    return meter_id


def _meter_number(notification: Notification) -> str | None:
    reading = notification.reading(METER_NUMBER)
    if reading is not None and isinstance(reading.value, str | int):
        return str(reading.value)
    return None


def origin() -> dict[str, str]:
    """The discovery ``origin``: which application sent the config."""
    return {"name": ORIGIN_NAME, "sw_version": __version__}


def device_info(meter_id: str, notification: Notification | None = None) -> dict[str, Any]:
    """The discovery ``device`` shared by all sensors of one meter.

    ``identifiers`` is :func:`device_identifier`; the manufacturer comes from the system
    title, the serial number from the meter number register ``0-0:96.1.0`` when the
    meter sends it.
    """
    system_title = notification.system_title if notification is not None else None
    maker = manufacturer(system_title)
    device: dict[str, Any] = {
        "identifiers": [device_identifier(meter_id, notification)],
        "name": f"{maker or 'Smart meter'} {meter_id}",
    }
    if maker is not None:
        device["manufacturer"] = maker
    serial = _meter_number(notification) if notification is not None else None
    if serial is not None:
        device["serial_number"] = serial
    return device


def _is_number(value: object) -> bool:
    return isinstance(value, Decimal | int | float) and not isinstance(value, bool)


def _number_fields(reading: Reading, info: ObisInfo) -> dict[str, Any]:
    """Device class, state class, unit and precision of a numeric sensor."""
    fields: dict[str, Any] = {}
    unit = _HA_UNITS.get(reading.unit, reading.unit) if reading.unit else None
    device_class = info.device_class
    state_class = info.state_class
    raw = reading.scale_origin is None and reading.scaler is None
    if raw and not isinstance(reading.value, float):
        # A raw number of unknown scale: graphed as energy it would be believed.
        device_class = None
        if state_class == "total_increasing":
            state_class = None
    if device_class is not None and unit not in _ALLOWED_UNITS.get(device_class, ()):
        device_class = None
    if device_class is not None:
        fields["device_class"] = device_class
    if state_class is not None:
        fields["state_class"] = state_class
    if unit is not None:
        fields["unit_of_measurement"] = unit
    if reading.scaler is not None:
        fields["suggested_display_precision"] = max(0, -reading.scaler)
    return fields


def sensor_config(
    reading: Reading,
    *,
    meter_id: str,
    state_topic: str,
    availability_topic: str,
    device: Mapping[str, Any],
    discovery_prefix: str = "homeassistant",
    language: str = "en",
    name_template: str | None = None,
    date_time_format: str = "iso",
    expire_after: int | None = None,
    qos: int = 1,
    name_delimiters: str = DEFAULT_DELIMITERS,
) -> tuple[str, dict[str, Any]] | None:
    """The discovery ``(topic, payload)`` of one reading's sensor; None without OBIS code.

    ``state_topic`` is the meter's JSON state topic, read by :func:`value_template`.
    ``meter_id`` must already be a valid topic level.
    """
    code = reading.obis
    if code is None:
        return None
    info = describe(code)
    slug = obis_slug(code)
    node = _NOT_ID.sub("_", meter_id) or "meter"
    unique_id = f"cosem_reader_{node}_{slug}"
    # An entity id allows only lower-case letters, digits and underscores.
    object_id = _NOT_ENTITY_ID.sub("_", unique_id.lower())
    payload: dict[str, Any] = {
        "name": format_name(code, language, name_template, name_delimiters),
        "unique_id": unique_id,
        "object_id": object_id,
        "default_entity_id": f"sensor.{object_id}",
        "state_topic": state_topic,
        "value_template": value_template(code),
        "availability_topic": availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": qos,
        "device": dict(device),
        "origin": origin(),
    }
    value = reading.value
    if _is_number(value):
        payload.update(_number_fields(reading, info))
    elif isinstance(value, datetime):
        # A timestamp sensor needs an ISO 8601 string with its offset.
        if date_time_format in ("iso", "iso-local"):
            payload["device_class"] = "timestamp"
        payload["entity_category"] = "diagnostic"
    else:
        payload["entity_category"] = "diagnostic"
    if expire_after:
        payload["expire_after"] = expire_after
    topic = f"{discovery_prefix}/sensor/{node}/{slug}/config"
    return topic, payload


def discovery_messages(
    notification: Notification,
    *,
    meter_id: str,
    state_topic: str,
    availability_topic: str,
    discovery_prefix: str = "homeassistant",
    language: str = "en",
    name_template: str | None = None,
    date_time_format: str = "iso",
    expire_after: int | None = None,
    qos: int = 1,
    device: Mapping[str, Any] | None = None,
    name_delimiters: str = DEFAULT_DELIMITERS,
) -> list[tuple[str, dict[str, Any]]]:
    """One ``(topic, payload)`` per OBIS code in the notification, first occurrence only."""
    shared = device if device is not None else device_info(meter_id, notification)
    messages: list[tuple[str, dict[str, Any]]] = []
    seen: set[ObisCode] = set()
    for reading in notification.readings:
        if reading.obis is None or reading.obis in seen:
            continue
        seen.add(reading.obis)
        config = sensor_config(
            reading,
            meter_id=meter_id,
            state_topic=state_topic,
            availability_topic=availability_topic,
            device=shared,
            discovery_prefix=discovery_prefix,
            language=language,
            name_template=name_template,
            date_time_format=date_time_format,
            expire_after=expire_after,
            qos=qos,
            name_delimiters=name_delimiters,
        )
        if config is not None:
            messages.append(config)
    return messages


def published_by_us(
    retained: Mapping[str, bytes], *, node: str | None = None, keep: Collection[str] = ()
) -> list[str]:
    """The retained discovery config topics cosem-reader published, to clear them.

    ``retained`` maps topics under ``<prefix>/+/+/+/config`` to their payloads; a config
    counts when its ``origin`` names cosem-reader (so configs of other applications are
    never touched), belongs to ``node`` (the meter's topic level) when one is given,
    and is not in ``keep``.
    """
    found: list[str] = []
    for topic, payload in retained.items():
        levels = topic.split("/")
        if len(levels) < 4 or levels[-1] != "config" or topic in keep:
            continue
        if node is not None and levels[-3] != node:
            continue
        try:
            config = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(config, dict) and (config.get("origin") or {}).get("name") == ORIGIN_NAME:
            found.append(topic)
    return sorted(found)


def renamed_config(
    topic: str, payload: bytes | bytearray, node: str | None, device: Mapping[str, Any] | None
) -> bool:
    """Whether a retained config is this meter's from before a rename, to be cleared.

    It is when cosem-reader published it (its ``origin``), for this ``device`` (a shared
    identifier, or the same serial number) but under another topic level than ``node``:
    the meter was renamed (``--name``) and Home Assistant would keep the old entities.
    Without the device (no push yet) nothing is judged.
    """
    levels = topic.split("/")
    if node is None or device is None or len(levels) < 4 or levels[-3] == node:
        return False
    try:
        config = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(config, dict) or (config.get("origin") or {}).get("name") != ORIGIN_NAME:
        return False
    theirs = config.get("device") or {}
    if set(theirs.get("identifiers") or ()) & set(device.get("identifiers") or ()):
        return True
    serial = device.get("serial_number")
    return serial is not None and theirs.get("serial_number") == serial


#: Home Assistant entities one meter announces at most: a real meter sends a few dozen
#: OBIS codes, and the bound keeps a line that makes up new codes from growing memory
#: and the entity registry.
MAX_ENTITIES = 64


class DiscoveryGate:
    """Which OBIS codes deserve an entity: those two consecutive pushes of one layout carry.

    A layout is the sequence of OBIS codes of a push.  Noise that still decodes makes up
    codes, but hardly the same sequence twice in a row; a meter repeats its layout with
    every push.  At most ``limit`` codes are ever confirmed (:attr:`is_full` then).
    """

    def __init__(self, limit: int = MAX_ENTITIES) -> None:
        self.limit = limit
        self._previous: tuple[ObisCode | None, ...] | None = None
        self._confirmed: set[ObisCode] = set()

    @property
    def is_full(self) -> bool:
        """Whether ``limit`` codes are confirmed, so no further code will be."""
        return len(self._confirmed) >= self.limit

    def confirm(self, notification: Notification) -> frozenset[ObisCode]:
        """The codes of ``notification`` confirmed so far, newly confirmed ones included."""
        layout = tuple(reading.obis for reading in notification.readings)
        repeated = layout == self._previous
        self._previous = layout
        if repeated:
            for code in layout:
                if code is not None and code not in self._confirmed and not self.is_full:
                    self._confirmed.add(code)
        return frozenset(code for code in layout if code in self._confirmed)
