"""COSEM readings: from a decoded APDU to OBIS codes, scaled values, units and time.

Meters do not agree on a layout, so nothing here knows one.  The body of a
data-notification is walked as the meter sent it:

* an OBIS code (an ``octet-string`` of 6 bytes) followed by a value, optionally
  followed by a scaler-unit ``structure {integer, enum}``, is a register — whether
  the three stand in a structure of their own (Salzburg Netz, TINETZ: one structure
  per quantity) or side by side in one flat structure (Netz NÖ);
* a structure or array is walked element by element, at any depth;
* any other value is kept as a reading without OBIS code, named by its position
  in the body (``"34"`` is the 35th element of the top structure, ``"3.1"`` the
  second element of the fourth), never dropped.

A COSEM date-time (12 bytes: year, month, day, weekday, hour, minute, second,
hundredths, deviation, clock status) holds the meter's local wall time; the
deviation is UTC minus local time in minutes (Austrian meters send −120 in
summer), ``0x8000`` when not specified, in which case the configured time zone
places the wall time (the clock status' daylight-saving bit picks the right hour
when the clocks go back).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cosem_reader._learning import Learner, Study
from cosem_reader._slots import frozen_constructor
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS, ListLayout, match_layout
from cosem_reader.cosem.obis import ObisCode, describe
from cosem_reader.cosem.profiles import (
    KNOWN_PROFILES,
    MeterProfile,
    Scales,
    profile_scales,
    signature_indices,
)
from cosem_reader.cosem.units import UNITS
from cosem_reader.errors import ConfigError, CosemError

__all__ = [
    "SCALE_FROM_PUSH",
    "SCALE_FROM_USER",
    "Notification",
    "Reading",
    "ReadingValue",
    "decode_cosem_date",
    "decode_cosem_date_time",
    "decode_cosem_time",
    "load_timezone",
    "notification_from_apdu",
    "readings_from_data",
    "system_timezone",
]

#: What a reading's value can be.
ReadingValue = Decimal | int | float | str | bool | datetime | None

log = logging.getLogger(__name__)

#: unit_symbol() as one dict look-up per register: 255 (no unit) and unassigned codes
#: have no symbol.
_UNIT_SYMBOLS: dict[int, str | None] = {code: unit.symbol for code, unit in UNITS.items()}
#: The positions of the top-level elements, made once instead of per reading.
_TOP_POSITIONS = tuple(str(index) for index in range(256))

#: Where a number's scale came from (Reading.scale_origin): the push's own scaler-unit,
#: the user's ``[scalers]``; else the name of the profile or list layout that gave it.
SCALE_FROM_PUSH = "push"
SCALE_FROM_USER = "user"

_PUSH_SETUP_CLASS = 40
_DEVIATION_NOT_SPECIFIED = -0x8000
_DAYLIGHT_SAVING_ACTIVE = 0x80
_CLOCK = (0, 1, 0, 0)  # value groups A, C, D, E of the Clock object


@dataclass(frozen=True, slots=True)
class Reading:
    """One value the meter sent.

    ``obis`` is None for a value the meter sent without an OBIS code; ``position``
    always says where in the body it stood.  ``value`` is a :class:`~decimal.Decimal`
    (``raw × 10^scaler``) when the meter sent a scaler, the plain number when it did
    not, a ``str`` for text, a ``datetime`` for a date-time.

    ``scale_origin`` says where a number's scale came from: :data:`SCALE_FROM_PUSH`,
    :data:`SCALE_FROM_USER`, or the name of the meter profile or list layout.  A number
    without one is raw: its scale is unknown, so it has no unit.
    """

    obis: ObisCode | None
    position: str
    value: ReadingValue
    unit: str | None
    scaler: int | None
    data_type: str
    raw: Any = None
    scale_origin: str | None = None

    @property
    def key(self) -> str:
        """The name the reading goes by in JSON and MQTT: the OBIS code, else its position."""
        return str(self.obis) if self.obis is not None else f"position {self.position}"


@dataclass(frozen=True, slots=True)
class Notification:
    """The readings of one APDU (a data-notification, or a get-response with data)."""

    apdu_type: str
    invoke_id: int | None
    timestamp: datetime | None
    readings: tuple[Reading, ...]
    apdu: bytes = b""
    tree: Any = None
    system_title: bytes | None = None
    frame_counter: int | None = None
    security_control: int | None = None
    tag_verified: bool | None = None

    def reading(self, obis: ObisCode | str) -> Reading | None:
        """The first reading with this OBIS code, or None."""
        code = obis if isinstance(obis, ObisCode) else ObisCode.parse(obis)
        for reading in self.readings:
            if reading.obis == code:
                return reading
        return None

    @property
    def values(self) -> dict[str, ReadingValue]:
        """``{key: value}`` of all readings, in the order the meter sent them."""
        return {reading.key: reading.value for reading in self.readings}


# One Reading per value of every push: built through the slots (see cosem_reader._slots).
_make_reading = frozen_constructor(Reading)
_make_notification = frozen_constructor(Notification)


# -- time ------------------------------------------------------------------------------


_LOCALTIME = "/etc/localtime"
#: The zone last read from /etc/localtime and the identity of the file it came from.
_LOCALTIME_ZONE: list[tuple[tuple[int, int, int, int], ZoneInfo] | None] = [None]


def system_timezone() -> tzinfo:
    """The machine's time zone with its daylight-saving rules (``TZ``, else /etc/localtime)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        found = os.stat(_LOCALTIME)
    except OSError:
        found = None
    if found is not None:
        # Reading and parsing the zone file costs more than decoding a whole push: it is
        # read again only when the file (or the link to it) changes.
        identity = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)
        cached = _LOCALTIME_ZONE[0]
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            with Path(_LOCALTIME).open("rb") as handle:
                zone = ZoneInfo.from_file(handle, key="localtime")
        except (OSError, ValueError):
            pass
        else:
            _LOCALTIME_ZONE[0] = (identity, zone)
            return zone
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


