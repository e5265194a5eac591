"""The MQTT publisher against a real broker (mosquitto, or the embedded amqtt), paho unmocked."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import MQTTProtocolVersion

from cosem_reader.errors import ConfigError
from cosem_reader.output.mqtt import MqttPublisher, MqttSettings, sanitize_level
from tests.support.broker import (  # noqa: F401 - the fixture `broker`
    HOST,
    Broker,
    Relay,
    broker_fixture,
    free_port,
)
from tests.support.publishing import (
    BASE,
    METER,
    START,
    Subscriber,
    push,
    register,
    settings_for,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pa55w0rd"
















# --------------------------------------------------------------------------- publishing


@pytest.mark.broker
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_state_values_and_availability(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    protocol: str,
) -> None:
    if protocol == "5" and broker.kind == "amqtt":
        pytest.skip("amqtt speaks MQTT 3.1.1 only")
    subscriber = subscribe(broker.host, broker.port)
    publisher = MqttPublisher(settings_for(broker.host, broker.port, protocol=protocol), METER)
    publishers.append(publisher)
    publisher.start()
    publisher.publish(push())
    subscriber.wait_for(lambda _m: bool(subscriber.payloads(f"{BASE}/1-0_13_7_0")))
    subscriber.wait_for(lambda _m: bool(subscriber.states()))

    assert publisher.connected
    assert subscriber.payloads(f"{BASE}/availability") == ["online"]
    (state,) = subscriber.states()
    assert state["timestamp"] == "2021-09-27T09:47:15+02:00"
    assert state["system_title"] == METER.upper()
    assert state["values"]["1-0:1.8.0"] == {
        "value": 12937,
        "unit": "Wh",
        "name": "Active energy import (+A)",
    }
    assert state["values"]["1-0:32.7.0"]["value"] == pytest.approx(233.7)
    assert '"value": 0.998' in subscriber.payloads(f"{BASE}/state")[0]  # exact decimals
    assert subscriber.payloads(f"{BASE}/1-0_1_8_0") == ["12937"]
    assert subscriber.payloads(f"{BASE}/1-0_32_7_0") == ["233.7"]
    assert subscriber.payloads(f"{BASE}/1-0_31_7_0") == ["1.65"]
    assert subscriber.payloads(f"{BASE}/0-0_96_1_0") == ["1KFM0200201234"]
    assert subscriber.payloads(f"{BASE}/0-0_1_0_0") == ["2021-09-27T09:47:15+02:00"]
    wait_until(lambda: publisher.pending == 0, what="PUBACKs")

    # Availability is retained: a client arriving later learns it at once.
    late = subscribe(broker.host, broker.port, (f"{BASE}/availability",))
    late.wait_for(bool)
    assert late.messages[0].retain
    assert late.messages[0].payload == b"online"

    publisher.set_available(False, "no telegram for 30 s")
    subscriber.wait_for(lambda _m: subscriber.payloads(f"{BASE}/availability")[-1:] == ["offline"])
    publisher.set_available(True)
    subscriber.wait_for(lambda _m: subscriber.payloads(f"{BASE}/availability")[-1:] == ["online"])

    publisher.stop()
    subscriber.wait_for(lambda _m: subscriber.payloads(f"{BASE}/availability")[-1:] == ["offline"])
    assert not publisher.connected


@pytest.mark.broker
def test_names_units_and_epoch_times(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    subscriber = subscribe(broker.host, broker.port, ("home/#", "homeassistant/#"))
    settings = settings_for(
        broker.host,
        broker.port,
        topic_identifier="name",
        include_unit=True,
        date_time_format="js",
        language="de",
        topic_base="home/meters",
        homeassistant_discovery=False,
    )
    publisher = MqttPublisher(settings)  # the meter id comes from the system title
    publishers.append(publisher)
    publisher.start()
    publisher.publish(push())
    prefix = f"home/meters/{METER}"
    subscriber.wait_for(lambda messages: any(m.topic == f"{prefix}/Spannung_L1" for m in messages))
    assert subscriber.payloads(f"{prefix}/Spannung_L1") == ["233.7 V"]
    assert subscriber.payloads(f"{prefix}/Zaehlernummer") == ["1KFM0200201234"]
    state = json.loads(subscriber.payloads(f"{prefix}/state")[0])
    assert state["timestamp"] == int(START.timestamp() * 1000)
    assert state["values"]["0-0:1.0.0"]["value"] == int(START.timestamp() * 1000)
    assert not [m for m in subscriber.messages if m.topic.startswith("homeassistant/")]


# --------------------------------------------------------------------------- discovery


@pytest.mark.broker
def test_discovery_and_resend_on_homeassistant_online(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    publisher = MqttPublisher(settings_for(broker.host, broker.port), METER)
    publishers.append(publisher)
    publisher.start()
    publisher.publish(push())
    publisher.publish(push(12938))  # the same layout twice: its OBIS codes are real
    wait_until(lambda: publisher.connected and publisher.pending == 0, what="delivery")

    # Retained: Home Assistant finds the configs whenever it subscribes.
    subscriber = subscribe(broker.host, broker.port, ("homeassistant/sensor/#",))
    subscriber.wait_for(lambda messages: len(messages) == 9)
    assert all(m.retain for m in subscriber.messages)
    configs = {m.topic: json.loads(m.payload) for m in subscriber.messages}
    energy = configs[f"homeassistant/sensor/{METER}/1-0_1_8_0/config"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "Wh",
    )
    assert energy["state_topic"] == f"{BASE}/state"
    assert energy["availability_topic"] == f"{BASE}/availability"
    assert energy["unique_id"] == f"cosem_reader_{METER}_1-0_1_8_0"
    assert energy["device"]["manufacturer"] == "Kaifa"
    assert energy["device"]["serial_number"] == "1KFM0200201234"
    power_factor = configs[f"homeassistant/sensor/{METER}/1-0_13_7_0/config"]
    assert power_factor["device_class"] == "power_factor"
    assert "unit_of_measurement" not in power_factor

    # Home Assistant restarts: its birth message asks for discovery and states again.
    watcher = subscribe(broker.host, broker.port, ("homeassistant/sensor/#", f"{BASE}/state"))
    watcher.wait_for(lambda messages: len({m.topic for m in messages}) == 9)  # retained configs
    # amqtt replays other clients' retained topics on connect, and was seen to miss a
    # PUBLISH on a connection it was still sending retained messages to: announce Home
    # Assistant from a client of its own once the replay has settled.
    watcher.settle()
    home_assistant = subscribe(broker.host, broker.port, ("homeassistant/status",))
    home_assistant.client.publish("homeassistant/status", "online", qos=1).wait_for_publish(10)
    watcher.wait_for(lambda messages: len([m for m in messages if not m.retain]) == 10)
    fresh = [m for m in watcher.messages if not m.retain]
    assert {m.topic for m in fresh[:9]} == set(configs)
    assert fresh[9].topic == f"{BASE}/state"

    # A new OBIS code gets its config before the state that carries it, once a
    # second push of the new layout confirms it.
    more = push(12940)
    more = replace(more, readings=(*more.readings, register("1-0:14.7.0", 5000, -2, "Hz")))
    publisher.publish(more)
    publisher.publish(replace(more, readings=more.readings))
    frequency_topic = f"homeassistant/sensor/{METER}/1-0_14_7_0/config"
    watcher.wait_for(
        lambda messages: (
            messages[-1].topic == f"{BASE}/state"
            and any(m.topic == frequency_topic for m in messages)
        )
    )
    topics = [m.topic for m in watcher.messages]
    assert topics.index(frequency_topic) < len(topics) - 1


# --------------------------------------------------------------------------- delivery


def _outage(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    outage: float,
) -> None:
    """20 readings, a broker restart in the middle: every reading arrives once, in order."""
    relay = Relay(broker.host, broker.port)
    try:
        first = subscribe(broker.host, broker.port, (f"{BASE}/state",))
        publisher = MqttPublisher(
            settings_for(relay.host, relay.port, homeassistant_discovery=False), METER
        )
        publishers.append(publisher)
        publisher.start()
        for energy in range(5):
            publisher.publish(push(energy, START + timedelta(seconds=energy)))
        first.wait_for(lambda _m: len(first.states()) == 5)
        wait_until(lambda: publisher.pending == 0, what="PUBACKs before the outage")

        # The gate only makes sure the second subscriber is back before the publisher.
        relay.close_gate()
        broker.stop()
        wait_until(lambda: not publisher.connected, what="the publisher to notice")
        began = time.monotonic()
        for energy in range(5, 20):
            publisher.publish(push(energy, START + timedelta(seconds=energy)))
            time.sleep(outage / 20)
        assert publisher.pending == 15
        time.sleep(max(0.0, outage - (time.monotonic() - began)))
        broker.start()
        second = subscribe(broker.host, broker.port, (f"{BASE}/state",))
        relay.open()
        second.wait_for(lambda _m: len(second.states()) >= 15, timeout=outage + 30)
        wait_until(lambda: publisher.pending == 0, what="PUBACKs after the outage")
        # The first subscriber's broker is gone; a duplicate would reach the second one.
        second.settle()  # a duplicate, had one been sent, has arrived by now
        assert first.energies() + second.energies() == list(range(20))
    finally:
        relay.shutdown()


@pytest.mark.broker
def test_broker_restart_loses_nothing(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    _outage(broker, subscribe, publishers, outage=3.0)


@pytest.mark.broker
@pytest.mark.skipif(
    not os.environ.get("COSEM_READER_SLOW_TESTS"),
    reason="30 s outage; set COSEM_READER_SLOW_TESTS=1",
)
def test_broker_restart_after_30_seconds(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    _outage(broker, subscribe, publishers, outage=30.0)


def test_a_relay_shut_down_stops_listening() -> None:
    """A test's relay must not outlive it: one still listening would relay a late
    connection to a broker port another test may have by then."""
    relay = Relay(HOST, free_port())  # nothing behind it: it closes what it accepts
    port = relay.port
    with socket.create_connection((HOST, port), timeout=5) as client:
        assert client.recv(1) == b""  # its thread took this one and waits for the next
    relay.shutdown()
    assert _refused(port)


def _refused(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.broker
def test_queue_overflow_drops_the_oldest(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay = Relay(broker.host, broker.port)
    relay.close_gate()  # the broker is unreachable from the start
    try:
        subscriber = subscribe(broker.host, broker.port, (f"{BASE}/state",))
        settings = settings_for(relay.host, relay.port, queue_size=3, homeassistant_discovery=False)
        publisher = MqttPublisher(settings, METER)
        publishers.append(publisher)
        with caplog.at_level(logging.WARNING, logger="cosem_reader.output.mqtt"):
            publisher.start()
            for energy in range(8):
                publisher.publish(push(energy, START + timedelta(seconds=energy)))
            assert publisher.pending == 3
            assert not publisher.connected
            full = [r for r in caplog.records if "queue full" in r.getMessage()]
            assert len(full) == 1  # one warning per overflow episode
            relay.open()
            subscriber.wait_for(lambda _m: len(subscriber.states()) == 3)
            wait_until(lambda: publisher.pending == 0, what="PUBACKs")
        assert subscriber.energies() == [5, 6, 7]
        assert any("dropped" in r.getMessage() and "5" in r.getMessage() for r in caplog.records)
    finally:
        relay.shutdown()


_WILL_SCRIPT = """
import sys, time
from cosem_reader.output.mqtt import MqttPublisher, MqttSettings
from tests.support.publishing import push, METER

