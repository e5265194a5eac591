"""COSEM readings: from a decoded APDU to OBIS codes, scaled values, units and time.

The body of each ``Data`` value an APDU carries is read by a learned plan
(:mod:`cosem_reader.cosem.plans`) when one fits it, else by the walk
(:mod:`cosem_reader.cosem.walk`); date-times are placed in time by
:mod:`cosem_reader.cosem.date_time`.  A list without OBIS codes is named by a known
layout, and bare numbers are scaled by a meter profile.

The names of those modules that callers use are exported from here as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from cosem_reader.cosem.date_time import (
    decode_cosem_date,
    decode_cosem_date_time,
    decode_cosem_time,
    load_timezone,
    system_timezone,
)
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS, ListLayout, match_layout
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.plans import Plan, ReadingsPlans
from cosem_reader.cosem.profiles import (
    KNOWN_PROFILES,
    MeterProfile,
    Scales,
    profile_scales,
)
from cosem_reader.cosem.walk import (
    CONTAINERS,
    SCALE_FROM_PUSH,
    SCALE_FROM_USER,
    Notification,
    Reading,
    ReadingValue,
    Walk,
    capture_objects,
    make_notification,
    make_reading,
)
from cosem_reader.errors import CosemError

__all__ = [
    "SCALE_FROM_PUSH",
    "SCALE_FROM_USER",
    "Notification",
    "Reading",
    "ReadingValue",
    "ReadingsPlans",
    "decode_cosem_date",
    "decode_cosem_date_time",
    "decode_cosem_time",
    "load_timezone",
    "notification_from_apdu",
    "readings_from_data",
    "system_timezone",
]

log = logging.getLogger(__name__)

_CLOCK = (0, 1, 0, 0)  # value groups A, C, D, E of the Clock object

#: No ``[scalers]``: one empty mapping, not a new dict per push.
_NO_SCALERS: Mapping[ObisCode, int] = MappingProxyType({})

#: The security header of a deciphered push: system title, frame counter, security
#: control, whether its tag was verified.
Security = tuple[bytes | None, int | None, int | None, bool | None]
_NO_SECURITY: Security = (None, None, None, None)


def readings_from_data(
    data: tuple[str, Any],
    local_zone: tzinfo | None = None,
    *,
    layouts: Sequence[ListLayout] = KNOWN_LAYOUTS,
    scalers: Mapping[ObisCode, int] | None = None,
    profiles: Sequence[MeterProfile] = KNOWN_PROFILES,
    plans: ReadingsPlans | None = None,
) -> list[Reading]:
    """The readings in one ``Data`` value (a notification body or an attribute value).

    ``layouts`` name the positions of lists that carry no OBIS codes; ``scalers`` give
    a scaler for registers the meter sends without scaler-unit (``{1-0:31.7.0: -2}``);
    ``profiles`` give the scale of such registers per meter family, where the user's
    ``scalers`` do not.  ``plans`` learns the layouts met and reads them again faster
    (the caller's, one per meter stream); without it every body is walked.
    """
    walk = Walk(local_zone, scalers or _NO_SCALERS)
    plan = _walk_body(walk, data, layouts, plans)
    if walk.unscaled and profiles:
        readings, unscaled = walk.readings, walk.unscaled
        if plan is not None and profiles is KNOWN_PROFILES:
            scales = plan.profile_scales(walk, lambda: _scales(readings, unscaled, profiles))
        else:
            scales = _scales(readings, unscaled, profiles)
        _rescale(readings, scales)
    return walk.readings


def _walk_body(
    walk: Walk,
    data: tuple[str, Any],
    layouts: Sequence[ListLayout],
    plans: ReadingsPlans | None,
) -> Plan | None:
    """Walks a body into ``walk.readings``; the plan that did it, if one did."""
    if data[0] not in CONTAINERS:
        walk.loose(data, "0")
        return None
    elements = data[1]
    if plans is not None:
        plan = plans.replay(elements, walk)
        if plan is not None:
            return plan
    objects = capture_objects(elements)
    if objects is not None:
        walk.captured(elements, objects)
        return None
    if plans is not None:
        plans.watch(walk)
    walk.elements(elements, "")
    if any(reading.obis is not None for reading in walk.readings):
        if plans is not None:
            plans.learn(elements, walk)
        return None
    if plans is not None:
        # Without OBIS codes the layouts decide, and the caller may pass others.
        plans.unfit(walk)
    layout = match_layout(elements, layouts)
    if layout is not None:
        log.debug("the push is a %s list", layout.name)
        walk.readings.clear()
        walk.unscaled.clear()
        walk.labelled(elements, layout)
    return None


#: The OBIS codes already reported as published raw (one line each per process).
_REPORTED_RAW: set[ObisCode] = set()


def _scales(
    readings: list[Reading], unscaled: list[int], profiles: Sequence[MeterProfile]
) -> Scales:
    """The profile's scales for a push's bare numbers; the first time a code stays raw, a
    line says so and how to scale it."""
    scales = profile_scales(readings, unscaled, profiles)
    scaled = {index for index, *_ in scales}
    for index in unscaled:
        code = readings[index].obis
        if index not in scaled and code is not None and code not in _REPORTED_RAW:
            _REPORTED_RAW.add(code)
            log.info(
                "%s arrives without scaler-unit and no meter profile knows its scale:"
                " published raw, without a unit (give it in [scalers] to scale it)",
                code,
            )
    return scales


def _rescale(readings: list[Reading], scales: Scales) -> None:
    """Scales the raw numbers of a push as a meter profile says."""
    for index, scaler, unit, name in scales:
        reading = readings[index]
        readings[index] = make_reading(
            reading.obis,
            reading.position,
            Decimal(int(reading.raw)).scaleb(scaler),
            unit,
            scaler,
            reading.data_type,
            reading.raw,
            name,
        )


def _clock_register(readings: list[Reading]) -> datetime | None:
    """The value of the Clock object (0-0:1.0.0), when the body carries it."""
    for reading in readings:
        value = reading.value
        if isinstance(value, datetime):
            code = reading.obis
            if code is not None and (code.a, code.c, code.d, code.e) == _CLOCK:
                return value
    return None


def _first_date_time(readings: list[Reading]) -> datetime | None:
    for reading in readings:
        if isinstance(reading.value, datetime):
            return reading.value
    return None


def _data_values(apdu_type: str, body: Any) -> Iterator[tuple[str, Any]]:
    """The ``Data`` values an APDU carries for readings (but a data-notification's)."""
    if apdu_type == "get-response":
        kind, response = body
        if kind == "get-response-normal":
            result = response["result"]
            if result[0] == "data":
                yield result[1]
        elif kind == "get-response-with-list":
            for result in response["result"]:
                if result[0] == "data":
                    yield result[1]
    elif apdu_type == "event-notification-request":
        yield body["attribute-value"]


def notification_from_apdu(
    tree: tuple[str, Any],
    apdu: bytes = b"",
    local_zone: tzinfo | None = None,
    *,
    layouts: Sequence[ListLayout] = KNOWN_LAYOUTS,
    scalers: Mapping[ObisCode, int] | None = None,
    profiles: Sequence[MeterProfile] = KNOWN_PROFILES,
    plans: ReadingsPlans | None = None,
    security: Security = _NO_SECURITY,
) -> Notification:
    """Readings from a decoded APDU (data-notification, get-response, event-notification).

    ``plans``: see :func:`readings_from_data`; ``security``: the security header of the
    ciphered APDU this one was deciphered from (see :class:`Notification`).  Raises
    :class:`CosemError` for an APDU that carries no data.
    """
    apdu_type, body = tree
    if apdu_type == "data-notification":
        # Every push: its one body, without the generator the other APDUs take.
        data_values = [body["notification-body"]["data-value"]]
    else:
        data_values = list(_data_values(apdu_type, body))
    if not data_values:
        raise CosemError(f"a {apdu_type} APDU carries no readings")
    readings: list[Reading] = []
    for data in data_values:
        readings.extend(
            readings_from_data(
                data,
                local_zone,
                layouts=layouts,
                scalers=scalers,
                profiles=profiles,
                plans=plans,
            )
        )
    invoke_id: int | None = None
    # The Clock object's value is what the meter captured with the values; the
    # notification header's date-time says when the push was made (normally the
    # same second, one later on some Landis+Gyr meters).  Without either, the first
    # date-time in the body (Netz NÖ sends it without OBIS code).
    timestamp = _clock_register(readings)
    if apdu_type == "data-notification":
        invoke_id = body["long-invoke-id-and-priority"]
        header_time = body["date-time"]
        if timestamp is None and len(header_time) == 12:
            timestamp = decode_cosem_date_time(header_time, local_zone)
    elif apdu_type == "get-response":
        invoke_id = body[1].get("invoke-id-and-priority")
    if timestamp is None:
        timestamp = _first_date_time(readings)
    return make_notification(
        apdu_type, invoke_id, timestamp, tuple(readings), bytes(apdu), tree, *security
    )
