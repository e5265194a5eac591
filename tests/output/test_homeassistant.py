"""Home Assistant discovery payloads: what the Energy dashboard and the entity registry need."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader import __version__
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import SCALE_FROM_PUSH, Notification, Reading
from cosem_reader.output.homeassistant import (
    DiscoveryGate,
    device_info,
    discovery_messages,
    flag_id,
    manufacturer,
    obis_slug,
)
from cosem_reader.pipeline.decoder import decode_capture
from tests.support.vectors import vector_params

METER = "4b464d1020000123"
STATE = f"cosem-reader/{METER}/state"
AVAILABILITY = f"cosem-reader/{METER}/availability"
VIENNA_SUMMER = timezone(timedelta(hours=2))


def register(code: str, raw: int, scaler: int, unit: str | None) -> Reading:
    """A register sent with its scaler-unit."""
    return Reading(
        ObisCode.parse(code),
        "0",
        Decimal(raw).scaleb(scaler),
        unit,
        scaler,
        "long-unsigned",
        raw,
        SCALE_FROM_PUSH,
    )


def raw_register(code: str, raw: int) -> Reading:
    """A register sent without scaler-unit that nothing scales."""
    return Reading(ObisCode.parse(code), "0", raw, None, None, "double-long-unsigned", raw)


def kaifa_notification() -> Notification:
    """A Kaifa MA309M push as the Austrian operators send it, plus meter number and clock."""
    when = datetime(2021, 9, 27, 9, 47, 15, tzinfo=VIENNA_SUMMER)
    readings = (
        Reading(ObisCode.parse("0-0:1.0.0"), "0", when, None, None, "octet-string"),
        Reading(ObisCode.parse("0-0:96.1.0"), "1", "1KFM0200201234", None, None, "octet-string"),
        register("1-0:1.8.0", 12937, 0, "Wh"),
        register("1-0:2.8.0", 0, 0, "Wh"),
        register("1-0:1.7.0", 1234, 0, "W"),
        register("1-0:2.7.0", 0, 0, "W"),
        register("1-0:32.7.0", 2337, -1, "V"),
        register("1-0:31.7.0", 165, -2, "A"),
        register("1-0:13.7.0", 998, -3, None),
        register("1-0:14.7.0", 5000, -2, "Hz"),
        register("1-0:3.8.0", 500, 0, "varh"),
    )
    return Notification(
        "data-notification", 1, when, readings, system_title=bytes.fromhex("4B464D1020000123")
    )


def configs(notification: Notification, **options: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Discovery messages by OBIS code."""
    messages = discovery_messages(
        notification, meter_id=METER, state_topic=STATE, availability_topic=AVAILABILITY, **options
    )
    by_code: dict[str, tuple[str, dict[str, Any]]] = {}
    for topic, payload in messages:
        code = payload["value_template"].split("['values'].get('")[1].split("'")[0]
        by_code[code] = (topic, payload)
    return by_code


@pytest.mark.parametrize(
    ("code", "device_class", "state_class", "unit"),
    [
        ("1-0:1.8.0", "energy", "total_increasing", "Wh"),
        ("1-0:2.8.0", "energy", "total_increasing", "Wh"),
        ("1-0:1.7.0", "power", "measurement", "W"),
        ("1-0:2.7.0", "power", "measurement", "W"),
        ("1-0:32.7.0", "voltage", "measurement", "V"),
        ("1-0:31.7.0", "current", "measurement", "A"),
        ("1-0:13.7.0", "power_factor", "measurement", None),
        ("1-0:14.7.0", "frequency", "measurement", "Hz"),
    ],
)
def test_energy_dashboard_classes(
    code: str, device_class: str, state_class: str, unit: str | None
) -> None:
    _topic, payload = configs(kaifa_notification())[code]
    assert payload["device_class"] == device_class
    assert payload["state_class"] == state_class
    assert payload.get("unit_of_measurement") == unit
    assert "unit_of_measurement" in payload or unit is None
    assert "entity_category" not in payload


