"""DSMR telegram text to readings: one line per object, ``A-B:C.D.E(value)(value)…``.

Numbers keep the digits the meter wrote and the unit after ``*`` (``0.244*kW``,
``006545766*Wh``); timestamps ``YYMMDDhhmmssX`` are Central European time, X saying
whether summer time is on; identifiers and messages written as hex digits become
text.  The readings are the :class:`~cosem_reader.cosem.readings.Reading` objects of DLMS
pushes, so every output publishes them unchanged.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import (
    SCALE_FROM_PUSH,
    Notification,
    Reading,
    ReadingValue,
    system_timezone,
)
from cosem_reader.errors import CosemError
from cosem_reader.link.dsmr import Telegram

__all__ = ["notification_from_telegram", "parse_telegram"]

log = logging.getLogger(__name__)

_LINE = re.compile(
    r"(?P<a>\d+)-(?P<b>\d+):(?P<c>\d+)\.(?P<d>\d+)\.(?P<e>\d+)(?:[*.&](?P<f>\d+))?"
    r"(?P<values>(?:\([^()]*\))+)"
)
_VALUE = re.compile(r"\(([^()]*)\)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TIMESTAMP = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW]?)")
_UNIT = re.compile(r"[A-Za-z][A-Za-z0-9/]*")

#: Central European time: every DSMR country (NL, BE, LU, AT, HU, SE) keeps it, and the
#: telegram's S/W letter says whether summer time is on (P1 Companion Standard §6.4, TST).
_WINTER = timezone(timedelta(hours=1))
_SUMMER = timezone(timedelta(hours=2))
_CLOCK = ObisCode(0, 0, 1, 0, 0, 255)
#: Objects whose value is an octet string the meter writes as hex digits (equipment
#: identifiers, text messages, the logical device name).
_HEX_TEXT = frozenset({(0, 96, 1), (0, 96, 13), (0, 42, 0)})
#: Objects whose value is text although it is written as digits (version, tariff).
_TEXT = frozenset({(1, 0, 2), (0, 96, 14)})


def _timestamp(text: str, zone: tzinfo | None) -> datetime | None:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    letter = match.group(7)
    # DSMR 2.2 writes no letter: the configured zone (else the system's) places it.
    place = {"S": _SUMMER, "W": _WINTER}.get(letter) or zone or system_timezone()
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=place)
    except ValueError:
        return None


def _hex_text(text: str) -> str:
    """The text an octet string written as hex digits holds; the digits if it holds none."""
    try:
        decoded = bytes.fromhex(text).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return text
    return decoded if decoded.isprintable() else text


def _number(text: str) -> tuple[Decimal, str | None] | None:
    number, _, unit = text.partition("*")
    if not _NUMBER.fullmatch(number) or (unit and not _UNIT.fullmatch(unit)):
        return None
    try:
        return Decimal(number), unit or None
    except InvalidOperation:
        return None


def _value(
    code: ObisCode, values: list[str], zone: tzinfo | None
) -> tuple[ReadingValue, str | None, int | None, str]:
    """A line's value, unit, scaler and data type, from its bracketed values."""
    kind = (code.a, code.c, code.d)
    if code.c == 99:
        return "".join(f"({value})" for value in values), None, None, "dsmr-profile"
    last = values[-1]
    if kind in _HEX_TEXT:
        return _hex_text(last), None, None, "dsmr-text"
    if kind in _TEXT:
        return last, None, None, "dsmr-text"
    stamp = _timestamp(last, zone)
    if stamp is not None:
        return stamp, None, None, "dsmr-timestamp"
    number = _number(last)
    if number is not None:
        value, unit = number
        # DSMR 2.2 gas: ``(…)(m3)`` on one line, ``(00001.001)`` on the next.
        if unit is None and len(values) > 1 and _UNIT.fullmatch(values[-2]):
            unit = values[-2]
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # a number as written is finite
        if unit is None and exponent == 0:
            return int(value), None, None, "dsmr-number"
        return value, unit, exponent, "dsmr-number"
    return last, None, None, "dsmr-text"


def parse_telegram(
    telegram: Telegram, local_zone: tzinfo | None = None
) -> tuple[datetime | None, tuple[Reading, ...]]:
    """The meter's timestamp (``0-0:1.0.0``) and the readings of a telegram.

    Numbers keep the digits the meter wrote (a :class:`~decimal.Decimal` whose scaler
    is its exponent) and the unit after ``*``; a line that is no object is logged
    and skipped.
    """
    text = telegram.text[:-1].decode("ascii")
    lines: list[str] = []
    for written in text.splitlines()[1:]:
        line = written.strip()
        if line.startswith("(") and lines:
            lines[-1] += line  # DSMR 2.2 continues the gas reading on the next line
        elif line:
            lines.append(line)
    readings: list[Reading] = []
    timestamp = None
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            log.warning("DSMR telegram: skipped a line that is no OBIS object: %r", line)
            continue
        groups = match.groupdict()
        try:
            code = ObisCode(
                int(groups["a"]), int(groups["b"]), int(groups["c"]), int(groups["d"]),
                int(groups["e"]), int(groups["f"]) if groups["f"] is not None else 255,
            )  # fmt: skip
        except CosemError:
            log.warning("DSMR telegram: skipped a line whose OBIS code is out of range: %r", line)
            continue
        value, unit, scaler, data_type = _value(code, _VALUE.findall(groups["values"]), local_zone)
        if code == _CLOCK and isinstance(value, datetime):
            timestamp = value
        # A telegram writes each number with its decimals and unit: its scale is the meter's own.
        origin = SCALE_FROM_PUSH if unit is not None or scaler is not None else None
        readings.append(
            Reading(code, str(len(readings)), value, unit, scaler, data_type, line, origin)
        )
    return timestamp, tuple(readings)


def notification_from_telegram(
    telegram: Telegram, local_zone: tzinfo | None = None
) -> Notification:
    """A telegram as the :class:`Notification` every output publishes."""
    timestamp, readings = parse_telegram(telegram, local_zone)
    return Notification("dsmr-telegram", None, timestamp, readings, telegram.text)
