"""The plausibility checker that decides once per OBIS code, unit and scaler which check
applies keeps and withholds exactly what the checker that judged every reading afresh did
(tests/support/legacy_plausibility.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem import plausibility as plausibility_module
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.plausibility import PlausibilityChecker
from cosem_reader.cosem.readings import Notification, Reading
from tests.support.legacy_plausibility import LegacyPlausibilityChecker

#: Energy, voltage, frequency, power factor, power and a register no check applies to.
_CODES = [ObisCode.parse(text) for text in (
    "1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:32.7.0", "1-0:14.7.0", "1-0:13.7.0",
    "1-0:1.7.0", "1-0:16.7.0", "0-0:96.1.0", "1-0:1.9.0",
)]
_UNITS = [None, "Wh", "varh", "V", "Hz", "W", "A"]

_readings = st.builds(
    lambda obis, unit, scaler, value: Reading(obis, "1", value, unit, scaler, "long"),
    st.sampled_from([*_CODES, _CODES[0], _CODES[0], None]),
    st.sampled_from([*_UNITS, "Wh"]),
    st.sampled_from([None, -3, -1, 0, 2]),
    # Mostly small: rises near the allowance, where the step of the last digit counts.
    st.one_of(st.integers(0, 60), st.decimals(0, 60, places=1), st.integers(-10**6, 10**9),
              st.just("text"), st.booleans()),
)
_START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@st.composite
def _pushes(draw: Any) -> list[tuple[Notification, float | None]]:
    pushes = []
    for index in range(draw(st.integers(1, 12))):
        seconds = draw(st.one_of(st.none(), st.integers(-30, 30)))
        stamp = None if seconds is None else _START + timedelta(seconds=60 * index + seconds)
        readings = tuple(draw(st.lists(_readings, max_size=6)))
        received = draw(st.one_of(st.none(), st.floats(0, 10**5)))
        pushes.append((Notification("data-notification", index, stamp, readings), received))
    return pushes


def _outcome(checker: Any, pushes: Sequence[tuple[Notification, float | None]]) -> list[Any]:
    out = []
    for notification, received in pushes:
        kept, withheld = checker.check(notification, received)
        out.append((kept, [(item.reading, item.cause, item.reason) for item in withheld]))
    return out


@given(_pushes(), st.sampled_from([100.0, 1000.0, 69000.0]))
def test_the_same_readings_kept_and_withheld_as_judged_afresh(
    pushes: list[tuple[Notification, float | None]], max_power: float
) -> None:
    assert _outcome(PlausibilityChecker(max_power), pushes) == _outcome(
        LegacyPlausibilityChecker(max_power), pushes
    )


_identities = st.tuples(
    st.sampled_from([*_CODES, None]), st.sampled_from(_UNITS), st.sampled_from([None, -1, 0, 2])
)
_values = st.one_of(st.integers(0, 60), st.decimals(0, 60, places=1), st.integers(-10**6, 10**9),
                    st.just("text"))


@st.composite
def _pushes_of_layouts(draw: Any) -> list[tuple[Notification, float | None]]:
    """Pushes of one or two layouts in turn, values fresh in each; now and then a layout
    changed at one place (unit, scaler, or an equal OBIS code that is another object)."""
    layouts = draw(st.lists(st.lists(_identities, min_size=1, max_size=8), min_size=1,
                            max_size=2))
    pushes: list[tuple[Notification, float | None]] = []
    for index in range(draw(st.integers(1, 15))):
        layout = list(layouts[draw(st.integers(0, len(layouts) - 1))])
        if draw(st.integers(0, 4)) == 0:
            at = draw(st.integers(0, len(layout) - 1))
            obis, unit, scaler = layout[at]
            layout[at] = draw(st.sampled_from([
                (obis, draw(st.sampled_from(_UNITS)), scaler),
                (obis, unit, draw(st.sampled_from([None, -3, 0, 1]))),
                (ObisCode.parse(str(obis)) if obis is not None else None, unit, scaler),
            ]))
        readings = tuple(
            Reading(obis, str(at), draw(_values), unit, scaler, "long")
            for at, (obis, unit, scaler) in enumerate(layout)
        )
        stamp = _START + timedelta(seconds=60 * index + draw(st.integers(-30, 30)))
        pushes.append((Notification("data-notification", index, stamp, readings), None))
    return pushes


@given(_pushes_of_layouts(), st.sampled_from([100.0, 69000.0]))
def test_a_layout_met_again_is_judged_as_afresh(
    pushes: list[tuple[Notification, float | None]], max_power: float
) -> None:
    """The checks remembered for the last push's layout are only taken for the same one."""
    assert _outcome(PlausibilityChecker(max_power), pushes) == _outcome(
        LegacyPlausibilityChecker(max_power), pushes
    )