@pytest.mark.parametrize("code", ["1-1:1.8.0", "1-1:2.8.0", "1-1:1.7.0", "1-1:31.7.0"])
def test_a_raw_number_gets_no_unit_and_no_energy_or_power_class(code: str) -> None:
    """A number of unknown scale must not be graphed as energy: HA would believe it."""
    when = datetime(2026, 3, 12, 15, 24, 30, tzinfo=VIENNA_SUMMER)
    notification = Notification("data-notification", 1, when, (raw_register(code, 6307498),))
    _topic, payload = configs(notification)[code]
    for key in ("device_class", "unit_of_measurement", "suggested_display_precision"):
        assert key not in payload, key
    assert payload.get("state_class") in (None, "measurement")


def test_sensor_payload_fields() -> None:
    topic, payload = configs(kaifa_notification(), expire_after=60)["1-0:32.7.0"]
    assert topic == f"homeassistant/sensor/{METER}/1-0_32_7_0/config"
    assert payload["unique_id"] == f"cosem_reader_{METER}_1-0_32_7_0"
    assert payload["object_id"] == f"cosem_reader_{METER}_1_0_32_7_0"
    assert payload["state_topic"] == STATE
    assert payload["value_template"] == (
        "{{ value_json['values'].get('1-0:32.7.0', {}).get('value', '') }}"
    )
    assert payload["availability_topic"] == AVAILABILITY
    assert payload["suggested_display_precision"] == 1
    assert payload["expire_after"] == 60
    assert payload["name"] == "Voltage L1"
    assert payload["origin"] == {"name": "cosem-reader", "sw_version": __version__}
    assert re.fullmatch(r"sensor\.[a-z0-9_]+", payload["default_entity_id"])
    assert payload["object_id"] == payload["default_entity_id"].removeprefix("sensor.")
    device = payload["device"]
    assert device["identifiers"] == [METER]
    assert device["manufacturer"] == "Kaifa"
    assert device["serial_number"] == "1KFM0200201234"


def test_text_and_time_readings_are_diagnostic() -> None:
    by_code = configs(kaifa_notification())
    _topic, meter_number = by_code["0-0:96.1.0"]
    assert meter_number["entity_category"] == "diagnostic"
    for key in ("device_class", "state_class", "unit_of_measurement"):
        assert key not in meter_number
    _topic, clock = by_code["0-0:1.0.0"]
    assert clock["device_class"] == "timestamp"
    assert "state_class" not in clock
    _topic, clock_epoch = configs(kaifa_notification(), date_time_format="epoch")["0-0:1.0.0"]
    assert "device_class" not in clock_epoch


def test_reactive_energy_gets_its_device_class() -> None:
    # Home Assistant knows reactive_energy (varh, kvarh) since 2025.6 (issue 12).
    _topic, payload = configs(kaifa_notification())["1-0:3.8.0"]
    assert payload["device_class"] == "reactive_energy"
    assert payload["unit_of_measurement"] == "varh"
    assert payload["state_class"] == "total_increasing"


def test_device_class_dropped_when_the_unit_does_not_fit() -> None:
    # A meter that reports its energy register in an odd unit must not make HA reject it.
    odd = Notification("data-notification", 1, None, (register("1-0:1.8.0", 5, 0, "VAh"),))
    _topic, payload = configs(odd)["1-0:1.8.0"]
    assert "device_class" not in payload
    assert payload["unit_of_measurement"] == "VAh"


def test_german_names_and_one_sensor_per_code() -> None:
    notification = kaifa_notification()
    doubled = Notification(
        "data-notification", 1, None, (*notification.readings, register("1-0:1.8.0", 1, 0, "Wh"))
    )
    messages = discovery_messages(
        doubled, meter_id=METER, state_topic=STATE, availability_topic=AVAILABILITY, language="de"
    )
    assert len(messages) == len(notification.readings)
    names = {payload["name"] for _topic, payload in messages}
    assert "Spannung L1" in names


