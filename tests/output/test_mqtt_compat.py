"""compat = "smart-meter-mbus-dlms": the original's messages, byte for byte, from our readings.

Held against tests/app/data/smart_meter_mbus_dlms_expected.json, recorded by running the
original's own code on the shared vectors (its "about" block says how and at which commit).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, Reading
from cosem_reader.output.mqtt.compat import (
    COMPAT_NAME,
    accepts,
    clock_text,
    compat_messages,
    original_name,
    topic_name,
    value_text,
)
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.pipeline.decoder import decode_capture
from tests.support.vectors import vector_layer, vector_params

TABLE = json.loads(
    (Path(__file__).parents[1] / "app" / "data" / "smart_meter_mbus_dlms_expected.json")
    .read_text("utf-8")
)
ROWS: dict[str, Any] = TABLE["vectors"]
VIENNA = ZoneInfo("Europe/Vienna")
FORMATS = ("epoch", "iso", "js", "iso-local")

#: What `config import` makes of the original's template (config/default.template.json5).
IMPORTED = MqttSettings(
    enabled=True,
    compat=COMPAT_NAME,
    qos=0,
    topic_base="SmartMeter/Electricity/Main",
    topic_identifier="name",
    invalid_characters="[^a-zA-z0-9_]",
    invalid_character_replacement="",
    date_time_format="iso-local",
    homeassistant_discovery=False,
    language="de",
    name_template="[measurement], [measurementType]",
    name_delimiters=",- ",
)


def notification(vector: dict[str, Any]) -> Notification:
    key = bytes.fromhex(vector["key"]) if vector.get("key") else None
    results = decode_capture(
        bytes.fromhex(vector["hex"]), key=key, layer=vector_layer(vector), local_zone=VIENNA
    )
    return next(r for r in results if isinstance(r, Notification))


def published(read: Notification, settings: MqttSettings) -> list[list[str]]:
    messages = compat_messages(read, settings, VIENNA)
    assert {(m.qos, m.retain) for m in messages} <= {(0, False)}
    return [[m.topic, m.payload.decode("utf-8")] for m in messages]


VARIANTS: dict[str, dict[str, Any]] = {
    "messages": {},
    "messages_en": {"language": "en"},
    "messages_include_unit": {"include_unit": True},
}


@pytest.mark.vectors
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("vector", vector_params(lambda v: "messages" in ROWS.get(v["id"], {})))
def test_the_original_messages_in_its_order(vector: dict[str, Any], variant: str) -> None:
    """Topics, payloads and order as the original published them (clock last, then JSON)."""
    settings = replace(IMPORTED, **VARIANTS[variant])
    assert published(notification(vector), settings) == ROWS[vector["id"]][variant]


@pytest.mark.vectors
@pytest.mark.parametrize("date_time_format", FORMATS)
@pytest.mark.parametrize("vector", vector_params(lambda v: "messages" in ROWS.get(v["id"], {})))
def test_the_clock_in_each_date_format(vector: dict[str, Any], date_time_format: str) -> None:
    """The clock's topic and its JSON entry carry the format the original printed."""
    settings = replace(IMPORTED, date_time_format=date_time_format)
    messages = published(notification(vector), settings)
    expected = ROWS[vector["id"]]["clock"][date_time_format]
    assert messages[-2] == ["SmartMeter/Electricity/Main/Zeitpunkt", expected]
    assert json.loads(messages[-1][1])[-2]["value"] == expected


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: "publishes_nothing" in ROWS.get(
    v["id"], {"publishes_nothing": True}) and v["link_layer"] in ("mbus", "raw-apdu")))
def test_pushes_the_original_dropped_publish_nothing(vector: dict[str, Any]) -> None:
    """A flat list (Netz NÖ, Sagemcom) failed the original's structure check: nothing."""
    key = bytes.fromhex(vector["key"]) if vector.get("key") else None
    results = decode_capture(
        bytes.fromhex(vector["hex"]), key=key, layer=vector_layer(vector), local_zone=VIENNA
    )
    for read in (r for r in results if isinstance(r, Notification)):
        assert not accepts(read)
        assert compat_messages(read, IMPORTED, VIENNA) == []


def test_only_the_json_or_only_values() -> None:
    """publish_json and publish_values each switch their own messages."""
    vector = next(iter(vector_params(lambda v: "messages" in ROWS.get(v["id"], {}))), None)
    if vector is None:
        pytest.skip("real meter vectors not found")
    read = notification(vector.values[0])
    only_json = published(read, replace(IMPORTED, publish_values=False))
    assert [topic for topic, _ in only_json] == ["SmartMeter/Electricity/Main/json"]
    only_values = published(read, replace(IMPORTED, publish_json=False))
    assert all(not topic.endswith("/json") for topic, _ in only_values)


class TestDateFormats:
    """The original read the meter's wall time in the process's zone, deviation ignored."""

    SUMMER = datetime(2021, 7, 19, 15, 46, 35, tzinfo=timezone(timedelta(hours=2)))

    @pytest.mark.parametrize(("date_time_format", "expected"), [
        ("epoch", "1626702395000"),
        ("iso", "2021-07-19T13:46:35.000Z"),
        ("js", "Mon Jul 19 2021 15:46:35 GMT+0200 (Central European Summer Time)"),
        ("iso-local", "2021-07-19 15:46:35"),
    ])
    def test_the_four_formats(self, date_time_format: str, expected: str) -> None:
        assert clock_text(self.SUMMER, date_time_format, VIENNA) == expected

    def test_the_deviation_the_meter_sent_is_ignored(self) -> None:
        """The same wall time with another deviation prints the same (as the original)."""
        other = self.SUMMER.replace(tzinfo=timezone(timedelta(hours=-5)))
        assert clock_text(other, "iso", VIENNA) == "2021-07-19T13:46:35.000Z"

    def test_winter_time_and_another_zone(self) -> None:
        winter = datetime(2022, 11, 12, 16, 54)
        assert clock_text(winter, "js", VIENNA) == (
            "Sat Nov 12 2022 16:54:00 GMT+0100 (Central European Standard Time)"
        )
        assert clock_text(winter, "epoch", ZoneInfo("UTC")) == "1668272040000"

    def test_a_clock_that_did_not_parse_is_empty(self) -> None:
        assert clock_text(None, "iso-local", VIENNA) == ""


class TestNames:
    def test_placeholders_are_replaced_once_and_only_the_end_is_trimmed(self) -> None:
        code = ObisCode(1, 0, 32, 7, 0, 255)
        assert original_name(code, "de", "[measurement] [measurement]", " ") == (
            "L1 Spannung [measurement]"
        )
        # An empty part inside leaves its delimiters: the original trimmed the end only.
        assert original_name(code, "de", "[channel], [measurement], ", ", ") == (
            ", L1 Spannung"
        )

    def test_the_original_default_template_is_the_measurement(self) -> None:
        assert original_name(ObisCode(1, 0, 32, 7, 0, 255), "en", None, "") == "L1 voltage"

    def test_only_the_first_of_each_umlaut_is_spelled_out(self) -> None:
        settings = replace(IMPORTED, invalid_characters="")
        assert topic_name("Zählerstand Zähler Öl", settings) == "Zaehlerstand Zähler Oel"

    def test_octet_strings_not_printable_are_decimal_bytes(self) -> None:
        reading = notification_reading(b"\x01\x02\xff")
        assert value_text(reading) == "1 2 255"
        assert value_text(notification_reading(Decimal("230.80"))) == "230.8"


def notification_reading(value: Any) -> Reading:
    return Reading(ObisCode(1, 0, 32, 7, 0, 255), "1", value, None, None, "octet-string")