settings = MqttSettings(enabled=True, host=sys.argv[1], port=int(sys.argv[2]), keepalive=5)
publisher = MqttPublisher(settings, METER)
publisher.start()
publisher.publish(push())
while not (publisher.connected and publisher.pending == 0):
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.broker
def test_last_will_when_the_process_dies(
    broker: Broker, subscribe: Callable[..., Subscriber]
) -> None:
    subscriber = subscribe(broker.host, broker.port, (f"{BASE}/availability",))
    environment = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])
    )
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WILL_SCRIPT), broker.host, str(broker.port)],
        stdout=subprocess.PIPE,
        env=environment,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        subscriber.wait_for(lambda messages: [m.payload for m in messages] == [b"online"])
        process.kill()  # no DISCONNECT: the broker sends the last will
        process.wait(10)
        subscriber.wait_for(
            lambda messages: [m.payload for m in messages] == [b"online", b"offline"]
        )
    finally:
        process.kill()
        process.wait(10)
    retained = subscribe(broker.host, broker.port, (f"{BASE}/availability",))
    retained.wait_for(bool)
    assert (retained.messages[0].payload, retained.messages[0].retain) == (b"offline", True)


@pytest.mark.broker
def test_password_never_logged(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = subscribe(broker.host, broker.port, (f"{BASE}/state",))
    with caplog.at_level(logging.DEBUG):
        settings = MqttSettings(
            enabled=True,
            url=f"mqtt://meter:{SECRET}@{broker.host}:{broker.port}",
            reconnect_min_delay=1,
            reconnect_max_delay=1,
        )
        assert settings.password == SECRET
        assert settings.username == "meter"
        publisher = MqttPublisher(settings, METER)
        publishers.append(publisher)
        publisher.start()
        publisher.publish(push())
        subscriber.wait_for(lambda _m: len(subscriber.states()) == 1)
        logging.getLogger("test").debug("settings %r", settings)
        publisher.stop()
    assert any(r.name.startswith("cosem_reader.output.mqtt.paho") for r in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.redacted())


# --------------------------------------------------------------------------- without a broker


def test_test_mode_publishes_nothing(
    broker: Broker, subscribe: Callable[..., Subscriber], caplog: pytest.LogCaptureFixture
) -> None:
    subscriber = subscribe(broker.host, broker.port)
    publisher = MqttPublisher(settings_for(broker.host, broker.port, test_mode=True), METER)
    with caplog.at_level(logging.INFO, logger="cosem_reader.output.mqtt"):
        publisher.start()
        publisher.publish(push())
        publisher.publish(push())
        publisher.set_available(False, "test")
        publisher.stop()
    logged = [r.getMessage() for r in caplog.records if "would publish" in r.getMessage()]
    assert any(f"{BASE}/state: {{" in line for line in logged)
    assert any(line.endswith(f"{BASE}/1-0_1_8_0: 12937") for line in logged)
    assert any(line.endswith(f"{BASE}/availability: offline") for line in logged)
    assert any("homeassistant/sensor/" in line for line in logged)
    subscriber.settle()  # anything published would have arrived before the marker
    assert subscriber.messages == []
    assert not publisher.connected


def _published_energies(
    settings: MqttSettings, times: list[datetime], caplog: pytest.LogCaptureFixture
) -> list[int]:
    publisher = MqttPublisher(
        replace(settings, test_mode=True, homeassistant_discovery=False), METER
    )
    publisher.start()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cosem_reader.output.mqtt"):
        for energy, when in enumerate(times):
            publisher.publish(push(energy, when))
    prefix = f"would publish {BASE}/1-0_1_8_0: "
    return [
        int(r.getMessage().split(prefix)[1]) for r in caplog.records if prefix in r.getMessage()
    ]


def test_min_interval(caplog: pytest.LogCaptureFixture) -> None:
    settings = MqttSettings(enabled=True, min_interval=10)
    offsets = [0, 5, 9.9, 10, 12, 19, 21, 35]
    times = [START + timedelta(seconds=s) for s in offsets]
    assert _published_energies(settings, times, caplog) == [0, 3, 6, 7]


def test_publish_at_seconds(caplog: pytest.LogCaptureFixture) -> None:
    minute = START.replace(second=0)
    settings = MqttSettings(enabled=True, publish_at_seconds=(0, 30))
    offsets = [5, 20, 31, 45, 59, 60, 61, 95, 150]  # seconds after a full minute
    times = [minute + timedelta(seconds=s) for s in offsets]
    # The first reading goes out at once, not at the next slot (issue 13).
    assert _published_energies(settings, times, caplog) == [0, 2, 5, 7, 8]


def test_publish_at_minutes(caplog: pytest.LogCaptureFixture) -> None:
    hour = START.replace(minute=0, second=0)
    settings = MqttSettings(enabled=True, publish_at_minutes=(0, 15))
    offsets = [5, 14 * 60 + 59, 15 * 60 + 3, 15 * 60 + 8, 30 * 60, 60 * 60 + 1, 75 * 60]
    times = [hour + timedelta(seconds=s) for s in offsets]
    assert _published_energies(settings, times, caplog) == [0, 2, 5, 6]


_LEVEL_BREAKERS = st.text(
    alphabet=st.sampled_from(
        ["+", "#", "/", "\x00", "ä", "ß", "a", "-", " ", "\x1f", "$", "é", "_"]
    ),
    max_size=12,
)


@given(
    name=st.text(max_size=30) | _LEVEL_BREAKERS,
    pattern=st.sampled_from([r"[^A-Za-z0-9_\-]", r"[:.]", "", r"\s"]),
    replacement=st.sampled_from(["_", "", "+", "/", "#", "-"]),
    umlauts=st.booleans(),
)
def test_sanitised_levels_never_break_a_topic(
    name: str, pattern: str, replacement: str, umlauts: bool
) -> None:
    level = sanitize_level(name, pattern, replacement, umlauts)
    assert level
    assert not set(level) & {"+", "#", "/", "\x00"}
    level.encode("utf-8")  # no lone surrogate
    settings = MqttSettings(
        invalid_characters=pattern,
        invalid_character_replacement=replacement,
        replace_umlauts=umlauts,
    )
    publisher = MqttPublisher(settings, name or "\x00")  # "" would mean: from the system title
    topic = publisher.state_topic
    assert topic is not None
    levels = topic.split("/")
    assert len(levels) == 3
    assert all(levels)
    assert not any(set(part) & {"+", "#", "\x00"} for part in levels)


def test_umlauts_and_default_pattern() -> None:
    assert sanitize_level("Zählerstand Größe") == "Zaehlerstand_Groesse"
    assert sanitize_level("Zählerstand", replace_umlauts=False) == "Z_hlerstand"
    assert sanitize_level("a/b+c#d") == "a_b_c_d"
    assert sanitize_level("") == "_"


# --------------------------------------------------------------------------- settings


def test_url_sets_host_port_tls_and_credentials() -> None:
    settings = MqttSettings(url="mqtts://user:p%40ss@broker.example:8884")
    assert (settings.host, settings.port, settings.tls) == ("broker.example", 8884, True)
    assert (settings.username, settings.password) == ("user", "p@ss")
    assert MqttSettings(url="mqtts://broker.example").effective_port == 8883
    assert MqttSettings(url="mqtt://broker.example").effective_port == 1883
    assert "p%40ss" not in str(MqttSettings(url="mqtt://u:p%40ss@h").redacted())


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"url": "http://broker"}, "mqtt.url"),
        ({"url": "mqtt://"}, "mqtt.url"),
    ],
)
def test_bad_settings_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        MqttSettings(**options)


def test_insecure_tls_warns(caplog: pytest.LogCaptureFixture) -> None:
    publisher = MqttPublisher(MqttSettings(tls=True, reject_unauthorized=False), METER)
    with caplog.at_level(logging.WARNING, logger="cosem_reader.output.mqtt"):
        context = publisher._tls_context()
    assert context.verify_mode.name == "CERT_NONE"
    assert any("verification is off" in r.getMessage() for r in caplog.records)
    secure = MqttPublisher(MqttSettings(tls=True), METER)._tls_context()
    assert secure.verify_mode.name == "CERT_REQUIRED"
    assert secure.check_hostname


def test_protocol_versions_map_to_paho() -> None:
    # Both versions the issue names are accepted; the mapping is paho's enum.
    assert MqttSettings(protocol="5").protocol == "5"
    assert MQTTProtocolVersion.MQTTv5.value == 5
