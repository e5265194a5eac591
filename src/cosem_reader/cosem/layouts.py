"""Known push lists that carry no OBIS codes, and how their positions map to OBIS codes.

Some meters push bare values: Norwegian Kaifa MA304 lists, Netz Burgenland's
Landis+Gyr E450, Wiener Netze, KNG-Kärnten.  Their operators publish which position
holds which quantity; this table writes that down, keyed by what identifies each
list in the push itself (the list's own identifier string where it has one, the
element count and the A-XDR type of every element).  A user whose meter is missing
adds a ``[[layout]]`` section to the config file (see :func:`layout_from_config`).

A layout only applies to a body in which the walk found no OBIS code at all, so a
self-describing push is never relabelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.errors import ConfigError, CosemError

__all__ = ["KNOWN_LAYOUTS", "LayoutField", "ListLayout", "layout_from_config", "match_layout"]

_U32 = "double-long-unsigned"
_U16 = "long-unsigned"
_OCTETS = "octet-string"


@dataclass(frozen=True, slots=True)
class LayoutField:
    """What one position of a list holds: its OBIS code, and the scaler the frame omits."""

    obis: ObisCode
    scaler: int | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class ListLayout:
    """A push list without OBIS codes: the A-XDR type per position and what each position is."""

    name: str
    element_types: tuple[str, ...]
    fields: tuple[LayoutField | None, ...]
    identifier: str | None = None
    identifier_position: int = 0

    def matches(self, elements: Sequence[tuple[str, Any]]) -> bool:
        """Whether a body's top-level elements are this list."""
        if len(elements) != len(self.element_types):
            return False
        for (kind, _), wanted in zip(elements, self.element_types, strict=True):
            if wanted not in ("*", kind):
                return False
        if self.identifier is not None:
            kind, value = elements[self.identifier_position]
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            return bool(text == self.identifier)
        return True


def _field(code: str, scaler: int | None = None, unit: str | None = None) -> LayoutField:
    return LayoutField(ObisCode.parse(code), scaler, unit)


_KAIFA_LIST2_3PHASE = (
    _field("1.1.0.2.129.255"),
    _field("0.0.96.1.0.255"),
    _field("0.0.96.1.7.255"),
    _field("1.0.1.7.0.255", 0, "W"),
    _field("1.0.2.7.0.255", 0, "W"),
    _field("1.0.3.7.0.255", 0, "var"),
    _field("1.0.4.7.0.255", 0, "var"),
    _field("1.0.31.7.0.255", -3, "A"),
    _field("1.0.51.7.0.255", -3, "A"),
    _field("1.0.71.7.0.255", -3, "A"),
    _field("1.0.32.7.0.255", -1, "V"),
    _field("1.0.52.7.0.255", -1, "V"),
    _field("1.0.72.7.0.255", -1, "V"),
)
_KAIFA_LIST2_1PHASE = (
    *_KAIFA_LIST2_3PHASE[:7],
    _field("1.0.31.7.0.255", -3, "A"),
    _field("1.0.32.7.0.255", -1, "V"),
)
_KAIFA_LIST3_TAIL = (
    _field("0.0.1.0.0.255"),
    _field("1.0.1.8.0.255", 0, "Wh"),
    _field("1.0.2.8.0.255", 0, "Wh"),
    _field("1.0.3.8.0.255", 0, "varh"),
    _field("1.0.4.8.0.255", 0, "varh"),
)
_BURGENLAND_E450 = (
    _field("1.0.32.7.0.255", 0, "V"),
    _field("1.0.52.7.0.255", 0, "V"),
    _field("1.0.72.7.0.255", 0, "V"),
    _field("1.0.31.7.0.255", -2, "A"),
    _field("1.0.51.7.0.255", -2, "A"),
    _field("1.0.71.7.0.255", -2, "A"),
    _field("1.0.1.7.0.255", 0, "W"),
    _field("1.0.2.7.0.255", 0, "W"),
    _field("1.0.1.8.0.255", 0, "Wh"),
    _field("1.0.2.8.0.255", 0, "Wh"),
)
_WIENER_NETZE_REGISTERS = (
    _field("1.0.1.8.0.255", 0, "Wh"),
    _field("1.0.2.8.0.255", 0, "Wh"),
    _field("1.0.3.8.0.255", 0, "varh"),
    _field("1.0.4.8.0.255", 0, "varh"),
    _field("1.0.1.7.0.255", 0, "W"),
    _field("1.0.2.7.0.255", 0, "W"),
    _field("1.0.3.7.0.255", 0, "var"),
    _field("1.0.4.7.0.255", 0, "var"),
)
_KAIFA_HEAD_TYPES = (_OCTETS, _OCTETS, _OCTETS)
_KAIFA_TAIL_TYPES = (_OCTETS, _U32, _U32, _U32, _U32)

