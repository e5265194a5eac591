"""The table of smart-meter-mbus-dlms' MQTT messages agrees with the real vectors.

tests/app/data/smart_meter_mbus_dlms_expected.json was recorded by running the original's
own code on the shared vectors (see its "about" block).  The compat publisher is held
against it (tests/output/test_mqtt_compat.py, tests/app/test_compat_publishing.py);
here the table itself is held against what our decoder reads from the same bytes, so a
wrong row cannot pass unnoticed: every value, unit, the order, the invoke id and the clock
under each of the original's four date formats.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import decode_capture
from tests.support.vectors import VECTORS, vector_layer, vector_params

TABLE = json.loads(
    (Path(__file__).parent / "data" / "smart_meter_mbus_dlms_expected.json").read_text("utf-8")
)
ROWS: dict[str, Any] = TABLE["vectors"]
VIENNA = ZoneInfo("Europe/Vienna")
BASE = "SmartMeter/Electricity/Main/"
CLOCK = "0-0:1.0.0*255"


def notification(vector: dict[str, Any]) -> Notification:
    layer = vector_layer(vector)
    key = bytes.fromhex(vector["key"]) if vector.get("key") else None
    results = decode_capture(bytes.fromhex(vector["hex"]), key=key, layer=layer, local_zone=VIENNA)
    found = [r for r in results if isinstance(r, Notification)]
    assert len(found) == 1, results
    return found[0]


def js_number(value: Decimal | int) -> str:
    """Number.prototype.toString for the values a meter sends: no trailing zeros."""
    return format(Decimal(value).normalize(), "f")


def test_every_mbus_and_apdu_vector_has_a_row() -> None:
    ids = {v["id"] for v in VECTORS if v["link_layer"] in ("mbus", "raw-apdu")}
    if not ids:
        pytest.skip("real meter vectors not found")
    assert set(ROWS) == ids


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: "messages" in ROWS.get(v["id"], {})))
def test_row_matches_the_vector(vector: dict[str, Any]) -> None:
    row = ROWS[vector["id"]]
    read = notification(vector)
    *values, (json_topic, json_payload) = row["messages"]
    assert json_topic == BASE + "json"
    published = json.loads(json_payload)
    assert published[-1] == {"name": "InvokeId", "value": str(read.invoke_id)}
    assert published[-2]["code"] == CLOCK
    by_code = {entry["code"]: entry for entry in published[:-2]}
    # Every reading but the clock, in the meter's order, with its unit.
    ours = [r for r in read.readings if r.obis is not None and str(r.obis) != "0-0:1.0.0"]
    assert [code.removesuffix("*255") for code in by_code] == [str(r.obis) for r in ours]
    for reading in ours:
        entry = by_code[f"{reading.obis}*255"]
        if isinstance(reading.value, str):
            assert (entry["value"], entry["unit"]) == (reading.value, "")
        else:
            assert isinstance(reading.value, Decimal | int)
            assert (entry["value"], entry["unit"]) == (js_number(reading.value), reading.unit)
    # The per-value topics carry the same payloads, clock last, before the JSON.
    assert [payload for _, payload in values] == [e["value"] for e in published[:-1]]
    assert values[-1][0] == BASE + "Zeitpunkt"


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: "messages" in ROWS.get(v["id"], {})))
def test_clock_in_the_four_formats(vector: dict[str, Any]) -> None:
    """epoch ms, ISO UTC with millis, the JS date string, and local wall time with a space."""
    clock = ROWS[vector["id"]]["clock"]
    stamp = next(r.value for r in notification(vector).readings if str(r.obis) == "0-0:1.0.0")
    assert isinstance(stamp, datetime)
    local = stamp.astimezone(VIENNA)
    assert clock["iso-local"] == local.strftime("%Y-%m-%d %H:%M:%S")
    assert clock["epoch"] == str(int(local.timestamp() * 1000))
    assert clock["iso"] == local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    summer = "Summer" if local.dst() else "Standard"
    assert clock["js"] == local.strftime("%a %b %d %Y %H:%M:%S GMT%z") + (
        f" (Central European {summer} Time)"
    )
