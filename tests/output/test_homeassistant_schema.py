"""Every discovery entity of every real vector obeys Home Assistant's sensor rules (issue 12).

Home Assistant refuses an MQTT sensor whose ``device_class`` does not allow its unit or
its ``state_class``; the rules below are ``DEVICE_CLASS_UNITS`` and
``DEVICE_CLASS_STATE_CLASSES`` of home-assistant/core
``homeassistant/components/sensor/const.py`` (units from ``homeassistant/const.py``:
``UnitOfEnergy``, ``UnitOfReactiveEnergy``, ``UnitOfReactivePower``,
``UnitOfApparentPower`` …), for the classes a meter's registers can map to.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest

from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError
from cosem_reader.output.homeassistant import device_info, discovery_messages
from cosem_reader.output.jsonout import dumps, is_raw_number, notification_to_dict
from tests.support.vectors import decode_vector, vector_params

MEASUREMENT = frozenset({"measurement"})
TOTALS = frozenset({"total", "total_increasing"})

#: device class → (allowed units, allowed state classes), as Home Assistant documents them.
HA_SENSOR_RULES: dict[str, tuple[frozenset[str | None], frozenset[str]]] = {
    "energy": (frozenset({"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh"}), TOTALS),
    "reactive_energy": (frozenset({"varh", "kvarh"}), TOTALS),
    "power": (frozenset({"mW", "W", "kW", "MW", "GW"}), MEASUREMENT),
    "reactive_power": (frozenset({"mvar", "var", "kvar"}), MEASUREMENT),
    "apparent_power": (frozenset({"VA", "kVA"}), MEASUREMENT),
    "voltage": (frozenset({"mV", "V", "kV"}), MEASUREMENT),
    "current": (frozenset({"mA", "A"}), MEASUREMENT),
    "frequency": (frozenset({"Hz", "kHz", "MHz", "GHz"}), MEASUREMENT),
    "power_factor": (frozenset({None, "%"}), MEASUREMENT),
    "timestamp": (frozenset({None}), frozenset()),
}
STATE_CLASSES = frozenset({"measurement", "total", "total_increasing"})


def _notifications(vector: dict[str, Any]) -> list[Notification]:
    found = [r for r in decode_vector(vector) if isinstance(r, Notification)]
    if not found:
        errors = [r for r in decode_vector(vector) if isinstance(r, CosemReaderError)]
        pytest.skip(f"{vector['id']} decodes to no notification here ({errors[:1]})")
    return found


def _render(template: str, state: dict[str, Any]) -> str:
    # Home Assistant renders value templates with Jinja2 (a sandbox of it), value_json
    # being the parsed state message.
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.from_string(template).render(value_json=state)


def _check_sensor(payload: dict[str, Any]) -> None:
    device_class = payload.get("device_class")
    unit = payload.get("unit_of_measurement")
    state_class = payload.get("state_class")
    assert state_class is None or state_class in STATE_CLASSES, payload
    if device_class is None:
        return
    assert device_class in HA_SENSOR_RULES, payload
    units, state_classes = HA_SENSOR_RULES[device_class]
    assert unit in units, payload
    assert state_class is None or state_class in state_classes, payload


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params())
def test_every_entity_of_every_vector_is_one_home_assistant_accepts(
    vector: dict[str, Any],
) -> None:
    for notification in _notifications(vector):
        messages = discovery_messages(
            notification, meter_id="house", state_topic="s", availability_topic="a"
        )
        state = json.loads(dumps(notification_to_dict(notification, "en", None)))
        empty = {**state, "values": {}}
        for topic, payload in messages:
            _check_sensor(payload)
            code = payload["unique_id"]
            assert topic.startswith("homeassistant/sensor/house/"), topic
            # A push without the code renders nothing (Home Assistant keeps the state).
            assert _render(payload["value_template"], empty) == "", code
            _render(payload["value_template"], state)
        for reading in notification.readings:
            if reading.obis is None or not is_raw_number(reading):
                continue
            raw = [p for _t, p in messages if p["unique_id"].endswith(_slug_tail(reading))]
            for payload in raw:
                assert "unit_of_measurement" not in payload, payload
                assert "device_class" not in payload, payload


def _slug_tail(reading: Any) -> str:
    return "_" + str(reading.obis).replace(":", "_").replace(".", "_")


@pytest.mark.vectors
@pytest.mark.parametrize(
    "vector", vector_params(lambda v: v["id"] == "at-netznoe-kaifa-ma309m-doc")
)
def test_a_chosen_meter_name_does_not_become_the_device_identifier(
    vector: dict[str, Any],
) -> None:
    (notification, *_) = _notifications(vector)
    assert notification.system_title is not None
    device = device_info("house", notification)
    assert device["identifiers"] == [notification.system_title.hex()]
    assert device["name"].endswith("house")
