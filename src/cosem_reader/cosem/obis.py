"""OBIS codes, their names in English and German, and their Home Assistant metadata.

An OBIS code (IEC 62056-6-1, "Object Identification System") names a COSEM object with
six value groups ``A-B:C.D.E*F``, one byte each; in an APDU it is the 6-byte
octet-string ``09 06 A B C D E F``.

* **A** medium: 0 abstract objects, 1 electricity, 4 heat cost allocator, 5 cooling,
  6 heat, 7 gas, 8 cold water, 9 hot water.
* **B** channel: 0 no channel specified, 1–64 measurement channel, 65–127 utility
  specific.  Norwegian Kamstrup and Swiss IDIS pushes use B = 1 for every register.
* **C** the quantity.  For electricity 1–10 are the sums over all phases of active
  power + (QI+QIV) and − (QII+QIII), reactive power + (QI+QII) and − (QIII+QIV),
  reactive power per quadrant QI…QIV, apparent power + and −; 11 current, 12 voltage,
  13 power factor, 14 frequency, 15 |active power| (QI+QIV)+(QII+QIII), 16 net active
  power (QI+QIV)−(QII+QIII), 17–20 active power per quadrant.  21–40, 41–60, 61–80
  repeat 1–20 for phases L1, L2, L3 (so 31/51/71 are the phase currents, 32/52/72 the
  phase voltages, 33/53/73 the phase power factors).  81 angles, 91 neutral current,
  96–99 service entries, error registers, lists and profiles.
* **D** the processing: 7 instantaneous value, 8 time integral 1 (the energy register
  "Zählerstand"), 6 maximum, 2 cumulative maximum, 4/5 current/last average, 9/10 time
  integral 2/3, 31–42 limit thresholds, counters and durations.
* **E** tariff (0 total, 1…63 tariff n) for registers; for instantaneous values the
  harmonic (0 = total); for abstract objects an instance number.
* **F** billing period ("Vorwertzähler", VZ): 255 the current value, 0–99 the value
  stored at billing period n, 101 the most recent billing period.

Time integrals of a power quantity are energies: C = 1, D = 8 is the active energy
import register +A (``1-0:1.8.0``, Wh), C = 1, D = 7 the instantaneous active power +P
(``1-0:1.7.0``, W).

:data:`OBIS_TABLE` is the single source of truth for names, keys, expected units and
Home Assistant ``device_class``/``state_class``; :func:`describe` falls back to a name
composed from the value groups for codes the table does not list.
:func:`format_name` renders a name with the placeholders the TypeScript tool
smart-meter-mbus-dlms offered (``[medium]``, ``[channel]``, ``[measurement]``,
``[measurementType]``, ``[tariff]``, ``[previousMeasurement]``) plus ``[name]`` and
``[code]``.

The code and its row live in :mod:`~cosem_reader.cosem.obis_code`, the table in
:mod:`~cosem_reader.cosem.obis_table`, the composed names in
:mod:`~cosem_reader.cosem.obis_names`; their public names are exported from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Final

from cosem_reader.cosem.obis_code import (
    LANGUAGES,
    NAME_PLACEHOLDERS,
    ObisCode,
    ObisInfo,
    check_language,
)
from cosem_reader.cosem.obis_names import (
    channel_part,
    generic_metadata,
    generic_name,
    is_measured,
    measurement_part,
    measurement_type_part,
    medium_part,
    previous_part,
    tariff_part,
)
from cosem_reader.cosem.obis_table import OBIS_TABLE
from cosem_reader.errors import ConfigError

__all__ = [
    "DEFAULT_DELIMITERS",
    "LANGUAGES",
    "NAME_PLACEHOLDERS",
    "OBIS_TABLE",
    "ObisCode",
    "ObisInfo",
    "describe",
    "format_name",
    "lookup",
    "lookup_key",
    "name_parts",
]


_BY_CODE: Mapping[ObisCode, ObisInfo] = MappingProxyType({row.code: row for row in OBIS_TABLE})
_BY_KEY: Mapping[str, ObisInfo] = MappingProxyType({row.key: row for row in OBIS_TABLE})


def lookup(code: ObisCode) -> ObisInfo | None:
    """The table row for ``code``, or ``None``.

    A code whose channel B differs from a row's (``1-1:1.8.0`` for ``1-0:1.8.0``,
    ``0-6:25.9.0`` for ``0-0:25.9.0``) gets that row with its own code: the channel does
    not change the quantity.  An electricity code with F ≠ 255 (a billing-period value)
    gets the row of its current value, its name extended by the billing period and its
    key by ``_billing_period_F``.
    """
    row = _BY_CODE.get(code) or _BY_CODE.get(replace(code, b=0))
    if row is not None:
        return row if row.code == code else replace(row, code=code)
    if code.a == 0 or code.f == 255:
        return None
    current = lookup(replace(code, f=255))
    if current is None:
        return None
    return replace(
        current,
        code=code,
        key=f"{current.key}_billing_period_{code.f}"
        if code.f <= 126
        else f"{current.key}_f{code.f}",
        name_en=f"{current.name_en}, {previous_part(code.f, 'en')}",
        name_de=f"{current.name_de}, {previous_part(code.f, 'de')}",
    )


def lookup_key(key: str) -> ObisInfo | None:
    """The table row with this key (keys are unique in the table), or ``None``."""
    return _BY_KEY.get(key)


def describe(code: ObisCode) -> ObisInfo:
    """The table row for ``code`` (see :func:`lookup`), else a description composed from its groups.

    The composed description has the key ``obis_A_B_C_D_E_F``, a name built from the
    medium, quantity, processing, tariff, channel and billing period, and for electricity
    the unit and Home Assistant classes the quantity implies (energy for time integrals
    of a power, power for instantaneous, average and maximum values, …).
    """
    described = _DESCRIBED.get(code)
    if described is not None:
        return described
    described = _describe(code)
    if len(_DESCRIBED) < _DESCRIBED_LIMIT:
        _DESCRIBED[code] = described
    return described


#: describe() by code; the rows are immutable, the walk asks for the same codes each push.
_DESCRIBED: dict[ObisCode, ObisInfo] = {}
_DESCRIBED_LIMIT: Final = 1024


def _describe(code: ObisCode) -> ObisInfo:
    row = lookup(code)
    if row is not None:
        return row
    unit, device_class, state_class = generic_metadata(code)
    return ObisInfo(
        code=code,
        key=f"obis_{code.a}_{code.b}_{code.c}_{code.d}_{code.e}_{code.f}",
        name_en=generic_name(code, "en"),
        name_de=generic_name(code, "de"),
        unit=unit,
        device_class=device_class,
        state_class=state_class,
    )


# --------------------------------------------------------------------------- formatting


def name_parts(code: ObisCode, language: str = "en") -> dict[str, str]:
    """The text of every placeholder for ``code`` in ``language``, empty where a part is void.

    ``medium`` (from A), ``channel`` (B, empty for 0), ``measurement`` (C, for power
    quantities worded as energy or power after D; for identifiers, times and texts in
    the table their table name), ``measurementType`` (D),
    ``tariff`` (E: "total"/"tariff n", or the harmonic of an instantaneous value),
    ``previousMeasurement`` (F: empty for 255, else the billing period), ``name``
    (:func:`describe`'s name) and ``code`` (``1-0:1.8.0``).
    """
    check_language(language)
    info = describe(code)
    measurement = measurement_part(code, language)
    if not is_measured(code) and lookup(code) is not None:
        # Identifiers, times and texts: the table name says more than "Service entry".
        measurement = info.name(language)
    return {
        "medium": medium_part(code, language),
        "channel": channel_part(code, language),
        "measurement": measurement,
        "measurementType": measurement_type_part(code, language),
        "tariff": tariff_part(code, language),
        "previousMeasurement": previous_part(code.f, language),
        "name": info.name(language),
        "code": str(code),
    }


_PLACEHOLDER = re.compile(r"\[([A-Za-z]+)\]")

#: The characters trimmed where a part of a name is empty (``decoding.name_delimiters``).
DEFAULT_DELIMITERS = " -,"


def format_name(
    code: ObisCode,
    language: str = "en",
    template: str | None = None,
    trim: str = DEFAULT_DELIMITERS,
) -> str:
    """The name of ``code`` in ``language``, optionally rendered through ``template``.

    Without a template this is :func:`describe`'s name.  A template names parts in
    brackets, e.g. ``"[measurement], [measurementType]"`` (the default of
    smart-meter-mbus-dlms) → ``"Voltage L1, instantaneous value"``.  Where a part is
    empty, the runs of ``trim`` characters on either side of it are merged into one
    (the first non-empty run), and ``trim`` characters are stripped from both ends, so
    no dangling delimiters remain.

    Raises :class:`~cosem_reader.errors.ConfigError` for an unknown language or
    placeholder.
    """
    check_language(language)
    if template is None:
        return describe(code).name(language)
    parts = name_parts(code, language)
    pieces = _PLACEHOLDER.split(template)
    # Segments of the result as (text, is_literal); pieces alternate literal/placeholder.
    segments: list[tuple[str, bool]] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if segments and segments[-1][1]:
                previous = segments[-1][0]
                if _only(previous, trim) and _only(piece, trim):
                    # Two delimiter runs meet where a part was empty: keep one.
                    segments[-1] = (previous or piece, True)
                else:
                    segments[-1] = (previous + piece, True)
            else:
                segments.append((piece, True))
            continue
        if piece not in parts:
            raise ConfigError(
                f"unknown placeholder [{piece}] in the name format {template!r}",
                hint="use " + ", ".join(f"[{name}]" for name in NAME_PLACEHOLDERS),
            )
        if parts[piece]:
            segments.append((parts[piece], False))
    return "".join(text for text, _ in segments).strip(trim)


def _only(text: str, characters: str) -> bool:
    return all(char in characters for char in text)
