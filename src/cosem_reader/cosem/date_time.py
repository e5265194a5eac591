"""COSEM date, time and date-time values, and the time zones that place them.

A COSEM date-time (12 bytes: year, month, day, weekday, hour, minute, second,
hundredths, deviation, clock status) holds the meter's local wall time; the
deviation is UTC minus local time in minutes (Austrian meters send −120 in
summer), ``0x8000`` when not specified, in which case the configured time zone
places the wall time (the clock status' daylight-saving bit picks the right hour
when the clocks go back).
"""

from __future__ import annotations

import os
import struct
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from time import monotonic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cosem_reader.errors import ConfigError, CosemError

__all__ = [
    "decode_cosem_date",
    "decode_cosem_date_time",
    "decode_cosem_time",
    "load_timezone",
    "system_timezone",
]

_DEVIATION_NOT_SPECIFIED = -0x8000
_DAYLIGHT_SAVING_ACTIVE = 0x80

_LOCALTIME = "/etc/localtime"
#: The zone last read from /etc/localtime and the identity of the file it came from.
_LOCALTIME_ZONE: list[tuple[tuple[int, int, int, int], ZoneInfo] | None] = [None]


def system_timezone() -> tzinfo:
    """The machine's time zone with its daylight-saving rules (``TZ``, else /etc/localtime)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        found = os.stat(_LOCALTIME)
    except OSError:
        found = None
    if found is not None:
        # Reading and parsing the zone file costs more than decoding a whole push: it is
        # read again only when the file (or the link to it) changes.
        identity = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)
        cached = _LOCALTIME_ZONE[0]
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            with open(_LOCALTIME, "rb") as handle:
                zone = ZoneInfo.from_file(handle, key="localtime")
        except (OSError, ValueError):
            pass
        else:
            _LOCALTIME_ZONE[0] = (identity, zone)
            return zone
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


def load_timezone(name: str | None) -> tzinfo:
    """A time zone by IANA name (``Europe/Vienna``), ``UTC``, or the system's when None."""
    if not name or name == "system":
        return system_timezone()
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}",
            hint="use an IANA name such as Europe/Vienna, or UTC",
        ) from None


@cache
def _fixed_zone(deviation: int) -> timezone:
    """The zone of a deviation (UTC minus local time, minutes); at most 1681 of them."""
    return timezone(timedelta(minutes=-deviation))


_DATE_TIME = struct.Struct(">HBBBBBBBhB")
#: Year, month, day, hour, minute, second, microsecond: a wall time's fields.
_Wall = tuple[int, int, int, int, int, int, int]


#: The last date-time with its own deviation and what it decoded to: a push often
#: carries the same one twice (notification header and Clock object).  Such a result
#: depends on the 12 bytes alone; replaced as one tuple, so threads may share it.
_LAST_FIXED_DATE_TIME: list[tuple[bytes, datetime | None]] = [(b"", None)]


#: The same for the last date-time placed by a time zone, with the zone it was given
#: (None: the system's) and when (``time.monotonic``): the system's zone is looked up
#: again once that second has passed, or for other bytes.
_LAST_LOCAL_DATE_TIME: list[tuple[bytes, tzinfo | None, float, datetime | None]] = [
    (b"", None, 0.0, None)
]


def decode_cosem_date_time(data: bytes, local_zone: tzinfo | None = None) -> datetime | None:
    """A COSEM date-time (12 bytes) as an aware datetime; None when it names no instant.

    Raises :class:`CosemError` when ``data`` is not 12 bytes.
    """
    last = _LAST_FIXED_DATE_TIME[0]
    if last[0] == data:
        return last[1]
    local = _LAST_LOCAL_DATE_TIME[0]
    if local[0] == data and local[1] is local_zone and (
        local_zone is not None or monotonic() - local[2] < 1.0
    ):
        return local[3]
    if len(data) != 12:
        raise CosemError(f"a COSEM date-time has 12 bytes, this one {len(data)}")
    year, month, day, _weekday, hour, minute, second, hundredths, deviation, status = (
        _DATE_TIME.unpack(data)
    )
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    if month == 0 or day == 0:
        return None
    microsecond = hundredths * 10_000 if hundredths < 100 else 0
    # Each instant is made by the constructor, with its zone: datetime.replace() with
    # keywords costs four times as much.
    wall: _Wall = (year, month, day, hour, minute, second, microsecond)
    if deviation != _DEVIATION_NOT_SPECIFIED and -840 <= deviation <= 840:
        try:
            instant = datetime(*wall, _fixed_zone(deviation))
        except ValueError:
            return None
        _LAST_FIXED_DATE_TIME[0] = (bytes(data), instant)
        return instant
    try:
        placed = _placed(wall, status, local_zone)
    except ValueError:
        return None
    _LAST_LOCAL_DATE_TIME[0] = (bytes(data), local_zone, monotonic(), placed)
    return placed


#: The system's zone as a date-time last looked it up, and when (``time.monotonic``):
#: looking it up stats /etc/localtime, which costs more than placing the time, so a
#: stream of pushes looks it up once a second at most.
_SYSTEM_ZONE: list[tuple[float, tzinfo | None]] = [(0.0, None)]


def _system_zone_of_this_second() -> tzinfo:
    checked, zone = _SYSTEM_ZONE[0]
    now = monotonic()
    if zone is None or not 0.0 <= now - checked < 1.0:
        zone = system_timezone()
        _SYSTEM_ZONE[0] = (now, zone)
    return zone


def _placed(wall: _Wall, status: int, local_zone: tzinfo | None) -> datetime:
    """A wall time without deviation placed by ``local_zone``, else the system's zone.

    Raises ValueError when the wall time is no date (a 30 February).
    """
    zone = local_zone if local_zone is not None else _system_zone_of_this_second()
    # In the hour the clocks go back the wall time occurs twice: the status byte's
    # daylight-saving bit says which (fold=0 is the first, still in summer time).
    fold = 0 if status != 0xFF and status & _DAYLIGHT_SAVING_ACTIVE else 1
    candidate = datetime(*wall, zone, fold=fold)
    if candidate.utcoffset() != datetime(*wall, zone, fold=1 - fold).utcoffset():
        return candidate
    return datetime(*wall, zone) if fold else candidate


def decode_cosem_date(data: bytes) -> date | None:
    """A COSEM date (5 bytes: year, month, day, weekday), None when not a plain date."""
    if len(data) != 5:
        raise CosemError(f"a COSEM date has 5 bytes, this one {len(data)}")
    year, month, day, _weekday = struct.unpack(">HBBB", data)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def decode_cosem_time(data: bytes) -> time | None:
    """A COSEM time (4 bytes: hour, minute, second, hundredths), None when not a plain time."""
    if len(data) != 4:
        raise CosemError(f"a COSEM time has 4 bytes, this one {len(data)}")
    hour, minute, second, hundredths = data
    try:
        return time(hour, minute, second, hundredths * 10_000 if hundredths < 100 else 0)
    except ValueError:
        return None
