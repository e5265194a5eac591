"""A number carries a unit only when its scale is known: from the push, a meter profile
or the user's ``[scalers]``; attribute-descriptor lists name their values' OBIS codes."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.app.cli import format_text
from cosem_reader.app.config import load_settings, render_settings
from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.cosem import readings as readings_module
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.profiles import KNOWN_PROFILES
from cosem_reader.cosem.readings import (
    SCALE_FROM_PUSH,
    SCALE_FROM_USER,
    Notification,
    Reading,
    ReadingsPlans,
    notification_from_apdu,
    readings_from_data,
)
from cosem_reader.output.jsonout import notification_to_dict, reading_to_dict
from tests.support.encoder import cosem_date_time, data_notification, obis, scaler_unit
from tests.support.strategies import data_values

KAMSTRUP = "Kamstrup Omnipower (NO/SE/DK)"
#: What may scale a bare number besides the push and the user: a profile, a list layout.
PROFILE_NAMES = {profile.name for profile in KNOWN_PROFILES} | {
    layout.name for layout in KNOWN_LAYOUTS
}


def decode(apdu: bytes, **options: Any) -> Notification:
    return notification_from_apdu(decode_apdu(apdu), apdu, **options)


def kamstrup_body(identifier: str = "Kamstrup_V0001") -> tuple[str, Any]:
    """A Kamstrup HAN list as Norway gets it: identifier, then OBIS/value pairs (no scalers)."""
    return (
        "array",
        [
            ("visible-string", identifier),
            obis("1.1.96.1.1.255"),
            ("visible-string", "6841121BN243101040"),
            obis("1.1.1.7.0.255"),
            ("double-long-unsigned", 1468),
            obis("1.1.31.7.0.255"),
            ("double-long-unsigned", 564),
            obis("1.1.32.7.0.255"),
            ("long-unsigned", 232),
            obis("1.1.1.8.0.255"),
            ("double-long-unsigned", 6307498),
        ],
    )


def by_code(readings: list[Reading] | tuple[Reading, ...], code: str) -> Reading:
    wanted = ObisCode.parse(code)
    return next(reading for reading in readings if reading.obis == wanted)


def test_a_kamstrup_list_is_scaled_by_the_kamstrup_profile() -> None:
    readings = readings_from_data(kamstrup_body())
    current = by_code(readings, "1-1:31.7.0")
    assert (current.value, current.unit, current.scale_origin) == (Decimal("5.64"), "A", KAMSTRUP)
    power = by_code(readings, "1-1:1.7.0")
    assert (power.value, power.unit, power.scale_origin) == (1468, "W", KAMSTRUP)
    # 10 Wh in Norway, Wh in Sweden: the push does not say which, so it stays raw.
    energy = by_code(readings, "1-1:1.8.0")
    assert (energy.value, energy.unit, energy.scale_origin) == (6307498, None, None)


def test_an_unknown_list_identifier_gets_no_profile() -> None:
    readings = readings_from_data(kamstrup_body("Kamstrup_X0001"))
    current = by_code(readings, "1-1:31.7.0")
    assert (current.value, current.unit, current.scale_origin) == (564, None, None)


def test_the_users_scalers_win_over_a_profile() -> None:
    scalers = {ObisCode.parse("1-1:31.7.0"): -1, ObisCode.parse("1-1:1.8.0"): 1}
    readings = readings_from_data(kamstrup_body(), scalers=scalers)
    current = by_code(readings, "1-1:31.7.0")
    assert (current.value, current.unit, current.scale_origin) == (
        Decimal("56.4"),
        "A",
        SCALE_FROM_USER,
    )
    energy = by_code(readings, "1-1:1.8.0")
    assert (energy.value, energy.unit, energy.scale_origin) == (
        Decimal("63074980"),
        "Wh",
        SCALE_FROM_USER,
    )


def test_no_profiles_leaves_every_bare_number_raw() -> None:
    readings = readings_from_data(kamstrup_body(), profiles=())
    assert all(reading.unit is None for reading in readings)


def test_json_marks_a_raw_number_as_not_scaled() -> None:
    readings = readings_from_data(kamstrup_body())
    assert reading_to_dict(by_code(readings, "1-1:1.8.0"))["scaled"] is False
    assert reading_to_dict(by_code(readings, "1-1:1.8.0")).get("unit") is None
    assert "scaled" not in reading_to_dict(by_code(readings, "1-1:31.7.0"))
    assert "scaled" not in reading_to_dict(by_code(readings, "1-1:96.1.1"))


# -- attribute-descriptor lists (Sagemcom XT211, Czechia) --------------------------------


def described(class_id: int, code: str, attribute: int, value: tuple[str, Any]) -> tuple[str, Any]:
    """``structure { {class-id, OBIS, attribute-index}, value }``."""
    descriptor = ("structure", [("long-unsigned", class_id), obis(code), ("integer", attribute)])
    return ("structure", [descriptor, value])


def xt211_body(moment: datetime) -> tuple[str, Any]:
    return (
        "structure",
        [
            described(8, "0.0.1.0.0.255", 2, ("octet-string", cosem_date_time(moment, -60))),
            described(1, "0.0.96.1.0.255", 2, ("octet-string", b"8120412345")),
            described(3, "1.0.1.8.0.255", 2, ("double-long-unsigned", 1234567)),
            described(3, "1.0.1.8.0.255", 3, scaler_unit(0, 30)),
            described(3, "1.0.2.8.0.255", 3, scaler_unit(-3, 32)),
            described(3, "1.0.2.8.0.255", 2, ("double-long-unsigned", 7654)),
            described(3, "1.0.1.7.0.255", 2, ("double-long-unsigned", 345)),
        ],
    )


def test_an_attribute_descriptor_list_is_named_by_its_descriptors() -> None:
    moment = datetime(2024, 1, 15, 12, 0, 0)
    notification = decode(data_notification(xt211_body(moment)))
    assert notification.reading("0-0:96.1.0").value == "8120412345"  # type: ignore[union-attr]
    clock = notification.reading("0-0:1.0.0")
    assert clock is not None
    assert clock.value == notification.timestamp
    assert notification.timestamp is not None
    assert notification.timestamp.replace(tzinfo=None) == moment
    energy = notification.reading("1-0:1.8.0")
    assert energy is not None
    assert (energy.value, energy.unit, energy.scale_origin) == (1234567, "Wh", SCALE_FROM_PUSH)
    # A scaler-unit before its value scales it just the same.
    export = notification.reading("1-0:2.8.0")
    assert export is not None
    assert (export.value, export.unit) == (Decimal("7.654"), "varh")
    power = notification.reading("1-0:1.7.0")
    assert power is not None
    assert (power.value, power.unit, power.scale_origin) == (345, None, None)
    # The scaler-units are no readings of their own, and nothing is left unnamed.
    assert len(notification.readings) == 5
    assert all(reading.obis is not None for reading in notification.readings)


def test_an_attribute_descriptor_list_decodes_the_same_every_time() -> None:
    """The walk does it each time (no learned plan), so push after push agrees."""
    moment = datetime(2024, 1, 15, 12, 0, 0)
    body = xt211_body(moment)
    first = readings_from_data(body)
    for _ in range(4):
        assert readings_from_data(body) == first


# -- the rule, for any body ------------------------------------------------------------


_NUMBERS = st.sampled_from(["double-long-unsigned", "long-unsigned", "long", "double-long"])
_CODES = st.sampled_from(
    ["1.1.31.7.0.255", "1.1.1.8.0.255", "1.0.32.7.0.255", "1.1.1.7.0.255", "1.0.31.7.0.255"]
)


@st.composite
def labelled_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """OBIS/value lists with and without scaler-units, a list identifier or a maker's name."""
    elements: list[tuple[str, Any]] = []
    head = draw(st.sampled_from(["Kamstrup_V0001", "AIDON_V0001", "LGZ1030653520967", ""]))
    if head.startswith("LGZ"):
        elements += [obis("0.0.42.0.0.255"), ("octet-string", head.encode())]
    elif head:
        elements.append(("visible-string", head))
    for code in draw(st.lists(_CODES, max_size=8)):
        kind = draw(_NUMBERS)
        number = draw(st.integers(0, 30000))
        pair = [obis(code), (kind, number)]
        if draw(st.booleans()):
            pair.append(scaler_unit(draw(st.integers(-3, 3)), draw(st.sampled_from([27, 30, 33]))))
        elements += pair if draw(st.booleans()) else [("structure", pair)]
    return ("array", elements)


