"""``cosem-reader discovery --clear`` against a real broker (issue 12, part 5)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cosem_reader.app.cli import main
from cosem_reader.output.mqtt import MqttPublisher
from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.publishing import METER, Subscriber, announce

FOREIGN = "homeassistant/sensor/zigbee_plug/power/config"
SUMMARY = "discovery configs of cosem-reader cleared under homeassistant/"


@pytest.mark.broker
def test_clear_removes_only_what_cosem_reader_published(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    capsys: pytest.CaptureFixture[str],
) -> None:
    announce(broker.host, broker.port, publishers, METER)
    other = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    foreign = json.dumps({"name": "Plug", "state_topic": "z", "origin": {"name": "zigbee2mqtt"}})
    other.client.publish(FOREIGN, foreign, qos=1, retain=True).wait_for_publish(10)
    other.wait_for(lambda messages: any(m.topic == FOREIGN for m in messages))
    ours = {m.topic for m in other.messages if m.topic.startswith(f"homeassistant/sensor/{METER}/")}
    assert len(ours) == 9

    assert main(["discovery", "--clear", "--mqtt-url", broker.url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"9 {SUMMARY}"
    # Empty retained messages: Home Assistant removes the entities.
    other.wait_for(lambda messages: {m.topic for m in messages if not m.payload} == ours)

    assert main(["discovery", "--clear", "--mqtt-url", broker.url]) == 0
    assert capsys.readouterr().out.startswith("0 discovery configs")
    later = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    later.wait_for(lambda messages: [m.topic for m in messages] == [FOREIGN])


@pytest.mark.broker
def test_clear_only_one_meter(
    broker: Broker, subscribe: Callable[..., Subscriber], capsys: pytest.CaptureFixture[str]
) -> None:
    client = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    ours = json.dumps({"name": "Energy", "origin": {"name": "cosem-reader"}})
    for node in ("garage", "house"):
        topic = f"homeassistant/sensor/{node}/1-0_1_8_0/config"
        client.client.publish(topic, ours, qos=1, retain=True).wait_for_publish(10)
    client.wait_for(lambda messages: len(messages) == 2)
    assert main(["discovery", "--clear", "--meter", "garage", "--mqtt-url", broker.url]) == 0
    assert capsys.readouterr().out == (
        f"cleared homeassistant/sensor/garage/1-0_1_8_0/config\n1 {SUMMARY}\n"
    )


def test_clear_is_the_only_action_and_a_dead_broker_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["discovery"]) == 64
    assert "discovery --clear" in capsys.readouterr().err
    assert main(["discovery", "--clear", "--mqtt-url", "mqtt://127.0.0.1:9"]) == 69
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "127.0.0.1:9 not reachable" in err
