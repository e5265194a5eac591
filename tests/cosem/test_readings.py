"""Readings: any layout, exact values, units, meter time — with pushes from our own encoder."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.cosem.layouts import layout_from_config
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import (
    Notification,
    decode_cosem_date_time,
    load_timezone,
    notification_from_apdu,
    readings_from_data,
)
from cosem_reader.errors import ConfigError, CosemError
from tests.support.encoder import (
    Register,
    cosem_date_time,
    data_notification,
    encode_data,
    flat_body,
    kaifa_ma309m_body,
    obis,
    scaler_unit,
)

VIENNA = ZoneInfo("Europe/Vienna")
MOMENT = datetime(2024, 3, 5, 18, 4, 9)


def decode(apdu: bytes, **options: Any) -> Notification:
    return notification_from_apdu(decode_apdu(apdu), apdu, VIENNA, **options)


def value_of(notification: Notification, code: str) -> Any:
    reading = notification.reading(code)
    assert reading is not None, code
    return reading.value


# -- meter time -------------------------------------------------------------------------


def test_deviation_is_utc_minus_local() -> None:
    """Austrian meters send −120 in summer: the wall time is UTC+02:00."""
    moment = decode_cosem_date_time(cosem_date_time(datetime(2021, 9, 27, 9, 47, 15), -120, True))
    assert moment is not None
    assert moment.isoformat() == "2021-09-27T09:47:15+02:00"


def test_unspecified_deviation_uses_the_configured_zone() -> None:
    """Deviation 0x8000: the wall time is placed in the configured time zone."""
    data = cosem_date_time(datetime(2024, 1, 10, 8, 0, 0), None)
    assert decode_cosem_date_time(data, VIENNA).isoformat() == "2024-01-10T08:00:00+01:00"  # type: ignore[union-attr]
    assert decode_cosem_date_time(data, UTC).isoformat() == "2024-01-10T08:00:00+00:00"  # type: ignore[union-attr]


@pytest.mark.parametrize(("daylight_saving", "offset"), [(True, "+02:00"), (False, "+01:00")])
def test_the_repeated_hour_is_resolved_by_the_status_bit(
    daylight_saving: bool, offset: str
) -> None:
    """02:30 on the night the clocks go back happens twice: the DST bit says which."""
    data = cosem_date_time(datetime(2024, 10, 27, 2, 30, 0), None, daylight_saving)
    moment = decode_cosem_date_time(data, VIENNA)
    assert moment is not None
    assert moment.isoformat().endswith(offset)


def test_hundredths_are_kept() -> None:
    """The hundredths byte becomes microseconds; 0xFF (not specified) becomes zero."""
    data = bytearray(cosem_date_time(datetime(2023, 6, 6, 17, 31, 20, 180_000), -120))
    assert decode_cosem_date_time(bytes(data)).microsecond == 180_000  # type: ignore[union-attr]
    data[8] = 0xFF
    assert decode_cosem_date_time(bytes(data)).microsecond == 0  # type: ignore[union-attr]


def test_unspecified_fields_name_no_instant() -> None:
    """A date-time with the year or hour not specified is no timestamp."""
    assert decode_cosem_date_time(cosem_date_time(None)) is None
    data = bytearray(cosem_date_time(MOMENT))
    data[5] = 0xFF
    assert decode_cosem_date_time(bytes(data)) is None


def test_wrong_length_is_a_cosem_error() -> None:
    """Only 12 bytes are a COSEM date-time."""
    with pytest.raises(CosemError, match="12 bytes"):
        decode_cosem_date_time(b"\x07\xe8")


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(-720, 720),
)
def test_any_instant_round_trips(moment: datetime, deviation: int) -> None:
    """Whatever wall time and deviation the meter sends, the instant is wall time + deviation."""
    moment = moment.replace(microsecond=moment.microsecond // 10_000 * 10_000)
    decoded = decode_cosem_date_time(cosem_date_time(moment, deviation))
    assert decoded is not None
    assert decoded.replace(tzinfo=None) == moment
    assert decoded.astimezone(UTC).replace(tzinfo=None) == moment + timedelta(minutes=deviation)


def test_unknown_time_zone_is_a_config_error() -> None:
    """A time zone name that does not exist is named in a config error."""
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_timezone("Mars/Olympus")


# -- layouts ----------------------------------------------------------------------------

REGISTERS = [
    Register("1.0.1.8.0.255", 1327456, "double-long-unsigned", 0, 30),
    Register("1.0.1.8.1.255", 1000000, "double-long-unsigned", 0, 30),
    Register("1.0.1.8.2.255", 327456, "double-long-unsigned", 0, 30),
    Register("1.0.32.7.0.255", 2292, "long-unsigned", -1, 35),
    Register("1.0.31.7.0.255", 165, "long-unsigned", -2, 33),
    Register("1.0.13.7.0.255", 998, "long-unsigned", -3, 255),
    Register("1.0.14.7.0.255", 5001, "long-unsigned", -2, 44),
    Register("1.0.1.7.0.255", -714, "double-long", 0, 27),
]


def test_nested_layout_single_phase_with_tariffs() -> None:
    """One structure per quantity, only L1 and tariff registers: whatever the meter sends."""
    body = kaifa_ma309m_body(MOMENT, REGISTERS, "1KFM0200234804", "KFM1200200234804", -60)
    notification = decode(data_notification(body, 1571480))
    assert value_of(notification, "1-0:1.8.1") == 1000000
    assert value_of(notification, "1-0:1.8.2") == 327456
    assert value_of(notification, "1-0:32.7.0") == Decimal("229.2")
    assert value_of(notification, "1-0:31.7.0") == Decimal("1.65")
    assert value_of(notification, "1-0:13.7.0") == Decimal("0.998")
    assert notification.reading("1-0:13.7.0").unit is None  # type: ignore[union-attr]
    assert notification.reading("1-0:14.7.0").unit == "Hz"  # type: ignore[union-attr]
    assert value_of(notification, "1-0:1.7.0") == -714
    assert notification.reading("1-0:52.7.0") is None
    assert value_of(notification, "0-0:96.1.0") == "1KFM0200234804"
    assert notification.timestamp == datetime(2024, 3, 5, 18, 4, 9, tzinfo=VIENNA)
    assert notification.invoke_id == 1571480


def test_flat_layout_keeps_values_without_obis_by_position() -> None:
    """Netz NÖ's flat runs decode the same; the leading time and trailing meter number stay."""
    body = flat_body(MOMENT, REGISTERS, "181220000009", deviation=-60)
    notification = decode(data_notification(body, 0x8006870E))
    assert value_of(notification, "1-0:32.7.0") == Decimal("229.2")
    unlabelled = {r.position: r.value for r in notification.readings if r.obis is None}
    last = str(1 + 3 * len(REGISTERS))
    assert unlabelled == {"0": datetime(2024, 3, 5, 18, 4, 9, tzinfo=VIENNA), last: "181220000009"}
    assert notification.timestamp == datetime(2024, 3, 5, 18, 4, 9, tzinfo=VIENNA)