@given(
    st.one_of(labelled_bodies(), data_values()),
    st.dictionaries(_CODES.map(ObisCode.parse), st.integers(-3, 3), max_size=2),
)
def test_no_reading_has_a_unit_unless_its_scale_is_known(
    body: tuple[str, Any], scalers: dict[ObisCode, int]
) -> None:
    for _ in range(3):  # the walk, then learned plans
        readings = readings_from_data(body, scalers=scalers)
        for reading in readings:
            if reading.unit is not None:
                assert reading.scale_origin in {SCALE_FROM_PUSH, SCALE_FROM_USER, *PROFILE_NAMES}
            if reading.scale_origin == SCALE_FROM_USER:
                assert reading.obis in scalers
            entry = reading_to_dict(reading)
            if entry.get("scaled") is False:
                assert "unit" not in entry
                assert reading.scale_origin is None


def test_json_of_a_notification_says_which_numbers_are_raw() -> None:
    notification = decode(data_notification(kamstrup_body()))
    values = notification_to_dict(notification)["values"]
    assert values["1-1:1.8.0"]["scaled"] is False
    assert values["1-1:31.7.0"]["unit"] == "A"


def test_the_text_format_names_the_profile_and_marks_raw_numbers() -> None:
    text = format_text(decode(data_notification(kamstrup_body())), "en", None)
    assert f"meter profile: {KAMSTRUP}" in text
    assert "5.64 A" in text
    assert "6307498 (raw: scale unknown)" in text


def test_config_check_says_which_profile_a_users_scaler_replaces(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[serial]\nport = "/dev/a"\n[scalers]\n"1-1:31.7.0" = -1\n', encoding="utf-8")
    path.chmod(0o600)
    rendered = render_settings(load_settings(str(path), {}, env={}))
    assert f'"1-1:31.7.0" = -1  # instead of the profile {KAMSTRUP}' in rendered
    assert f"#   {KAMSTRUP}" in rendered


def test_a_number_left_raw_is_reported_once_with_the_fix(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readings_module, "_REPORTED_RAW", set())
    plans = ReadingsPlans()
    with caplog.at_level(logging.INFO, logger="cosem_reader.cosem.readings"):
        for _ in range(4):
            readings_from_data(kamstrup_body(), plans=plans)
    lines = [r.getMessage() for r in caplog.records if "1-1:1.8.0" in r.getMessage()]
    assert len(lines) == 1
    assert "published raw, without a unit" in lines[0]
    assert "[scalers]" in lines[0]
    assert not [r for r in caplog.records if "1-1:31.7.0" in r.getMessage()]