def load_timezone(name: str | None) -> tzinfo:
    """A time zone by IANA name (``Europe/Vienna``), ``UTC``, or the system's when None."""
    if not name or name == "system":
        return system_timezone()
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}",
            hint="use an IANA name such as Europe/Vienna, or UTC",
        ) from None


@cache
def _fixed_zone(deviation: int) -> timezone:
    """The zone of a deviation (UTC minus local time, minutes); at most 1681 of them."""
    return timezone(timedelta(minutes=-deviation))


_DATE_TIME = struct.Struct(">HBBBBBBBhB")


#: The last date-time with its own deviation and what it decoded to: a push often
#: carries the same one twice (notification header and Clock object).  Such a result
#: depends on the 12 bytes alone; replaced as one tuple, so threads may share it.
_LAST_FIXED_DATE_TIME: list[tuple[bytes, datetime | None]] = [(b"", None)]


def decode_cosem_date_time(data: bytes, local_zone: tzinfo | None = None) -> datetime | None:
    """A COSEM date-time (12 bytes) as an aware datetime; None when it names no instant.

    Raises :class:`CosemError` when ``data`` is not 12 bytes.
    """
    last = _LAST_FIXED_DATE_TIME[0]
    if last[0] == data:
        return last[1]
    if len(data) != 12:
        raise CosemError(f"a COSEM date-time has 12 bytes, this one {len(data)}")
    year, month, day, _weekday, hour, minute, second, hundredths, deviation, status = (
        _DATE_TIME.unpack(data)
    )
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    if month == 0 or day == 0:
        return None
    microsecond = hundredths * 10_000 if hundredths < 100 else 0
    try:
        wall = datetime(year, month, day, hour, minute, second, microsecond)
    except ValueError:
        return None
    if deviation != _DEVIATION_NOT_SPECIFIED and -840 <= deviation <= 840:
        instant = wall.replace(tzinfo=_fixed_zone(deviation))
        _LAST_FIXED_DATE_TIME[0] = (bytes(data), instant)
        return instant
    zone = local_zone if local_zone is not None else system_timezone()
    # In the hour the clocks go back the wall time occurs twice: the status byte's
    # daylight-saving bit says which (fold=0 is the first, still in summer time).
    fold = 0 if status != 0xFF and status & _DAYLIGHT_SAVING_ACTIVE else 1
    candidate = wall.replace(tzinfo=zone, fold=fold)
    if candidate.utcoffset() != wall.replace(tzinfo=zone, fold=1 - fold).utcoffset():
        return candidate
    return wall.replace(tzinfo=zone)


