"""The MQTT outbound path under load: long outages, SIGTERM in a drain, noise, TLS, logs.

Real mosquitto (tests/broker.py), paho unmocked; the publisher and the daemon as users run
them.
"""

# The fixtures `publishers` and `subscribe` come from test_mqtt, imported by name.
# ruff: noqa: F811

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from cosem_reader.cosem.readings import Notification
from cosem_reader.output.homeassistant import MAX_ENTITIES
from cosem_reader.output.mqtt import MqttPublisher
from tests.support.broker import Broker, Relay, broker_fixture, free_port  # noqa: F401 - the fixture `broker`
from tests.support.daemon import Daemon, push
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import (
    BASE,
    METER,
    START,
    Subscriber,
    publishers,  # noqa: F401 - a fixture
    register,
    settings_for,
    subscribe,  # noqa: F401 - a fixture
    wait_until,
)
from tests.support.publishing import push as reading


def _backlog(
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    publishers: list[MqttPublisher],
    count: int,
    limit: float,
) -> float:
    """``count`` readings queued while the broker is away, then delivered: the drain time."""
    relay = Relay(broker.host, broker.port)
    relay.close_gate()
    try:
        subscriber = subscribe(broker.host, broker.port, (f"{BASE}/state",))
        publisher = MqttPublisher(
            settings_for(relay.host, relay.port, queue_size=count, homeassistant_discovery=False),
            METER,
        )
        publishers.append(publisher)
        publisher.start()
        for energy in range(count):
            publisher.publish(reading(energy, START + timedelta(seconds=5 * energy)))
        assert publisher.pending == count
        began = time.monotonic()
        relay.open()
        subscriber.wait_for(lambda messages: len(messages) >= count, timeout=limit + 15)
        elapsed = time.monotonic() - began
        wait_until(lambda: publisher.pending == 0, what="PUBACKs")
        subscriber.settle()  # a duplicate, had one been sent, has arrived by now
        assert subscriber.energies() == list(range(count))  # exactly once, in order
        print(f"drain of {count} readings: {elapsed:.2f} s")
        assert elapsed < limit, f"{count} readings took {elapsed:.1f} s"
        return elapsed
    finally:
        relay.shutdown()


