"""JSON for readings: one object per notification, numbers exact.

``json`` would print a :class:`~decimal.Decimal` as a string or through ``float``
(``233.70000000000002``); here a scaled value is written with exactly the
decimals its scaler gives (``233.7``, ``1.65``, ``0.998``), an integer register
as an integer, and a date-time as ISO 8601 with its UTC offset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from json import encoder as json_encoder
from typing import Any

from cosem_reader.cosem.obis import DEFAULT_DELIMITERS, format_name
from cosem_reader.cosem.readings import Notification, Reading, ReadingValue
from cosem_reader.security.ciphering import CipheredApdu

__all__ = [
    "ciphered_header",
    "dumps",
    "format_value",
    "is_raw_number",
    "notification_json",
    "notification_to_dict",
    "number_text",
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
    reading: Reading,
    language: str = "en",
    name_template: str | None = None,
    delimiters: str = DEFAULT_DELIMITERS,
) -> dict[str, Any]:
    """``{"value": …, "unit": …, "name": …}`` of one reading; ``"scaled": false`` marks a
    number sent without scaler-unit that no profile or ``[scalers]`` entry scales.
    ``delimiters``: what :func:`~cosem_reader.cosem.obis.format_name` trims."""
    entry: dict[str, Any] = {"value": format_value(reading.value)}
    if reading.unit is not None or reading.scaler is not None:
        entry["unit"] = reading.unit
    elif is_raw_number(reading):
        entry["scaled"] = False
    if reading.obis is not None:
        entry["name"] = format_name(reading.obis, language, name_template, delimiters)
    return entry


def notification_to_dict(
    notification: Notification,
    language: str = "en",
    name_template: str | None = None,
    delimiters: str = DEFAULT_DELIMITERS,
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
        entry = reading_to_dict(reading, language, name_template, delimiters)
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


def notification_json(
    notification: Notification,
    language: str = "en",
    name_template: str | None = None,
    meter: str | None = None,
    delimiters: str = DEFAULT_DELIMITERS,
) -> str:
    """``dumps(notification_to_dict(notification, …))``: the same text, made faster.

    With ``meter``, ``{"meter": meter, …}`` first, as the daemon's JSON lines have it.

    A meter sends the same registers with the same units every push; only the values
    change.  The text around each value (its key, unit and name) is made once per
    register and kind of value (:func:`_reading_parts`), so a push costs one formatted
    value per reading.  A decimal is written by str() (a third of the format's cost),
    checked once for all of them (:func:`_plain`); a push's time stamp is formatted
    once, though it is mostly a reading as well.
    """
    naming = (language, name_template, delimiters)
    moment = notification.timestamp
    # An ISO date-time is ASCII without quotes or backslashes: quoted, it is its JSON.
    moment_text = "null" if moment is None else f'"{moment.isoformat()}"'
    readings = notification.readings
    found = _readings_text(readings, naming, moment, moment_text, str)
    if found is not None and not _plain(found[1]):
        found = _readings_text(readings, naming, moment, moment_text, _decimal)
    if found is None:
        # A code (or position) twice: notification_to_dict says which key each gets.
        body = notification_to_dict(notification, *naming)
        return dumps(body if meter is None else {"meter": meter, **body})
    text = _notification_text(notification, moment_text, found[0])
    return text if meter is None else f'{{"meter": {dumps(meter)}, {text[1:]}'


def _readings_text(
    readings: Sequence[Reading],
    naming: tuple[str, str | None, str],
    moment: datetime | None,
    moment_text: str,
    decimal_text: Callable[[Decimal], str],
) -> tuple[str, list[str]] | None:
    """The ``"values"`` (and ``"values_by_position"``) text of the readings and the texts
    of their decimals, each written by ``decimal_text``; None when two readings go by
    one key."""
    cache = _PARTS.get(naming)
    if cache is None or len(cache) > _PARTS_LIMIT:
        cache = _PARTS[naming] = {}
    values: list[str] = []
    by_position: list[str] = []
    keys: list[object] = []
    decimals: list[str] = []
    for reading in readings:
        obis, value = reading.obis, reading.value
        kind = type(value)
        # id(): the cached parts hold the code, so no other object can take its id.
        where = reading.position if obis is None else id(obis)
        found = (where, reading.unit, reading.scaler, reading.scale_origin, reading.data_type, kind)
        parts = cache.get(found)
        if parts is None:
            # The code goes into the entry: the id() in the key is its own while cached.
            parts = cache[found] = (*_reading_parts(reading, *naming), obis)
        if kind is Decimal:
            text = decimal_text(value)  # type: ignore[arg-type]
            decimals.append(text)
        elif value is moment:
            text = moment_text
        else:
            text = _value_text(value)
        (values if obis is not None else by_position).append(f"{parts[0]}{text}{parts[1]}")
        keys.append(parts[2])
    if len(set(keys)) != len(keys):
        return None
    text = f'"values": {{{", ".join(values)}}}'
    if by_position:
        text = f'{text}, "values_by_position": {{{", ".join(by_position)}}}'
    return text, decimals


def _plain(texts: list[str]) -> bool:
    """Whether decimals' str() texts are what :func:`_decimal` writes: no exponent, no
    NaN or Infinity, no -0 (one look at them all: a look costs as much as a str())."""
    joined = "".join(texts)
    return not ("E" in joined or "e" in joined or "N" in joined or "I" in joined) and (
        "-0" not in texts
    )


def _value_text(value: ReadingValue) -> str:
    """What :func:`dumps` writes for a reading's value, the common kinds without its walk."""
    kind = type(value)
    if kind is Decimal:
        return _decimal(value)  # type: ignore[arg-type]
    if kind is int:
        return str(value)
    if kind is str:
        return _encode_basestring(value)  # type: ignore[arg-type]
    if kind is datetime:
        return f'"{value.isoformat()}"'  # type: ignore[union-attr]
    return dumps(format_value(value))


#: The text before and after a reading's value, the key it goes by and its code (see
#: notification_json), per language, name template and delimiters; emptied when it grows past the
#: limit, so that a stream of ever new layouts cannot grow it without end.
_PARTS: dict[
    tuple[str, str | None, str], dict[tuple[object, ...], tuple[str, str, object, object]]
] = {}
_PARTS_LIMIT = 4096


def _reading_parts(
    reading: Reading, language: str, name_template: str | None, delimiters: str
) -> tuple[str, str, object]:
    """What reading_to_dict's entry has around the value, as text, and the entry's key."""
    entry = reading_to_dict(reading, language, name_template, delimiters)
    del entry["value"]
    rest = dumps(entry)[1:]
    if reading.obis is None:
        key: object = (reading.position,)
        name = reading.position
    else:
        key = name = str(reading.obis)
    prefix = f'{_encode_basestring(name)}: {{"value": '
    return prefix, "}" if rest == "}" else f", {rest}", key


def _notification_text(notification: Notification, moment_text: str, readings: str) -> str:
    """notification_to_dict's object as text, around the ready texts of its time stamp and
    readings."""
    head = [f'{{"timestamp": {moment_text}']
    if notification.system_title is not None:
        head.append(f'"system_title": "{notification.system_title.hex().upper()}"')
    if notification.frame_counter is not None:
        head.append(f'"frame_counter": {_value_text(notification.frame_counter)}')
    if notification.invoke_id is not None:
        head.append(f'"invoke_id": {_value_text(notification.invoke_id)}')
    head.append(readings)
    return ", ".join(head) + "}"


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
    """Compact JSON with exact decimals; keys in insertion order.

    The stdlib's C encoder walks the value; it hands what it does not know to
    :func:`_default` and every string to :func:`_string`, which passes a decimal's
    prepared text through unquoted.  A non-finite float (which JSON has no number
    for) makes it stop, and the walk in Python writes ``null`` for it.
    """
    if _encode is not None:
        try:
            return "".join(_encode(value, 0))
        except (ValueError, TypeError):
            pass  # a NaN or an infinity (null), a key of another type (its str()): the walk
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


class _Raw(str):
    """JSON text the encoder writes as it is: a decimal's exact digits."""

    __slots__ = ()


def _string(text: str) -> str:
    return text if type(text) is _Raw else _encode_basestring(text)


def _default(value: Any) -> Any:
    """What the C encoder does not know, as the walk below writes it."""
    if isinstance(value, Decimal):
        return _Raw(_decimal(value))
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex().upper()
    if isinstance(value, Sequence):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


_encode_basestring: Callable[[str], str] = json_encoder.encode_basestring
# (markers, default, string encoder, indent, key and item separators, sort_keys,
# skipkeys, allow_nan): no cycle check (the trees are built, not given), NaN refused.
_encode: Callable[[Any, int], Any] | None = (
    None
    if json_encoder.c_make_encoder is None  # type: ignore[attr-defined]
    else json_encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _default, _string, None, ": ", ", ", False, False, False
    )
)


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


def number_text(value: Decimal | int) -> str:
    """What :func:`dumps` writes for a number, without its walk: exact decimals."""
    return _decimal(value) if type(value) is Decimal else dumps(value)


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        return "null"
    text = f"{value:f}"
    return "0" if text in ("-0", "0") else text
