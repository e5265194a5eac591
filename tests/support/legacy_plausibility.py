"""The plausibility checker as it was before it decided per OBIS code which check applies
(issue 14).

Kept unchanged as the reference the faster checker is held to: the same readings kept
and withheld, with the same reasons, for every sequence of pushes hypothesis makes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.plausibility import AGREEING, DEFAULT_MAX_POWER, Withheld
from cosem_reader.cosem.readings import Notification, Reading

__all__ = ["LegacyPlausibilityChecker"]


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


@dataclass(slots=True)
class _Energy:
    value: Decimal
    moment: float | None
    #: How far above the truth this value may be and still have passed (its allowance).
    allowance: Decimal
    agreeing: int = 1


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


class LegacyPlausibilityChecker:
    """Per meter: feed it each notification; it returns what may be published."""

    def __init__(self, max_power: float = DEFAULT_MAX_POWER) -> None:
        self.max_power = Decimal(str(max_power))
        self._energy: dict[str, _Energy] = {}
        self._candidates: dict[str, _Energy] = {}
        self._moment: float | None = None

    def check(self, notification: Notification, received: float | None) -> tuple[
            Notification, list[Withheld]]:
        """The notification without its implausible readings, and those readings.

        ``received`` is when the push arrived (``time.monotonic()``), for pushes
        without a time stamp; None when that says nothing (a capture read at full
        speed): then only the meter's time stamps bound a rise.
        """
        moment = self._moment_of(notification, received)
        withheld: list[Withheld] = []
        for reading in notification.readings:
            value = _number(reading)
            if value is None:
                continue
            reason = self._range(reading, value)
            if reason is None and _is_energy(reading.obis, reading):
                reason = self._energy_step(reading, value, moment)
            if reason is not None:
                withheld.append(Withheld(reading, reason[0], f"{reading.key} withheld: "
                                         f"{reason[1]}"))
        if not withheld:
            return notification, []
        dropped = {id(item.reading) for item in withheld}
        kept = tuple(r for r in notification.readings if id(r) not in dropped)
        return dataclasses.replace(notification, readings=kept), withheld

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

    def _range(self, reading: Reading, value: Decimal) -> tuple[str, str] | None:
        obis = reading.obis
        # Without a scaler the number's scale is unknown (2347 may be 234.7 V).
        if obis is None or obis.a != 1 or obis.d != 7 or reading.scaler is None:
            return None
        bounds: tuple[Decimal, Decimal] | None = None
        if reading.unit == "V":
            bounds, what = _VOLTAGE, "voltage"
        elif reading.unit == "Hz":
            bounds, what = _FREQUENCY, "frequency"
        elif obis.c in _POWER_FACTOR_C:
            bounds, what = _POWER_FACTOR, "power factor"
        elif reading.unit == "W":
            # Signed on some registers (16.7.0: import minus export).
            bounds, what = (-self.max_power, self.max_power), "active power (max_power)"
        if bounds is None or bounds[0] <= value <= bounds[1]:
            return None
        unit = f" {reading.unit}" if reading.unit else ""
        return "range", (f"{value}{unit} is outside the {what} range"
                         f" {bounds[0]}..{bounds[1]}{unit}")

    def _energy_step(self, reading: Reading, value: Decimal,
                     moment: float | None) -> tuple[str, str] | None:
        key = reading.key
        last = self._energy.get(key)
        step = Decimal(10) ** reading.scaler if reading.scaler is not None else Decimal(1)
        if last is None:
            self._energy[key] = _Energy(value, moment, Decimal(0))
            return None
        # Without a scaler only the direction can be judged, not the rate.
        unit = reading.unit if reading.scaler is not None else None
        problem = self._compare(last, value, moment, unit, step)
        if problem is None:
            self._candidates.pop(key, None)
            # Without a bound on the rise, the whole rise may have been the error.
            allowance = (
                self._allowance(moment - last.moment, step)
                if unit and moment is not None and last.moment is not None
                else value - last.value
            )
            self._energy[key] = _Energy(value, moment, min(allowance, value - last.value))
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
        seconds = Decimal(str(max(0.0, elapsed) + _SLACK))
        return self.max_power * seconds / 3600 + step

    def _compare(self, last: _Energy, value: Decimal, moment: float | None, unit: str | None,
                 step: Decimal) -> tuple[str, str] | None:
        suffix = f" {unit}" if unit else ""
        if value < last.value:
            return "backwards", (f"{value}{suffix} is below the last value {last.value}{suffix};"
                                 " an energy register never goes back")
        if unit is None or moment is None or last.moment is None:
            return None
        elapsed = moment - last.moment
        allowed = self._allowance(elapsed, step)
        if value - last.value > allowed:
            return "too-fast", (
                f"it rose by {value - last.value}{suffix} in {max(0.0, elapsed):.0f} s, more"
                f" than max_power = {self.max_power} W allows ({allowed:.0f}{suffix})"
            )
        return None
