"""Names composed from the value groups, for OBIS codes the table does not list.

Each value group gives a part of the name (IEC 62056-6-1 and -6-2 name what each group
value means): the medium (A), the channel (B), the quantity (C), the processing (D),
the tariff (E) and the billing period (F).  For electricity the quantity also implies
the unit and the Home Assistant classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cosem_reader.cosem.obis_code import MEASUREMENT, TOTAL, TOTAL_INCREASING, ObisCode

__all__ = [
    "channel_part",
    "generic_metadata",
    "generic_name",
    "is_measured",
    "measurement_part",
    "measurement_type_part",
    "medium_part",
    "previous_part",
    "tariff_part",
]


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


def measurement_part(code: ObisCode, language: str) -> str:
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


def is_measured(code: ObisCode) -> bool:
    """Electricity quantities where D is a processing and E a tariff or harmonic."""
    return code.a == 1 and 1 <= code.c <= 92


def measurement_type_part(code: ObisCode, language: str) -> str:
    if not is_measured(code):
        return ""
    names = _MEASUREMENT_TYPE.get(code.d)
    return "" if names is None else _pick(names, language)


def tariff_part(code: ObisCode, language: str) -> str:
    if not is_measured(code) or code.c == 81:
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


def channel_part(code: ObisCode, language: str) -> str:
    if code.b == 0:
        return ""
    return f"Kanal {code.b}" if language == "de" else f"channel {code.b}"


def previous_part(f: int, language: str) -> str:
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


def medium_part(code: ObisCode, language: str) -> str:
    names = _MEDIUM.get(code.a)
    if names is None:
        return f"Medium {code.a}" if language == "de" else f"medium {code.a}"
    return _pick(names, language)


def generic_name(code: ObisCode, language: str) -> str:
    measurement = measurement_part(code, language)
    if not measurement:
        if code.a == 0:
            return f"{'Abstraktes Objekt' if language == 'de' else 'Abstract object'} {code}"
        return f"{medium_part(code, language)} {code}"
    # Electricity and abstract objects need no medium in their name; other media do.
    text = measurement if code.a in (0, 1) else f"{medium_part(code, language)} {measurement}"
    if not is_measured(code):
        # D and E of these objects are instance numbers: the code tells them apart.
        return f"{text} ({code})"
    # Power quantities are already worded as energy for D = 8 and as power for D = 7.
    if code.d not in (7, 8):
        kind = measurement_type_part(code, language)
        if not kind:
            return f"{text} ({code})"
        text += f", {kind}"
    tariff = tariff_part(code, language)
    if tariff and code.e != 0:
        text += f" {tariff}"
    for extra in (channel_part(code, language), previous_part(code.f, language)):
        if extra:
            text += f", {extra}"
    return text


def generic_metadata(code: ObisCode) -> tuple[str | None, str | None, str | None]:
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
