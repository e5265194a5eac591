"""The OBIS objects smart meters push: names, keys, units and Home Assistant classes.

Data: :data:`OBIS_TABLE` is the single source of truth for them (see
:mod:`cosem_reader.cosem.obis`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final

from cosem_reader.cosem.obis_code import MEASUREMENT, TOTAL_INCREASING, ObisCode, ObisInfo

__all__ = ["OBIS_TABLE"]


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