#: The lists this release knows.  Sources: the operators' and meter makers' published
#: list definitions as summarised in the project's research notes.
KNOWN_LAYOUTS: tuple[ListLayout, ...] = (
    ListLayout(
        "Kaifa MA304 list 1 (Norway): active power import",
        (_U32,),
        (_field("1.0.1.7.0.255", 0, "W"),),
    ),
    ListLayout(
        "Kaifa MA304 list 2, three-phase (Norway, KFM_001)",
        _KAIFA_HEAD_TYPES + (_U32,) * 10,
        _KAIFA_LIST2_3PHASE,
        identifier="KFM_001",
    ),
    ListLayout(
        "Kaifa MA304 list 2, single-phase (Norway, KFM_001)",
        _KAIFA_HEAD_TYPES + (_U32,) * 6,
        _KAIFA_LIST2_1PHASE,
        identifier="KFM_001",
    ),
    ListLayout(
        "Kaifa MA304 list 3, three-phase (Norway, KFM_001)",
        _KAIFA_HEAD_TYPES + (_U32,) * 10 + _KAIFA_TAIL_TYPES,
        _KAIFA_LIST2_3PHASE + _KAIFA_LIST3_TAIL,
        identifier="KFM_001",
    ),
    ListLayout(
        "Kaifa MA304 list 3, single-phase (Norway, KFM_001)",
        _KAIFA_HEAD_TYPES + (_U32,) * 6 + _KAIFA_TAIL_TYPES,
        _KAIFA_LIST2_1PHASE + _KAIFA_LIST3_TAIL,
        identifier="KFM_001",
    ),
    ListLayout(
        "Landis+Gyr E450, Netz Burgenland",
        (_U16,) * 6 + (_U32,) * 4 + (_U16,) * 3 + (_OCTETS,),
        (
            *_BURGENLAND_E450,
            _field("1.0.81.7.40.255"),
            _field("1.0.81.7.51.255"),
            _field("1.0.81.7.62.255"),
            _field("0.0.96.1.0.255"),
        ),
    ),
    ListLayout(
        "Landis+Gyr E450, Netz Burgenland (without phase angles)",
        (_U16,) * 6 + (_U32,) * 4 + (_OCTETS,),
        (*_BURGENLAND_E450, _field("0.0.96.1.0.255")),
    ),
    ListLayout(
        "Wiener Netze (date-time and eight registers)",
        (_OCTETS,) + (_U32,) * 8,
        (_field("0.0.1.0.0.255"), *_WIENER_NETZE_REGISTERS),
    ),
    ListLayout(
        "Wiener Netze (meter number, date-time and eight registers)",
        (_OCTETS, _OCTETS) + (_U32,) * 8,
        (_field("0.0.96.1.0.255"), _field("0.0.1.0.0.255"), *_WIENER_NETZE_REGISTERS),
    ),
    ListLayout(
        "KNG-Kärnten Netz (Iskraemeco AM550, Siemens IM350)",
        (_OCTETS,) * 4 + (_U32,) * 6 + (_OCTETS,) * 2,
        (
            None,  # the push setup's own logical name, 0-6:25.9.0.255
            _field("0.0.96.1.1.255"),
            _field("1.0.0.9.1.255"),
            _field("1.0.0.9.2.255"),
            _field("1.0.1.8.0.255", 0, "Wh"),
            _field("1.0.2.8.0.255", 0, "Wh"),
            _field("1.0.3.8.0.255", 0, "varh"),
            _field("1.0.4.8.0.255", 0, "varh"),
            _field("1.0.1.7.0.255", 0, "W"),
            _field("1.0.2.7.0.255", 0, "W"),
            _field("0.0.96.13.0.255"),
            _field("0.0.96.13.1.255"),
        ),
    ),
)


def match_layout(
    elements: Sequence[tuple[str, Any]], layouts: Sequence[ListLayout] = KNOWN_LAYOUTS
) -> ListLayout | None:
    """The first layout (user layouts first, as the caller orders them) that fits a body."""
    for layout in layouts:
        if layout.matches(elements):
            return layout
    return None


def layout_from_config(section: Mapping[str, Any], where: str = "layout") -> ListLayout:
    """A user's ``[[layout]]`` config section as a :class:`ListLayout`.

    ::

        [[layout]]
        name = "my meter"
        types = ["double-long-unsigned", "long-unsigned", "octet-string"]
        identifier = "MYLIST_01"        # optional: text of the element at identifier_position
        fields = ["1.0.1.7.0.255:0:W", "1.0.32.7.0.255:-1:V", "0.0.96.1.0.255"]
    """
    try:
        name = str(section["name"])
        types = tuple(str(kind) for kind in section["types"])
        raw_fields = list(section["fields"])
    except KeyError as missing:
        raise ConfigError(f"{where}: missing {missing.args[0]!r}") from None
    except TypeError:
        raise ConfigError(f"{where}: types and fields must be lists of strings") from None
    if len(raw_fields) != len(types):
        raise ConfigError(
            f"{where}: {len(types)} types but {len(raw_fields)} fields; give one field per"
            " position (an empty string for a position to leave unnamed)"
        )
    fields: list[LayoutField | None] = []
    for index, text in enumerate(raw_fields):
        if not text:
            fields.append(None)
            continue
        parts = str(text).split(":")
        try:
            code = ObisCode.parse(parts[0])
            scaler = int(parts[1]) if len(parts) > 1 and parts[1] != "" else None
        except (CosemError, ValueError) as error:
            raise ConfigError(
                f"{where}.fields[{index}]: {text!r} is not OBIS[:scaler[:unit]]: {error}"
            ) from None
        unit = parts[2] if len(parts) > 2 and parts[2] else None
        fields.append(LayoutField(code, scaler, unit))
    identifier = section.get("identifier")
    position = int(section.get("identifier_position", 0))
    if identifier is not None and not 0 <= position < len(types):
        raise ConfigError(f"{where}: identifier_position {position} is outside the list")
    return ListLayout(name, types, tuple(fields), identifier, position)