def decode_cosem_date(data: bytes) -> date | None:
    """A COSEM date (5 bytes: year, month, day, weekday), None when not a plain date."""
    if len(data) != 5:
        raise CosemError(f"a COSEM date has 5 bytes, this one {len(data)}")
    year, month, day, _weekday = struct.unpack(">HBBB", data)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def decode_cosem_time(data: bytes) -> time | None:
    """A COSEM time (4 bytes: hour, minute, second, hundredths), None when not a plain time."""
    if len(data) != 4:
        raise CosemError(f"a COSEM time has 4 bytes, this one {len(data)}")
    hour, minute, second, hundredths = data
    try:
        return time(hour, minute, second, hundredths * 10_000 if hundredths < 100 else 0)
    except ValueError:
        return None


# -- the walk --------------------------------------------------------------------------


def _is_obis(element: tuple[str, Any]) -> bool:
    """Whether an element is an OBIS code labelling the value after it.

    Value group A (the medium) only runs to 15, which tells most 6-byte texts
    apart; a push setup's own logical name (C.D = 25.9) opens some lists without
    labelling anything.
    """
    if element[0] != "octet-string":
        return False
    code = element[1]
    return len(code) == 6 and code[0] <= 15 and not (code[2] == 25 and code[3] == 9)


def _capture_objects(elements: list[tuple[str, Any]]) -> list[tuple[int, ObisCode, int]] | None:
    """The capture-object list a self-describing push opens with, if it has one.

    Swiss Landis+Gyr and Iskraemeco meters (IDIS CII) send ``array of structure
    {class-id, logical-name, attribute-index, data-index}`` as the first element,
    then one value per entry, the list itself being the first entry's value.
    """
    if len(elements) < 2 or elements[0][0] != "array" or len(elements[0][1]) != len(elements):
        return None
    objects = []
    for entry in elements[0][1]:
        if entry[0] != "structure" or len(entry[1]) != 4:
            return None
        (class_type, class_id), (name_type, logical_name), (attribute_type, attribute), _ = entry[1]
        if (class_type, name_type, attribute_type) != ("long-unsigned", "octet-string", "integer"):
            return None
        if len(logical_name) != 6:
            return None
        objects.append((class_id, ObisCode.from_bytes(logical_name), attribute))
    return objects


def _attribute_descriptor(element: tuple[str, Any]) -> tuple[int, ObisCode, int] | None:
    """``{class-id, logical name, attribute index}``, the descriptor that labels a value.

    Sagemcom XT211 pushes (Czechia) send each value as ``structure {descriptor, value}``.
    """
    name, items = element
    if name != "structure" or len(items) != 3:
        return None
    (class_type, class_id), (name_type, logical_name), (attribute_type, attribute) = items
    if class_type != "long-unsigned" or name_type != "octet-string" or len(logical_name) != 6:
        return None
    if attribute_type not in ("integer", "unsigned"):
        return None
    return class_id, ObisCode.from_bytes(logical_name), attribute


def _scaler_unit(element: tuple[str, Any]) -> tuple[int, int] | None:
    name, value = element
    if name != "structure" or len(value) != 2:
        return None
    (scaler_type, scaler), (unit_type, unit) = value
    if scaler_type == "integer" and unit_type == "enum":
        return scaler, unit
    return None


_NUMBER_TYPES = frozenset(
    {
        "double-long",
        "double-long-unsigned",
        "integer",
        "long",
        "unsigned",
        "long-unsigned",
        "long64",
        "long64-unsigned",
        "bcd",
    }
)


_CONTAINERS = ("structure", "array")


#: The printable ASCII bytes 0x20..0x7E; deleting them leaves nothing of a printable text.
_PRINTABLE = bytes(range(0x20, 0x7F))


def _printable(data: bytes) -> str | None:
    if data and not bytes(data).translate(None, _PRINTABLE):
        return bytes(data).decode("ascii")
    return None


def _scaled_reading(
    obis: ObisCode, position: str, element: tuple[str, Any], scaler: int, unit: str | None
) -> Reading:
    """A number sent with its scaler-unit: the register reading of almost every push."""
    name, raw = element
    number = Decimal(int(raw))
    # Data's numbers have at most 20 digits, so scaleb(0) would change nothing.
    return _make_reading(
        obis,
        position,
        number.scaleb(scaler) if scaler else number,
        unit,
        scaler,
        name,
        raw,
        SCALE_FROM_PUSH,
    )


