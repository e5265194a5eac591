#!/usr/bin/env python3
"""``make bench``: how fast cosem-reader decodes, how soon a reading is out, how flat its memory.

Prints a table and writes ``bench/results.json``.  Sections (``--only`` picks some):

``throughput``
    pushes per second on one core through ``StreamDecoder`` (64-byte chunks, as a
    serial port delivers them) for three real vectors and a capture of 10,000
    distinct pushes; the same pushes through gurux-dlms and dlms-cosem, each doing
    what it can (the table says which layers), and the ratio.
``latency``
    last byte written to a pty → reading out: in-process (``StreamDecoder`` on the
    pty) and through the daemon and a real MQTT broker to a subscriber.
``soak``
    1,000,000 pushes, 5 % of them corrupted, through ``StreamDecoder`` and through the
    daemon (``read --replay -``) to the broker: every good push delivered, memory flat.
``startup``
    ``cosem-reader --version`` and the daemon to its first reading.
``endtoend``
    whole processes on one core (bench/end_to_end.py): ``decode --format
    json|text|xml`` and ``read --replay -`` over 10,000 distinct pushes, ``read`` into
    mosquitto; the peers with cosem-reader's framing around them, in the same run.
``bigcapture``
    a capture of 1 GB of distinct pushes written to a temporary file (bench/big_capture.py),
    ``decode FILE --format json`` over it and ``read --replay -`` over its first 100 MB,
    whole processes on one core: every push out, time and memory per tenth of the pushes.

``--quick`` runs every section with small counts (a few minutes; the big capture 100 MB).
"""

# ruff: noqa: S603, S311 - it starts its own daemon; its random numbers only pick test pushes

from __future__ import annotations

import argparse
import compileall
import contextlib
import gc
import json
import os
import platform
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "bench", ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import big_capture  # noqa: E402
import end_to_end  # noqa: E402
import peers  # noqa: E402
from captures import KEY, corrupt, corrupted_indices, make_capture  # noqa: E402

import tests.support.daemon as daemon_support  # noqa: E402
from cosem_reader.cosem.readings import Notification  # noqa: E402
from cosem_reader.link import hdlc, mbus  # noqa: E402
from cosem_reader.pipeline.decoder import StreamDecoder  # noqa: E402
from cosem_reader.security.ciphering import decipher, parse_ciphered_apdu  # noqa: E402
from cosem_reader.transport.block_transfer import BlockTransferJoiner  # noqa: E402
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner  # noqa: E402
from cosem_reader.transport.mbus_segments import SegmentJoiner  # noqa: E402

VECTORS_FILE = Path(
    os.environ.get("COSEM_READER_VECTORS", ROOT.parent / "shared" / "vectors" / "vectors.json")
)
NETZ_NOE = "at-netznoe-kaifa-ma309m-doc"
SALZBURG = "at-salzburgnetz-kaifa-ma309-user-apdu"
LG_HDLC = "lg-e450-hdlc-gbt-gcm-1"
CHUNK = 64

# -- measuring -------------------------------------------------------------------------


def rate(run: Callable[[], object], pushes: int, seconds: float, rounds: int = 3) -> float:
    """Pushes per second of ``run`` (which handles ``pushes`` pushes), best of ``rounds``."""
    best = 0.0
    for _ in range(rounds):
        done = 0
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < seconds or done == 0:
            run()
            done += pushes
            elapsed = time.perf_counter() - start
        best = max(best, done / elapsed)
    return best


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[index : index + size] for index in range(0, len(data), size)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB: resident now, and the peak."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Run the in-process measurements on a single CPU."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# -- the pushes ------------------------------------------------------------------------


def load_vectors() -> dict[str, dict[str, Any]]:
    if not VECTORS_FILE.is_file():
        return {}
    return {vector["id"]: vector for vector in json.loads(VECTORS_FILE.read_text("utf-8"))}


def key_of(vector: dict[str, Any], name: str = "key") -> bytes | None:
    return bytes.fromhex(vector[name]) if vector.get(name) else None


def link_apdus(wire: bytes) -> list[bytes]:
    """The APDUs the link and transport layers of cosem-reader find in ``wire``."""
    # The bench's pushes start with their first frame.
    layer = {0x68: "mbus", 0x7E: "hdlc"}.get(wire[0], "raw")
    found: list[bytes] = []
    blocks = BlockTransferJoiner()
    if layer == "mbus":
        joiner = SegmentJoiner()
        for frame in mbus.LongFrameReader().feed(wire):
            assert isinstance(frame, mbus.LongFrame)
            found += [item for item in joiner.push(frame) if isinstance(item, bytes)]
    elif layer == "hdlc":
        hdlc_joiner = HdlcApduJoiner()
        for hdlc_frame in hdlc.HdlcFrameReader().feed(wire):
            assert isinstance(hdlc_frame, hdlc.HdlcFrame)
            found += [item for item in hdlc_joiner.push(hdlc_frame) if isinstance(item, bytes)]
    else:
        found = [wire]
    return [item for apdu in found for item in blocks.push(apdu) if isinstance(item, bytes)]


