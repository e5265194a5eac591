"""Meter profiles: what a meter family means by the numbers it sends without scaler-unit.

A push that carries a register's scaler-unit says what its number means; many do
not (Kamstrup lists, Swiss VSE 2026 lists of Landis+Gyr and Iskraemeco).  A number
without a known scale is published raw and without a unit, because a believed wrong
magnitude (``287 A`` for 2.87 A) is worse than an honest raw one.  This table writes
down, per meter family, the scale its operator's documents or other readers' meter
tables give, keyed by what the push itself says: the list identifier
(``1-1:0.2.129.255``, or the text a Kamstrup list opens with), the manufacturer in
the logical device name (``0-0:42.0.0.255``, ``ISK…``, ``LGZ…``) and OBIS codes the
list must (or must not) carry.  Where sources disagree and the push cannot tell the
cases apart (Kamstrup energy registers: 10 Wh in Norway, Wh in Sweden), the register
stays out of the table and the value stays raw.

Lists without OBIS codes get their scalers from their layout (:mod:`cosem_reader.cosem.layouts`);
the user's ``[scalers]`` win over both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cosem_reader.cosem.obis import ObisCode

if TYPE_CHECKING:
    from cosem_reader.cosem.readings import Reading

__all__ = [
    "KNOWN_PROFILES",
    "MeterProfile",
    "PushSignature",
    "Scales",
    "profile_scales",
    "profiles_overridden",
    "push_signature",
    "select_profile",
    "signature_indices",
]

#: A profile's scaler, unit and name for the reading at an index of a push.
Scales = tuple[tuple[int, int, str | None, str], ...]


@dataclass(frozen=True, slots=True)
class PushSignature:
    """What a push says about the meter that sent it."""

    list_identifier: str | None
    manufacturer: str | None
    codes: frozenset[ObisCode]


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """The scaler and unit of each register a meter family sends without scaler-unit."""

    name: str
    #: OBIS code → (scaler, unit) for numbers the push sends bare.
    registers: Mapping[ObisCode, tuple[int, str | None]]
    #: The list identifier must start with this text (``Kamstrup_V0001``).
    list_identifier: str | None = None
    #: The logical device name must start with this FLAG id (``ISK``, ``LGZ``).
    manufacturer: str | None = None
    #: OBIS codes the list must carry, and codes it must not: the list's shape.
    requires: frozenset[ObisCode] = field(default_factory=frozenset)
    excludes: frozenset[ObisCode] = field(default_factory=frozenset)

    def matches(self, signature: PushSignature) -> bool:
        """Whether a push with this signature comes from this meter family."""
        if self.list_identifier is not None and not (signature.list_identifier or "").startswith(
            self.list_identifier
        ):
            return False
        if self.manufacturer is not None and signature.manufacturer != self.manufacturer:
            return False
        return self.requires <= signature.codes and not self.excludes & signature.codes


def _codes(*texts: str) -> frozenset[ObisCode]:
    return frozenset(ObisCode.parse(text) for text in texts)


def _registers(*rows: tuple[str, int, str | None]) -> dict[ObisCode, tuple[int, str | None]]:
    return {ObisCode.parse(code): (scaler, unit) for code, scaler, unit in rows}


# Kamstrup Omnipower, HAN lists of Norway, Sweden and Denmark (A-field 1): currents in
# 0.01 A, power factors in 0.01, voltages in whole volts, powers in W and var.
# Sources: UtilitechAS/amsreader-firmware src/IEC6205675.cpp (Kamstrup branch divides
# currents and power factors by 100, takes voltages and powers as they are);
# esphome-libs/dlms_parser tests/expected/hdlc_kamstrup_omnipower.h notes ("voltage in
# V, current in 0.01 A, power factor in %"); kjetilrong/AmsToMqttBridge
# Samples/Kamstrup/obisdata.md (raw 564 = 5.64 A); turbokongen/hass-AMS
# custom_components/ams/parsers/kamstrup.py (currents / 100).  Energy registers stay
# raw: the Norwegian lists count 10 Wh (amsreader multiplies by 10, hass-AMS divides by
# 100 for kWh), Swedish ones Wh (issue 9), and the push names neither country.
_KAMSTRUP = _registers(
    ("1-1:1.7.0", 0, "W"),
    ("1-1:2.7.0", 0, "W"),
    ("1-1:3.7.0", 0, "var"),
    ("1-1:4.7.0", 0, "var"),
    ("1-1:21.7.0", 0, "W"),
    ("1-1:41.7.0", 0, "W"),
    ("1-1:61.7.0", 0, "W"),
    ("1-1:22.7.0", 0, "W"),
    ("1-1:42.7.0", 0, "W"),
    ("1-1:62.7.0", 0, "W"),
    ("1-1:31.7.0", -2, "A"),
    ("1-1:51.7.0", -2, "A"),
    ("1-1:71.7.0", -2, "A"),
    ("1-1:32.7.0", 0, "V"),
    ("1-1:52.7.0", 0, "V"),
    ("1-1:72.7.0", 0, "V"),
    ("1-1:13.7.0", -2, None),
    ("1-1:33.7.0", -2, None),
    ("1-1:53.7.0", -2, None),
    ("1-1:73.7.0", -2, None),
)

# Swiss VSE 2026 configuration (self-describing push, no scaler-unit for any value).
# Source: scs/smartmeter-datacollector tests (test_iskraam550.py, test_lge360.py,
# test_lge450.py, the VSE-standard cases), as the shared vectors state them: energies
# in Wh and varh, powers in W, currents raw 12 → 0.12 A; voltages raw 2347 → 234.7 V
# (Iskraemeco AM550) and 2357 → 235.7 V (L+G E360), but 236 → 236 V (L+G E450).
_VSE_COMMON = (
    ("1-1:1.8.0", 0, "Wh"),
    ("1-1:2.8.0", 0, "Wh"),
    ("1-1:3.8.0", 0, "varh"),
    ("1-1:4.8.0", 0, "varh"),
    ("1-0:31.7.0", -2, "A"),
    ("1-0:51.7.0", -2, "A"),
    ("1-0:71.7.0", -2, "A"),
)
_VSE_DECIVOLTS = (("1-0:32.7.0", -1, "V"), ("1-0:52.7.0", -1, "V"), ("1-0:72.7.0", -1, "V"))
_VSE_VOLTS = (("1-0:32.7.0", 0, "V"), ("1-0:52.7.0", 0, "V"), ("1-0:72.7.0", 0, "V"))
# The VSE lists carry the tariff-less registers 1-1:1.8.0 … 4.8.0 and no tariff
# registers (the older Swiss lists send 1-1:1.8.1, 5.8.0 …, which no source scales).
_VSE_SHAPE = _codes("1-1:1.8.0", "1-1:2.8.0", "1-1:3.8.0", "1-1:4.8.0", "1-0:31.7.0")
_VSE_NOT = _codes("1-1:1.8.1", "1-1:2.8.1", "1-1:5.8.0")
# The L+G E450 list carries the clock and the customer meter number (0-0:96.1.1), the
# E360 list neither: that tells their voltage scales apart.
_E450_ONLY = _codes("0-0:1.0.0", "0-0:96.1.1")

#: The profiles this release knows, most specific first.
KNOWN_PROFILES: tuple[MeterProfile, ...] = (
    MeterProfile("Kamstrup Omnipower (NO/SE/DK)", _KAMSTRUP, list_identifier="Kamstrup_V0001"),
    MeterProfile(
        "Iskraemeco AM550, Swiss VSE 2026 list",
        _registers(*_VSE_COMMON, *_VSE_DECIVOLTS, ("1-1:1.7.0", 0, "W"), ("1-1:2.7.0", 0, "W")),
        manufacturer="ISK",
        requires=_VSE_SHAPE,
        excludes=_VSE_NOT,
    ),
    MeterProfile(
        "Landis+Gyr E450, Swiss VSE 2026 list",
        _registers(*_VSE_COMMON, *_VSE_VOLTS, ("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W")),
        manufacturer="LGZ",
        requires=_VSE_SHAPE | _E450_ONLY,
        excludes=_VSE_NOT,
    ),
    MeterProfile(
        "Landis+Gyr E360, Swiss VSE 2026 list",
        _registers(*_VSE_COMMON, *_VSE_DECIVOLTS, ("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W")),
        manufacturer="LGZ",
        requires=_VSE_SHAPE,
        excludes=_VSE_NOT | _E450_ONLY,
    ),
)


def select_profile(
    signature: PushSignature, profiles: Sequence[MeterProfile] = KNOWN_PROFILES
) -> MeterProfile | None:
    """The first profile whose selectors the push fits, or None."""
    for profile in profiles:
        if profile.matches(signature):
            return profile
    return None


def profiles_overridden(
    code: ObisCode, profiles: Sequence[MeterProfile] = KNOWN_PROFILES
) -> list[str]:
    """The profiles whose scale for ``code`` a user's ``[scalers]`` entry replaces."""
    return [profile.name for profile in profiles if code in profile.registers]


