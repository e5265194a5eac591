"""``compat = "smart-meter-mbus-dlms"``: the topics and payloads that program published.

Users of smart-meter-mbus-dlms (Node.js) built ioBroker, Home Assistant and Node-RED
scripts on its topics; with this setting a push is published as it published it, byte
for byte.  The rules are in docs/migrating.md (appendix); they were read from its
source at commit 64a69c7b (version 1.0.2): ``obis-tools.ts`` (names),
``mqtt-publisher.ts`` (topics, order, JSON), ``asn-1-data-types.ts`` (date formats).
The names of the codes without a name of its own are smartmeter-obis 3.0.2's
(``lib/ObisNames.js``); only the part of its tables Kaifa pushes use is kept here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from cosem_reader.cosem.date_time import system_timezone
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, Reading
from cosem_reader.cosem.walk import SCALE_FROM_PUSH
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.output.outbox import Message

__all__ = [
    "COMPAT_NAME",
    "accepts",
    "clock_text",
    "compat_messages",
    "original_code",
    "original_name",
    "topic_name",
    "value_text",
]

#: The value of ``mqtt.compat`` that asks for these rules.
COMPAT_NAME = "smart-meter-mbus-dlms"
_CLOCK = "0-0:1.0.0*255"
_DEFAULT_FORMAT = "[measurement]"  # setting-classes.ts, when the config names none

# obis-tools.ts getCustomObisNames (and its later rows for the energy registers in
# German): these codes take this name as [measurement], every other part empty.
_OWN_NAMES: dict[str, dict[str, str]] = {
    "de": {
        "0-0:1.0.0*255": "Zeitpunkt",
        "0-0:96.1.0*255": "Zählernummer",
        "0-0:42.0.0*255": "Cosem logischer Gerätename",
        "1-0:1.7.0*255": "Momentanleistung Bezug +P",
        "1-0:2.7.0*255": "Momentanleistung Lieferung -P",
        "1-0:1.8.0*255": "Summe Wirkenergie Bezug +A",
        "1-0:2.8.0*255": "Summe Wirkenergie Lieferung -A",
        "1-0:3.8.0*255": "Summe Blindenergie Bezug +R",
        "1-0:4.8.0*255": "Summe Blindenergie Lieferung -R",
    },
    "en": {
        "0-0:1.0.0*255": "Timestamp",
        "0-0:96.1.0*255": "Smart meter number",
        "0-0:42.0.0*255": "Cosem logical device name",
    },
}
# smartmeter-obis obisMedium (A).
_MEDIA = {"en": {0: "Abstract", 1: "Electricity"}, "de": {0: "Abstrakt", 1: "Strom"}}
# smartmeter-obis obisMeasurement[1] (electricity, C), the quantities of Kaifa pushes.
_MEASUREMENTS = {
    "en": {
        1: "Sum active power +", 2: "Sum active power -", 3: "Sum reactive power +",
        4: "Sum reactive power -", 13: "Power factor", 14: "Frequency",
        16: "Total active power", 31: "L1 current", 32: "L1 voltage", 33: "L1 power factor",
        51: "L2 current", 52: "L2 voltage", 53: "L2 power factor", 71: "L3 current",
        72: "L3 voltage", 73: "L3 power factor", 91: "Neutral current",
    },
    "de": {
        1: "Summe Wirkarbeit Bezug +", 2: "Summe Wirkarbeit Abgabe -",
        3: "Summe Blindarbeit Bezug +", 4: "Summe Blindarbeit Abgabe -",
        13: "Leistungsfaktor", 14: "Frequenz", 16: "Gesamtwirkleistung", 31: "L1 Strom",
        32: "L1 Spannung", 33: "L1 Leistungsfaktor", 51: "L2 Strom", 52: "L2 Spannung",
        53: "L2 Leistungsfaktor", 71: "L3 Strom", 72: "L3 Spannung", 73: "L3 Leistungsfaktor",
        91: "Neutraler Strom",
    },
}
# smartmeter-obis obisMeasurementType[1] (electricity, D), the kinds of Kaifa pushes.
_MEASUREMENT_TYPES = {
    "en": {7: "Instantaneous value", 8: "Time integral 1", 9: "Time integral 2"},
    "de": {7: "Momentanwert", 8: "Zählerstand 1", 9: "Vorschub 2"},
}
# smartmeter-obis obisTariffRate (E), the same in both languages.
_TARIFFS = {0: "Total", **{rate: f"T{rate}" for rate in range(1, 10)}}
# What Node's ICU calls the zones of the original's users, in Date.prototype.toString.
_ZONE_NAMES = {
    "CET": "Central European Standard Time", "CEST": "Central European Summer Time",
    "EET": "Eastern European Standard Time", "EEST": "Eastern European Summer Time",
    "WET": "Western European Standard Time", "WEST": "Western European Summer Time",
    "GMT": "Greenwich Mean Time", "BST": "British Summer Time",
    "UTC": "Coordinated Universal Time",
}
_UMLAUTS = (("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ä", "ae"), ("ö", "oe"), ("ü", "ue"),
            ("ß", "ss"))
_KINDS = frozenset({"long-unsigned", "double-long-unsigned"})
# A topic with a wildcard is refused by paho; only a user's regex can let one through.
_WILDCARDS = re.compile("[+#\x00]")


def original_code(obis: ObisCode) -> str:
    """``A-B:C.D.E*F``, the F always written (``0-0:96.1.0*255``)."""
    return f"{obis.a}-{obis.b}:{obis.c}.{obis.d}.{obis.e}*{obis.f}"


def _parts(obis: ObisCode, language: str) -> dict[str, str]:
    own = _OWN_NAMES[language].get(original_code(obis))
    media = _MEDIA[language]
    if own is not None:
        return {"medium": media[0], "measurement": own}
    electric = obis.a == 1
    return {
        "medium": media.get(obis.a, ""),
        "measurement": _MEASUREMENTS[language].get(obis.c, "") if electric else "",
        "measurementType": _MEASUREMENT_TYPES[language].get(obis.d, "") if electric else "",
        "tariff": _TARIFFS.get(obis.e, ""),
    }


def original_name(
    obis: ObisCode, language: str, template: str | None, delimiters: str
) -> str:
    """The name in ``template``: each placeholder replaced once, delimiters cut at the end.

    The original replaced only the first occurrence of each placeholder and trimmed
    only the end (its merging of runs inside discarded its result), so this does too.
    """
    parts = _parts(obis, language if language in _OWN_NAMES else "en")
    name = template if template is not None else _DEFAULT_FORMAT
    for placeholder in ("medium", "channel", "measurement", "measurementType", "tariff",
                        "previousMeasurement"):
        name = name.replace(f"[{placeholder}]", parts.get(placeholder, ""), 1)
    end = len(name)
    while end > 0 and name[end - 1] in delimiters:
        end -= 1
    return name[:end]


def topic_name(name: str, settings: MqttSettings) -> str:
    """The topic level of a name: the first of each umlaut spelled out, invalid ones replaced."""
    if settings.replace_umlauts:
        for umlaut, spelled in _UMLAUTS:
            name = name.replace(umlaut, spelled, 1)
    if settings.invalid_characters:
        name = re.sub(
            settings.invalid_characters, lambda _m: settings.invalid_character_replacement, name
        )
    return _WILDCARDS.sub("_", name)


def clock_text(value: object, date_time_format: str, zone: tzinfo | None = None) -> str:
    """The clock as the original printed it: the meter's wall time read in ``zone``.

    The original ignored the deviation the meter sent and took the wall time for the
    process's time zone, so ``epoch`` (milliseconds), ``iso`` (UTC) and ``js`` depend on
    it; a clock that did not parse is the empty string.
    """
    if not isinstance(value, datetime):
        return ""
    local = value.replace(tzinfo=None).replace(tzinfo=zone or system_timezone())
    if date_time_format == "epoch":
        return str(int(local.timestamp()) * 1000 + local.microsecond // 1000)
    if date_time_format == "iso":
        instant = local.astimezone(UTC)
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    if date_time_format == "js":
        abbreviation = local.tzname() or "UTC"
        zone_name = _ZONE_NAMES.get(abbreviation, abbreviation)
        return local.strftime("%a %b %d %Y %H:%M:%S GMT%z") + f" ({zone_name})"
    return local.strftime("%Y-%m-%d %H:%M:%S")


def value_text(reading: Reading) -> str:
    """A number as JavaScript prints it (``230.8``, ``0``), text as text, bytes in decimal."""
    value = reading.value
    if isinstance(value, bytes):
        return " ".join(str(byte) for byte in value)
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return format(Decimal(value).normalize(), "f")
    return str(value)


def accepts(notification: Notification) -> bool:
    """Whether the original published this push: the Kaifa layout, clock first.

    It took the clock's code and value first, then one structure per value with its
    own OBIS code and, for numbers, an unsigned value with the push's scaler-unit;
    any other push (a flat list, signed values) it dropped whole.
    """
    readings = notification.readings
    if not readings or readings[0].obis is None or original_code(readings[0].obis) != _CLOCK:
        return False
    for reading in readings[1:]:
        if reading.obis is None:
            return False
        if isinstance(reading.value, Decimal | int) and (
            reading.data_type not in _KINDS or reading.scale_origin != SCALE_FROM_PUSH
        ):
            return False
    return True


def compat_messages(
    notification: Notification, settings: MqttSettings, zone: tzinfo | None = None
) -> list[Message]:
    """The messages the original published for one push, in its order (clock last).

    Each is QoS 0 and not retained, as it published them; a push it dropped is none.
    """
    if not accepts(notification):
        return []
    base = settings.topic_base.rstrip("/")
    clock, *values = notification.readings
    entries: list[dict[str, str]] = []
    messages: list[Message] = []
    for reading in [*values, clock]:
        assert reading.obis is not None  # accepts() checked it
        name = original_name(
            reading.obis, settings.language, settings.name_template, settings.name_delimiters
        )
        entry = {"code": original_code(reading.obis), "name": name}
        if reading is clock:
            text = clock_text(reading.value, settings.date_time_format, zone)
            entry["value"] = text
        else:
            unit = reading.unit or ""
            text = value_text(reading)
            if settings.include_unit and unit:
                text = f"{text} {unit}"
            entry |= {"value": text, "unit": unit}
        entries.append(entry)
        if settings.publish_values:
            topic = f"{base}/{topic_name(name, settings)}"
            messages.append(Message(topic, text.encode("utf-8"), 0, False))
    if settings.publish_json:
        entries.append({"name": "InvokeId", "value": str(notification.invoke_id)})
        payload = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
        messages.append(Message(f"{base}/json", payload.encode("utf-8"), 0, False))
    return messages
