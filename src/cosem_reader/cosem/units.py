"""The DLMS/COSEM unit enumeration (IEC 62056-6-2, Blue Book "unit" of the Register class).

A Register, Extended register or Demand register carries its value together with a
``scaler_unit`` structure ``{scaler: integer, unit: enum}``; on the wire that is
``02 02 0F <scaler> 16 <unit>``.  The value in physical units is
``value * 10 ** scaler`` of the unit named by the enum below.

Numbering (Blue Book edition 14, table "Enumerated values for physical units"):

* 1–7: time (year … second), 8: phase angle in degrees, 9: °C, 10: local currency,
* 11–26: mechanical and thermal quantities (length, volume, flow, mass, pressure, energy),
* 27–32: the electrical power and energy units meters use most —
  27 W, 28 VA, 29 var, 30 Wh, 31 VAh, 32 varh,
* 33 A, 34 C, 35 V, 36–43 field and circuit quantities, 44 Hz,
* 45–55: meter constants and squared quantities, 56 %, 57 Ah, 60–67 gas quality
  and pressure units, 70–72 signal strength (dBm, dBµV, dB),
* 128–174: imperial and US customary units (later editions),
* 253: reserved (extended table of units), 254: other unit, 255: no unit / count.

Symbols are the short, mostly ASCII forms users see in Home Assistant and meter
documentation ("m3" rather than "m³").  Numbers 0, 58, 59, 68, 69, 73–127 and
175–252 are not assigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["NO_UNIT", "UNITS", "Unit", "unit_code", "unit_symbol"]

#: The enum value meaning "no unit, unitless, count".
NO_UNIT = 255


@dataclass(frozen=True, slots=True)
class Unit:
    """One value of the DLMS unit enumeration.

    ``symbol`` is ``None`` for the values that name no physical unit
    (253 reserved, 254 other, 255 no unit / count).
    """

    code: int
    symbol: str | None
    description: str


_TABLE: tuple[tuple[int, str | None, str], ...] = (
    (1, "a", "time: year"),
    (2, "mo", "time: month"),
    (3, "wk", "time: week (7 days)"),
    (4, "d", "time: day (24 hours)"),
    (5, "h", "time: hour"),
    (6, "min", "time: minute"),
    (7, "s", "time: second"),
    (8, "°", "phase angle in degrees"),
    (9, "°C", "temperature in degrees Celsius"),
    (10, "currency", "local currency"),
    (11, "m", "length in metres"),
    (12, "m/s", "speed in metres per second"),
    (13, "m3", "volume in cubic metres (also meter constant for volume)"),
    (14, "m3", "corrected volume in cubic metres"),
    (15, "m3/h", "volume flow in cubic metres per hour"),
    (16, "m3/h", "corrected volume flow in cubic metres per hour"),
    (17, "m3/d", "volume flow in cubic metres per day"),
    (18, "m3/d", "corrected volume flow in cubic metres per day"),
    (19, "l", "volume in litres"),
    (20, "kg", "mass in kilograms"),
    (21, "N", "force in newtons"),
    (22, "Nm", "energy in newton metres"),
    (23, "Pa", "pressure in pascals"),
    (24, "bar", "pressure in bar"),
    (25, "J", "energy in joules"),
    (26, "J/h", "thermal power in joules per hour"),
    (27, "W", "active power in watts"),
    (28, "VA", "apparent power in volt-amperes"),
    (29, "var", "reactive power in var"),
    (30, "Wh", "active energy in watt-hours"),
    (31, "VAh", "apparent energy in volt-ampere-hours"),
    (32, "varh", "reactive energy in var-hours"),
    (33, "A", "current in amperes"),
    (34, "C", "electrical charge in coulombs"),
    (35, "V", "voltage in volts"),
    (36, "V/m", "electric field strength in volts per metre"),
    (37, "F", "capacitance in farads"),
    (38, "Ω", "resistance in ohms"),
    (39, "Ωm", "resistivity in ohm square metres per metre"),
    (40, "Wb", "magnetic flux in webers"),
    (41, "T", "magnetic flux density in teslas"),
    (42, "A/m", "magnetic field strength in amperes per metre"),
    (43, "H", "inductance in henries"),
    (44, "Hz", "frequency in hertz"),
    (45, "1/(Wh)", "active energy meter constant (pulses per Wh)"),
    (46, "1/(varh)", "reactive energy meter constant (pulses per varh)"),
    (47, "1/(VAh)", "apparent energy meter constant (pulses per VAh)"),
    (48, "V2h", "volt-squared hours"),
    (49, "A2h", "ampere-squared hours"),
    (50, "kg/s", "mass flow in kilograms per second"),
    (51, "S", "conductance in siemens"),
    (52, "K", "temperature in kelvins"),
    (53, "1/(V2h)", "volt-squared hour meter constant"),
    (54, "1/(A2h)", "ampere-squared hour meter constant"),
    (55, "1/m3", "volume meter constant (pulses per cubic metre)"),
    (56, "%", "percentage"),
    (57, "Ah", "ampere-hours"),
    (60, "Wh/m3", "energy per volume"),
    (61, "J/m3", "calorific value, Wobbe index"),
    (62, "mol%", "molar fraction of gas composition"),
    (63, "g/m3", "mass density"),
    (64, "Pa s", "dynamic viscosity in pascal seconds"),
    (65, "J/kg", "specific energy"),
    (66, "g/cm2", "pressure in grams per square centimetre"),
    (67, "atm", "pressure in atmospheres"),
    (70, "dBm", "signal strength in dB milliwatt"),
    (71, "dBµV", "signal strength in dB microvolt"),
    (72, "dB", "ratio in decibels"),
    (128, "in", "length in inches"),
    (129, "ft", "length in feet"),
    (130, "lb", "mass in pounds"),
    (131, "°F", "temperature in degrees Fahrenheit"),
    (132, "°R", "temperature in degrees Rankine"),
    (133, "sq in", "area in square inches"),
    (134, "sq ft", "area in square feet"),
    (135, "ac", "area in acres"),
    (136, "cu in", "volume in cubic inches"),
    (137, "cu ft", "volume in cubic feet"),
    (138, "ac ft", "volume in acre-feet"),
    (139, "gal (imp)", "volume in imperial gallons"),
    (140, "gal (US)", "volume in US gallons"),
    (141, "lbf", "force in pounds-force"),
    (142, "psi", "pressure in pounds-force per square inch"),
    (143, "lb/cu ft", "density in pounds per cubic foot"),
    (144, "lb/(ft s)", "dynamic viscosity in pounds per foot-second"),
    (145, "sq ft/s", "kinematic viscosity in square feet per second"),
    (146, "Btu", "energy in British thermal units"),
    (147, "thm (EC)", "energy in therms (EC)"),
    (148, "thm (US)", "energy in therms (US)"),
    (149, "Btu/lb", "calorific value of mass (enthalpy)"),
    (150, "Btu/cu ft", "calorific value of volume"),
    (151, "cu ft", "volume in cubic feet (meter constant)"),
    (152, "ft/s", "speed in feet per second"),
    (153, "cu ft/s", "volume flow in cubic feet per second"),
    (154, "cu ft/min", "volume flow in cubic feet per minute"),
    (155, "cu ft/h", "volume flow in cubic feet per hour"),
    (156, "cu ft/d", "volume flow in cubic feet per day"),
    (157, "ac ft/s", "volume flow in acre-feet per second"),
    (158, "ac ft/min", "volume flow in acre-feet per minute"),
    (159, "ac ft/h", "volume flow in acre-feet per hour"),
    (160, "ac ft/d", "volume flow in acre-feet per day"),
    (161, "gal (imp)", "volume in imperial gallons (meter constant)"),
    (162, "gal (imp)/s", "volume flow in imperial gallons per second"),
    (163, "gal (imp)/min", "volume flow in imperial gallons per minute"),
    (164, "gal (imp)/h", "volume flow in imperial gallons per hour"),
    (165, "gal (imp)/d", "volume flow in imperial gallons per day"),
    (166, "gal (US)", "volume in US gallons (meter constant)"),
    (167, "gal (US)/s", "volume flow in US gallons per second"),
    (168, "gal (US)/min", "volume flow in US gallons per minute"),
    (169, "gal (US)/h", "volume flow in US gallons per hour"),
    (170, "gal (US)/d", "volume flow in US gallons per day"),
    (171, "Btu/s", "power in British thermal units per second"),
    (172, "Btu/min", "power in British thermal units per minute"),
    (173, "Btu/h", "power in British thermal units per hour"),
    (174, "Btu/d", "power in British thermal units per day"),
    (253, None, "reserved (extended table of units)"),
    (254, None, "other unit"),
    (NO_UNIT, None, "no unit, unitless, count"),
)

#: Every assigned unit enum value, by code.
UNITS: Mapping[int, Unit] = MappingProxyType(
    {code: Unit(code, symbol, description) for code, symbol, description in _TABLE}
)

# Several codes share a symbol (13/14 "m3", 15/16 "m3/h"); the reverse lookup names the
# plain quantity, which is the lower code.
_CODE_BY_SYMBOL: Mapping[str, int] = MappingProxyType(
    {symbol: code for code, symbol, _ in reversed(_TABLE) if symbol is not None}
)


def unit_symbol(code: int) -> str | None:
    """The symbol of a DLMS unit enum value, e.g. 30 → ``"Wh"``, 35 → ``"V"``.

    ``None`` for 255 (no unit), 253/254 (no physical unit) and unassigned codes: a
    caller shows the bare number then.
    """
    unit = UNITS.get(code)
    return None if unit is None else unit.symbol


def unit_code(symbol: str) -> int | None:
    """The DLMS unit enum value for a symbol, e.g. ``"Wh"`` → 30; ``None`` when unknown.

    Where two codes share a symbol the lower one (the uncorrected quantity) is returned.
    """
    return _CODE_BY_SYMBOL.get(symbol)