def plaintext_of(apdu: bytes, key: bytes | None, auth_key: bytes | None = None) -> bytes:
    if key is None:
        return apdu
    return decipher(parse_ciphered_apdu(apdu), key, auth_key).plaintext


def stream_runner(wire: bytes, expected: int, **decoder_options: Any) -> Callable[[], None]:
    """Feed ``wire`` in 64-byte chunks to one long-lived StreamDecoder; check every result."""
    decoder = StreamDecoder(**decoder_options)
    pieces = chunks(wire)

    def run() -> None:
        count = 0
        for piece in pieces:
            for result in decoder.feed(piece):
                if not isinstance(result, Notification):
                    raise RuntimeError(f"benchmark push did not decode: {result}")
                count += 1
        if count != expected:
            raise RuntimeError(f"{count} notifications, expected {expected}")

    run()
    return run


# -- throughput ------------------------------------------------------------------------


def throughput(vectors: dict[str, dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    seconds = 0.3 if quick else 1.5
    rows: list[dict[str, Any]] = []
    gurux_missing = peers.gurux_available()
    cosem_missing = peers.dlms_cosem_available()

    def peer_rate(make: Callable[[], Callable[[], object]], pushes: int, peer_seconds: float
                  ) -> tuple[float | None, str | None]:
        try:
            run = make()
        except Exception as error:
            return None, f"failed: {type(error).__name__}: {error}"
        return rate(run, pushes, peer_seconds, rounds=1 if quick else 2), None

    def row(name: str, ours: float, ours_scope: str,
            gurux: tuple[Callable[[], Callable[[], object]], int, str] | None,
            cosem: tuple[Callable[[], Callable[[], object]], int, str] | None,
            *, peers_note: str | None = None) -> None:
        entry: dict[str, Any] = {
            "push": name, "cosem_reader": ours, "cosem_reader_scope": ours_scope,
        }
        for label, missing, spec in (("gurux_dlms", gurux_missing, gurux),
                                     ("dlms_cosem", cosem_missing, cosem)):
            if peers_note is not None:
                entry[label], entry[f"{label}_scope"] = None, peers_note
            elif missing is not None:
                entry[label], entry[f"{label}_scope"] = None, missing
            elif spec is None:
                entry[label], entry[f"{label}_scope"] = None, "cannot"
            else:
                make, pushes, scope = spec
                value, failure = peer_rate(make, pushes, seconds)
                entry[label], entry[f"{label}_scope"] = value, failure or scope
            value = entry[label]
            entry[f"ratio_{label}"] = ours / value if value else None
        rows.append(entry)
        print(f"  {name}: {ours:,.0f}/s", flush=True)

    if NETZ_NOE in vectors:
        vector = vectors[NETZ_NOE]
        wire, key = bytes.fromhex(vector["hex"]), key_of(vector)
        (apdu,) = link_apdus(wire)
        plaintext = plaintext_of(apdu, key)
        ours = rate(stream_runner(wire, 1, key=key), 1, seconds)
        row("Netz NÖ, M-Bus, 2 telegrams, AES-CTR (GCM without tag)", ours,
            "bytes → readings",
            (lambda: peers.gurux_apdu(apdu, key, None), 1,
             "APDU → XML (deciphered); M-Bus framing not measured"),
            (lambda: peers.dlms_cosem_plaintext(plaintext), 1,
             "plaintext APDU → Data only: cannot decipher a push without tag, no M-Bus"))
        walk = rate(stream_runner(wire, 1, key=key, learn=False), 1, seconds)
        row("Netz NÖ as above, no layout learned (the A-XDR and readings walks alone)", walk,
            "bytes → readings, every push walked", None, None, peers_note="measured above")
    if SALZBURG in vectors:
        apdu = bytes.fromhex(vectors[SALZBURG]["hex"])
        decoder = StreamDecoder()
        if not isinstance(decoder.decode_apdu(apdu), Notification):
            raise RuntimeError("the Salzburg APDU did not decode")
        ours = rate(lambda: decoder.decode_apdu(apdu), 1, seconds)
        row("Salzburg Netz, plaintext APDU", ours, "APDU → readings",
            (lambda: peers.gurux_apdu(apdu, None, None), 1, "APDU → XML"),
            (lambda: peers.dlms_cosem_plaintext(apdu), 1, "APDU → Data"))
    if LG_HDLC in vectors:
        vector = vectors[LG_HDLC]
        wire, key = bytes.fromhex(vector["hex"]), key_of(vector)
        auth_key = key_of(vector, "auth_key")
        (apdu,) = link_apdus(wire)
        assert key is not None
        assert auth_key is not None
        # The same push over and over: its frame counter repeats, which an authentication
        # key would reject as a replay; the tag is still verified.
        ours = rate(stream_runner(wire, 1, key=key, auth_key=auth_key,
                                  require_authentication=False), 1, seconds)
        row("L+G E450, HDLC, 3 blocks (general-block-transfer), AES-GCM with tag", ours,
            "bytes → readings, tag verified",
            (lambda: peers.gurux_apdu(apdu, key, auth_key), 1,
             "APDU → XML (deciphered); HDLC and block transfer not measured"),
            (lambda: peers.dlms_cosem_ciphered(apdu, key, auth_key), 1,
             "APDU → deciphered, tag checked → Data; no block transfer: joined APDU given"))

    count = 2000 if quick else 10_000
    capture = make_capture(count)
    ours = rate(stream_runner(capture.wire, count, key=KEY), count, 0.0, rounds=1 if quick else 2)
    sample = 200 if quick else 1000
    sample_apdus = [apdu for push in capture.pushes[:sample] for apdu in link_apdus(push)]
    sample_plain = [plaintext_of(apdu, KEY) for apdu in sample_apdus]

    def each(make_one: Callable[[bytes], Callable[[], object]], items: list[bytes]
             ) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            runs = [make_one(item) for item in items]

            def run() -> None:
                for one in runs:
                    one()

            return run

        return make

    row(f"capture of {count:,} distinct pushes (own encoder), M-Bus, AES-CTR", ours,
        "bytes → readings",
        (each(lambda apdu: peers.gurux_apdu(apdu, KEY, None), sample_apdus), sample,
         f"APDU → XML (deciphered), first {sample} pushes; no M-Bus framing"),
        (each(peers.dlms_cosem_plaintext, sample_plain), sample,
         f"plaintext → Data only, first {sample} pushes: cannot decipher without tag"))
    return rows


# -- latency ---------------------------------------------------------------------------


def latency_in_process(pushes: int) -> dict[str, Any]:
    """Last byte written to a pty → Notification out of a StreamDecoder reading the pty."""
    capture = make_capture(pushes)
    master, slave = os.openpty()
    import tty  # noqa: PLC0415

    tty.setraw(slave)
    decoder = StreamDecoder(key=KEY)
    arrived: list[tuple[int, int]] = []
    got = threading.Condition()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([slave], [], [], 0.2)
            if not ready:
                continue
            data = os.read(slave, 4096)
            for result in decoder.feed(data):
                now = time.perf_counter_ns()
                if isinstance(result, Notification):
                    with got:
                        arrived.append((result.frame_counter or 0, now))
                        got.notify_all()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    delays: list[float] = []
    try:
        for index, push in enumerate(capture.pushes):
            for piece in chunks(push):
                os.write(master, piece)
            last_byte = time.perf_counter_ns()
            with got:
                if not got.wait_for(lambda index=index: len(arrived) > index, timeout=5):
                    raise RuntimeError(f"push {index} did not come out of the pty")
                counter, when = arrived[index]
            if counter != capture.frame_counter(index):
                raise RuntimeError(f"push {index} came out as frame counter {counter}")
            delays.append((when - last_byte) / 1e6)
    finally:
        stop.set()
        thread.join(2)
        os.close(master)
        os.close(slave)
    return summary_ms(delays)


def summary_ms(delays: list[float]) -> dict[str, Any]:
    return {
        "pushes": len(delays),
        "p50_ms": statistics.median(delays),
        "p99_ms": percentile(delays, 0.99),
        "max_ms": max(delays),
    }


def daemon_environment(workdir: Path) -> dict[str, str]:
    return daemon_support.daemon_environment(workdir / "xdg")


def daemon_available() -> str | None:
    if not (ROOT / "src" / "cosem_reader" / "app" / "daemon.py").is_file():
        return "the daemon (cosem-reader read) is not there yet"
    return None


class Subscriber:
    """A paho client on the broker that notes when each state message arrives."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        import paho.mqtt.client as paho  # noqa: PLC0415
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        self.arrived: dict[int, list[int]] = {}
        self.count = 0
        self.changed = threading.Condition()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the subscriber could not subscribe")

    def _on_message(self, _client: object, _userdata: object, message: Any) -> None:
        now = time.perf_counter_ns()
        counter = int(json.loads(message.payload)["frame_counter"])
        with self.changed:
            self.arrived.setdefault(counter, []).append(now)
            self.count += 1
            self.changed.notify_all()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[Any]:
    from tests.support.broker import Broker  # noqa: PLC0415

    instance = Broker(workdir)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def latency_daemon(pushes: int, workdir: Path) -> dict[str, Any]:
    """pty → ``cosem-reader read`` → MQTT broker → subscriber; and the daemon's RSS."""
    from tests.support.pty_meter import PtyMeter  # noqa: PLC0415

    capture = make_capture(pushes + 1)
    meter = PtyMeter(workdir / "ttyMETER")
    with running_broker(workdir) as broker:
        subscriber = Subscriber(broker.host, broker.port, "bench/main/state")
        process = subprocess.Popen(
            [sys.executable, "-m", "cosem_reader", "read", "--port", str(meter.path),
             "--key", KEY.hex(), "--mqtt-url", broker.url, "--topic-base", "bench",
             "--name", "main"],
            env=daemon_environment(workdir), cwd=workdir,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            for line in iter(process.stderr.readline, b""):
                if b"reading serial port" in line:
                    break
            threading.Thread(target=process.stderr.read, daemon=True).start()  # type: ignore[union-attr]
            delays: list[float] = []
            for index, push in enumerate(capture.pushes):
                counter = capture.frame_counter(index)
                meter.write(push, chunk=CHUNK)
                last_byte = time.perf_counter_ns()
                with subscriber.changed:
                    arrived = subscriber.changed.wait_for(
                        lambda c=counter: c in subscriber.arrived, 10
                    )
                    if not arrived:
                        raise RuntimeError(f"push {index} did not reach the subscriber")
                    when = subscriber.arrived[counter][0]
                # The first push also announces the meter to Home Assistant (discovery).
                if index:
                    delays.append((when - last_byte) / 1e6)
            rss, peak = rss_kib(process.pid)
        finally:
            process.terminate()
            process.wait(15)
            subscriber.close()
            meter.close()
    result = summary_ms(delays)
    result.update({"broker": broker.kind, "daemon_rss_kib": rss, "daemon_peak_rss_kib": peak})
    return result


# -- soak ------------------------------------------------------------------------------


def soak_stream(
    pushes: int, share: float = 0.05, distinct: int = 10_000
) -> Iterator[tuple[bytes, int | None]]:
    """``pushes`` pushes as (wire bytes, frame counter or None for a corrupted one).

    ``distinct`` different pushes repeat; which ones are corrupted differs per round.
    """
    base = make_capture(min(distinct, pushes))
    rng = random.Random(7)
    broken = corrupted_indices(pushes, share)
    for index in range(pushes):
        slot = index % len(base.pushes)
        if index in broken:
            yield corrupt(base.pushes[slot], rng), None
        else:
            yield base.pushes[slot], base.frame_counter(slot)


def soak_decoder(pushes: int) -> dict[str, Any]:
    """1,000,000 pushes, 5 % corrupted, through one StreamDecoder in 64-byte chunks."""
    decoder = StreamDecoder(key=KEY)
    expected: dict[int, int] = {}
    delivered: dict[int, int] = {}
    errors = 0
    rss: list[int] = []
    start = time.perf_counter()
    gc.collect()
    for index, (push, counter) in enumerate(soak_stream(pushes)):
        if counter is not None:
            expected[counter] = expected.get(counter, 0) + 1
        for piece in chunks(push):
            for result in decoder.feed(piece):
                if isinstance(result, Notification):
                    number = result.frame_counter or 0
                    delivered[number] = delivered.get(number, 0) + 1
                else:
                    errors += 1
        if index % (pushes // 20 or 1) == 0:
            rss.append(rss_kib()[0])
    for result in decoder.flush():
        errors += not isinstance(result, Notification)
    elapsed = time.perf_counter() - start
    rss.append(rss_kib()[0])
    return {**soak_summary(pushes, expected, delivered, rss, elapsed), "errors_reported": errors}


def soak_daemon_replay(pushes: int, workdir: Path) -> dict[str, Any]:
    """The same stream through ``cosem-reader read --replay -``, readings as JSON lines."""
    environment = daemon_environment(workdir)
    process = subprocess.Popen(
        [sys.executable, "-m", "cosem_reader", "read", "--replay", "-", "--key", KEY.hex(),
         "--format", "json"],
        env=environment, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(workdir / "soak-replay.log", "wb"),  # noqa: SIM115
    )
    assert process.stdin is not None
    assert process.stdout is not None
    delivered: dict[int, int] = {}
    output = process.stdout

    def count() -> None:
        for line in output:
            number = int(json.loads(line)["frame_counter"])
            delivered[number] = delivered.get(number, 0) + 1

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    expected: dict[int, int] = {}
    rss: list[int] = []
    start = time.perf_counter()
    try:
        batch: list[bytes] = []
        for index, (push, frame_counter) in enumerate(soak_stream(pushes)):
            if frame_counter is not None:
                expected[frame_counter] = expected.get(frame_counter, 0) + 1
            batch.append(push)
            if len(batch) == 1000:
                process.stdin.write(b"".join(batch))
                batch.clear()
            if index % (pushes // 20 or 1) == 0:
                rss.append(rss_kib(process.pid)[0])
        process.stdin.write(b"".join(batch))
        process.stdin.flush()
        rss.append(rss_kib(process.pid)[0])
        peak = rss_kib(process.pid)[1]
        process.stdin.close()
        code = process.wait(600)
        counter.join(30)
    finally:
        if process.poll() is None:
            process.kill()
    elapsed = time.perf_counter() - start
    return soak_summary(pushes, expected, delivered, rss, elapsed) | {
        "exit_code": code, "daemon_peak_rss_kib": peak,
    }


def soak_daemon_broker(pushes: int, workdir: Path) -> dict[str, Any]:
    """The same stream through ``read --replay -`` to a real broker, at the pace it takes.

    The daemon keeps at most ``mqtt.queue_size`` (10,000) readings the broker has not
    acknowledged and drops the oldest beyond that, as it must on a line that never
    stops, and mosquitto queues at most 1,000 QoS 1 messages for a slow subscriber; a
    replay is faster than any meter, so the bench writes the next hundred pushes only
    when the subscriber is less than 500 readings behind.
    """
    with running_broker(workdir) as broker:
        subscriber = Subscriber(broker.host, broker.port, "soak/main/state")
        environment = daemon_environment(workdir)
        # One message per reading: the soak counts readings, not per-value topics.
        environment["COSEM_READER_MQTT_PUBLISH_VALUES"] = "false"
        environment["COSEM_READER_MQTT_HOMEASSISTANT_DISCOVERY"] = "false"
        process = subprocess.Popen(
            [sys.executable, "-m", "cosem_reader", "read", "--replay", "-", "--key", KEY.hex(),
             "--mqtt-url", broker.url, "--topic-base", "soak", "--name", "main"],
            env=environment, cwd=workdir, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=open(workdir / "soak-broker.log", "wb"),  # noqa: SIM115
        )
        assert process.stdin is not None
        expected: dict[int, int] = {}
        rss: list[int] = []
        start = time.perf_counter()
        try:
            batch: list[bytes] = []
            good = 0
            for index, (push, counter) in enumerate(soak_stream(pushes)):
                if counter is not None:
                    expected[counter] = expected.get(counter, 0) + 1
                    good += 1
                batch.append(push)
                if len(batch) == 100:
                    with subscriber.changed:
                        subscriber.changed.wait_for(
                            lambda sent=good: sent - subscriber.count < 500, 60
                        )
                    process.stdin.write(b"".join(batch))
                    process.stdin.flush()
                    batch.clear()
                if index % (pushes // 20 or 1) == 0:
                    rss.append(rss_kib(process.pid)[0])
            process.stdin.write(b"".join(batch))
            process.stdin.flush()
            with subscriber.changed:
                subscriber.changed.wait_for(lambda: subscriber.count >= good, timeout=60)
            rss.append(rss_kib(process.pid)[0])
            peak = rss_kib(process.pid)[1]
            process.stdin.close()
            code = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
            subscriber.close()
        elapsed = time.perf_counter() - start
    delivered = {number: len(times) for number, times in subscriber.arrived.items()}
    return soak_summary(pushes, expected, delivered, rss, elapsed) | {
        "exit_code": code, "broker": broker.kind, "daemon_peak_rss_kib": peak,
    }


def outage_daemon(readings: int, workdir: Path) -> dict[str, Any]:
    """A long broker outage: the daemon queues ``readings``, then the broker returns.

    pushes → ``read --replay -`` (default MQTT settings: a state and one topic per
    value, discovery) → a relay that refuses connections → the broker.  Once the daemon
    has decoded every push the relay opens; the row is the time from then to the last
    state at the subscriber, the daemon's RSS with the full queue and its peak, and the
    readings lost or duplicated.
    """
    from tests.support.broker import Relay  # noqa: PLC0415

    capture = make_capture(readings)
    log_path = workdir / "outage.log"
    with running_broker(workdir) as broker:
        relay = Relay(broker.host, broker.port)
        relay.close_gate()
        subscriber = Subscriber(broker.host, broker.port, "outage/main/state")
        environment = daemon_environment(workdir)
        environment["COSEM_READER_MQTT_RECONNECT_MAX_DELAY"] = "1"
        process = subprocess.Popen(
            [sys.executable, "-m", "cosem_reader", "read", "--replay", "-", "--key", KEY.hex(),
             "--mqtt-url", f"mqtt://{relay.host}:{relay.port}", "--topic-base", "outage",
             "--name", "main", "--trace", "timings"],
            env=environment, cwd=workdir, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"),  # noqa: SIM115
        )
        assert process.stdin is not None
        try:
            process.stdin.write(b"".join(capture.pushes))
            process.stdin.flush()
            deadline = time.monotonic() + 300
            while log_path.read_bytes().count(b"timings:") < readings:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the daemon did not decode {readings} pushes")
                time.sleep(0.2)
            queued_rss = rss_kib(process.pid)[0]
            began = time.perf_counter()
            relay.open()
            with subscriber.changed:
                subscriber.changed.wait_for(lambda: subscriber.count >= readings, timeout=300)
            drain = time.perf_counter() - began
            time.sleep(1.0)  # duplicates would arrive now
            after_rss, peak = rss_kib(process.pid)
            process.stdin.close()
            code = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
            subscriber.close()
            relay.shutdown()
    firsts = sorted((times[0], number) for number, times in subscriber.arrived.items())
    order = [number for _, number in firsts]
    return {
        "readings": readings, "broker": broker.kind, "exit_code": code,
        "drain_s": drain, "queued_rss_kib": queued_rss, "after_rss_kib": after_rss,
        "peak_rss_kib": peak,
        "lost": len(set(range(1, readings + 1)) - set(subscriber.arrived)),
        "duplicates": sum(len(times) - 1 for times in subscriber.arrived.values()),
        "in_order": order == sorted(order),
    }


def soak_summary(pushes: int, expected: dict[int, int], delivered: dict[int, int],
                 rss: list[int], elapsed: float) -> dict[str, Any]:
    missing = sum(max(0, want - delivered.get(number, 0)) for number, want in expected.items())
    extra = sum(max(0, got - expected.get(number, 0)) for number, got in delivered.items())
    warm = rss[len(rss) // 10]
    return {
        "pushes": pushes,
        "good_pushes": sum(expected.values()),
        "delivered": sum(delivered.values()),
        "good_pushes_missing": missing,
        "unexpected": extra,
        "pushes_per_s": pushes / elapsed,
        "rss_kib_after_10pct": warm,
        "rss_kib_end": rss[-1],
        "rss_growth_kib": rss[-1] - warm,
    }


# -- start-up --------------------------------------------------------------------------


def startup(workdir: Path, runs: int) -> dict[str, Any]:
    script = Path(sys.executable).parent / "cosem-reader"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cosem_reader"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*command, "--version"], check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    result: dict[str, Any] = {"version_ms": statistics.median(times)}
    modules = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv=['cosem-reader','--version']\n"
         "from cosem_reader.app.cli import main\ntry: main()\nexcept SystemExit: pass\n"
         "print('modules=' + ','.join(m for m in ('cryptography', 'paho', 'serial')"
         " if m in sys.modules))"],
        capture_output=True, text=True, env=daemon_environment(workdir), check=False,
    ).stdout.splitlines()
    found = [line.removeprefix("modules=") for line in modules if line.startswith("modules=")]
    result["version_imports"] = found[-1] if found else "?"
    one = workdir / "one-push.bin"
    one.write_bytes(make_capture(1).wire)
    first = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [*command, "read", "--replay", str(one), "--key", KEY.hex(), "--once",
             "--format", "json"],
            check=True, capture_output=True, env=daemon_environment(workdir), cwd=workdir,
        )
        first.append((time.perf_counter() - start) * 1000)
    result["daemon_first_reading_ms"] = statistics.median(first)
    return result


# -- report ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("cryptography", "gurux-dlms", "dlms-cosem", "paho-mqtt"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version  # noqa: PLC0415

            versions[name] = version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.platform(),
        "packages": versions,
    }


def number(value: float | None, unit: str = "/s") -> str:
    return "—" if value is None else f"{value:,.0f}{unit}"


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}×"


def print_report(results: dict[str, Any]) -> None:
    print()
    info = results["machine"]
    print(f"machine: {info['cpu']}, {info['cores']} cores, "
          f"{info['implementation']} {info['python']}")
    rows = results.get("throughput")
    if rows:
        print("\nthroughput, pushes per second on one core")
        print("| push | cosem-reader | gurux-dlms | ratio | dlms-cosem | ratio |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            print(f"| {row['push']} | {number(row['cosem_reader'])} | "
                  f"{number(row['gurux_dlms'])} | {ratio(row['ratio_gurux_dlms'])} | "
                  f"{number(row['dlms_cosem'])} | {ratio(row['ratio_dlms_cosem'])} |")
        print("\nwhat each figure covers:")
        for row in rows:
            print(f"- {row['push']}: cosem-reader {row['cosem_reader_scope']}; "
                  f"gurux-dlms {row['gurux_dlms_scope']}; dlms-cosem {row['dlms_cosem_scope']}")
    for name, title in (("latency_in_process", "pty → StreamDecoder (in process)"),
                        ("latency_daemon", "pty → daemon → MQTT broker → subscriber")):
        found = results.get(name)
        if found is None:
            continue
        if "skipped" in found:
            print(f"\nlatency {title}: skipped: {found['skipped']}")
            continue
        print(f"\nlatency {title}, {found['pushes']} pushes: p50 {found['p50_ms']:.2f} ms, "
              f"p99 {found['p99_ms']:.2f} ms, max {found['max_ms']:.2f} ms")
        if "daemon_rss_kib" in found:
            print(f"  daemon RSS {found['daemon_rss_kib'] / 1024:.1f} MiB, "
                  f"peak {found['daemon_peak_rss_kib'] / 1024:.1f} MiB ({found['broker']})")
    for name, title in (("soak_decoder", "StreamDecoder"),
                        ("soak_daemon", "daemon (read --replay -, JSON lines)"),
                        ("soak_daemon_broker", "daemon → MQTT broker → subscriber")):
        found = results.get(name)
        if found is None:
            continue
        if "skipped" in found:
            print(f"\nsoak {title}: skipped: {found['skipped']}")
            continue
        print(f"\nsoak {title}: {found['pushes']:,} pushes, 5 % corrupted: "
              f"{found['delivered']:,} of {found['good_pushes']:,} good pushes delivered, "
              f"{found['good_pushes_missing']} missing; {found['pushes_per_s']:,.0f} pushes/s; "
              f"RSS growth {found['rss_growth_kib'] / 1024:+.2f} MiB")
    found = results.get("outage")
    if found:
        if "skipped" in found:
            print(f"\nlong outage: skipped: {found['skipped']}")
        else:
            print(f"\nlong outage, daemon → MQTT broker ({found['broker']}): "
                  f"{found['readings']:,} readings queued, delivered in {found['drain_s']:.1f} s "
                  f"after the broker's return; RSS {found['queued_rss_kib'] / 1024:.1f} MiB "
                  f"queued, {found['after_rss_kib'] / 1024:.1f} MiB drained, peak "
                  f"{found['peak_rss_kib'] / 1024:.1f} MiB; {found['lost']} lost, "
                  f"{found['duplicates']} duplicated, {'in' if found['in_order'] else 'OUT OF'}"
                  " order")
    found = results.get("startup")
    if found:
        print(f"\nstart-up: cosem-reader --version {found['version_ms']:.0f} ms "
              f"(imports: {found['version_imports'] or 'none of cryptography/paho/serial'}); "
              f"daemon to its first reading {found['daemon_first_reading_ms']:.0f} ms")
    print_end_to_end(results.get("end_to_end"))
    if results.get("big_capture"):
        print()
        print("\n".join(big_capture.report(results["big_capture"])))
    for note in results.get("notes", []):
        print(f"note: {note}")


def end_to_end_section(workdir: Path, quick: bool) -> dict[str, Any]:
    """The whole-process rows (bench/end_to_end.py) and the peers beside them."""
    count = 2000 if quick else 10_000
    environment = daemon_environment(workdir)
    environment.pop("PYTHONUNBUFFERED")  # decode writes to a file here, as a user's would
    with one_core():
        rows = end_to_end.decode_and_replay(workdir, environment, count, 2 if quick else 3)
    found: dict[str, Any] = {"rows": rows}
    if daemon_available() is None:
        found["broker"] = end_to_end.into_broker(
            workdir, daemon_environment(workdir), count, broker=running_broker(workdir),
            subscriber=Subscriber, rss=rss_kib,
        )
    missing = peers.gurux_available() or peers.dlms_cosem_available()
    if missing:
        found["peers"] = {"skipped": missing}
        return found
    sample = list(make_capture(200 if quick else 1000).pushes)
    with one_core():
        found["peers"] = end_to_end.peer_rows(
            rows[0]["pushes_per_s"], sample, framing=link_apdus,
            plaintext=lambda apdu: plaintext_of(apdu, KEY), peers=peers, rate=rate,
        )
    return found


def big_capture_section(workdir: Path, size: int) -> dict[str, Any]:
    """``decode`` over ``size`` bytes of pushes, ``read --replay -`` over the first 100 MB."""
    environment = daemon_environment(workdir)
    environment.pop("PYTHONUNBUFFERED")  # a pipe, as a user's `decode … | jq` would have
    return big_capture.section(workdir, environment, size, min(size, 100 * 10**6), rss_kib)


def print_end_to_end(found: dict[str, Any] | None) -> None:
    if not found:
        return
    print("\nend to end, whole process on one core")
    print("| path | pushes/s | per CPU second | RSS |")
    print("| --- | ---: | ---: | ---: |")
    for row in found["rows"]:
        print(f"| {row['path']} | {number(row['pushes_per_s'])} | "
              f"{number(row.get('pushes_per_cpu_s'))} | |")
    broker = found.get("broker")
    if broker:
        print(f"| {broker['path']} | {number(broker['pushes_per_s'])} "
              f"({broker['delivered']:,} of {broker['pushes']:,}) | | "
              f"{broker['rss_kib'] / 1024:.1f} MiB (peak {broker['peak_rss_kib'] / 1024:.1f}) |")
    other = found.get("peers", {})
    if "skipped" in other:
        print(f"peers: skipped: {other['skipped']}")
        return
    for label in ("gurux_dlms", "dlms_cosem"):
        print(f"{label} with cosem-reader's framing around it: {number(other.get(label))} "
              f"(decode --format json is {ratio(other.get(f'ratio_{label}'))} that)")


SECTIONS = ("throughput", "latency", "soak", "outage", "startup", "endtoend", "bigcapture")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, about a minute")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run these sections")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--big-mb", type=int, metavar="MB",
                        help="size of the big capture in MB (default 1,000; --quick 100)")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    quick = args.quick
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "notes": []}
    # As pip does when it installs the package: the daemons are measured as they run
    # installed, not compiling every module at each start (PYTHONDONTWRITEBYTECODE).
    for folder in ("src", "generated"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    vectors = load_vectors()
    if not vectors:
        results["notes"].append(f"real vectors not found at {VECTORS_FILE}: only the own capture")
    workdir = Path(tempfile.mkdtemp(prefix="cosem-reader-bench-"))
    missing_daemon = daemon_available()
    try:
        if "throughput" in sections:
            print("throughput …", flush=True)
            with one_core():
                results["throughput"] = throughput(vectors, quick)
        if "latency" in sections:
            print("latency …", flush=True)
            results["latency_in_process"] = latency_in_process(200 if quick else 1000)
            if missing_daemon:
                results["latency_daemon"] = {"skipped": missing_daemon}
            else:
                results["latency_daemon"] = latency_daemon(100 if quick else 1000, workdir)
        if "soak" in sections:
            pushes = 50_000 if quick else 1_000_000
            print(f"soak, {pushes:,} pushes …", flush=True)
            with one_core():
                results["soak_decoder"] = soak_decoder(pushes)
            if missing_daemon:
                results["soak_daemon"] = {"skipped": missing_daemon}
                results["soak_daemon_broker"] = {"skipped": missing_daemon}
            else:
                results["soak_daemon"] = soak_daemon_replay(pushes, workdir)
                results["soak_daemon_broker"] = soak_daemon_broker(
                    10_000 if quick else 100_000, workdir
                )
        if "outage" in sections:
            readings = 2_000 if quick else 10_000
            print(f"long outage, {readings:,} readings …", flush=True)
            results["outage"] = (
                {"skipped": missing_daemon} if missing_daemon
                else outage_daemon(readings, workdir)
            )
        if "startup" in sections:
            print("start-up …", flush=True)
            results["startup"] = startup(workdir, 5 if quick else 15)
        if "endtoend" in sections:
            print("end to end …", flush=True)
            results["end_to_end"] = end_to_end_section(workdir, quick)
        if "bigcapture" in sections:
            size = (args.big_mb or (100 if quick else 1000)) * 10**6
            print(f"big capture, {size:,} bytes …", flush=True)
            results["big_capture"] = big_capture_section(workdir, size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print_report(results)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