#: One decision of the walk, noted while a plan is learned: a register (the list, the
#: index of its OBIS code, its scaler-unit) or a loose value (scaler-unit None), with
#: the position it gets.
_Step = tuple[str, list[tuple[str, Any]], int, tuple[int, int] | None, str]


class _Walk:
    """The state of one walk over a notification body."""

    def __init__(
        self,
        local_zone: tzinfo | None,
        scalers: Mapping[ObisCode, int],
    ) -> None:
        self.local_zone = local_zone
        self.scalers = scalers
        self.readings: list[Reading] = []
        #: Indices of the readings that are numbers with an OBIS code but no known scale.
        self.unscaled: list[int] = []
        #: While a plan is learned, the decisions of the walk in order (see _Plan).
        self.steps: list[_Step] | None = None
        #: Whether the walk decided something a plan cannot note (a described value).
        self.unfit = False

    def plain_value(self, element: tuple[str, Any], obis: ObisCode | None) -> ReadingValue:
        """A value without scaler: numbers as they are, octet strings as text or time."""
        name, value = element
        if name in _NUMBER_TYPES or name == "enum":
            return int(value)
        if name in ("float32", "float64"):
            number = struct.unpack(">f" if name == "float32" else ">d", value)[0]
            return float(number) if math.isfinite(number) else None
        if name == "boolean":
            return bool(value)
        if name in ("visible-string", "utf8-string"):
            return str(value)
        if name == "null-data":
            return None
        if name == "date-time":
            return decode_cosem_date_time(value, self.local_zone)
        if name == "date":
            found = decode_cosem_date(value)
            return found.isoformat() if found else value.hex().upper()
        if name == "time":
            found_time = decode_cosem_time(value)
            return found_time.isoformat() if found_time else value.hex().upper()
        if name == "bit-string":
            return str(value.bits())
        if name == "octet-string":
            return self.octets(value, obis)
        return repr(value)

    def octets(self, data: bytes, obis: ObisCode | None) -> ReadingValue:
        is_clock = obis is not None and (obis.a, obis.c, obis.d, obis.e) == (0, 1, 0, 0)
        if len(data) == 12 and (is_clock or obis is None or _printable(data) is None):
            instant = decode_cosem_date_time(data, self.local_zone)
            if instant is not None:
                return instant
        text = _printable(data)
        return text if text is not None else data.hex().upper()

    def register(
        self,
        obis: ObisCode,
        value_element: tuple[str, Any],
        scaler_unit: tuple[int, int] | None,
        position: str,
        *,
        unit: str | None = None,
        scaler: int | None = None,
        origin: str | None = None,
    ) -> None:
        """A value with its OBIS code, scaled when its scale is known.

        The meter's scaler-unit wins; for a register sent without one, the user's
        configured scaler, else the list layout's (``origin`` names it); the unit then
        comes from the layout or the OBIS table.  A number whose scale none of them
        knows stays raw and gets no unit (a meter profile may scale it later).
        """
        name, raw = value_element
        value: ReadingValue
        if scaler_unit is not None and name in _NUMBER_TYPES:
            # The common case first: a number with the meter's scaler-unit.
            scaler, unit_code = scaler_unit
            self.readings.append(
                _scaled_reading(obis, position, value_element, scaler, _UNIT_SYMBOLS.get(unit_code))
            )
            return
        if name in _NUMBER_TYPES:
            if self.scalers and obis in self.scalers:
                scaler = self.scalers[obis]
                origin = SCALE_FROM_USER
            if scaler is None:
                self.unscaled.append(len(self.readings))
                self.readings.append(
                    _make_reading(obis, position, int(raw), None, None, name, raw, None)
                )
                return
            value = Decimal(int(raw)).scaleb(scaler)
            unit = unit or describe(obis).unit
        elif name in ("float32", "float64"):
            # A floating-point number carries its own scale.
            value = self.plain_value(value_element, obis)
            unit = unit or describe(obis).unit
            scaler = None
            origin = SCALE_FROM_PUSH
        else:
            value = self.plain_value(value_element, obis)
            unit = scaler = origin = None
        self.readings.append(_make_reading(obis, position, value, unit, scaler, name, raw, origin))

    def captured(
        self, elements: list[tuple[str, Any]], objects: list[tuple[int, ObisCode, int]]
    ) -> None:
        """The values of a self-describing push, labelled by its capture-object list."""
        scaler_units = {
            logical_name: found
            for (_, logical_name, attribute), element in zip(objects, elements, strict=True)
            if attribute == 3 and (found := _scaler_unit(element)) is not None
        }
        for index, ((class_id, logical_name, attribute), element) in enumerate(
            zip(objects, elements, strict=True)
        ):
            if class_id == _PUSH_SETUP_CLASS or (attribute == 3 and logical_name in scaler_units):
                continue
            if attribute == 2:
                self.register(logical_name, element, scaler_units.get(logical_name), str(index))
            elif element[0] in ("structure", "array"):
                self.elements(element[1], f"{index}.")
            else:
                self.register(logical_name, element, None, str(index))

    def labelled(self, elements: list[tuple[str, Any]], layout: ListLayout) -> None:
        """A list without OBIS codes, named by a known layout."""
        for index, (element, field) in enumerate(zip(elements, layout.fields, strict=True)):
            if field is None:
                self.loose(element, str(index))
            else:
                self.register(
                    field.obis,
                    element,
                    None,
                    str(index),
                    unit=field.unit,
                    scaler=field.scaler,
                    origin=layout.name if field.scaler is not None else None,
                )

    def described(
        self,
        siblings: list[tuple[str, Any]],
        descriptor: tuple[int, ObisCode, int],
        value: tuple[str, Any],
        position: str,
    ) -> None:
        """A value labelled by its attribute descriptor: the descriptor names the OBIS code.

        A register's scaler-unit (attribute 3) may stand beside its value (attribute 2)
        in the same list; it scales the value and is not a reading of its own.
        """
        self.unfit = True
        _, code, attribute = descriptor
        if value[0] in _CONTAINERS:
            if attribute == 3 and _scaler_unit(value) is not None:
                return
            self.elements(value[1], f"{position}.")
            return
        scaler_unit = None
        if attribute == 2:
            for sibling in siblings:
                if sibling[0] == "structure" and len(sibling[1]) == 2:
                    found = _attribute_descriptor(sibling[1][0])
                    if found is not None and found[1] == code and found[2] == 3:
                        scaler_unit = _scaler_unit(sibling[1][1])
                        break
        self.register(code, value, scaler_unit, position)

    def loose(self, element: tuple[str, Any], position: str) -> None:
        value = self.plain_value(element, None)
        self.readings.append(
            _make_reading(None, position, value, None, None, element[0], element[1], None)
        )

    def elements(self, elements: list[tuple[str, Any]], path: str) -> None:
        index = 0
        count = len(elements)
        steps = self.steps
        while index < count:
            element = elements[index]
            kind = element[0]
            # An OBIS code (see _is_obis) followed by its value, inlined: this loop
            # runs for every element of every push.
            if kind == "octet-string" and index + 1 < count:
                code = element[1]
                if len(code) == 6 and code[0] <= 15 and not (code[2] == 25 and code[3] == 9):
                    following = elements[index + 1]
                    # In a structure of its own, {OBIS, value[, scaler-unit]}, the value may
                    # be anything; side by side in a flat list it must not look like a label.
                    own_structure = index == 0 and (
                        count == 2 or (count == 3 and _scaler_unit(elements[2]) is not None)
                    )
                    if own_structure or (
                        following[0] not in _CONTAINERS and not _is_obis(following)
                    ):
                        scaler_unit = (
                            _scaler_unit(elements[index + 2]) if index + 2 < count else None
                        )
                        position = (
                            f"{path}{index}" if path or index > 255 else _TOP_POSITIONS[index]
                        )
                        if steps is not None:
                            steps.append(("register", elements, index, scaler_unit, position))
                        self.register(ObisCode.from_bytes(code), following, scaler_unit, position)
                        index += 3 if scaler_unit is not None else 2
                        continue
            if kind == "structure" and len(element[1]) == 2:
                descriptor = _attribute_descriptor(element[1][0])
                if descriptor is not None:
                    position = f"{path}{index}" if path or index > 255 else _TOP_POSITIONS[index]
                    self.described(elements, descriptor, element[1][1], position)
                    index += 1
                    continue
            if kind in _CONTAINERS:
                self.elements(element[1], f"{path}{index}.")
            else:
                position = f"{path}{index}" if path or index > 255 else _TOP_POSITIONS[index]
                if steps is not None:
                    steps.append(("loose", elements, index, None, position))
                self.loose(element, position)
            index += 1


