"""Plausibility before publishing (issue 10, point 5): implausible values are withheld.

Pushes come from the project's encoder and are decoded by the real pipeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.plausibility import AGREEING, PlausibilityChecker
from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import StreamDecoder
from tests.support.encoder import Register, cosem_date_time, data_notification, kaifa_ma309m_body
from tests.support.vectors import _has_expectations, the_notification, vector_params

START = datetime(2026, 3, 1, 8, 0, 0)
ENERGY = "1-0:1.8.0"


def notification(index: int, energy: int, *, voltage: int = 2301, frequency: int = 5000,
                 stamped: bool = True) -> Notification:
    """Push ``index`` (5 s apart) with 1.8.0 = ``energy`` Wh, L1 voltage in 0.1 V."""
    registers = [
        Register("1.0.32.7.0.255", voltage, "long-unsigned", -1, 35),
        Register("1.0.14.7.0.255", frequency, "long-unsigned", -2, 44),
        Register("1.0.1.7.0.255", 1800, "double-long-unsigned", 0, 27),
        Register("1.0.1.8.0.255", energy, "double-long-unsigned", 0, 30),
    ]
    moment = START + timedelta(seconds=5 * index)
    body = kaifa_ma309m_body(moment, registers, "1KFM0000000001", "KFM1000000000001")
    if not stamped:
        # The date-time "not specified" (every field 0xFF): no time stamp.
        body[1][1] = ("octet-string", cosem_date_time(None))
    apdu = data_notification(body, invoke_id=index)
    result = StreamDecoder(layer="raw").decode_apdu(apdu)
    assert isinstance(result, Notification), result
    return result


def published(checker: PlausibilityChecker, pushes: list[Notification]) -> list[Decimal | None]:
    values: list[Decimal | None] = []
    for index, push in enumerate(pushes):
        kept, _ = checker.check(push, received=float(index))
        reading = kept.reading(ENERGY)
        values.append(None if reading is None else Decimal(reading.value))  # type: ignore[arg-type]
    return values


def test_a_drop_is_withheld_and_the_rest_of_the_push_published() -> None:
    checker = PlausibilityChecker()
    checker.check(notification(0, 18_696_656), 0.0)
    kept, withheld = checker.check(notification(1, 18_696_000), 5.0)
    assert kept.reading(ENERGY) is None
    assert kept.reading("1-0:32.7.0") is not None
    (item,) = withheld
    assert item.cause == "backwards"
    assert "1-0:1.8.0 withheld" in item.reason
    assert "never goes back" in item.reason


def test_a_spike_beyond_max_power_is_withheld() -> None:
    """The forgery of issue 10: 18,696,656 → 1,092,438,480 Wh in 5 s."""
    checker = PlausibilityChecker()
    values = published(checker, [notification(0, 18_696_656), notification(1, 1_092_438_480),
                                 notification(2, 18_696_680)])
    assert values == [18_696_656, None, 18_696_680]


def test_a_rise_the_connection_can_draw_is_published() -> None:
    """69 kW for 5 s (+5 s slack) is 192 Wh: a full-load rise of 190 Wh passes."""
    checker = PlausibilityChecker()
    assert published(checker, [notification(0, 1000), notification(1, 1190)]) == [1000, 1190]
    checker = PlausibilityChecker(max_power=10_000)
    assert published(checker, [notification(0, 1000), notification(1, 1190)]) == [1000, None]


def test_pushes_that_agree_make_a_new_reference() -> None:
    """A meter exchanged: after AGREEING pushes in a row the new register counts."""
    checker = PlausibilityChecker()
    pushes = [notification(0, 18_696_656)] + [notification(i, 500 + i) for i in range(1, 6)]
    values = published(checker, pushes)
    assert values[1:AGREEING] == [None] * (AGREEING - 1)
    assert values[AGREEING:] == [500 + i for i in range(AGREEING, 6)]


def test_a_small_drop_after_a_rise_is_waited_out() -> None:
    """A value a little high passed; the true ones below it wait until the register passes it."""
    checker = PlausibilityChecker()
    energies = [1000, 1150, 1010, 1020, 1030, 1040, 1160]
    values = published(checker, [notification(i, e) for i, e in enumerate(energies)])
    assert values == [1000, 1150, None, None, None, None, 1160]


def test_without_time_stamps_the_time_of_arrival_counts() -> None:
    checker = PlausibilityChecker()
    checker.check(notification(0, 1000, stamped=False), 0.0)
    kept, _ = checker.check(notification(1, 5000, stamped=False), 3600.0)
    assert kept.reading(ENERGY) is not None
    kept, withheld = checker.check(notification(2, 900_000, stamped=False), 3605.0)
    assert [item.cause for item in withheld] == ["too-fast"]


def test_values_outside_physical_ranges_are_withheld() -> None:
    checker = PlausibilityChecker()
    kept, withheld = checker.check(notification(0, 1000, voltage=65535, frequency=9000), 0.0)
    assert {item.reading.key for item in withheld} == {"1-0:32.7.0", "1-0:14.7.0"}
    assert kept.reading(ENERGY) is not None
    assert "outside the voltage range" in withheld[0].reason


@given(
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=0, max_value=31),
    # At most max_power (69 kW) for the 5 s between pushes, 95.8 Wh: a faster rise is
    # itself implausible once a withheld value doubles the time to the next one.
    st.lists(st.integers(min_value=0, max_value=95), min_size=32, max_size=32),
)
def test_one_flipped_bit_never_makes_a_published_energy_go_back(
    corrupted: int, bit: int, rises: list[int]
) -> None:
    """Whatever bit of one energy value flips, the published series never goes back."""
    energies = [18_696_656]
    for rise in rises[1:]:
        energies.append(energies[-1] + rise)
    energies[corrupted] ^= 1 << bit
    values = published(PlausibilityChecker(),
                       [notification(i, e) for i, e in enumerate(energies)])
    shown = [v for v in values if v is not None]
    assert shown == sorted(shown)
    assert values[-1] is not None or energies[corrupted] > energies[-1]


def test_a_capture_read_at_full_speed_bounds_rises_by_time_stamps_only() -> None:
    """Replaying pushes without time stamps: arrival times say nothing, no rise is withheld."""
    checker = PlausibilityChecker()
    pushes = [notification(i, 1000 + 900 * i, stamped=False) for i in range(3)]
    assert [checker.check(push, None)[1] for push in pushes] == [[], [], []]
    _, withheld = checker.check(notification(3, 500, stamped=False), None)
    assert [item.cause for item in withheld] == ["backwards"]


def test_power_beyond_max_power_is_withheld_either_way() -> None:
    """Import minus export (16.7.0) is negative when feeding in: within ±max_power it passes."""
    registers = [Register("1.0.16.7.0.255", raw, "double-long", 0, 27)
                 for raw in (-4200, -90_000)]
    body = kaifa_ma309m_body(START, registers, "1KFM0000000001", "KFM1000000000001")
    result = StreamDecoder(layer="raw").decode_apdu(data_notification(body))
    assert isinstance(result, Notification)
    _, withheld = PlausibilityChecker().check(result, 0.0)
    assert [item.reading.value for item in withheld] == [-90_000]


@pytest.mark.parametrize("vector", vector_params(_has_expectations))
def test_no_value_of_a_real_meter_is_withheld(vector: dict[str, Any]) -> None:
    """The real vectors: every value a meter sent passes, twice in a row (same values).

    Some meters send voltages without scaler (2347 for 234.7 V): no range applies there.
    """
    push = the_notification(vector)
    checker = PlausibilityChecker()
    for received in (0.0, 5.0):
        _, withheld = checker.check(push, received)
        assert withheld == [], [item.reason for item in withheld]