@st.composite
def _energy_walks(draw: Any) -> list[tuple[Notification, float | None]]:
    """Two energy registers stepping up and down by a few units a minute: drops within
    and beyond the last rise's allowance, and values that agree after a drop."""
    pushes: list[tuple[Notification, float | None]] = []
    values = [Decimal(1000), Decimal(5000)]
    scalers = draw(st.tuples(st.sampled_from([0, -1, 1]), st.sampled_from([0, -1, 1])))
    for index in range(draw(st.integers(2, 20))):
        values = [value + draw(st.sampled_from([-40, -3, -2, -1, 0, 0, 1, 2, 3, 40]))
                  for value in values]
        readings = tuple(
            Reading(code, str(at), value, "Wh", scaler, "double-long-unsigned")
            for at, (code, value, scaler) in enumerate(zip(_CODES[:2], values, scalers,
                                                           strict=True))
        )
        stamp = _START + timedelta(seconds=60 * index + draw(st.integers(-30, 30)))
        pushes.append((Notification("data-notification", index, stamp, readings), None))
    return pushes


@given(_energy_walks(), st.sampled_from([100.0, 300.0]))
def test_energy_registers_that_step_back_and_agree_are_judged_as_afresh(
    pushes: list[tuple[Notification, float | None]], max_power: float
) -> None:
    """The reference kept for each register (its value, time and allowance) is the old one."""
    assert _outcome(PlausibilityChecker(max_power), pushes) == _outcome(
        LegacyPlausibilityChecker(max_power), pushes
    )


def test_the_check_is_decided_once_per_kind_of_register(monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[Reading] = []
    plain = PlausibilityChecker._check_of

    def counting(self: PlausibilityChecker, reading: Reading) -> Any:
        decided.append(reading)
        return plain(self, reading)

    monkeypatch.setattr(PlausibilityChecker, "_check_of", counting)
    checker = PlausibilityChecker()
    energy, voltage = _CODES[0], _CODES[3]
    for index in range(5):
        checker.check(Notification("data-notification", index, _START, (
            Reading(energy, "1", Decimal(1000 + index), "Wh", 0, "double-long-unsigned"),
            Reading(voltage, "2", Decimal("230.1"), "V", -1, "long-unsigned"),
        )), None)
    assert len(decided) == 2
    assert plausibility_module._MAX_CHECKS >= 100


def test_registers_of_one_push_with_different_scalers_keep_their_own_step() -> None:
    """Two energy registers rise by 50 in a minute: only the one counted in 100 Wh may."""
    pushes = [
        (Notification("data-notification", index, _START + timedelta(seconds=60 * index), (
            Reading(_CODES[0], "1", Decimal(1000 + 50 * index), "Wh", 0, "long"),
            Reading(_CODES[1], "2", Decimal(1000 + 50 * index), "Wh", 2, "long"),
        )), None)
        for index in range(2)
    ]
    outcome = _outcome(PlausibilityChecker(100.0), pushes)
    assert outcome == _outcome(LegacyPlausibilityChecker(100.0), pushes)
    assert [reading.obis for reading, _, _ in outcome[1][1]] == [_CODES[0]]