# -- choosing a profile for the readings of a push --------------------------------------


_LIST_IDENTIFIER = (0, 2, 129)  # value groups C, D, E of 1-1:0.2.129.255
_LOGICAL_DEVICE_NAME = (0, 0, 42, 0, 0)  # value groups A to E of 0-0:42.0.0.255


def push_signature(readings: Sequence[Reading]) -> PushSignature:
    """What the readings of one push say about the meter: list identifier, maker, codes."""
    identifier: str | None = None
    manufacturer: str | None = None
    codes = []
    for reading in readings:
        code = reading.obis
        value = reading.value
        if code is None:
            if reading.position == "0" and isinstance(value, str):
                identifier = identifier or value
            continue
        codes.append(code)
        if isinstance(value, str):
            if (code.c, code.d, code.e) == _LIST_IDENTIFIER:
                identifier = value
            elif (code.a, code.b, code.c, code.d, code.e) == _LOGICAL_DEVICE_NAME:
                manufacturer = value[:3].upper()
    return PushSignature(identifier, manufacturer, frozenset(codes))


def _names_meter(code: ObisCode) -> bool:
    """Whether a code is the list identifier or the logical device name."""
    groups = (code.a, code.b, code.c, code.d, code.e)
    return groups[2:] == _LIST_IDENTIFIER or groups == _LOGICAL_DEVICE_NAME


def signature_indices(readings: Sequence[Reading]) -> tuple[int, ...]:
    """Where the readings that may name the meter stand: list identifier, device name."""
    return tuple(
        index
        for index, reading in enumerate(readings)
        if (reading.position == "0" if reading.obis is None else _names_meter(reading.obis))
    )


def profile_scales(
    readings: Sequence[Reading], unscaled: Sequence[int], profiles: Sequence[MeterProfile]
) -> Scales:
    """What the profile of the meter that sent these readings makes of their bare numbers."""
    profile = select_profile(push_signature(readings), profiles)
    if profile is None:
        return ()
    registers = profile.registers
    scales = []
    for index in unscaled:
        found = registers.get(readings[index].obis)  # type: ignore[arg-type]
        if found is not None:
            scales.append((index, found[0], found[1], profile.name))
    return tuple(scales)
