"""Publishers, subscribers and the readings the MQTT tests publish."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, Reading
from cosem_reader.output.mqtt import MqttPublisher, MqttSettings
from tests.support.broker import Broker, Relay, broker_fixture  # noqa: F401 - the fixture `broker`

METER = "4b464d1020000123"


BASE = f"cosem-reader/{METER}"


VIENNA_SUMMER = timezone(timedelta(hours=2))


START = datetime(2021, 9, 27, 9, 47, 15, tzinfo=VIENNA_SUMMER)


def register(code: str, raw: int, scaler: int, unit: str | None) -> Reading:
    return Reading(
        ObisCode.parse(code), "0", Decimal(raw).scaleb(scaler), unit, scaler, "long-unsigned", raw
    )


def push(energy: int = 12937, when: datetime = START) -> Notification:
    """A Kaifa MA309M push; ``energy`` (1-0:1.8.0) tells the readings apart."""
    readings = (
        Reading(ObisCode.parse("0-0:1.0.0"), "0", when, None, None, "octet-string"),
        Reading(ObisCode.parse("0-0:96.1.0"), "1", "1KFM0200201234", None, None, "octet-string"),
        register("1-0:1.8.0", energy, 0, "Wh"),
        register("1-0:2.8.0", 0, 0, "Wh"),
        register("1-0:1.7.0", 1234, 0, "W"),
        register("1-0:2.7.0", 0, 0, "W"),
        register("1-0:32.7.0", 2337, -1, "V"),
        register("1-0:31.7.0", 165, -2, "A"),
        register("1-0:13.7.0", 998, -3, None),
    )
    return Notification(
        "data-notification", 1, when, readings, system_title=bytes.fromhex(METER), frame_counter=35
    )


def settings_for(host: str, port: int, **options: Any) -> MqttSettings:
    base: dict[str, Any] = {
        "enabled": True,
        "host": host,
        "port": port,
        "reconnect_min_delay": 1,
        "reconnect_max_delay": 1,
    }
    base.update(options)
    return MqttSettings(**base)


class Subscriber:
    """A real paho client that records what it receives."""

    def __init__(
        self, host: str, port: int, topics: tuple[str, ...] = ("cosem-reader/#", "homeassistant/#")
    ) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._condition = threading.Condition()
        self._subscribed = threading.Event()
        name = f"test-{uuid.uuid4().hex[:12]}"
        #: A topic of this subscriber's own, for :meth:`settle`; kept out of ``messages``.
        self._marker_topic = f"test-marker/{name}"
        self._markers: list[bytes] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in (*topics, self._marker_topic)])
        assert self._subscribed.wait(10), "the broker did not confirm the subscription"

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        with self._condition:
            if message.topic == self._marker_topic:
                self._markers.append(bytes(message.payload))
            else:
                self.messages.append(message)
            self._condition.notify_all()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the broker has delivered all it had for this subscriber when called.

        A marker published now comes back after every message the broker took in before
        it (a broker keeps the order towards one subscriber), so what did not arrive by
        then, a late duplicate say, was never sent: no fixed sleep waits for nothing.
        """
        marker = uuid.uuid4().bytes
        self.client.publish(self._marker_topic, marker, qos=1)
        deadline = time.monotonic() + timeout
        with self._condition:
            while marker not in self._markers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the broker did not return the marker")
                self._condition.wait(left)

    def wait_for(
        self, predicate: Callable[[list[paho.MQTTMessage]], bool], timeout: float = 15.0
    ) -> None:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = [m.topic for m in self.messages]
                    raise AssertionError(
                        f"timed out; received {len(topics)} messages: {topics[:40]}"
                    )
                self._condition.wait(left)

    def payloads(self, topic: str) -> list[str]:
        with self._condition:
            return [m.payload.decode() for m in self.messages if m.topic == topic]

    def states(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.payloads(f"{BASE}/state")]

    def energies(self) -> list[int]:
        return [state["values"]["1-0:1.8.0"]["value"] for state in self.states()]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(
        host: str, port: int, topics: tuple[str, ...] = ("cosem-reader/#", "homeassistant/#")
    ) -> Subscriber:
        subscriber = Subscriber(host, port, topics)
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def publishers() -> Iterator[list[MqttPublisher]]:
    made: list[MqttPublisher] = []
    yield made
    for publisher in made:
        publisher.stop(timeout=1)


def wait_until(
    condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def announce(host: str, port: int, publishers: list[MqttPublisher], meter: str) -> None:
    """Publish two pushes of one layout as ``meter`` (so its discovery configs go out),
    wait until the broker has them all, and stop the publisher."""
    publisher = MqttPublisher(settings_for(host, port), meter)
    publishers.append(publisher)
    publisher.start()
    publisher.publish(push())
    publisher.publish(push(12938))  # the same layout twice: discovery for its codes
    wait_until(lambda: publisher.connected and publisher.pending == 0, what="delivery")
    publisher.stop()

