"""``decoding.name_delimiters`` in every name a user sees: JSON (both paths) and Home
Assistant's entity names, not only the debug log (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.readings import Notification
from cosem_reader.output.homeassistant import discovery_messages
from cosem_reader.output.jsonout import dumps, notification_json, notification_to_dict
from cosem_reader.output.mqtt.payloads import reading_identifier, state_payload
from cosem_reader.output.mqtt.settings import MqttSettings, topic_level
from tests.support.vectors import decode_vector, vector_params

#: The name format of the complaint: every empty part leaves "; " behind.
TEMPLATE = "[measurement]; [channel]; [previousMeasurement];"


def _notifications(vector: dict[str, Any]) -> list[Notification]:
    return [r for r in decode_vector(vector) if isinstance(r, Notification)]


#: The vectors that decode to readings (some come without their key).
DECODED = vector_params(lambda vector: bool(_notifications(vector)))


@pytest.mark.parametrize("vector", DECODED)
def test_json_names_lose_the_delimiters_on_both_paths(vector: dict[str, Any]) -> None:
    for notification in _notifications(vector):
        slow = dumps(notification_to_dict(notification, "en", TEMPLATE, "; "))
        for _ in range(2):  # the second time from the cache of texts
            assert notification_json(notification, "en", TEMPLATE, None, "; ") == slow
        names = [entry["name"] for entry in notification_to_dict(
            notification, "en", TEMPLATE, "; ")["values"].values()]
        assert names
        assert not [name for name in names if name.endswith((";", " "))], names
        # The default delimiters keep the text they always gave.
        assert notification_json(notification, "en", TEMPLATE) == dumps(
            notification_to_dict(notification, "en", TEMPLATE))


@pytest.mark.parametrize("vector", DECODED)
def test_entity_names_lose_the_delimiters(vector: dict[str, Any]) -> None:
    for notification in _notifications(vector):
        messages = discovery_messages(
            notification, meter_id="m", state_topic="s", availability_topic="a",
            name_template=TEMPLATE, name_delimiters="; ",
        )
        names = [payload["name"] for _, payload in messages]
        assert not [name for name in names if name.endswith((";", " "))], names


@given(
    template=st.sampled_from([TEMPLATE, "[medium] | [measurement] | [tariff]", "[code]"]),
    delimiters=st.text(alphabet=" ;|-,", max_size=4),
)
def test_the_fast_path_names_as_the_slow_one(template: str, delimiters: str) -> None:
    """The texts cached per name template are cached per delimiters too."""
    vectors = [param.values[0] for param in DECODED]
    vector = next((v for v in vectors if v is not None), None)
    if vector is None:
        pytest.skip("no vectors")
    for notification in _notifications(vector):
        assert notification_json(notification, "en", template, None, delimiters) == dumps(
            notification_to_dict(notification, "en", template, delimiters))


@pytest.mark.parametrize("vector", DECODED)
def test_mqtt_state_and_topics_lose_the_delimiters(vector: dict[str, Any]) -> None:
    """The daemon's state JSON and per-value topic names take ``decoding.name_delimiters``."""
    settings = MqttSettings(
        enabled=True, name_template=TEMPLATE, name_delimiters="; ", topic_identifier="name"
    )
    for notification in _notifications(vector):
        state = json.loads(state_payload(notification, settings))
        names = [entry["name"] for entry in state["values"].values()]
        assert names
        assert not [name for name in names if name.endswith((";", " "))], names
        # A per-value topic is named as the JSON names it.
        for reading in notification.readings:
            if reading.obis is not None:
                name = state["values"][reading.key]["name"]
                assert reading_identifier(reading, settings) == topic_level(name, settings)
