"""The MQTT spool: readings on disk survive the process, in order, bounded; frame counters."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cosem_reader.output.mqtt import MqttPublisher
from cosem_reader.output.outbox import Message
from cosem_reader.output.spool import MeterSpool, Spool, SpoolCounterStore, open_spool
from tests.support.broker import Broker, Relay, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.daemon import KEY, Daemon, push, run_python
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import METER, Subscriber, settings_for, wait_until
from tests.support.publishing import push as reading
from tests.support.publishing import subscribe as subscribe  # noqa: PLC0414 - a fixture


def messages(number: int) -> list[Message]:
    return [Message(f"m/{number}/{part}", b"%d" % number, 1, False) for part in range(3)]


def test_readings_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    spool = Spool(path, 1_000_000)
    for number in (3, 1, 2, 5, 4):  # written out of order, as a lost connection does
        assert spool.add("a", number, messages(number))
    spool.add("b", 6, messages(6))  # another meter's
    spool.remove([2])
    spool.close()
    again = Spool(path, 1_000_000)
    kept = again.load("a")
    assert [reading for reading, _ in kept] == [1, 3, 4, 5]
    assert [m.payload for m in kept[1][1]] == [b"3"] * 3
    assert [m.topic for m in kept[0][1]] == ["m/1/0", "m/1/1", "m/1/2"]
    assert again.last_number == 6  # the next start numbers on from here


def test_bounded_by_size_oldest_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(str(tmp_path / "spool.db"), 2_000)
    assert spool.last_number == 0
    with caplog.at_level(logging.WARNING):
        for number in range(100):
            spool.add("a", number, messages(number))
    kept = [int(m[0].payload) for _, m in spool.load("a")]
    assert kept == list(range(100 - len(kept), 100))
    assert 10 < len(kept) < 100
    assert spool.dropped == 100 - len(kept)
    assert len([r for r in caplog.records if "is full" in r.getMessage()]) == 1


def test_only_readings_at_risk_are_written(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool.db"), 1_000_000)
    meter = MeterSpool(spool, "a")
    # A broker that answers: each reading is acknowledged before the next one.
    for _ in range(3):
        number = meter.number()
        meter.queued(number, messages(number), at_risk=False)
        meter.completed([number], drained=True)
    assert spool.load("a") == []
    # The broker vanishes silently: the next reading finds the last one unacknowledged.
    silent = meter.number()
    meter.queued(silent, messages(silent), at_risk=False)
    after = meter.number()
    meter.queued(after, messages(after), at_risk=True)
    assert [number for number, _ in spool.load("a")] == [silent, after]
    # Back: both acknowledged, and deleted once the queue is drained.
    meter.completed([silent], drained=False)
    assert len(spool.load("a")) == 2
    meter.completed([after], drained=True)
    assert spool.load("a") == []


def test_frame_counters(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    spool = Spool(path, 1_000_000)
    spool.save_frame_counter(b"KFM\x10\x20\x00\x01\x23", 35)
    spool.save_frame_counter(b"KFM\x10\x20\x00\x01\x23", 36)
    spool.save_frame_counter(b"ISK\x00\x00\x00\x00\x01", 7)
    spool.close()
    assert Spool(path, 1_000_000).load_frame_counters() == {
        b"KFM\x10\x20\x00\x01\x23": 36,
        b"ISK\x00\x00\x00\x00\x01": 7,
    }


def test_a_spool_that_cannot_be_opened_is_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert open_spool(str(tmp_path / "missing" / "spool.db"), 50) is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert "mqtt.spool" in line
    assert "memory only" in line
    assert open_spool(None, 50) is None


@pytest.mark.broker
def test_readings_survive_sigkill_and_go_out_on_the_next_start(
    broker: Broker, meter: PtyMeter, subscribe: Callable[..., Subscriber], tmp_path: Path
) -> None:
    count = 20
    relay = Relay(broker.host, broker.port)
    relay.close_gate()  # the broker is unreachable while the readings arrive
    subscriber = subscribe(broker.host, broker.port, ("spool/main/state",))
    spool = tmp_path / "spool.db"
    args = [
        "--port", str(meter.path), "--key", KEY.hex(),
        "--mqtt-url", f"mqtt://{relay.host}:{relay.port}",
        "--topic-base", "spool", "--name", "main", "--trace", "timings",
    ]  # fmt: skip
    env = {"COSEM_READER_MQTT_SPOOL": str(spool), "COSEM_READER_MQTT_RECONNECT_MAX_DELAY": "1"}
    try:
        first = Daemon(args, env=env)
        first.wait_for_stderr("reading serial port")
        meter.write(b"".join(push(index) for index in range(count)))
        first.wait_for_stderr("timings:", count=count)
        first.process.kill()  # SIGKILL: no goodbye, nothing flushed by the process
        first.wait()
        assert subscriber.messages == []
        relay.open()
        second = Daemon(args, env=env)
        second.wait_for_stderr(f"{count} reading(s) kept from before are sent first")
        subscriber.wait_for(lambda received: len(received) >= count)
        assert second.stop() == 0
        subscriber.settle()  # a duplicate, had one been sent, has arrived by now
        counters = [json.loads(m.payload)["frame_counter"] for m in subscriber.messages]
        assert counters == list(range(1000, 1000 + count))
    finally:
        relay.shutdown()
    assert os.path.getsize(spool) > 0


@pytest.mark.broker
def test_a_broker_that_answers_costs_the_spool_no_write(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    settings = settings_for(broker.host, broker.port, spool=str(path))
    publisher = MqttPublisher(settings, METER)
    try:
        publisher.start()
        wait_until(lambda: publisher.connected, what="the connection")
        assert publisher.spool is not None
        publisher.spool.save_frame_counter(bytes.fromhex(METER), 35)
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size
        for energy in range(5):
            publisher.publish(reading(energy))
            wait_until(lambda: publisher.pending == 0, what="the PUBACKs")
        assert wal.stat().st_size == before  # nothing written for the readings
    finally:
        publisher.stop(timeout=1)
    assert Spool(str(path), 1_000_000).load_frame_counters() == {bytes.fromhex(METER): 35}


def test_frame_counters_are_written_at_most_once_per_interval(tmp_path: Path) -> None:
    """An SD card is not written at every push: once per interval, and at a stop."""
    path = str(tmp_path / "spool.db")
    now = [0.0]
    spool = Spool(path, 1_000_000)
    store = SpoolCounterStore(spool, interval=600.0, clock=lambda: now[0])
    title = b"KFM\x00\x00\x00\x00\x01"
    store.save(title, 10)
    now[0] = 5.0
    store.save(title, 11)
    assert store.load(title) == 11
    assert spool.load_frame_counters() == {title: 10}
    now[0] = 605.0
    store.save(title, 12)
    assert spool.load_frame_counters() == {title: 12}
    now[0] = 610.0
    store.save(title, 13)
    store.flush()
    spool.close()
    reopened = SpoolCounterStore(Spool(path, 1_000_000))
    assert reopened.load(title) == 13


@pytest.mark.broker
def test_a_replayed_push_is_refused_after_a_restart(
    broker: Broker, meter: PtyMeter, tmp_path: Path
) -> None:
    """With a spool the last frame counter outlives the daemon: a push recorded before a
    restart and sent again after it does not count."""
    auth_key = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
    args = [
        "--port", str(meter.path), "--key", KEY.hex(), "--auth-key", auth_key.hex(),
        "--mqtt-url", f"mqtt://{broker.host}:{broker.port}",
        "--topic-base", "replay", "--name", "main", "--trace", "timings",
    ]  # fmt: skip
    env = {"COSEM_READER_MQTT_SPOOL": str(tmp_path / "spool.db")}
    recorded = push(0, auth_key=auth_key)
    first = Daemon(args, env=env)
    first.wait_for_stderr("reading serial port")
    meter.write(recorded)
    first.wait_for_stderr("timings:")
    assert first.stop() == 0
    second = Daemon(args, env=env)
    second.wait_for_stderr("reading serial port")
    meter.write(recorded + push(1, auth_key=auth_key))
    second.wait_for_stderr("timings:")
    assert second.stop() == 0
    assert sum("frame counter repeats" in line for line in second.stderr) == 1, second.output()
    assert sum("timings:" in line for line in second.stderr) == 1


def test_sqlite_is_loaded_with_a_spool_only(tmp_path: Path) -> None:
    """A publisher without ``mqtt.spool`` does not carry sqlite3 in its memory."""
    code = (
        "import sys\n"
        "from cosem_reader.output.mqtt import MqttPublisher, MqttSettings\n"
        "MqttPublisher(MqttSettings(enabled=True), 'm')\n"
        "print('sqlite3' in sys.modules)\n"
        f"MqttPublisher(MqttSettings(enabled=True, spool={str(tmp_path / 'spool.db')!r}), 'm')\n"
        "print('sqlite3' in sys.modules)\n"
    )
    result = run_python(code, tmp_path)
    assert result.stdout.split() == ["False", "True"], result.stderr
