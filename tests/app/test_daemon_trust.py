"""The daemon under noise, forgeries, a second meter and corrupted values (issue 10).

A pty is the meter's port and mosquitto the broker, as in test_daemon.py; pushes come
from the project's encoder.  Every wait is on a condition with a timeout.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.support.broker import Broker, broker_fixture  # noqa: F401  (the fixture)
from tests.support.daemon import KEY, START, SYSTEM_TITLE, WRONG_KEY, Daemon, push
from tests.support.encoder import (
    ciphered_push,
    data_notification,
    kaifa_ma309m_body,
    kaifa_series,
    mbus_push,
)
from tests.support.hdlc_frames import build_hdlc_frames
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import Subscriber

AUTH_KEY = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
OTHER_TITLE = b"KFMOTHER"


def plaintext(index: int, energy: int | None = None) -> bytes:
    moment, registers = kaifa_series(START + timedelta(seconds=5 * index), 1)[0]
    if energy is not None:
        registers = [r if r.code != "1.0.1.8.0.255" else type(r)(r.code, energy, r.data_type,
                                                                r.scaler, r.unit)
                     for r in registers]
    body = kaifa_ma309m_body(moment, registers, "1KFMTEST000007", "KFMTEST000000007")
    return data_notification(body, invoke_id=index)


def apdu(index: int, *, title: bytes = SYSTEM_TITLE, key: bytes = KEY, control: int = 0x21,
         counter: int | None = None, energy: int | None = None) -> bytes:
    auth = AUTH_KEY if control & 0x10 else None
    return ciphered_push(plaintext(index, energy), key, title,
                         1000 + index if counter is None else counter, control, auth)


def counters_of(lines: list[str]) -> list[int]:
    return [json.loads(line)["frame_counter"] for line in lines if line.startswith("{")]


def args(meter: PtyMeter, *extra: str) -> list[str]:
    return ["--port", str(meter.path), "--key", KEY.hex(), "--stall-timeout", "30", *extra]


class TestLinkLayer:
    def test_a_mebibyte_of_noise_then_every_push_decodes(self, meter: PtyMeter) -> None:
        daemon = Daemon(args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(random.Random(5).randbytes(1 << 20), chunk=4096)
            for index in (1, 2, 3):
                meter.write(push(index))
            daemon.wait_for_readings(3, timeout=60)
            assert counters_of(daemon.stdout) == [1001, 1002, 1003]
        finally:
            assert daemon.stop() == 0

    def test_a_reopened_port_recognises_the_link_layer_anew(self, meter: PtyMeter) -> None:
        """M-Bus, unplug, another adapter that speaks HDLC: its first push decodes."""
        daemon = Daemon(args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0) + push(1))
            daemon.wait_for_readings(2)
            meter.unplug()
            daemon.wait_for_stderr("lost")
            meter.replug()
            daemon.wait_for_stderr("is back", timeout=20)
            meter.write(build_hdlc_frames(apdu(2)))
            daemon.wait_for_readings(3)
            assert counters_of(daemon.stdout) == [1000, 1001, 1002]
        finally:
            assert daemon.stop() == 0


@pytest.mark.broker
class TestAvailability:
    def test_offline_under_continuous_noise(
        self, meter: PtyMeter, broker: Broker, subscribe: Callable[..., Subscriber]
    ) -> None:
        """Noise keeps the port busy, but no reading arrives: offline after silence_timeout."""
        seen = subscribe(broker.host, broker.port, ("noise/main/availability",))

        def availability() -> list[str]:
            return seen.payloads("noise/main/availability")

        daemon = Daemon(args(meter, "--mqtt-url", broker.url, "--topic-base", "noise",
                             "--name", "main", "--silence-timeout", "2"))
        stop = threading.Event()
        noise = random.Random(3)

        def send_noise() -> None:
            while not stop.is_set():
                meter.write(noise.randbytes(256), chunk=256)
                stop.wait(0.05)

        sender = threading.Thread(target=send_noise, daemon=True)
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0))
            seen.wait_for(lambda _messages: availability()[-1:] == ["online"])
            sender.start()
            seen.wait_for(lambda _messages: availability()[-1:] == ["offline"], timeout=15)
            assert daemon.process.poll() is None
            # Logged after the message is queued: it may reach stderr after the subscriber.
            daemon.wait_for_stderr("no reading for 2 s")
        finally:
            stop.set()
            sender.join(5)
            assert daemon.stop() == 0

    def test_another_meter_never_flips_availability(
        self, meter: PtyMeter, broker: Broker, subscribe: Callable[..., Subscriber]
    ) -> None:
        """A second meter on the bus (another system title, with or without our key): its
        pushes are counted and logged once, never published, never flip availability."""
        seen = subscribe(broker.host, broker.port, ("two/#",))

        def availability() -> list[str]:
            return seen.payloads("two/main/availability")

        daemon = Daemon(args(meter, "--mqtt-url", broker.url, "--topic-base", "two",
                             "--name", "main"))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0))
            seen.wait_for(lambda _messages: availability()[-1:] == ["online"])
            for index in range(1, 6):
                meter.write(mbus_push(apdu(index, title=OTHER_TITLE, key=WRONG_KEY)))
                meter.write(mbus_push(apdu(index, title=OTHER_TITLE)))
                meter.write(push(index))
            seen.wait_for(lambda _messages: len(seen.payloads("two/main/state")) >= 6)
        finally:
            assert daemon.stop() == 0
        seen.settle()  # the offline of the stop, and anything else sent, has arrived
        states = [json.loads(text)["frame_counter"] for text in seen.payloads("two/main/state")]
        assert states == [1000, 1001, 1002, 1003, 1004, 1005]
        assert availability() == ["online", "offline"], seen.messages
        warnings = [line for line in daemon.stderr if "WARNING" in line or "ERROR" in line]
        assert len(warnings) == 1, daemon.output()
        assert OTHER_TITLE.hex().upper() in warnings[0]
        assert "another meter" in warnings[0]


class TestTrust:
    def test_forgeries_are_rejected_with_one_line_each(self, meter: PtyMeter) -> None:
        """With --auth-key: no tag, plaintext, a repeated and a decreasing counter don't count."""
        daemon = Daemon(args(meter, "--auth-key", AUTH_KEY.hex()))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(mbus_push(apdu(0, control=0x30)))
            daemon.wait_for_readings(1)
            forgeries = [
                apdu(1, control=0x20, energy=1_092_438_480),
                plaintext(2),
                apdu(0, control=0x30),
                apdu(3, control=0x30, counter=999),
            ]
            for forged in forgeries:
                meter.write(mbus_push(forged))
            meter.write(mbus_push(apdu(4, control=0x30)))
            daemon.wait_for_readings(2)
            assert counters_of(daemon.stdout) == [1000, 1004]
            # One line per cause: the decreasing counter shares the repeated one's.
            daemon.wait_for_stderr("push rejected", count=3)
            rejected = [line for line in daemon.stderr if "push rejected" in line]
            assert len(rejected) == 3, daemon.output()
            assert sum("frame counter repeats" in line for line in rejected) == 1
        finally:
            assert daemon.stop() == 0

    def test_a_corrupted_energy_value_is_withheld(self, meter: PtyMeter) -> None:
        """The rest of the push is published; one line says which value and why."""
        daemon = Daemon(args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            meter.write(push(0))
            meter.write(mbus_push(apdu(1, energy=1_092_438_480)))
            meter.write(push(2))
            daemon.wait_for_readings(3)
            values = [json.loads(line)["values"] for line in daemon.stdout]
            assert ["1-0:1.8.0" in v for v in values] == [True, False, True]
            assert "1-0:32.7.0" in values[1]
            # stdout and stderr are read by two threads: the line may come after the readings.
            daemon.wait_for_stderr("withheld")
            withheld = [line for line in daemon.stderr if "withheld" in line]
            assert len(withheld) == 1, daemon.output()
            assert "1-0:1.8.0 withheld" in withheld[0]
            assert "max_power" in withheld[0]
        finally:
            assert daemon.stop() == 0

    def test_a_tag_without_auth_key_warns_once(self, meter: PtyMeter) -> None:
        daemon = Daemon(args(meter))
        try:
            daemon.wait_for_stderr("reading serial port")
            for index in range(3):
                meter.write(mbus_push(apdu(index, control=0x30)))
            daemon.wait_for_readings(3)
            daemon.wait_for_stderr("not verified")
            assert sum("not verified" in line for line in daemon.stderr) == 1, daemon.output()
        finally:
            assert daemon.stop() == 0


@pytest.mark.broker
def test_an_unnamed_meter_is_not_called_none(meter: PtyMeter, broker: Broker) -> None:
    """Issue 10.6: "meter None offline" named no meter."""
    daemon = Daemon(["--port", str(meter.path), "--key", WRONG_KEY.hex(),
                     "--mqtt-url", broker.url])
    try:
        daemon.wait_for_stderr("reading serial port")
        meter.write(push(0))
        daemon.wait_for_stderr("offline: wrong key")
        assert not any("None" in line for line in daemon.stderr), daemon.output()
    finally:
        assert daemon.stop() == 0


def test_a_configured_system_title_wins_over_the_first_push(meter: PtyMeter) -> None:
    """The neighbour's meter pushes first: with system_title set, its pushes are not taken."""
    daemon = Daemon(args(meter, "--system-title", SYSTEM_TITLE.hex()))
    try:
        daemon.wait_for_stderr("reading serial port")
        meter.write(mbus_push(apdu(0, title=OTHER_TITLE)))
        meter.write(push(1))
        daemon.wait_for_readings(1)
        daemon.wait_for_stderr("another meter")
        assert counters_of(daemon.stdout) == [1001]
    finally:
        assert daemon.stop() == 0