def test_header_time_when_the_body_has_no_clock() -> None:
    """The notification header's date-time is the timestamp when the body carries no clock."""
    body = ("structure", [obis("1.0.1.8.0.255"), ("double-long-unsigned", 5)])
    apdu = data_notification(body, 1, cosem_date_time(MOMENT, -60))
    assert decode(apdu).timestamp == datetime(2024, 3, 5, 18, 4, 9, tzinfo=VIENNA)


def test_get_response_carries_readings() -> None:
    """A get-response with data is read like a notification body."""
    value = encode_data(
        ("structure", [obis("1.0.1.8.0.255"), ("double-long-unsigned", 42), scaler_unit(3, 30)])
    )
    apdu = bytes.fromhex("C401C100") + value
    notification = decode(apdu)
    assert notification.apdu_type == "get-response"
    assert value_of(notification, "1-0:1.8.0") == Decimal("42000")


def test_user_scaler_for_registers_without_scaler_unit() -> None:
    """A register sent without scaler-unit stays raw and without a unit, unless the user
    configures a scaler: ``287 A`` for 2.87 A must never reach the user."""
    body = ("structure", [obis("1.1.31.7.0.255"), ("long-unsigned", 564)])
    apdu = data_notification(body)
    raw = decode(apdu).reading("1-1:31.7.0")
    assert raw is not None
    assert (raw.value, raw.unit, raw.scaler, raw.scale_origin) == (564, None, None, None)
    scaled = decode(apdu, scalers={ObisCode.parse("1-1:31.7.0"): -2}).reading("1-1:31.7.0")
    assert scaled is not None
    assert (scaled.value, scaled.unit, scaled.scale_origin) == (Decimal("5.64"), "A", "user")


