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
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from cosem_reader.errors import ConfigError, CosemError

__all__ = [
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

#: Languages the names exist in.
LANGUAGES: Final = ("en", "de")

#: Placeholders :func:`format_name` replaces.
NAME_PLACEHOLDERS: Final = (
    "medium",
    "channel",
    "measurement",
    "measurementType",
    "tariff",
    "previousMeasurement",
    "name",
    "code",
)

# Home Assistant state classes used by the table.
TOTAL_INCREASING: Final = "total_increasing"
MEASUREMENT: Final = "measurement"
TOTAL: Final = "total"


# --------------------------------------------------------------------------- the code


@dataclass(frozen=True, slots=True, order=True)
class ObisCode:
    """An OBIS code ``A-B:C.D.E*F``: six value groups of one byte each, ordered by group."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    def __post_init__(self) -> None:
        a, b, c, d, e, f = self.a, self.b, self.c, self.d, self.e, self.f
        # The common case in one expression: this runs for every register of every push.
        if (
            type(a) is type(b) is type(c) is type(d) is type(e) is type(f) is int
            and 0 <= a <= 255
            and 0 <= b <= 255
            and 0 <= c <= 255
            and 0 <= d <= 255
            and 0 <= e <= 255
            and 0 <= f <= 255
        ):
            return
        for group, value in zip(
            "abcdef", (self.a, self.b, self.c, self.d, self.e, self.f), strict=True
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
                raise CosemError(
                    f"OBIS value group {group.upper()} is {value!r}, not a byte",
                    hint="each of the six groups A-B:C.D.E*F is 0..255",
                )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> ObisCode:
        """The OBIS code in a 6-byte octet-string (the bytes after ``09 06`` in an APDU)."""
        raw = bytes(data)
        if cls is ObisCode:
            cached = _FROM_BYTES.get(raw)
            if cached is not None:
                return cached
        if len(raw) != 6:
            raise CosemError(
                f"an OBIS code is 6 bytes, got {len(raw)} ({raw.hex()})",
                hint="the octet-string at this position is not a logical name",
            )
        code = cls(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5])
        if cls is ObisCode and len(_FROM_BYTES) < _FROM_BYTES_LIMIT:
            _FROM_BYTES[raw] = code
        return code

    @classmethod
    def parse(cls, text: str) -> ObisCode:
        """Parse an OBIS code from the forms users and documents write.

        Accepted: ``1-0:1.8.0`` (F = 255), ``1-0:1.8.0.255``, ``1-0:1.8.0*255``,
        ``1-0:1.8.0&255``, the dotted ``1.0.1.8.0.255`` and ``1.0.1.8.0`` (F = 255),
        and the electricity short forms ``1.8.0`` and ``1.8.0*1`` which by
        the usual convention of meter displays mean A = 1 (electricity), B = 0.  Abstract
        objects need the full form (``0-0:96.1.0``): ``96.1.0`` would mean ``1-0:96.1.0``.
        """
        stripped = text.strip()
        match = (
            _FULL.fullmatch(stripped) or _DOTTED.fullmatch(stripped) or _SHORT.fullmatch(stripped)
        )
        if match is None:
            raise CosemError(
                f"{text!r} is not an OBIS code",
                hint="write it as A-B:C.D.E (e.g. 1-0:1.8.0), A-B:C.D.E*F or A.B.C.D.E.F",
            )
        groups = match.groupdict()
        a = groups.get("a")
        b = groups.get("b")
        f = groups.get("f")
        return cls(
            int(a) if a is not None else 1,
            int(b) if b is not None else 0,
            int(groups["c"]),
            int(groups["d"]),
            int(groups["e"]),
            int(f) if f is not None else 255,
        )

    def to_bytes(self) -> bytes:
        """The 6-byte logical name."""
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    @property
    def dotted(self) -> str:
        """All six groups with dots, ``1.0.1.8.0.255`` (the form the vectors and MQTT keys use)."""
        return f"{self.a}.{self.b}.{self.c}.{self.d}.{self.e}.{self.f}"

    def __str__(self) -> str:
        """``1-0:1.8.0`` when F is 255 (current value), else ``1-0:1.8.0*F``."""
        text = f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}"
        return text if self.f == 255 else f"{text}*{self.f}"


#: ObisCode.from_bytes by its 6 bytes: a push names the same dozen codes every second.
#: Bounded, so that a line delivering garbage cannot grow it without end.
_FROM_BYTES: dict[bytes, ObisCode] = {}
_FROM_BYTES_LIMIT: Final = 1024

_BYTE = r"\d{1,3}"
_FULL = re.compile(
    rf"(?P<a>{_BYTE})-(?P<b>{_BYTE}):(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})"
    rf"(?:[.*&](?P<f>{_BYTE}))?"
)
# Without A-B: a fourth dotted group would be ambiguous (C.D.E.F or an incomplete A.B.C.D).
_SHORT = re.compile(rf"(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})(?:[*&](?P<f>{_BYTE}))?")
_DOTTED = re.compile(
    rf"(?P<a>{_BYTE})\.(?P<b>{_BYTE})\.(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})"
    rf"(?:\.(?P<f>{_BYTE}))?"
)


# --------------------------------------------------------------------------- table rows


@dataclass(frozen=True, slots=True)
class ObisInfo:
    """What cosem-reader knows about one OBIS code.

    ``key`` is a slug naming the quantity (``active_energy_import``); it does not carry
    the channel B, so two objects differing only in B share it.  ``unit`` is the unit
    symbol the value is expected in (see :mod:`cosem_reader.cosem.units`), ``device_class``
    and ``state_class`` are Home Assistant's sensor classes (``None`` for identifiers,
    texts and times).
    """

    code: ObisCode
    key: str
    name_en: str
    name_de: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None

    def name(self, language: str = "en") -> str:
        """The name in ``"en"`` or ``"de"``."""
        _check_language(language)
        return self.name_de if language == "de" else self.name_en


#: kind → (unit, Home Assistant device class, state class) of the table rows.
_KINDS: Mapping[str, tuple[str | None, str | None, str | None]] = MappingProxyType(
    {
        "energy": ("Wh", "energy", TOTAL_INCREASING),
        "reactive_energy": ("varh", "reactive_energy", TOTAL_INCREASING),
        # Home Assistant has no device class for apparent energy.
        "apparent_energy": ("VAh", None, TOTAL_INCREASING),
        "power": ("W", "power", MEASUREMENT),
        "reactive_power": ("var", "reactive_power", MEASUREMENT),
        "apparent_power": ("VA", "apparent_power", MEASUREMENT),
        "power_factor": (None, "power_factor", MEASUREMENT),
        "frequency": ("Hz", "frequency", MEASUREMENT),
        "current": ("A", "current", MEASUREMENT),
        "voltage": ("V", "voltage", MEASUREMENT),
        "angle": ("°", None, MEASUREMENT),
        "counter": (None, None, TOTAL_INCREASING),
        "data": (None, None, None),
    }
)


def _row(code: str, key: str, kind: str, name_en: str, name_de: str) -> ObisInfo:
    unit, device_class, state_class = _KINDS[kind]
    return ObisInfo(ObisCode.parse(code), key, name_en, name_de, unit, device_class, state_class)


def _tariffs(cd: str, key: str, kind: str, name_en: str, name_de: str) -> Iterator[ObisInfo]:
    """The total register ``1-0:C.D.0`` and its tariff registers ``C.D.1`` … ``C.D.4``."""
    yield _row(f"1-0:{cd}.0", key, kind, name_en, name_de)
    for n in range(1, 5):
        yield _row(
            f"1-0:{cd}.{n}", f"{key}_t{n}", kind, f"{name_en} tariff {n}", f"{name_de} Tarif {n}"
        )


def _phases(cde_l1: str, key: str, kind: str, name_en: str, name_de: str) -> Iterator[ObisInfo]:
    """One row per phase from the L1 code ``C.D.E``: C + 20 is L2, C + 40 is L3."""
    c, de = cde_l1.split(".", 1)
    for phase in (1, 2, 3):
        yield _row(
            f"1-0:{int(c) + 20 * (phase - 1)}.{de}",
            f"{key}_l{phase}",
            kind,
            f"{name_en} L{phase}",
            f"{name_de} L{phase}",
        )


# fmt: off
#: The OBIS objects smart meters push, with names as Austrian operators write them.
OBIS_TABLE: Final[tuple[ObisInfo, ...]] = (
    # Identification, time and management objects.
    _row("0-0:1.0.0", "clock", "data", "Clock (date and time)", "Datum und Uhrzeit"),
    _row("0-0:96.1.0", "meter_number", "data", "Meter number (device ID 1)", "Zählernummer"),
    _row("0-0:96.1.1", "device_id_2", "data",
         "Device ID 2 (serial number)", "Geräte-ID 2 (Seriennummer)"),
    _row("0-0:96.1.7", "meter_type", "data", "Meter type", "Zählertyp"),
    _row("0-0:42.0.0", "logical_device_name", "data",
         "COSEM logical device name", "COSEM logischer Gerätename"),
    _row("0-0:25.9.0", "push_setup", "data",
         "Push setup (consumer information)", "Push-Setup (Kundenschnittstelle)"),
    _row("0-0:0.9.1", "local_time", "data", "Local time", "Uhrzeit"),
    _row("0-0:0.9.2", "local_date", "data", "Local date", "Datum"),
    _row("1-0:0.9.1", "meter_local_time", "data", "Local time (meter)", "Uhrzeit (Zähler)"),
    _row("1-0:0.9.2", "meter_local_date", "data", "Local date (meter)", "Datum (Zähler)"),
    _row("0-0:96.13.0", "consumer_message_text", "data",
         "Consumer message text", "Kundeninformation Text"),
    _row("0-0:96.13.1", "consumer_message_code", "data",
         "Consumer message code", "Kundeninformation Code"),
    _row("0-0:96.3.10", "breaker_state", "data", "Breaker state", "Schaltzustand Trennschalter"),
    _row("0-0:17.0.0", "limiter_threshold", "data",
         "Limiter threshold", "Leistungsbegrenzung Schwellwert"),
    _row("0-0:96.7.21", "power_failures", "counter",
         "Number of power failures", "Anzahl Netzausfälle"),
    _row("1-1:0.2.129", "obis_list_version", "data",
         "OBIS list version identifier", "OBIS-Listenversion"),
    _row("1-1:0.0.5", "gs1_number", "data", "GS1 number", "GS1-Nummer"),
    _row("1-1:0.0.1", "meter_number_1", "data", "Meter number 1", "Zählernummer 1"),
    _row("1-1:96.1.1", "meter_type_han", "data", "Meter type", "Zählertyp"),
    _row("1-3:0.2.8", "dsmr_version", "data", "DSMR (P1) version", "DSMR-Version"),
    # Energy registers (D = 8, time integral 1): totals and tariffs 1-4.
    *_tariffs("1.8", "active_energy_import", "energy",
              "Active energy import (+A)", "Wirkenergie Bezug (+A)"),
    *_tariffs("2.8", "active_energy_export", "energy",
              "Active energy export (−A)", "Wirkenergie Lieferung (−A)"),
    *_tariffs("3.8", "reactive_energy_import", "reactive_energy",
              "Reactive energy import (+R)", "Blindenergie Bezug (+R)"),
    *_tariffs("4.8", "reactive_energy_export", "reactive_energy",
              "Reactive energy export (−R)", "Blindenergie Lieferung (−R)"),
    *_tariffs("5.8", "reactive_energy_qi", "reactive_energy",
              "Reactive energy QI", "Blindenergie Quadrant I"),
    *_tariffs("6.8", "reactive_energy_qii", "reactive_energy",
              "Reactive energy QII", "Blindenergie Quadrant II"),
    *_tariffs("7.8", "reactive_energy_qiii", "reactive_energy",
              "Reactive energy QIII", "Blindenergie Quadrant III"),
    *_tariffs("8.8", "reactive_energy_qiv", "reactive_energy",
              "Reactive energy QIV", "Blindenergie Quadrant IV"),
    *_tariffs("9.8", "apparent_energy_import", "apparent_energy",
              "Apparent energy import (+S)", "Scheinenergie Bezug (+S)"),
    *_tariffs("10.8", "apparent_energy_export", "apparent_energy",
              "Apparent energy export (−S)", "Scheinenergie Lieferung (−S)"),
    *_tariffs("15.8", "active_energy_absolute", "energy",
              "Active energy absolute (|+A|+|−A|)", "Wirkenergie Betrag (|+A|+|−A|)"),
    *_phases("21.8.0", "active_energy_import", "energy",
             "Active energy import (+A)", "Wirkenergie Bezug (+A)"),
    *_phases("22.8.0", "active_energy_export", "energy",
             "Active energy export (−A)", "Wirkenergie Lieferung (−A)"),
    # Netz OÖ (AMIS): operator-specific collection register in D = 128.
    _row("1-0:1.128.0", "collection_register", "energy",
         "Collection register (+A)", "Inkassozählwerk (+A)"),
    # Instantaneous values (D = 7).
    _row("1-0:1.7.0", "active_power_import", "power",
         "Active power import (+P)", "Momentane Wirkleistung Bezug (+P)"),
    _row("1-0:2.7.0", "active_power_export", "power",
         "Active power export (−P)", "Momentane Wirkleistung Lieferung (−P)"),
    _row("1-0:3.7.0", "reactive_power_import", "reactive_power",
         "Reactive power import (+Q)", "Momentane Blindleistung Bezug (+Q)"),
    _row("1-0:4.7.0", "reactive_power_export", "reactive_power",
         "Reactive power export (−Q)", "Momentane Blindleistung Lieferung (−Q)"),
    _row("1-0:9.7.0", "apparent_power_import", "apparent_power",
         "Apparent power import (+S)", "Momentane Scheinleistung Bezug (+S)"),
    _row("1-0:10.7.0", "apparent_power_export", "apparent_power",
         "Apparent power export (−S)", "Momentane Scheinleistung Lieferung (−S)"),
    _row("1-0:13.7.0", "power_factor", "power_factor", "Power factor", "Leistungsfaktor"),
    _row("1-0:14.7.0", "frequency", "frequency", "Frequency", "Netzfrequenz"),
    _row("1-0:15.7.0", "active_power_absolute", "power",
         "Active power absolute (|+P|+|−P|)", "Momentane Wirkleistung Betrag (|+P|+|−P|)"),
    _row("1-0:16.7.0", "active_power_net", "power",
         "Active power net (+P−−P)", "Momentane Wirkleistung saldiert (+P−−P)"),
    *_phases("21.7.0", "active_power_import", "power",
             "Active power import (+P)", "Momentane Wirkleistung Bezug (+P)"),
    *_phases("22.7.0", "active_power_export", "power",
             "Active power export (−P)", "Momentane Wirkleistung Lieferung (−P)"),
    *_phases("23.7.0", "reactive_power_import", "reactive_power",
             "Reactive power import (+Q)", "Momentane Blindleistung Bezug (+Q)"),
    *_phases("24.7.0", "reactive_power_export", "reactive_power",
             "Reactive power export (−Q)", "Momentane Blindleistung Lieferung (−Q)"),
    *_phases("31.7.0", "current", "current", "Current", "Strom"),
    *_phases("32.7.0", "voltage", "voltage", "Voltage", "Spannung"),
    *_phases("33.7.0", "power_factor", "power_factor", "Power factor", "Leistungsfaktor"),
    _row("1-0:91.7.0", "current_neutral", "current", "Current neutral", "Strom Neutralleiter"),
    # C = 81, D = 7: E = 10·a + b names the angle between quantity a and quantity b
    # (0-2 voltages L1-L3, 4-6 currents L1-L3, 7 neutral current).
    _row("1-0:81.7.1", "angle_u2_u1", "angle",
         "Phase angle U(L2)–U(L1)", "Phasenwinkel U(L2)–U(L1)"),
    _row("1-0:81.7.2", "angle_u3_u1", "angle",
         "Phase angle U(L3)–U(L1)", "Phasenwinkel U(L3)–U(L1)"),
    _row("1-0:81.7.40", "angle_i1_u1", "angle",
         "Phase angle I(L1)–U(L1)", "Phasenwinkel I(L1)–U(L1)"),
    _row("1-0:81.7.51", "angle_i2_u2", "angle",
         "Phase angle I(L2)–U(L2)", "Phasenwinkel I(L2)–U(L2)"),
    _row("1-0:81.7.62", "angle_i3_u3", "angle",
         "Phase angle I(L3)–U(L3)", "Phasenwinkel I(L3)–U(L3)"),
    # Demand and power-quality counters.
    _row("1-0:1.6.0", "max_demand_import", "power",
         "Maximum demand import (+P)", "Maximumleistung Bezug (+P)"),
    *_phases("32.32.0", "voltage_sags", "counter",
             "Number of voltage sags", "Anzahl Spannungseinbrüche"),
    *_phases("32.36.0", "voltage_swells", "counter",
             "Number of voltage swells", "Anzahl Spannungsüberhöhungen"),
)
# fmt: on


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
        name_en=f"{current.name_en}, {_previous(code.f, 'en')}",
        name_de=f"{current.name_de}, {_previous(code.f, 'de')}",
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
    unit, device_class, state_class = _generic_metadata(code)
    return ObisInfo(
        code=code,
        key=f"obis_{code.a}_{code.b}_{code.c}_{code.d}_{code.e}_{code.f}",
        name_en=_generic_name(code, "en"),
        name_de=_generic_name(code, "de"),
        unit=unit,
        device_class=device_class,
        state_class=state_class,
    )


# --------------------------------------------------------------------------- generic names

_MEDIUM: Mapping[int, tuple[str, str]] = {
    0: ("Abstract", "Abstrakt"),
    1: ("Electricity", "Elektrizität"),
    4: ("Heat cost allocator", "Heizkostenverteiler"),
    5: ("Cooling", "Kälte"),
    6: ("Heat", "Wärme"),
    7: ("Gas", "Gas"),
    8: ("Cold water", "Kaltwasser"),
    9: ("Hot water", "Warmwasser"),
    16: ("Oil", "Öl"),
    17: ("Compressed air", "Druckluft"),
    18: ("Nitrogen", "Stickstoff"),
}

# Power quantities of C = 1..20 (and per phase +20/+40/+60): kind, energy names, power names.
_ACTIVE, _REACTIVE, _APPARENT = "active", "reactive", "apparent"
# fmt: off
_POWER_QUANTITY: Mapping[int, tuple[str, tuple[str, str], tuple[str, str]]] = {
    1: (_ACTIVE, ("Active energy import (+A)", "Wirkenergie Bezug (+A)"),
        ("Active power import (+P)", "Wirkleistung Bezug (+P)")),
    2: (_ACTIVE, ("Active energy export (−A)", "Wirkenergie Lieferung (−A)"),
        ("Active power export (−P)", "Wirkleistung Lieferung (−P)")),
    3: (_REACTIVE, ("Reactive energy import (+R)", "Blindenergie Bezug (+R)"),
        ("Reactive power import (+Q)", "Blindleistung Bezug (+Q)")),
    4: (_REACTIVE, ("Reactive energy export (−R)", "Blindenergie Lieferung (−R)"),
        ("Reactive power export (−Q)", "Blindleistung Lieferung (−Q)")),
    5: (_REACTIVE, ("Reactive energy QI", "Blindenergie Quadrant I"),
        ("Reactive power QI", "Blindleistung Quadrant I")),
    6: (_REACTIVE, ("Reactive energy QII", "Blindenergie Quadrant II"),
        ("Reactive power QII", "Blindleistung Quadrant II")),
    7: (_REACTIVE, ("Reactive energy QIII", "Blindenergie Quadrant III"),
        ("Reactive power QIII", "Blindleistung Quadrant III")),
    8: (_REACTIVE, ("Reactive energy QIV", "Blindenergie Quadrant IV"),
        ("Reactive power QIV", "Blindleistung Quadrant IV")),
    9: (_APPARENT, ("Apparent energy import (+S)", "Scheinenergie Bezug (+S)"),
        ("Apparent power import (+S)", "Scheinleistung Bezug (+S)")),
    10: (_APPARENT, ("Apparent energy export (−S)", "Scheinenergie Lieferung (−S)"),
         ("Apparent power export (−S)", "Scheinleistung Lieferung (−S)")),
    15: (_ACTIVE, ("Active energy absolute (|+A|+|−A|)", "Wirkenergie Betrag (|+A|+|−A|)"),
         ("Active power absolute (|+P|+|−P|)", "Wirkleistung Betrag (|+P|+|−P|)")),
    16: (_ACTIVE, ("Active energy net (+A−−A)", "Wirkenergie saldiert (+A−−A)"),
         ("Active power net (+P−−P)", "Wirkleistung saldiert (+P−−P)")),
    17: (_ACTIVE, ("Active energy QI", "Wirkenergie Quadrant I"),
         ("Active power QI", "Wirkleistung Quadrant I")),
    18: (_ACTIVE, ("Active energy QII", "Wirkenergie Quadrant II"),
         ("Active power QII", "Wirkleistung Quadrant II")),
    19: (_ACTIVE, ("Active energy QIII", "Wirkenergie Quadrant III"),
         ("Active power QIII", "Wirkleistung Quadrant III")),
    20: (_ACTIVE, ("Active energy QIV", "Wirkenergie Quadrant IV"),
         ("Active power QIV", "Wirkleistung Quadrant IV")),
}
# fmt: on

# kind -> (energy unit, energy device class, power unit, power device class)
_POWER_UNITS: Mapping[str, tuple[str, str | None, str, str]] = {
    _ACTIVE: ("Wh", "energy", "W", "power"),
    _REACTIVE: ("varh", "reactive_energy", "var", "reactive_power"),
    _APPARENT: ("VAh", None, "VA", "apparent_power"),
}
# C = 11..14 of each phase group: name, unit, device class.
_OTHER_QUANTITY: Mapping[int, tuple[tuple[str, str], str | None, str]] = {
    11: (("Current", "Strom"), "A", "current"),
    12: (("Voltage", "Spannung"), "V", "voltage"),
    13: (("Power factor", "Leistungsfaktor"), None, "power_factor"),
    14: (("Frequency", "Frequenz"), "Hz", "frequency"),
}
_ELECTRICITY_SPECIAL: Mapping[int, tuple[tuple[str, str], str | None, str | None]] = {
    81: (("Phase angle", "Phasenwinkel"), "°", None),
    82: (("Unitless quantity", "Einheitenlose Größe"), None, None),
    83: (("Transformer and line losses", "Trafo- und Leitungsverluste"), None, None),
    84: (("Power factor", "Leistungsfaktor"), None, "power_factor"),
    85: (("Power factor L1", "Leistungsfaktor L1"), None, "power_factor"),
    86: (("Power factor L2", "Leistungsfaktor L2"), None, "power_factor"),
    87: (("Power factor L3", "Leistungsfaktor L3"), None, "power_factor"),
    88: (("Ampere-squared hours", "Amperequadratstunden"), "A2h", None),
    89: (("Volt-squared hours", "Voltquadratstunden"), "V2h", None),
    90: (("Current sum of phases", "Strom Summe der Phasen"), "A", "current"),
    91: (("Current neutral", "Strom Neutralleiter"), "A", "current"),
    92: (("Voltage neutral", "Spannung Neutralleiter"), "V", "voltage"),
}
# C = 0 and 93..99 keep their meaning across media.
_COMMON_QUANTITY: Mapping[int, tuple[str, str]] = {
    0: ("General purpose object", "Allgemeines Objekt"),
    93: ("Consortium specific", "Konsortiumsspezifisch"),
    94: ("Country specific", "Länderspezifisch"),
    96: ("Service entry", "Serviceeintrag"),
    97: ("Error register", "Fehlerregister"),
    98: ("List", "Liste"),
    99: ("Profile", "Profil"),
}
_ABSTRACT_QUANTITY: Mapping[int, tuple[str, str]] = {
    1: ("Clock", "Uhr"),
    2: ("Modem configuration", "Modemkonfiguration"),
    10: ("Script table", "Skripttabelle"),
    11: ("Special days table", "Feiertagstabelle"),
    12: ("Schedule", "Zeitplan"),
    13: ("Activity calendar", "Aktivitätskalender"),
    14: ("Register activation", "Registeraktivierung"),
    15: ("Single action schedule", "Einzelaktionsplan"),
    16: ("Register monitor", "Registerüberwachung"),
    17: ("Limiter", "Begrenzer"),
    25: ("Internet and push setup", "Internet- und Push-Setup"),
    40: ("Association", "Assoziation"),
    41: ("SAP assignment", "SAP-Zuordnung"),
    42: ("Logical device name", "Logischer Gerätename"),
    43: ("Security setup", "Sicherheitseinstellungen"),
    44: ("Image transfer", "Firmware-Übertragung"),
}
# Electricity processing D.
_MEASUREMENT_TYPE: Mapping[int, tuple[str, str]] = {
    0: ("billing period average", "Mittelwert Abrechnungsperiode"),
    1: ("cumulative minimum 1", "kumuliertes Minimum 1"),
    2: ("cumulative maximum 1", "kumuliertes Maximum 1"),
    3: ("minimum 1", "Minimum 1"),
    4: ("current average 1", "aktueller Mittelwert 1"),
    5: ("last average 1", "letzter Mittelwert 1"),
    6: ("maximum 1", "Maximum 1"),
    7: ("instantaneous value", "Momentanwert"),
    8: ("time integral 1", "Zeitintegral 1 (Zählerstand)"),
    9: ("time integral 2", "Zeitintegral 2"),
    10: ("time integral 3", "Zeitintegral 3"),
    11: ("cumulative minimum 2", "kumuliertes Minimum 2"),
    12: ("cumulative maximum 2", "kumuliertes Maximum 2"),
    13: ("minimum 2", "Minimum 2"),
    14: ("current average 2", "aktueller Mittelwert 2"),
    15: ("last average 2", "letzter Mittelwert 2"),
    16: ("maximum 2", "Maximum 2"),
    17: ("time integral 7", "Zeitintegral 7"),
    18: ("time integral 8", "Zeitintegral 8"),
    19: ("time integral 9", "Zeitintegral 9"),
    20: ("time integral 10", "Zeitintegral 10"),
    21: ("cumulative minimum 3", "kumuliertes Minimum 3"),
    22: ("cumulative maximum 3", "kumuliertes Maximum 3"),
    23: ("minimum 3", "Minimum 3"),
    24: ("current average 3", "aktueller Mittelwert 3"),
    25: ("last average 3", "letzter Mittelwert 3"),
    26: ("maximum 3", "Maximum 3"),
    27: ("current average 5", "aktueller Mittelwert 5"),
    28: ("current average 6", "aktueller Mittelwert 6"),
    29: ("time integral 5", "Zeitintegral 5"),
    30: ("time integral 6", "Zeitintegral 6"),
    31: ("under-limit threshold", "Unterschreitung Schwellwert"),
    32: ("under-limit occurrence counter", "Unterschreitung Anzahl"),
    33: ("under-limit duration", "Unterschreitung Dauer"),
    34: ("under-limit magnitude", "Unterschreitung Betrag"),
    35: ("over-limit threshold", "Überschreitung Schwellwert"),
    36: ("over-limit occurrence counter", "Überschreitung Anzahl"),
    37: ("over-limit duration", "Überschreitung Dauer"),
    38: ("over-limit magnitude", "Überschreitung Betrag"),
    39: ("missing threshold", "Ausfall Schwellwert"),
    40: ("missing occurrence counter", "Ausfall Anzahl"),
    41: ("missing duration", "Ausfall Dauer"),
    42: ("missing magnitude", "Ausfall Betrag"),
    55: ("test average", "Testmittelwert"),
    58: ("time integral 4", "Zeitintegral 4"),
}
_TIME_INTEGRALS: Final = frozenset({8, 9, 10, 17, 18, 19, 20, 29, 30, 58})
_DEMANDS: Final = frozenset({0, *range(1, 7), *range(11, 17), *range(21, 29), 55})
_THRESHOLDS: Final = frozenset({31, 34, 35, 38, 39, 42})
_COUNTERS: Final = frozenset({32, 36, 40})
# C = 81: the quantities whose angle E = 10·a + b names.
_ANGLE_QUANTITY: Mapping[int, str] = {
    0: "U(L1)",
    1: "U(L2)",
    2: "U(L3)",
    4: "I(L1)",
    5: "I(L2)",
    6: "I(L3)",
    7: "I(N)",
}


def _pick(names: tuple[str, str], language: str) -> str:
    return names[1] if language == "de" else names[0]


def _phase_split(c: int) -> tuple[int, str]:
    """C = 1..80 as (quantity 1..20, phase suffix)."""
    if 21 <= c <= 80:
        phase = (c - 1) // 20
        return c - 20 * phase, f" L{phase}"
    return c, ""


def _measurement(code: ObisCode, language: str) -> str:
    c, d = code.c, code.d
    if code.a == 1 and 1 <= c <= 80:
        base, phase = _phase_split(c)
        power = _POWER_QUANTITY.get(base)
        if power is not None:
            _, energy_names, power_names = power
            return _pick(energy_names if d in _TIME_INTEGRALS else power_names, language) + phase
        other = _OTHER_QUANTITY.get(base)
        if other is not None:
            return _pick(other[0], language) + phase
        return ""
    if code.a == 1 and c in _ELECTRICITY_SPECIAL:
        name = _pick(_ELECTRICITY_SPECIAL[c][0], language)
        if c == 81 and d == 7:
            first, second = _ANGLE_QUANTITY.get(code.e // 10), _ANGLE_QUANTITY.get(code.e % 10)
            if first is not None and second is not None:
                return f"{name} {first}–{second}"
        return name
    if c in _COMMON_QUANTITY:
        return _pick(_COMMON_QUANTITY[c], language)
    if code.a == 0 and c in _ABSTRACT_QUANTITY:
        return _pick(_ABSTRACT_QUANTITY[c], language)
    return ""


def _is_measured(code: ObisCode) -> bool:
    """Electricity quantities where D is a processing and E a tariff or harmonic."""
    return code.a == 1 and 1 <= code.c <= 92


def _measurement_type(code: ObisCode, language: str) -> str:
    if not _is_measured(code):
        return ""
    names = _MEASUREMENT_TYPE.get(code.d)
    return "" if names is None else _pick(names, language)


def _tariff(code: ObisCode, language: str) -> str:
    if not _is_measured(code) or code.c == 81:
        return ""
    e = code.e
    if code.d == 7:
        # For instantaneous values E selects a harmonic, 0 being the total value.
        if e == 0:
            return ""
        if e <= 120:
            return f"Oberschwingung {e}" if language == "de" else f"harmonic {e}"
        if e == 124:
            return "THD"
        if e == 125:
            return "TDD"
        return f"E={e}"
    if e == 0:
        return "Summe" if language == "de" else "total"
    if e <= 63:
        return f"Tarif {e}" if language == "de" else f"tariff {e}"
    return f"E={e}"


def _channel(code: ObisCode, language: str) -> str:
    if code.b == 0:
        return ""
    return f"Kanal {code.b}" if language == "de" else f"channel {code.b}"


def _previous(f: int, language: str) -> str:
    de = language == "de"
    if f == 255:
        return ""
    if f <= 99:
        return f"Abrechnungsperiode {f}" if de else f"billing period {f}"
    if f == 101:
        return "letzte Abrechnungsperiode" if de else "last billing period"
    if 102 <= f <= 125:
        n = f - 100
        return f"letzte {n} Abrechnungsperioden" if de else f"last {n} billing periods"
    if f == 126:
        return "unbestimmte Abrechnungsperioden" if de else "unspecified billing periods"
    return f"F={f}"


def _medium(code: ObisCode, language: str) -> str:
    names = _MEDIUM.get(code.a)
    if names is None:
        return f"Medium {code.a}" if language == "de" else f"medium {code.a}"
    return _pick(names, language)


def _generic_name(code: ObisCode, language: str) -> str:
    measurement = _measurement(code, language)
    if not measurement:
        if code.a == 0:
            return f"{'Abstraktes Objekt' if language == 'de' else 'Abstract object'} {code}"
        return f"{_medium(code, language)} {code}"
    # Electricity and abstract objects need no medium in their name; other media do.
    text = measurement if code.a in (0, 1) else f"{_medium(code, language)} {measurement}"
    if not _is_measured(code):
        # D and E of these objects are instance numbers: the code tells them apart.
        return f"{text} ({code})"
    # Power quantities are already worded as energy for D = 8 and as power for D = 7.
    if code.d not in (7, 8):
        kind = _measurement_type(code, language)
        if not kind:
            return f"{text} ({code})"
        text += f", {kind}"
    tariff = _tariff(code, language)
    if tariff and code.e != 0:
        text += f" {tariff}"
    for extra in (_channel(code, language), _previous(code.f, language)):
        if extra:
            text += f", {extra}"
    return text


def _generic_metadata(code: ObisCode) -> tuple[str | None, str | None, str | None]:
    """(unit, device class, state class) an electricity code's quantity implies."""
    if code.a != 1:
        return None, None, None
    d = code.d
    unit: str | None
    device_class: str | None
    base, _ = _phase_split(code.c)
    if 1 <= code.c <= 80 and base in _POWER_QUANTITY:
        kind = _POWER_QUANTITY[base][0]
        energy_unit, energy_class, power_unit, power_class = _POWER_UNITS[kind]
        if d in _TIME_INTEGRALS:
            # Only time integral 1 is a register that never resets; net energy may fall.
            if d != 8:
                return energy_unit, energy_class, None
            return energy_unit, energy_class, TOTAL if base == 16 else TOTAL_INCREASING
        unit, device_class = power_unit, power_class
    elif 1 <= code.c <= 80 and base in _OTHER_QUANTITY:
        _, unit, device_class = _OTHER_QUANTITY[base]
    elif code.c in _ELECTRICITY_SPECIAL:
        _, unit, device_class = _ELECTRICITY_SPECIAL[code.c]
    else:
        return None, None, None
    if d == 7 or d in _DEMANDS:
        return unit, device_class, MEASUREMENT
    if d in _THRESHOLDS:
        return unit, device_class, None
    if d in _COUNTERS:
        return None, None, TOTAL_INCREASING
    return None, None, None


