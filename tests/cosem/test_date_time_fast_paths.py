"""The memo of the last date-time placed by a time zone returns what decoding afresh does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
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


def _counted_system_zone(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[float]]:
    """The system zone (Vienna) with each lookup counted, and a clock the test moves."""
    lookups: list[int] = []
    now = [100.0]

    def system_timezone() -> tzinfo:
        lookups.append(1)
        return ZoneInfo("Europe/Vienna")

    monkeypatch.setattr(date_time_module, "system_timezone", system_timezone)
    monkeypatch.setattr(date_time_module, "monotonic", lambda: now[0])
    return lookups, now


def test_the_system_zone_is_looked_up_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A push's header time and clock object are the same bytes: one zone lookup, not two."""
    lookups, now = _counted_system_zone(monkeypatch)
    data = cosem_date_time(datetime(2025, 3, 1, 12, 0), deviation=None)
    first = _fresh(data, None)
    assert decode_cosem_date_time(data, None) is first
    assert len(lookups) == 1
    now[0] += 1.0
    assert decode_cosem_date_time(data, None) == first
    assert len(lookups) == 2


def _by_replace(data: bytes, zone: tzinfo) -> datetime | None:
    """The definition: a naive wall time, then its zone set by datetime.replace()."""
    year, month, day = int.from_bytes(data[:2], "big"), data[2], data[3]
    hour, minute, second, hundredths = data[5], data[6], data[7], data[8]
    deviation, status = int.from_bytes(data[9:11], "big", signed=True), data[11]
    if year == 0xFFFF or not (1 <= month <= 12 and 1 <= day <= 31) or hour > 23:
        return None
    if minute > 59 or second > 59:
        return None
    try:
        wall = datetime(year, month, day, hour, minute, second,
                        hundredths * 10_000 if hundredths < 100 else 0)
    except ValueError:
        return None
    if deviation != -0x8000 and -840 <= deviation <= 840:
        return wall.replace(tzinfo=timezone(timedelta(minutes=-deviation)))
    fold = 0 if status != 0xFF and status & 0x80 else 1
    candidate = wall.replace(tzinfo=zone, fold=fold)
    if candidate.utcoffset() != wall.replace(tzinfo=zone, fold=1 - fold).utcoffset():
        return candidate
    return wall.replace(tzinfo=zone)


# Lord Howe moves its clocks by 30 minutes at 02:00.
_PLACES = [ZoneInfo("Europe/Vienna"), ZoneInfo("America/New_York"),
           ZoneInfo("Australia/Lord_Howe"), UTC]


@given(
    year=st.integers(2000, 2040),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    hour=st.sampled_from([0, 1, 2, 3, 12, 23, 24]),
    minute=st.integers(0, 60),
    second=st.sampled_from([0, 30, 59, 60]),
    hundredths=st.sampled_from([0, 99, 100, 0xFF]),
    deviation=st.sampled_from([-0x8000, -120, -60, 0, 330, 840, 841, -841]),
    status=st.sampled_from([0x00, 0x80, 0x81, 0xFF, 0x08]),
    zone=st.sampled_from(_PLACES),
)
def test_instants_made_by_the_constructor_are_those_replace_makes(
    year: int, month: int, day: int, hour: int, minute: int, second: int, hundredths: int,
    deviation: int, status: int, zone: tzinfo,
) -> None:
    """Same instant, zone object and fold, on the days the clocks change or any other."""
    if month in (3, 4, 10, 11) and day < 32:
        day = day % 8 + (24 if month in (3, 10) else 0)  # the change weekends
    data = (year.to_bytes(2, "big") + bytes([month, day, 0xFF, hour, minute, second,
                                              hundredths])
            + deviation.to_bytes(2, "big", signed=True) + bytes([status]))
    expected = _by_replace(data, zone)
    result = _fresh(data, zone)
    assert result == expected
    if expected is not None:
        assert result is not None
        assert (result.tzinfo, result.fold, result.utcoffset()) == (
            expected.tzinfo, expected.fold, expected.utcoffset())


def test_the_system_zone_is_looked_up_once_a_second_for_any_bytes(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream of pushes, each with its own time: one lookup of the system zone a second."""
    lookups, now = _counted_system_zone(monkeypatch)
    for second in range(5):
        data = cosem_date_time(datetime(2025, 3, 1, 12, 0, second), deviation=None)
        assert decode_cosem_date_time(data, None) == datetime(
            2025, 3, 1, 12, 0, second, tzinfo=ZoneInfo("Europe/Vienna"))
    assert len(lookups) == 1
    now[0] += 1.0
    data = cosem_date_time(datetime(2025, 3, 1, 12, 1), deviation=None)
    assert decode_cosem_date_time(data, None) is not None
    assert len(lookups) == 2
