"""The memo of the last date-time placed by a time zone returns what decoding afresh does."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem import date_time as date_time_module
from cosem_reader.cosem.date_time import decode_cosem_date_time
from tests.support.encoder import cosem_date_time

_ZONES: list[tzinfo | None] = [None, ZoneInfo("Europe/Vienna"), ZoneInfo("America/New_York")]


def _fresh(data: bytes, zone: tzinfo | None) -> datetime | None:
    date_time_module._LAST_FIXED_DATE_TIME[0] = (b"", None)
    date_time_module._LAST_LOCAL_DATE_TIME[0] = (b"", None, 0.0, None)
    return decode_cosem_date_time(data, zone)


# The hour the clocks go back in Vienna (2024-10-27 02:00-03:00) included.
_walls = st.datetimes(datetime(2024, 10, 27, 1, 30), datetime(2024, 10, 27, 3, 30))


@given(st.lists(st.tuples(_walls, st.sampled_from([None, -60, -120]),
                          st.booleans(), st.sampled_from(_ZONES)),
                max_size=8))
def test_one_after_the_other_as_decoded_afresh(
    steps: list[tuple[datetime, int | None, bool, tzinfo | None]]
) -> None:
    """Repeated, alternating and fixed date-times in any zones, each as decoded alone."""
    decoded = []
    for wall, deviation, summer, zone in steps + steps[::-1]:
        data = cosem_date_time(wall, deviation=deviation, daylight_saving=summer)
        decoded.append((decode_cosem_date_time(data, zone), data, zone))
    for result, data, zone in decoded:
        again = _fresh(data, zone)
        assert result == again
        assert (result.tzinfo, result.fold) == (again.tzinfo, again.fold)  # type: ignore[union-attr]


def test_the_system_zone_is_looked_up_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A push's header time and clock object are the same bytes: one zone lookup, not two."""
    lookups: list[int] = []
    now = [100.0]

    def system_timezone() -> tzinfo:
        lookups.append(1)
        return ZoneInfo("Europe/Vienna")

    monkeypatch.setattr(date_time_module, "system_timezone", system_timezone)
    monkeypatch.setattr(date_time_module, "monotonic", lambda: now[0])
    data = cosem_date_time(datetime(2025, 3, 1, 12, 0), deviation=None)
    first = _fresh(data, None)
    assert decode_cosem_date_time(data, None) is first
    assert len(lookups) == 1
    now[0] += 1.0
    assert decode_cosem_date_time(data, None) == first
    assert len(lookups) == 2