def test_manufacturer_from_flag_id() -> None:
    assert flag_id(bytes.fromhex("4B464D1020000123")) == "KFM"
    assert manufacturer(b"SAG\x01\x02\x03\x04\x05") == "Sagemcom"
    assert manufacturer(b"LGZ\x01\x02\x03\x04\x05") == "Landis+Gyr"
    assert manufacturer(b"XYZ\x01\x02\x03\x04\x05") == "XYZ"
    assert manufacturer(b"\x00\x01\x02\x03") is None
    assert manufacturer(None) is None
    assert "manufacturer" not in device_info("m")


@given(st.tuples(*[st.integers(0, 255)] * 6))
def test_slug_is_a_valid_topic_level(groups: tuple[int, ...]) -> None:
    """Any OBIS code gives a topic level of letters, digits, '_' and '-' only."""
    slug = obis_slug(ObisCode(*groups))
    assert slug
    assert all(ch.isalnum() or ch in "_-" for ch in slug)


@pytest.mark.vectors
@pytest.mark.parametrize(
    "vector", vector_params(lambda v: v["id"] == "at-netznoe-kaifa-ma309m-doc")
)
def test_real_kaifa_push(vector: dict[str, Any]) -> None:
    decoded = decode_capture(bytes.fromhex(vector["hex"]), key=bytes.fromhex(vector["key"]))
    notifications = [item for item in decoded if isinstance(item, Notification)]
    assert len(notifications) == 1
    meter = notifications[0].system_title
    assert meter is not None
    by_code = configs(notifications[0])
    # Every OBIS code the meter sent, and only those (the meter number has none here).
    assert set(by_code) == {str(r.obis) for r in notifications[0].readings if r.obis is not None}
    assert by_code["1-0:1.8.0"][1]["device_class"] == "energy"
    assert by_code["1-0:13.7.0"][1]["suggested_display_precision"] == 3
    assert by_code["1-0:1.8.0"][1]["device"]["manufacturer"] == "Kaifa"


# --------------------------------------------------------------------------- gating


def _push(codes: list[str]) -> Notification:
    readings = tuple(register(code, 1, 0, "Wh") for code in codes)
    return Notification("data-notification", 1, None, readings)


def test_gate_confirms_a_layout_seen_twice_in_a_row() -> None:
    gate = DiscoveryGate()
    meter = ["1-0:1.8.0", "1-0:2.8.0", "1-0:1.7.0"]
    assert gate.confirm(_push(meter)) == frozenset()
    assert gate.confirm(_push(["1-0:99.99.0"])) == frozenset()  # noise in between
    assert gate.confirm(_push(meter)) == frozenset()  # not consecutive
    confirmed = gate.confirm(_push(meter))
    assert confirmed == {ObisCode.parse(code) for code in meter}
    # Once confirmed, a code stays confirmed whatever layout carries it.
    assert gate.confirm(_push(["1-0:1.8.0", "1-0:42.7.0"])) == {ObisCode.parse("1-0:1.8.0")}


@given(
    st.lists(
        st.lists(st.sampled_from([f"1-0:{c}.8.0" for c in range(1, 12)]), max_size=5),
        max_size=30,
    ),
    st.integers(1, 8),
)
def test_gate_only_confirms_repeated_layouts_and_stays_bounded(
    layouts: list[list[str]], limit: int
) -> None:
    gate = DiscoveryGate(limit)
    repeated: set[ObisCode] = set()
    previous: list[str] | None = None
    confirmed: set[ObisCode] = set()
    for layout in layouts:
        if layout == previous:
            repeated.update(ObisCode.parse(code) for code in layout)
        previous = layout
        confirmed |= gate.confirm(_push(layout))
    assert confirmed <= repeated
    assert len(confirmed) <= limit
    assert gate.is_full == (len(gate._confirmed) >= limit)
