"""The readings walk: the body of a push, walked as the meter sent it, into readings.

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
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from cosem_reader._slots import frozen_constructor
from cosem_reader.cosem.date_time import (
    decode_cosem_date,
    decode_cosem_date_time,
    decode_cosem_time,
)
from cosem_reader.cosem.layouts import ListLayout
from cosem_reader.cosem.obis import ObisCode, describe
from cosem_reader.cosem.units import UNITS

__all__ = ["SCALE_FROM_PUSH", "SCALE_FROM_USER", "Notification", "Reading", "ReadingValue"]

#: What a reading's value can be.
ReadingValue = Decimal | int | float | str | bool | datetime | None

#: unit_symbol() as one dict look-up per register: 255 (no unit) and unassigned codes
#: have no symbol.
UNIT_SYMBOLS: dict[int, str | None] = {code: unit.symbol for code, unit in UNITS.items()}
#: The positions of the top-level elements, made once instead of per reading.
_TOP_POSITIONS = tuple(str(index) for index in range(256))

#: Where a number's scale came from (Reading.scale_origin): the push's own scaler-unit,
#: the user's ``[scalers]``; else the name of the profile or list layout that gave it.
SCALE_FROM_PUSH = "push"
SCALE_FROM_USER = "user"

_PUSH_SETUP_CLASS = 40


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
make_reading = frozen_constructor(Reading)
make_notification = frozen_constructor(Notification)


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


def capture_objects(elements: list[tuple[str, Any]]) -> list[tuple[int, ObisCode, int]] | None:
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


NUMBER_TYPES = frozenset(
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


CONTAINERS = ("structure", "array")


#: The printable ASCII bytes 0x20..0x7E; deleting them leaves nothing of a printable text.
_PRINTABLE = bytes(range(0x20, 0x7F))


def _printable(data: bytes) -> str | None:
    data = bytes(data)
    if data and not data.translate(None, _PRINTABLE):
        return data.decode("ascii")
    return None


def scaled_reading(
    obis: ObisCode, position: str, element: tuple[str, Any], scaler: int, unit: str | None
) -> Reading:
    """A number sent with its scaler-unit: the register reading of almost every push."""
    return scaled_number(obis, position, element[0], element[1], scaler, unit)


def scaled_number(  # noqa: PLR0917 - called by generated plans, positionally for speed
    obis: ObisCode, position: str, name: str, raw: Any, scaler: int, unit: str | None
) -> Reading:
    """:func:`scaled_reading` of the element ``(name, raw)``, for a plan that knows the name."""
    number = Decimal(int(raw))
    # Data's numbers have at most 20 digits, so scaleb(0) would change nothing.
    return make_reading(
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
Step = tuple[str, list[tuple[str, Any]], int, tuple[int, int] | None, str]


class Walk:
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
        #: While a plan is learned, the decisions of the walk in order (see plans.Plan).
        self.steps: list[Step] | None = None
        #: Whether the walk decided something a plan cannot note (a described value).
        self.unfit = False

    def plain_value(self, element: tuple[str, Any], obis: ObisCode | None) -> ReadingValue:
        """A value without scaler: numbers as they are, octet strings as text or time."""
        name, value = element
        if name == "octet-string":
            # First: the loose values of most pushes (time, meter number) are these.
            return self.octets(value, obis)
        if name in NUMBER_TYPES or name == "enum":
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
        return repr(value)

    def octets(self, data: bytes, obis: ObisCode | None) -> ReadingValue:
        if len(data) == 12 and (
            obis is None
            or (obis.a, obis.c, obis.d, obis.e) == (0, 1, 0, 0)  # the Clock object
            or _printable(data) is None
        ):
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
        if scaler_unit is not None and name in NUMBER_TYPES:
            # The common case first: a number with the meter's scaler-unit.
            scaler, unit_code = scaler_unit
            self.readings.append(
                scaled_reading(obis, position, value_element, scaler, UNIT_SYMBOLS.get(unit_code))
            )
            return
        if name in NUMBER_TYPES:
            if self.scalers and obis in self.scalers:
                scaler = self.scalers[obis]
                origin = SCALE_FROM_USER
            if scaler is None:
                self.unscaled.append(len(self.readings))
                self.readings.append(
                    make_reading(obis, position, int(raw), None, None, name, raw, None)
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
        self.readings.append(make_reading(obis, position, value, unit, scaler, name, raw, origin))

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
        if value[0] in CONTAINERS:
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
            make_reading(None, position, value, None, None, element[0], element[1], None)
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
                        following[0] not in CONTAINERS and not _is_obis(following)
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
            if kind in CONTAINERS:
                self.elements(element[1], f"{path}{index}.")
            else:
                position = f"{path}{index}" if path or index > 255 else _TOP_POSITIONS[index]
                if steps is not None:
                    steps.append(("loose", elements, index, None, position))
                self.loose(element, position)
            index += 1