def test_self_describing_push_labels_values_by_its_capture_objects() -> None:
    """A capture-object list names the values after it, scaler-unit attributes included."""

    def entry(class_id: int, code: str, attribute: int) -> tuple[str, Any]:
        return (
            "structure",
            [("long-unsigned", class_id), obis(code), ("integer", attribute), ("long-unsigned", 0)],
        )

    objects = [
        entry(40, "0.0.25.9.0.255", 2),
        entry(8, "0.0.1.0.0.255", 2),
        entry(3, "1.0.32.7.0.255", 2),
        entry(3, "1.0.32.7.0.255", 3),
        entry(3, "1.0.1.8.0.255", 2),
    ]
    body = (
        "structure",
        [
            ("array", objects),
            ("octet-string", cosem_date_time(MOMENT, -60)),
            ("long-unsigned", 2347),
            scaler_unit(-1, 35),
            ("double-long-unsigned", 15207),
        ],
    )
    notification = decode(data_notification(body))
    assert value_of(notification, "1-0:32.7.0") == Decimal("234.7")
    assert notification.reading("1-0:32.7.0").unit == "V"  # type: ignore[union-attr]
    assert value_of(notification, "1-0:1.8.0") == 15207
    assert notification.timestamp == datetime(2024, 3, 5, 18, 4, 9, tzinfo=VIENNA)
    assert len(notification.readings) == 3


def test_known_list_without_obis_codes_is_named_kng() -> None:
    """KNG-Kärnten's positional list (push setup name first) gets its OBIS codes from the table."""
    body = (
        "structure",
        [
            ("octet-string", bytes([0, 6, 25, 9, 0, 255])),
            ("octet-string", b"1ISK0001234567"),
            ("octet-string", bytes([17, 4, 9, 0])),
            ("octet-string", bytes([0x07, 0xE8, 3, 5, 2])),
            ("double-long-unsigned", 1000),
            ("double-long-unsigned", 2000),
            ("double-long-unsigned", 3000),
            ("double-long-unsigned", 4000),
            ("double-long-unsigned", 500),
            ("double-long-unsigned", 0),
            ("octet-string", b""),
            ("octet-string", b""),
        ],
    )
    notification = decode(data_notification(body))
    assert value_of(notification, "1-0:1.8.0") == 1000
    assert notification.reading("1-0:1.8.0").unit == "Wh"  # type: ignore[union-attr]
    assert value_of(notification, "1-0:2.7.0") == 0
    assert value_of(notification, "0-0:96.1.1") == "1ISK0001234567"


def test_a_user_layout_from_the_config_file() -> None:
    """A [[layout]] section names an unknown list; user layouts come before the known ones."""
    layout = layout_from_config(
        {
            "name": "my meter",
            "types": ["visible-string", "double-long-unsigned", "long-unsigned"],
            "identifier": "MYLIST_01",
            "fields": ["", "1.0.1.8.0.255:0:Wh", "1.0.32.7.0.255:-1:V"],
        }
    )
    body = (
        "structure",
        [("visible-string", "MYLIST_01"), ("double-long-unsigned", 77), ("long-unsigned", 2301)],
    )
    readings = readings_from_data(body, VIENNA, layouts=[layout])
    by_code = {str(r.obis): r for r in readings if r.obis}
    assert by_code["1-0:32.7.0"].value == Decimal("230.1")
    assert by_code["1-0:32.7.0"].unit == "V"
    assert [r.value for r in readings if r.obis is None] == ["MYLIST_01"]
    other = (
        "structure",
        [("visible-string", "OTHER"), ("double-long-unsigned", 77), ("long-unsigned", 1)],
    )
    assert all(r.obis is None for r in readings_from_data(other, VIENNA, layouts=[layout]))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"types": ["enum"], "fields": [""]}, "missing 'name'"),
        ({"name": "x", "types": ["enum", "enum"], "fields": [""]}, "2 types but 1 fields"),
        ({"name": "x", "types": ["enum"], "fields": ["1.2.3.4.5.6.7"]}, "not OBIS"),
    ],
)
def test_bad_user_layouts_are_config_errors(section: dict[str, Any], message: str) -> None:
    """A broken [[layout]] section is one config error naming what is wrong."""
    with pytest.raises(ConfigError, match=message):
        layout_from_config(section)


def test_floats_and_odd_types_do_not_break_the_walk() -> None:
    """float32, booleans, bit strings, dates and times come out as plain values."""
    body = (
        "structure",
        [
            obis("1.0.14.7.0.255"),
            ("float32", struct.pack(">f", 50.0)),
            ("boolean", True),
            ("bit-string", (b"\xa0", 3)),
            ("date", bytes([0x07, 0xE8, 2, 29, 4])),
            ("time", bytes([13, 5, 0, 0])),
            ("null-data", None),
        ],
    )
    notification = decode(data_notification(body))
    assert value_of(notification, "1-0:14.7.0") == 50.0
    loose = [r.value for r in notification.readings if r.obis is None]
    assert loose == [True, "101", "2024-02-29", "13:05:00", None]