# --------------------------------------------------------------------------- formatting


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ConfigError(
            f"unknown name language {language!r}",
            hint=f"use one of {', '.join(LANGUAGES)}",
        )


def name_parts(code: ObisCode, language: str = "en") -> dict[str, str]:
    """The text of every placeholder for ``code`` in ``language``, empty where a part is void.

    ``medium`` (from A), ``channel`` (B, empty for 0), ``measurement`` (C, for power
    quantities worded as energy or power after D; for identifiers, times and texts in
    the table their table name), ``measurementType`` (D),
    ``tariff`` (E: "total"/"tariff n", or the harmonic of an instantaneous value),
    ``previousMeasurement`` (F: empty for 255, else the billing period), ``name``
    (:func:`describe`'s name) and ``code`` (``1-0:1.8.0``).
    """
    _check_language(language)
    info = describe(code)
    measurement = _measurement(code, language)
    if not _is_measured(code) and lookup(code) is not None:
        # Identifiers, times and texts: the table name says more than "Service entry".
        measurement = info.name(language)
    return {
        "medium": _medium(code, language),
        "channel": _channel(code, language),
        "measurement": measurement,
        "measurementType": _measurement_type(code, language),
        "tariff": _tariff(code, language),
        "previousMeasurement": _previous(code.f, language),
        "name": info.name(language),
        "code": str(code),
    }


_PLACEHOLDER = re.compile(r"\[([A-Za-z]+)\]")


def format_name(
    code: ObisCode, language: str = "en", template: str | None = None, trim: str = " -,"
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
    _check_language(language)
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
