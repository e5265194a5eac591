"""The socket paho reads and writes through (paho_setup.BufferedSocket), on real sockets."""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise

import paho.mqtt.client as paho
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cosem_reader.output.mqtt import MqttPublisher
from cosem_reader.output.mqtt.paho_client import BufferedSocket, Client
from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.publishing import BASE, METER, Subscriber, push, settings_for, wait_until


@contextmanager
def _pair(buffer: int | None = None) -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    if buffer is not None:
        for end in (ours, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    ours.setblocking(False)
    theirs.setblocking(False)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def _drain(sock: socket.socket, limit: int | None = None) -> bytes:
    """What ``sock`` holds (at most ``limit`` bytes), without waiting."""
    received = b""
    while limit is None or len(received) < limit:
        try:
            chunk = sock.recv(65536 if limit is None else limit - len(received))
        except BlockingIOError:
            break
        if not chunk:
            break
        received += chunk
    return received


def test_packets_read_one_recv_at_a_time_come_from_one_read() -> None:
    with _pair() as (ours, theirs):
        buffered = BufferedSocket(ours, lambda: False)
        theirs.sendall(b"\x40\x02\x00\x01" b"\x40\x02\x00\x02")
        assert buffered.pending() == 0
        assert buffered.recv(1) == b"\x40"
        assert buffered.pending() == 7  # the rest came with the first recv()
        assert [buffered.recv(1), buffered.recv(2)] == [b"\x02", b"\x00\x01"]
        assert buffered.recv(100) == b"\x40\x02\x00\x02"  # no more than is held
        assert buffered.pending() == 0
        theirs.sendall(b"\xd0\x00")
        # The first recv() took all there was: paho learns so without another system
        # call, and reads what came since in its next turn, after select().
        with pytest.raises(BlockingIOError):
            buffered.recv(1)
        assert buffered.recv(2) == b"\xd0\x00"
        with pytest.raises(BlockingIOError):
            buffered.recv(1)
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # now from the socket itself
        theirs.close()
        assert buffered.recv(1) == b""  # the peer's end, as paho expects it


def _paho_write(buffered: BufferedSocket, queue: deque[bytearray]) -> None:
    """paho's _packet_write: send each queued packet, keep it queued on BlockingIOError."""
    while queue:
        packet = queue.popleft()
        try:
            written = buffered.send(packet)
        except BlockingIOError:
            queue.appendleft(packet)
            return
        assert 0 < written <= len(packet)
        if written < len(packet):
            queue.appendleft(packet[written:])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=60),
    reads=st.lists(st.integers(0, 20000), min_size=1, max_size=30),
)
@example(sizes=[1500] * 30, reads=[0, 100, 5000])  # the kept bytes leave only in part
def test_written_bytes_arrive_once_in_order_whatever_the_socket_takes(
    sizes: list[int], reads: list[int]
) -> None:
    """Against paho's unbuffered writes: the peer gets every byte once, in order."""
    packets = [bytes([index % 251]) * size for index, size in enumerate(sizes)]
    with _pair(buffer=4096) as (ours, theirs):
        queue: deque[bytearray] = deque(bytearray(packet) for packet in packets)
        buffered = BufferedSocket(ours, lambda: bool(queue))
        received = b""
        for read in reads:  # paho writes while the peer reads at its own pace
            _paho_write(buffered, queue)
            received += _drain(theirs, read)
        while queue:
            _paho_write(buffered, queue)
            received += _drain(theirs)
        received += _drain(theirs)
        assert received == b"".join(packets)


def test_kept_bytes_leave_before_the_socket_closes() -> None:
    with _pair() as (ours, theirs):
        more = [True]
        buffered = BufferedSocket(ours, lambda: more[0])
        assert buffered.send(b"\x30\x03abc") == 5
        assert _drain(theirs) == b""  # kept: paho has more to send
        more[0] = False
        assert buffered.send(b"\xe0\x00") == 2
        assert _drain(theirs) == b"\x30\x03abc\xe0\x00"
        assert buffered.send(b"\x30\x01x") == 3  # nothing kept: sent at once
        more[0] = True
        buffered.send(b"\xe0\x00")  # a DISCONNECT with packets behind it
        buffered.close()
        assert _drain(theirs) == b"\x30\x01x\xe0\x00"


