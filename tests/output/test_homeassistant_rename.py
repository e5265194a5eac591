"""A renamed meter leaves no stale Home Assistant entities behind (issue 12, part 5)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cosem_reader.output.homeassistant import renamed_config
from cosem_reader.output.mqtt import MqttPublisher
from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.publishing import METER, Subscriber, announce

NEIGHBOUR = "homeassistant/sensor/flat2/1-0_1_8_0/config"


def _config(identifier: str, serial: str | None = None) -> bytes:
    device: dict[str, object] = {"identifiers": [identifier]}
    if serial is not None:
        device["serial_number"] = serial
    return json.dumps({"origin": {"name": "cosem-reader"}, "device": device}).encode()


@pytest.mark.broker
def test_the_daemon_clears_the_configs_of_the_old_name(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    neighbour = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    neighbour.client.publish(NEIGHBOUR, _config("4b464d9999999999"), 1, True).wait_for_publish(10)
    announce(broker.host, broker.port, publishers, "garage")
    neighbour.wait_for(lambda messages: len(messages) == 10)
    old = {m.topic for m in neighbour.messages if "/garage/" in m.topic}
    assert len(old) == 9

    announce(broker.host, broker.port, publishers, "house")
    new = {t.replace("/garage/", "/house/") for t in old}
    neighbour.wait_for(lambda messages: {m.topic for m in messages if not m.payload} == old)

    later = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    later.wait_for(lambda messages: {m.topic for m in messages} == {*new, NEIGHBOUR})


def test_what_counts_as_the_same_meter_under_another_name() -> None:
    device = {"identifiers": [METER], "serial_number": "1KFM0200201234"}
    topic = "homeassistant/sensor/garage/1-0_1_8_0/config"
    assert renamed_config(topic, _config(METER), "house", device)
    assert renamed_config(topic, _config("garage", "1KFM0200201234"), "house", device)
    assert not renamed_config(topic, _config(METER), "garage", device)
    assert not renamed_config(topic, _config("4b464d9999999999"), "house", device)
    assert not renamed_config(topic, _config(METER), "house", None)
    assert not renamed_config(topic, b"not json", "house", device)
    foreign = json.dumps({"origin": {"name": "other"}, "device": {"identifiers": [METER]}})
    assert not renamed_config(topic, foreign.encode(), "house", device)