# -- learned plans ---------------------------------------------------------------------


class _Plan:
    """What the walk did with one layout of a body, done again without deciding anything.

    A meter sends the same layout push after push.  The second time the walk meets a
    layout, its decisions (which element is an OBIS code, which a value, which a
    scaler-unit) become a function generated for that layout.  It first checks
    everything those decisions rested on: the length of every list, the kind of
    every element, every OBIS code and scaler-unit, the length of every octet-string
    value (and its bytes where, at six bytes, it could pass for an OBIS code); then it
    makes the readings through the walk's own functions.  A body that differs in any
    of these goes the walk's way.
    """

    __slots__ = ("replay", "scales", "signature_at")

    def __init__(self, source: str, namespace: dict[str, Any]) -> None:
        # The source holds indices, lengths and the names k<n> bound in the namespace:
        # nothing of the decoded values is ever code.
        exec(source, namespace)  # noqa: S102
        self.replay: Callable[[list[tuple[str, Any]], _Walk], bool] = namespace["replay"]
        #: Where the readings that name the meter stand (fixed by the layout the plan checks).
        self.signature_at: tuple[int, ...] | None = None
        #: What the known profiles made of the bare numbers, by what named the meter.
        self.scales: dict[tuple[Any, ...], Scales] = {}

    def apply_profile(self, walk: _Walk) -> None:
        """The known profiles applied as the first push of this layout and meter decided."""
        readings = walk.readings
        at = self.signature_at
        if at is None:
            at = self.signature_at = signature_indices(readings)
        key = (tuple(walk.unscaled), *(readings[index].value for index in at))
        scales = self.scales.get(key)
        if scales is None:
            if len(self.scales) >= _MAX_PLAN_SCALES:
                self.scales.clear()
            scales = self.scales[key] = _scales(readings, walk.unscaled, KNOWN_PROFILES)
        _rescale(readings, scales)