@pytest.mark.broker
def test_backlog_of_3000_readings_drains_in_seconds(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    _backlog(broker, subscribe, publishers, 3_000, limit=12.0)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("COSEM_READER_SLOW_TESTS"),
    reason="10,000 readings; set COSEM_READER_SLOW_TESTS=1",
)
def test_backlog_of_10000_readings_within_a_minute(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    _backlog(broker, subscribe, publishers, 10_000, limit=60.0)


@pytest.mark.broker
def test_publish_never_waits_for_a_drain(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    """While a backlog is handed to paho, publish() returns at once."""
    relay = Relay(broker.host, broker.port)
    relay.close_gate()
    try:
        subscriber = subscribe(broker.host, broker.port, (f"{BASE}/state",))
        settings = settings_for(relay.host, relay.port, homeassistant_discovery=False)
        publisher = MqttPublisher(settings, METER)
        publishers.append(publisher)
        publisher.start()
        for energy in range(1500):
            publisher.publish(reading(energy, START + timedelta(seconds=5 * energy)))
        relay.open()
        # A meter pushing every 10 ms while the backlog is handed over.
        slowest, energy = 0.0, 1500
        while not subscriber.messages or energy < 1520:
            began = time.monotonic()
            publisher.publish(reading(energy, START + timedelta(seconds=5 * energy)))
            slowest = max(slowest, time.monotonic() - began)
            energy += 1
            time.sleep(0.01)
        assert slowest < 0.25, f"publish() took {slowest:.3f} s during the drain"
        subscriber.wait_for(lambda messages: len(messages) >= energy, timeout=30)
        assert subscriber.energies() == list(range(energy))
    finally:
        relay.shutdown()


# --------------------------------------------------------------------------- the daemon


@pytest.mark.broker
def test_sigterm_during_a_drain_exits_in_5_seconds_and_counts(
    broker: Broker, meter: PtyMeter, subscribe: Callable[..., Subscriber]
) -> None:
    count = 2500
    relay = Relay(broker.host, broker.port)
    relay.close_gate()
    subscriber = subscribe(broker.host, broker.port, ("drain/main/#",))
    daemon = Daemon(
        [
            "--port",
            str(meter.path),
            "--key",
            "5A1B2C3D4E5F60718293A4B5C6D7E8F9",
            "--mqtt-url",
            f"mqtt://{relay.host}:{relay.port}",
            "--topic-base",
            "drain",
            "--name",
            "main",
            "--trace",
            "timings",  # one line per reading: the test knows when all are decoded
        ],
        env={"COSEM_READER_MQTT_RECONNECT_MAX_DELAY": "1"},
    )
    try:
        daemon.wait_for_stderr("reading serial port")
        meter.write(b"".join(push(index) for index in range(count)), chunk=4096)
        daemon.wait_for_stderr("timings:", count=count, timeout=60)
        relay.open()
        daemon.wait_for_stderr("queued reading(s)", timeout=30)  # the drain begins
        began = time.monotonic()
        code = daemon.stop(timeout=15)
        took = time.monotonic() - began
    finally:
        relay.shutdown()
    assert code == 0, daemon.output()
    assert took < 5.0, f"stopping took {took:.1f} s\n{daemon.output()}"
    (queued,) = [
        int(m.group(1))
        for line in daemon.stderr
        if (m := re.search(r"sending (\d+) queued reading", line))
    ]
    assert queued == count
    lost = [
        int(m.group(1))
        for line in daemon.stderr
        if (m := re.search(r"(\d+) reading\(s\) not", line))
    ]
    left = sum(lost)
    readings = [m for m in subscriber.messages if not m.topic.endswith("/availability")]
    states = [i for i, m in enumerate(readings) if m.topic.endswith("/state")]
    per_reading = states[1] - states[0]
    # A reading is delivered when its last message is: they go out in order.  The broker
    # took them all before the stop; this Python subscriber may still be seconds behind a
    # fast drain (some 40,000 messages).  The length is looked at first: the predicate runs
    # at every message, under the lock the subscriber's thread needs to take the next.
    expected = (count - left) * per_reading
    subscriber.wait_for(
        lambda messages: (
            len(messages) >= expected
            and sum(not m.topic.endswith("/availability") for m in messages) >= expected
        ),
        timeout=60,
    )
    subscriber.settle()  # a late or duplicate message, had one been sent, has arrived now
    readings = [m for m in subscriber.messages if not m.topic.endswith("/availability")]
    assert len(readings) // per_reading == count - left, daemon.output()  # as the line says
    counters = [
        json.loads(m.payload)["frame_counter"] for m in readings if m.topic.endswith("/state")
    ]
    assert counters == list(range(1000, 1000 + len(counters)))  # once each, in order


# --------------------------------------------------------------------------- discovery


def _discovery_topics(publisher: MqttPublisher, notification: Notification) -> list[str]:
    with publisher._lock:
        messages = publisher._reading_messages(notification)
    return [m.topic for m in messages if m.kind == "discovery"]


def test_noise_makes_no_entity_and_entities_are_bounded() -> None:
    publisher = MqttPublisher(settings_for("localhost", 1883), METER)
    base = reading()
    # Noise that decodes: every push a layout of made-up codes, never the same twice.
    for index in range(200):
        noisy = replace(
            base,
            readings=(
                register(f"1-{index % 7}:{index}.{index % 9}.0", index, 0, "Wh"),
                register(f"0-0:{index}.99.{index % 5}", 1, 0, None),
            ),
        )
        assert _discovery_topics(publisher, noisy) == []
    # A real layout: confirmed by its second push, announced once.
    assert _discovery_topics(publisher, base) == []
    topics = _discovery_topics(publisher, reading(12938))
    assert len(topics) == 9
    assert _discovery_topics(publisher, reading(12939)) == []
    # A meter (or a line) with more codes than any meter sends: at most MAX_ENTITIES.
    many = replace(
        base, readings=tuple(register(f"1-1:{c}.8.0", c, 0, "Wh") for c in range(1, 100))
    )
    more = _discovery_topics(publisher, many) + _discovery_topics(publisher, many)
    assert len(topics) + len(more) == MAX_ENTITIES
    assert len(publisher._discovery) == MAX_ENTITIES


# --------------------------------------------------------------------------- logs


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS listener with a self-signed certificate, as a broker set up by hand has."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stopping.set()
    listener.close()


def test_tls_certificate_failure_says_so(
    tls_server: int, publishers: list[MqttPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for("127.0.0.1", tls_server, tls=True)
    publisher = MqttPublisher(settings, METER)
    publishers.append(publisher)
    with caplog.at_level(logging.DEBUG, logger="cosem_reader.output.mqtt"):
        publisher.start()
        publisher.publish(reading())
        wait_until(
            lambda: any("TLS certificate" in r.getMessage() for r in caplog.records),
            what="the TLS line",
        )
    (line,) = [r.getMessage() for r in caplog.records if "TLS certificate" in r.getMessage()]
    assert "self-signed certificate" in line
    assert "mqtt.ca_file" in line
    assert "mqtt.reject_unauthorized" in line
    assert not any("cannot reach" in r.getMessage() for r in caplog.records)


def test_an_outage_is_one_line_not_an_error_per_retry(
    publishers: list[MqttPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on the port: every retry is refused.
    publisher = MqttPublisher(settings_for("127.0.0.1", free_port()), METER)
    publishers.append(publisher)
    with caplog.at_level(logging.DEBUG):
        publisher.start()
        publisher.publish(reading())
        # paho says "not connected" on every retry; wait for a few retries.
        wait_until(
            lambda: sum("not connected" in r.getMessage() for r in caplog.records) >= 3,
            what="three retries",
        )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    unreachable = [r for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(unreachable) == 1
