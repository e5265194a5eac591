"""Every real meter vector decodes, through the whole pipeline, to exactly what its source states.

The vectors stay in ../shared/vectors (published by others); they are read in place.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import SCALE_FROM_PUSH, Notification, Reading
from cosem_reader.errors import CosemReaderError
from cosem_reader.pipeline.decoder import decode_capture
from cosem_reader.security.ciphering import CipheredApdu
from tests.support.vectors import (
    _has_expectations,
    decode_vector,
    the_notification,
    vector_layer,
    vector_params,
)

#: The meter profile each vector's raw numbers get (cosem_reader.cosem.profiles); the others
#: get none, and what their frames send bare stays raw, without a unit.
PROFILED = {
    "no-kamstrup-list1": "Kamstrup Omnipower (NO/SE/DK)",
    "dk-kamstrup-omnipower-gcm": "Kamstrup Omnipower (NO/SE/DK)",
    "ch-iskra-am550-vse2026": "Iskraemeco AM550, Swiss VSE 2026 list",
    "ch-lg-e450-vse2026": "Landis+Gyr E450, Swiss VSE 2026 list",
    "ch-lg-e360-vse2026": "Landis+Gyr E360, Swiss VSE 2026 list",
}








def _by_code(notification: Notification, dotted: str) -> Reading:
    code = ObisCode.parse(dotted)
    reading = notification.reading(code)
    assert reading is not None, f"{code} missing in {[str(r.obis) for r in notification.readings]}"
    return reading


def _by_position(notification: Notification, position: str) -> Reading:
    for reading in notification.readings:
        if reading.position == position:
            return reading
    raise AssertionError(f"no reading at position {position}")


def _as_text(value: object) -> object:
    """Date-time registers compare by their wall time, as sources write them."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value




@pytest.mark.parametrize("vector", vector_params(_has_expectations))
def test_vector_decodes_to_the_stated_values(vector: dict[str, Any]) -> None:
    """Values, units, strings, positions and the timestamp are exactly what the source states."""
    notification = the_notification(vector)
    expected = vector["expected"]
    raw_values = expected.get("raw_in_frame_where_source_scaled") or {}
    for dotted, stated in (expected.get("values") or {}).items():
        reading = _by_code(notification, dotted)
        origin = reading.scale_origin
        if origin is None:
            # Sent bare and no profile knows it: the raw number, without a unit.
            assert stated.get("unit") is None or dotted in raw_values, f"{dotted} left raw"
            assert reading.value == raw_values.get(dotted, stated["value"]), dotted
            assert reading.unit is None, f"{dotted}: raw, yet the unit {reading.unit}"
        elif origin != SCALE_FROM_PUSH and stated.get("unit") is None:
            # The source states the raw number; the profile scales it.
            assert origin == PROFILED.get(vector["id"]), f"{dotted}: {origin}"
            assert reading.raw == stated["value"], dotted
        else:
            if origin != SCALE_FROM_PUSH:
                assert origin == PROFILED.get(vector["id"]), f"{dotted}: {origin}"
            assert reading.value == Decimal(str(stated["value"])), f"{dotted}: {reading.value}"
            assert reading.unit == stated.get("unit"), dotted
    for dotted, text in (expected.get("strings") or {}).items():
        assert _as_text(_by_code(notification, dotted).value) == text, dotted
    for position, text in (expected.get("strings_by_position") or {}).items():
        assert _as_text(_by_position(notification, position).value) == text, position
    for position, stated in (expected.get("values_by_position") or {}).items():
        reading = _by_position(notification, position)
        assert reading.value == Decimal(str(stated["value"])), position
    if expected.get("invoke_id") is not None:
        assert notification.invoke_id == expected["invoke_id"]
    stated_time = expected.get("timestamp")
    if stated_time:
        _check_timestamp(notification.timestamp, stated_time)