#: A plan remembers the profiles of this many meters (list identifiers, device names).
_MAX_PLAN_SCALES = 16

#: Learned plans, shared by every walk: one per meter layout the process reads.
_PLANS: Learner[_Plan] = Learner(8)
#: Lists nested deeper than this, or bodies needing more checks, are not worth a plan.
_MAX_PLAN_DEPTH = 16
_MAX_PLAN_TERMS = 4096


class _PlanUnfitError(Exception):
    """The walk's decisions cannot be written down as a plan."""


class _PlanWriter:
    """Writes the plan of one walk: its guard, then its steps."""

    def __init__(self, steps: list[_Step]) -> None:
        self.steps = steps
        self.namespace: dict[str, Any] = {"scaled": _scaled_reading}
        self.constants: list[Any] = []
        #: What the walk made of (list, index): a label (OBIS code, scaler-unit) or a value.
        self.roles: dict[tuple[int, int], str] = {}
        for kind, items, index, scaler_unit, _ in steps:
            if kind == "register":
                self.roles[id(items), index] = "label"
                self.roles[id(items), index + 1] = "value"
                if scaler_unit is not None:
                    self.roles[id(items), index + 2] = "label"
            else:
                self.roles[id(items), index] = "value"
        self.terms: list[str] = []
        self.paths: dict[int, str] = {}

    def bind(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants.append(value)
        self.namespace[name] = value
        return name

    def guard(self, expression: str, items: list[tuple[str, Any]], depth: int) -> None:
        if (
            depth > _MAX_PLAN_DEPTH
            or len(self.terms) > _MAX_PLAN_TERMS
            or not isinstance(items, list)
        ):
            raise _PlanUnfitError
        self.paths[id(items)] = expression
        self.terms.append(f"len({expression}) == {len(items)}")
        for index, element in enumerate(items):
            item = f"{expression}[{index}]"
            role = self.roles.get((id(items), index))
            name, value = element
            if role == "label" or (
                role == "value"
                and (name in _CONTAINERS or (name == "octet-string" and len(value) == 6))
            ):
                # A copy: the learning push's tree went to the caller, who may change it.
                self.terms.append(f"{item} == {self.bind(copy.deepcopy(element))}")
            elif role == "value":
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                if name == "octet-string":
                    self.terms.append(f"len({item}[1]) == {len(value)}")
            elif name in _CONTAINERS:
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                self.guard(f"{item}[1]", value, depth + 1)
            else:
                raise _PlanUnfitError

    def source(self, elements: list[tuple[str, Any]]) -> str:
        self.guard("e", elements, 0)
        lines = [
            "def replay(e, walk):",
            "    if not (",
            *(f"        {term} and" for term in self.terms),
            "        True",
            "    ):",
            "        return False",
            "    add = walk.readings.append",
        ]
        for kind, items, index, scaler_unit, position in self.steps:
            where = self.paths[id(items)]
            at = self.bind(position)
            if kind == "loose":
                lines.append(f"    walk.loose({where}[{index}], {at})")
                continue
            obis = self.bind(ObisCode.from_bytes(items[index][1]))
            value = f"{where}[{index + 1}]"
            if scaler_unit is not None and items[index + 1][0] in _NUMBER_TYPES:
                scaler, unit_code = scaler_unit
                unit = self.bind(_UNIT_SYMBOLS.get(unit_code))
                lines.append(f"    add(scaled({obis}, {at}, {value}, {self.bind(scaler)}, {unit}))")
            else:
                lines.append(f"    walk.register({obis}, {value}, {self.bind(scaler_unit)}, {at})")
        lines.append("    return True")
        return "\n".join(lines) + "\n"


def _plan_study(elements: list[tuple[str, Any]], steps: list[_Step]) -> Study[_Plan]:
    writer = _PlanWriter(steps)
    try:
        source = writer.source(elements)
    except _PlanUnfitError:
        return None
    # Equal layouts give equal sources and constants (reprs: scaler-units hold lists).
    return (source, repr(writer.constants)), lambda: _Plan(source, writer.namespace)


def readings_from_data(
    data: tuple[str, Any],
    local_zone: tzinfo | None = None,
    *,
    layouts: Sequence[ListLayout] = KNOWN_LAYOUTS,
    scalers: Mapping[ObisCode, int] | None = None,
    profiles: Sequence[MeterProfile] = KNOWN_PROFILES,
) -> list[Reading]:
    """The readings in one ``Data`` value (a notification body or an attribute value).

    ``layouts`` name the positions of lists that carry no OBIS codes; ``scalers`` give
    a scaler for registers the meter sends without scaler-unit (``{1-0:31.7.0: -2}``);
    ``profiles`` give the scale of such registers per meter family, where the user's
    ``scalers`` do not.
    """
    walk = _Walk(local_zone, scalers or {})
    plan = _walk_body(walk, data, layouts)
    if walk.unscaled and profiles:
        if plan is not None and profiles is KNOWN_PROFILES:
            plan.apply_profile(walk)
        else:
            _rescale(walk.readings, _scales(walk.readings, walk.unscaled, profiles))
    return walk.readings


def _walk_body(walk: _Walk, data: tuple[str, Any], layouts: Sequence[ListLayout]) -> _Plan | None:
    """Walks a body into ``walk.readings``; the plan that did it, if one did."""
    if data[0] not in _CONTAINERS:
        walk.loose(data, "0")
        return None
    elements = data[1]
    for plan in _PLANS.items:
        if plan.replay(elements, walk):
            return plan
    objects = _capture_objects(elements)
    if objects is not None:
        walk.captured(elements, objects)
        return None
    study = _PLANS.due()
    if study:
        walk.steps = []
    walk.elements(elements, "")
    if any(reading.obis is not None for reading in walk.readings):
        steps = walk.steps
        if steps is not None and not walk.unfit:
            _PLANS.study(lambda: _plan_study(elements, steps))
        elif study:
            _PLANS.unfit()
        return None
    if study:
        # Without OBIS codes the layouts decide, and the caller may pass others.
        _PLANS.unfit()
    layout = match_layout(elements, layouts)
    if layout is not None:
        log.debug("the push is a %s list", layout.name)
        walk.readings.clear()
        walk.unscaled.clear()
        walk.labelled(elements, layout)
    return None


#: The OBIS codes already reported as published raw (one line each per process).
_REPORTED_RAW: set[ObisCode] = set()


def _scales(
    readings: list[Reading], unscaled: list[int], profiles: Sequence[MeterProfile]
) -> Scales:
    """The profile's scales for a push's bare numbers; the first time a code stays raw, a
    line says so and how to scale it."""
    scales = profile_scales(readings, unscaled, profiles)
    scaled = {index for index, *_ in scales}
    for index in unscaled:
        code = readings[index].obis
        if index not in scaled and code is not None and code not in _REPORTED_RAW:
            _REPORTED_RAW.add(code)
            log.info(
                "%s arrives without scaler-unit and no meter profile knows its scale:"
                " published raw, without a unit (give it in [scalers] to scale it)",
                code,
            )
    return scales


def _rescale(readings: list[Reading], scales: Scales) -> None:
    """Scales the raw numbers of a push as a meter profile says."""
    for index, scaler, unit, name in scales:
        reading = readings[index]
        readings[index] = _make_reading(
            reading.obis,
            reading.position,
            Decimal(int(reading.raw)).scaleb(scaler),
            unit,
            scaler,
            reading.data_type,
            reading.raw,
            name,
        )


def _clock_register(readings: list[Reading]) -> datetime | None:
    """The value of the Clock object (0-0:1.0.0), when the body carries it."""
    for reading in readings:
        value = reading.value
        if isinstance(value, datetime):
            code = reading.obis
            if code is not None and (code.a, code.c, code.d, code.e) == _CLOCK:
                return value
    return None


def _first_date_time(readings: list[Reading]) -> datetime | None:
    for reading in readings:
        if isinstance(reading.value, datetime):
            return reading.value
    return None


def _data_values(apdu_type: str, body: Any) -> Iterator[tuple[str, Any]]:
    """The ``Data`` values an APDU carries for readings."""
    if apdu_type == "data-notification":
        yield body["notification-body"]["data-value"]
    elif apdu_type == "get-response":
        kind, response = body
        if kind == "get-response-normal":
            result = response["result"]
            if result[0] == "data":
                yield result[1]
        elif kind == "get-response-with-list":
            for result in response["result"]:
                if result[0] == "data":
                    yield result[1]
    elif apdu_type == "event-notification-request":
        yield body["attribute-value"]


def notification_from_apdu(
    tree: tuple[str, Any],
    apdu: bytes = b"",
    local_zone: tzinfo | None = None,
    *,
    layouts: Sequence[ListLayout] = KNOWN_LAYOUTS,
    scalers: Mapping[ObisCode, int] | None = None,
    profiles: Sequence[MeterProfile] = KNOWN_PROFILES,
) -> Notification:
    """Readings from a decoded APDU (data-notification, get-response, event-notification).

    Raises :class:`CosemError` for an APDU that carries no data.
    """
    apdu_type, body = tree
    data_values = list(_data_values(apdu_type, body))
    if not data_values:
        raise CosemError(f"a {apdu_type} APDU carries no readings")
    readings: list[Reading] = []
    for data in data_values:
        readings.extend(
            readings_from_data(
                data, local_zone, layouts=layouts, scalers=scalers, profiles=profiles
            )
        )
    invoke_id: int | None = None
    # The Clock object's value is what the meter captured with the values; the
    # notification header's date-time says when the push was made (normally the
    # same second, one later on some Landis+Gyr meters).  Without either, the first
    # date-time in the body (Netz NÖ sends it without OBIS code).
    timestamp = _clock_register(readings)
    if apdu_type == "data-notification":
        invoke_id = body["long-invoke-id-and-priority"]
        header_time = body["date-time"]
        if timestamp is None and len(header_time) == 12:
            timestamp = decode_cosem_date_time(header_time, local_zone)
    elif apdu_type == "get-response":
        invoke_id = body[1].get("invoke-id-and-priority")
    if timestamp is None:
        timestamp = _first_date_time(readings)
    return _make_notification(
        apdu_type, invoke_id, timestamp, tuple(readings), bytes(apdu), tree, None, None, None, None
    )
