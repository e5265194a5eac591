"""JSON for readings: one object per notification, numbers exact.

``json`` would print a :class:`~decimal.Decimal` as a string or through ``float``
(``233.70000000000002``); here a scaled value is written with exactly the
decimals its scaler gives (``233.7``, ``1.65``, ``0.998``), an integer register
as an integer, and a date-time as ISO 8601 with its UTC offset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.readings import Notification, Reading, ReadingValue
from cosem_reader.security.ciphering import CipheredApdu

__all__ = [
    "ciphered_header",
    "dumps",
    "format_value",
    "is_raw_number",
    "notification_to_dict",
    "reading_to_dict",
]


def format_value(value: ReadingValue) -> Any:
    """A reading's value as a JSON-ready Python value (Decimal stays Decimal)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def is_raw_number(reading: Reading) -> bool:
    """Whether a reading is a number whose scale nobody knows: shown raw, without a unit."""
    value = reading.value
    return (
        reading.scale_origin is None
        and reading.scaler is None
        and isinstance(value, int)
        and not isinstance(value, bool)
        and reading.data_type != "enum"
    )


def reading_to_dict(
    reading: Reading, language: str = "en", name_template: str | None = None
) -> dict[str, Any]:
    """``{"value": …, "unit": …, "name": …}`` of one reading; ``"scaled": false`` marks a
    number sent without scaler-unit that no profile or ``[scalers]`` entry scales."""
    entry: dict[str, Any] = {"value": format_value(reading.value)}
    if reading.unit is not None or reading.scaler is not None:
        entry["unit"] = reading.unit
    elif is_raw_number(reading):
        entry["scaled"] = False
    if reading.obis is not None:
        entry["name"] = format_name(reading.obis, language, name_template)
    return entry


def notification_to_dict(
    notification: Notification, language: str = "en", name_template: str | None = None
) -> dict[str, Any]:
    """The JSON object of one notification, as ``cosem-reader decode --format json`` prints it."""
    result: dict[str, Any] = {
        "timestamp": notification.timestamp.isoformat() if notification.timestamp else None,
    }
    if notification.system_title is not None:
        result["system_title"] = notification.system_title.hex().upper()
    if notification.frame_counter is not None:
        result["frame_counter"] = notification.frame_counter
    if notification.invoke_id is not None:
        result["invoke_id"] = notification.invoke_id
    values: dict[str, Any] = {}
    by_position: dict[str, Any] = {}
    for reading in notification.readings:
        entry = reading_to_dict(reading, language, name_template)
        if reading.obis is None:
            by_position[reading.position] = entry
            continue
        key = str(reading.obis)
        if key in values:  # a meter may send one code twice; keep both
            key = f"{key} (position {reading.position})"
        values[key] = entry
    result["values"] = values
    if by_position:
        result["values_by_position"] = by_position
    return result


def ciphered_header(ciphered: CipheredApdu) -> dict[str, Any]:
    """The security header of a ciphered APDU, as JSON shows it (no key material in it)."""
    return {
        "apdu": ciphered.kind,
        "system_title": ciphered.system_title.hex().upper() if ciphered.system_title else None,
        "security_control": ciphered.security_control,
        "frame_counter": ciphered.frame_counter,
        "ciphertext_length": len(ciphered.ciphertext),
        "authentication_tag": ciphered.auth_tag.hex().upper() if ciphered.auth_tag else None,
    }


def dumps(value: Any) -> str:
    """Compact JSON with exact decimals; keys in insertion order."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else ("true" if value else "false"))
    elif isinstance(value, Decimal):
        out.append(_decimal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(": ")
            _write(item, out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _write(item, out)
        out.append("]")
    elif isinstance(value, bytes | bytearray):
        out.append(json.dumps(bytes(value).hex().upper()))
    elif isinstance(value, datetime):
        out.append(json.dumps(value.isoformat()))
    else:
        out.append(json.dumps(str(value), ensure_ascii=False))


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        return "null"
    text = f"{value:f}"
    return "0" if text in ("-0", "0") else text
