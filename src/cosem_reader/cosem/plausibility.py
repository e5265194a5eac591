"""Plausibility before publishing: values no meter could have sent are withheld.

Integrity checks leave gaps: two flipped bits can cancel in the M-Bus checksum, and
a push ciphered without tag (security control ``0x20``) has no integrity at all.
One wrong energy value spoils a Home Assistant Energy dashboard for good
(``total_increasing`` takes a drop for a meter reset and a spike for consumption),
so :class:`PlausibilityChecker` withholds, per reading:

* an energy register (OBIS ``1-b:c.8.e``: active, reactive and apparent energy) that
  goes backwards, or rises faster than ``max_power`` allows for the time elapsed
  (the meter's time stamps when both pushes carry one, else the time of arrival);
* a voltage, frequency or power factor outside what a low-voltage grid can show,
  and an active power beyond ``max_power`` either way.

The rest of the push is published.  Values withheld for rising too fast, or for
going back further than a value that just passed could have been off, become the
new reference once ``AGREEING`` pushes in a row agree with each other: a meter
exchanged or reset, not a corrupted frame.  A smaller drop is waited out, so
that a published energy never goes back.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, Reading

__all__ = ["AGREEING", "DEFAULT_MAX_POWER", "PlausibilityChecker", "Withheld"]

#: Watts: three phases of 100 A (the largest maximum current of the direct-connected
#: meters in ../shared/research) at 230 V, i.e. 69 kW.  Generous on purpose: only a
#: rise no household connection can draw is withheld.
DEFAULT_MAX_POWER = 3 * 100 * 230

#: Pushes in a row that agree on a withheld energy value before it is taken as real.
AGREEING = 3

#: Seconds added to the elapsed time: time stamps have whole seconds, and a push
#: may wait in the port or the pipeline.
_SLACK = 5.0

#: What a low-voltage connection can show at all (EN 50160 allows ±10 % of 230 V and
#: ±1 % of 50 Hz in normal operation; these bounds are far wider on purpose).
_VOLTAGE = (Decimal(0), Decimal(500))
_FREQUENCY = (Decimal(40), Decimal(70))
_POWER_FACTOR = (Decimal(-1), Decimal(1))
_POWER_FACTOR_C = frozenset({13, 33, 53, 73})
_ENERGY_UNITS = frozenset({"Wh", "varh", "VAh"})


@dataclass(frozen=True, slots=True)
class Withheld:
    """A reading kept from publishing: ``cause`` names the kind, ``reason`` says why."""

    reading: Reading
    cause: str
    reason: str


@dataclass(slots=True)
class _Energy:
    value: Decimal
    moment: float | None
    #: How far above the truth this value may be and still have passed (its allowance).
    allowance: Decimal
    agreeing: int = 1


@dataclass(frozen=True, slots=True)
class _RangeCheck:
    """A register that must lie within ``bounds`` (what it measures, in ``unit``)."""

    bounds: tuple[Decimal, Decimal]
    what: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class _EnergyCheck:
    """An energy register: ``key`` it goes by, ``step`` of its last digit and the ``unit``
    its rate is judged in (None without a scaler: then only the direction counts)."""

    key: str
    step: Decimal
    unit: str | None


_Check = _RangeCheck | _EnergyCheck | None
#: What decides which check a reading gets: its OBIS code, unit and scaler.
_Identity = tuple[ObisCode | None, str | None, int | None]
#: Not decided yet for this OBIS code, unit and scaler.
_UNKNOWN: Final = _RangeCheck((Decimal(0), Decimal(0)), "", None)
#: Kinds of register a checker remembers which check applies to (a meter has dozens).
_MAX_CHECKS = 1024
_identity = operator.attrgetter("obis", "unit", "scaler")


def _outside(check: _RangeCheck, value: Decimal) -> tuple[str, str] | None:
    low, high = check.bounds
    if low <= value <= high:
        return None
    unit = f" {check.unit}" if check.unit else ""
    return "range", f"{value}{unit} is outside the {check.what} range {low}..{high}{unit}"


def _number(reading: Reading) -> Decimal | None:
    value = reading.value
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def _is_energy(obis: ObisCode | None, reading: Reading) -> bool:
    return (
        obis is not None and obis.a == 1 and obis.d == 8
        and (reading.unit in _ENERGY_UNITS or reading.unit is None)
    )


class PlausibilityChecker:
    """Per meter: feed it each notification; it returns what may be published."""

    def __init__(self, max_power: float = DEFAULT_MAX_POWER) -> None:
        self.max_power = Decimal(str(max_power))
        self._energy: dict[str, _Energy] = {}
        self._candidates: dict[str, _Energy] = {}
        self._moment: float | None = None
        #: Which check applies, decided once per OBIS code, unit and scaler.
        self._checks: dict[_Identity, _Check] = {}
        #: The identities of the last push's readings, and where in it a check applies:
        #: a meter sends one layout push after push, so the next is looked up as a whole.
        self._layout: list[_Identity] = []
        self._applicable: list[tuple[int, _RangeCheck | _EnergyCheck]] = []
        #: The last allowance worked out: (elapsed seconds, step, allowance).
        self._last_allowance: tuple[float, Decimal, Decimal] | None = None

    def check(self, notification: Notification, received: float | None) -> tuple[
            Notification, list[Withheld]]:
        """The notification without its implausible readings, and those readings.

        ``received`` is when the push arrived (``time.monotonic()``), for pushes
        without a time stamp; None when that says nothing (a capture read at full
        speed): then only the meter's time stamps bound a rise.
        """
        moment = self._moment_of(notification, received)
        withheld: list[Withheld] = []
        readings = notification.readings
        layout: list[_Identity] = list(map(_identity, readings))
        if layout != self._layout:
            self._applicable = self._applicable_checks(readings, layout)
            self._layout = layout
        for index, check in self._applicable:
            reading = readings[index]
            value = reading.value
            if type(value) is not Decimal:
                value = _number(reading)
                if value is None:
                    continue
            if isinstance(check, _EnergyCheck):
                reason = self._energy_step(check, value, moment)
            else:
                reason = _outside(check, value)
            if reason is not None:
                withheld.append(Withheld(reading, reason[0], f"{reading.key} withheld: "
                                         f"{reason[1]}"))
        if not withheld:
            return notification, []
        dropped = {id(item.reading) for item in withheld}
        kept = tuple(r for r in notification.readings if id(r) not in dropped)
        return dataclasses.replace(notification, readings=kept), withheld

    def _applicable_checks(self, readings: tuple[Reading, ...], layout: list[_Identity]
                           ) -> list[tuple[int, _RangeCheck | _EnergyCheck]]:
        """Where in a push of this layout a check applies, and which."""
        applicable: list[tuple[int, _RangeCheck | _EnergyCheck]] = []
        checks = self._checks
        for index, (reading, identity) in enumerate(zip(readings, layout, strict=True)):
            check = checks.get(identity, _UNKNOWN)
            if check is _UNKNOWN:
                if len(checks) >= _MAX_CHECKS:
                    checks.clear()
                check = checks[identity] = self._check_of(reading)
            if check is not None:
                applicable.append((index, check))
        return applicable

    def _moment_of(self, notification: Notification, received: float | None) -> float | None:
        """Seconds on one clock: the meter's when it stamps its pushes, else arrival."""
        stamp = notification.timestamp
        if stamp is None:
            return received
        meter = stamp.timestamp()
        if self._moment is not None and meter < self._moment:
            # A clock set back (or a damaged stamp): keep the clock monotonic.
            meter = self._moment
        self._moment = meter
        return meter

    def _check_of(self, reading: Reading) -> _Check:
        """The check a reading of this OBIS code, unit and scaler gets, if any."""
        obis = reading.obis
        if _is_energy(obis, reading):
            step = Decimal(10) ** reading.scaler if reading.scaler is not None else Decimal(1)
            # Without a scaler only the direction can be judged, not the rate.
            unit = reading.unit if reading.scaler is not None else None
            return _EnergyCheck(reading.key, step, unit)
        # Without a scaler the number's scale is unknown (2347 may be 234.7 V).
        if obis is None or obis.a != 1 or obis.d != 7 or reading.scaler is None:
            return None
        if reading.unit == "V":
            return _RangeCheck(_VOLTAGE, "voltage", reading.unit)
        if reading.unit == "Hz":
            return _RangeCheck(_FREQUENCY, "frequency", reading.unit)
        if obis.c in _POWER_FACTOR_C:
            return _RangeCheck(_POWER_FACTOR, "power factor", reading.unit)
        if reading.unit == "W":
            # Signed on some registers (16.7.0: import minus export).
            return _RangeCheck((-self.max_power, self.max_power), "active power (max_power)",
                               reading.unit)
        return None

    def _energy_step(self, check: _EnergyCheck, value: Decimal,
                     moment: float | None) -> tuple[str, str] | None:
        key, step, unit = check.key, check.step, check.unit
        last = self._energy.get(key)
        if last is None:
            self._energy[key] = _Energy(value, moment, Decimal(0))
            return None
        problem = self._compare(last, value, moment, unit, step)
        if problem is None:
            self._candidates.pop(key, None)
            rise = value - last.value
            # Without a bound on the rise, the whole rise may have been the error.
            allowance = rise
            if unit and moment is not None and last.moment is not None:
                allowance = min(self._allowance(moment - last.moment, step), rise)
            # In place: no one else holds it (a candidate taken over is made afresh).
            last.value, last.moment, last.allowance, last.agreeing = value, moment, allowance, 1
            return None
        if problem[0] == "backwards" and last.value - value <= last.allowance:
            # The last value may have been the wrong one, a little high: wait until
            # the register passes it rather than publish a drop.
            self._candidates.pop(key, None)
            return problem
        candidate = self._candidates.get(key)
        if candidate is not None and self._compare(candidate, value, moment, unit,
                                                   step) is None:
            candidate = _Energy(value, moment, Decimal(0), candidate.agreeing + 1)
        else:
            candidate = _Energy(value, moment, Decimal(0))
        if candidate.agreeing >= AGREEING:
            self._candidates.pop(key, None)
            self._energy[key] = candidate
            return None
        self._candidates[key] = candidate
        return problem

    def _allowance(self, elapsed: float, step: Decimal) -> Decimal:
        last = self._last_allowance
        # The registers of one push share the time elapsed since the last one.
        if last is not None and last[0] == elapsed and last[1] == step:
            return last[2]
        seconds = Decimal(str(max(0.0, elapsed) + _SLACK))
        allowance = self.max_power * seconds / 3600 + step
        self._last_allowance = (elapsed, step, allowance)
        return allowance

    def _compare(self, last: _Energy, value: Decimal, moment: float | None, unit: str | None,
                 step: Decimal) -> tuple[str, str] | None:
        if value < last.value:
            suffix = f" {unit}" if unit else ""
            return "backwards", (f"{value}{suffix} is below the last value {last.value}{suffix};"
                                 " an energy register never goes back")
        if unit is None or moment is None or last.moment is None:
            return None
        elapsed = moment - last.moment
        allowed = self._allowance(elapsed, step)
        if value - last.value > allowed:
            suffix = f" {unit}" if unit else ""
            return "too-fast", (
                f"it rose by {value - last.value}{suffix} in {max(0.0, elapsed):.0f} s, more"
                f" than max_power = {self.max_power} W allows ({allowed:.0f}{suffix})"
            )
        return None