def _check_timestamp(actual: datetime | None, stated: str) -> None:
    assert actual is not None, "the notification has no timestamp"
    actual = actual.replace(microsecond=0)  # sources print whole seconds
    wall = stated[:19]
    if "UTC" in stated[19:25]:
        # The source gives UTC and the meter's local wall time in brackets.
        utc = actual.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        assert utc.isoformat(sep=" ") == wall
        local = re.search(r"meter local (\d\d:\d\d:\d\d)", stated)
        if local:
            assert actual.strftime("%H:%M:%S") == local.group(1)
        return
    assert actual.replace(tzinfo=None).isoformat(sep=" ") == wall
    offset = re.search(r"\(([+-]\d\d:\d\d)", stated)
    if offset:
        assert actual.isoformat().endswith(offset.group(1))


@pytest.mark.parametrize("vector", vector_params(lambda v: not v.get("key") and v.get("encrypted")))
def test_ciphered_vector_without_key_reports_its_security_header(vector: dict[str, Any]) -> None:
    """Without a key, each APDU's security header comes out as the source's check states it."""
    results = decode_vector(vector)
    headers = [r for r in results if isinstance(r, CipheredApdu)]
    assert headers, results
    check = vector["check"]
    if "system_title" in check:
        assert headers[0].system_title is not None
        assert headers[0].system_title.hex().upper() == check["system_title"]
        assert headers[0].security_control == int(check["security_byte"], 16)
        assert headers[0].frame_counter == int(check["frame_counter"], 16)


@pytest.mark.parametrize("vector", vector_params(lambda v: v.get("key") or not v.get("encrypted")))
def test_every_decodable_vector_decodes_without_error(vector: dict[str, Any]) -> None:
    """Vectors with a key, and plain ones, decode to one notification and no error."""
    notification = the_notification(vector)
    assert notification.readings
    check = vector.get("check") or {}
    if "system_title" in check and vector.get("key"):
        assert notification.system_title is not None
        assert notification.system_title.hex().upper() == check["system_title"]
        assert notification.frame_counter == int(check["frame_counter"], 16)
    if check.get("gcm_tag_verified"):
        assert notification.tag_verified is True


@pytest.mark.parametrize("vector", vector_params(lambda v: bool(v.get("key"))))
def test_a_wrong_key_is_reported_as_such(vector: dict[str, Any]) -> None:
    """Deciphering with a wrong key yields one error that names the key, never a notification."""
    wrong = bytes(b ^ 0x5A for b in bytes.fromhex(vector["key"]))
    layer = vector_layer(vector)
    results = decode_capture(bytes.fromhex(vector["hex"]), key=wrong, layer=layer)
    assert not [r for r in results if isinstance(r, Notification)]
    errors = [r for r in results if isinstance(r, CosemReaderError)]
    assert errors
    assert any("key" in str(e) for e in errors), errors


@pytest.mark.parametrize("vector", vector_params(lambda v: v["id"] in PROFILED))
def test_a_profiled_vector_names_its_profile(vector: dict[str, Any]) -> None:
    """Each reading the profile scales says so; every other bare number stays raw, unitless."""
    notification = the_notification(vector)
    origins = {reading.scale_origin for reading in notification.readings}
    assert PROFILED[vector["id"]] in origins
    assert origins <= {None, SCALE_FROM_PUSH, PROFILED[vector["id"]]}


@pytest.mark.parametrize("vector", vector_params())
def test_no_vector_reading_has_a_unit_without_a_known_scale(vector: dict[str, Any]) -> None:
    for result in decode_vector(vector):
        if isinstance(result, Notification):
            for reading in result.readings:
                assert reading.unit is None or reading.scale_origin is not None, reading


@pytest.mark.parametrize(
    "vector", vector_params(lambda v: v["id"] == "at-netzburgenland-lg-e450-hdlc")
)
def test_netz_burgenland_phase_angles_stay_raw(vector: dict[str, Any]) -> None:
    """The operator's list gives no scale for the angles: ``400°`` must not reach the user."""
    notification = the_notification(vector)
    for code in ("1-0:81.7.40", "1-0:81.7.51", "1-0:81.7.62"):
        angle = notification.reading(code)
        assert angle is not None
        assert (angle.unit, angle.scale_origin) == (None, None), code
    current = notification.reading("1-0:71.7.0")
    assert current is not None
    assert (current.value, current.unit) == (Decimal("0.26"), "A")
    assert current.scale_origin == "Landis+Gyr E450, Netz Burgenland"