@pytest.mark.broker
def test_publisher_reads_and_writes_through_the_buffer(
    broker: Broker, subscribe: Callable[..., Subscriber], publishers: list[MqttPublisher]
) -> None:
    """paho still makes its socket where the client class hooks in, and readings arrive."""
    subscriber = subscribe(broker.host, broker.port, (f"{BASE}/state",))
    publisher = MqttPublisher(settings_for(broker.host, broker.port), METER)
    publishers.append(publisher)
    publisher.start()
    for energy in range(300):
        publisher.publish(push(energy))
    subscriber.wait_for(lambda messages: len(messages) >= 300, timeout=30)
    wait_until(lambda: publisher.pending == 0, what="PUBACKs")
    client = publisher._link.client
    assert client is not None
    assert isinstance(client.socket(), BufferedSocket)
    assert subscriber.energies() == list(range(300))


def _acknowledge(client_type: type[paho.Client], protocol: MQTTProtocolVersion, packet: bytes,
                 published: int) -> tuple[list[tuple[int, str, str]], list[int], object]:
    """What a client of ``client_type`` does with a PUBACK after ``published`` messages."""
    client = client_type(CallbackAPIVersion.VERSION2, protocol=protocol)
    client.max_inflight_messages_set(0)
    calls: list[tuple[int, str, str]] = []
    client.on_publish = lambda _c, _u, mid, reason, properties: calls.append(
        (mid, str(reason), str(properties))
    )
    for _ in range(published):
        client.publish("t", b"x", qos=1)  # not connected: paho keeps it, waiting for PUBACK
    client._in_packet["command"] = 0x40
    client._in_packet["packet"] = bytearray(packet)
    try:
        result: object = client._handle_pubackcomp("PUBACK")
    except Exception as error:  # the same exception, or none, from both
        result = type(error)
    return calls, sorted(client._out_messages), result


@settings(max_examples=80, deadline=None)
@given(
    protocol=st.sampled_from([MQTTProtocolVersion.MQTTv311, MQTTProtocolVersion.MQTTv5]),
    packet=st.one_of(
        st.integers(0, 6).map(lambda mid: mid.to_bytes(2, "big")),
        st.binary(max_size=5),
    ),
    published=st.integers(0, 4),
)
def test_a_puback_does_what_paho_does(
    protocol: MQTTProtocolVersion, packet: bytes, published: int
) -> None:
    """The 2-byte PUBACK shortcut against paho's own handling of the same packet."""
    ours = _acknowledge(Client, protocol, packet, published)
    assert ours == _acknowledge(paho.Client, protocol, packet, published)


def _read_stream(
    client_type: type[paho.Client], protocol: MQTTProtocolVersion, chunks: list[bytes]
) -> tuple[list[tuple[int, str, str]], list[int], int]:
    """What a client does reading ``chunks`` from its broker, 4 messages awaiting PUBACK."""
    client = client_type(CallbackAPIVersion.VERSION2, protocol=protocol)
    client.max_inflight_messages_set(0)
    calls: list[tuple[int, str, str]] = []
    client.on_publish = lambda _c, _u, mid, reason, properties: calls.append(
        (mid, str(reason), str(properties))
    )
    for _ in range(4):
        client.publish("t", b"x", qos=1)  # not connected: paho keeps it, waiting for PUBACK
    with _pair() as (ours, theirs):
        client._sock = BufferedSocket(ours, client.want_write) if client_type is Client else ours
        for chunk in chunks:
            if client._sock is None:
                break  # a malformed packet ended the connection
            theirs.sendall(chunk)
            for _ in range(3 * len(chunk) + 3):
                client.loop_read()
        client._sock = None
    return calls, sorted(client._out_messages), client._in_packet["command"]


_PACKETS = st.one_of(
    st.integers(0, 6).map(lambda mid: b"\x40\x02" + mid.to_bytes(2, "big")),  # PUBACK
    st.integers(1, 4).map(lambda mid: b"\x40\x03" + mid.to_bytes(2, "big") + b"\x10"),  # v5
    st.just(b"\xd0\x00"),  # PINGRESP
)


@settings(max_examples=60, deadline=None)
@given(
    protocol=st.sampled_from([MQTTProtocolVersion.MQTTv311, MQTTProtocolVersion.MQTTv5]),
    packets=st.lists(_PACKETS, max_size=12),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_packets_read_from_the_buffer_do_what_paho_does(
    protocol: MQTTProtocolVersion, packets: list[bytes], cuts: list[int]
) -> None:
    """PUBACKs taken whole from the buffer, against paho reading the same stream itself,
    however the stream is cut into reads."""
    stream = b"".join(packets)
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    chunks = [stream[a:b] for a, b in pairwise(bounds)]
    assert _read_stream(Client, protocol, chunks) == _read_stream(paho.Client, protocol, chunks)
