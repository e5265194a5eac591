"""The sans-IO MQTT outbound queue, without a broker: order, exactly once, bounds, cost."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from cosem_reader.output.outbox import Message, Outbox


def reading(number: int, parts: int = 2) -> list[Message]:
    return [Message(f"m/{number}/{part}", b"%d" % number, 1, False) for part in range(parts)]


def drain(outbox: Outbox, next_mid: list[int]) -> list[Message]:
    """Hand over and acknowledge everything, one window at a time; what went out."""
    out: list[Message] = []
    while True:
        taken = []
        while (message := outbox.take()) is not None:
            next_mid[0] += 1
            outbox.sent(message, next_mid[0])
            taken.append(next_mid[0])
            out.append(message)
        if not taken:
            return out
        for mid in taken:
            outbox.acknowledged(mid)


def test_in_order_within_the_window() -> None:
    outbox = Outbox(queue_size=10, window=3)
    for number in range(4):
        assert outbox.add(reading(number), number) == []
    first = [outbox.take() for _ in range(4)]
    assert first[3] is None  # the window holds three
    assert [m.topic for m in first if m] == ["m/0/0", "m/0/1", "m/1/0"]
    for mid, message in enumerate(first[:3]):
        assert message is not None
        outbox.sent(message, mid)
    assert outbox.acknowledged(0) == []
    assert outbox.acknowledged(1) == [0]  # reading 0 is complete
    assert outbox.pending == 3
    outbox.acknowledged(2)
    rest = [f"m/{n}/{p}" for n in (1, 2, 3) for p in (0, 1)][1:]
    assert [m.topic for m in drain(outbox, [10])] == rest
    assert outbox.pending == 0
    assert len(outbox) == 0


def test_reconnect_resends_in_flight_first() -> None:
    outbox = Outbox(queue_size=10, window=2)
    outbox.add(reading(0), 0)
    outbox.add(reading(1), 1)
    a, b = outbox.take(), outbox.take()
    assert a is not None
    assert b is not None
    outbox.sent(a, 1)
    outbox.sent(b, 2)
    outbox.acknowledged(2)  # the second arrived, the first's PUBACK was lost
    outbox.reconnected()
    outbox.add_first([Message("avail", b"online", 1, True, kind="availability")])
    topics = [m.topic for m in drain(outbox, [100])]
    assert topics == ["avail", "m/0/0", "m/1/0", "m/1/1"]
    assert outbox.pending == 0


def test_refused_goes_first_again() -> None:
    outbox = Outbox(queue_size=10, window=5)
    outbox.add(reading(0, 3), 0)
    message = outbox.take()
    assert message is not None
    outbox.refused(message)
    assert [m.topic for m in drain(outbox, [0])] == ["m/0/0", "m/0/1", "m/0/2"]


def test_early_acknowledgement() -> None:
    outbox = Outbox(queue_size=10, window=5)
    outbox.add(reading(0, 1), 0)
    message = outbox.take()
    assert message is not None
    assert outbox.acknowledged(7) == []  # the PUBACK came before the client returned
    assert outbox.sent(message, 7) == [0]
    assert outbox.pending == 0


def test_overflow_drops_the_oldest_and_counts() -> None:
    outbox = Outbox(queue_size=3, window=5)
    outbox.add_first([Message("avail", b"offline", 1, True, kind="availability")])
    dropped: list[int] = []
    for number in range(8):
        dropped += outbox.add(reading(number), number)
    assert dropped == [0, 1, 2, 3, 4]
    assert outbox.dropped == 5
    assert outbox.readings() == [5, 6, 7]
    topics = [m.topic for m in drain(outbox, [0])]
    assert topics == ["avail"] + [f"m/{n}/{p}" for n in (5, 6, 7) for p in (0, 1)]


def test_dropped_while_in_flight_is_not_resent() -> None:
    outbox = Outbox(queue_size=1, window=5)
    outbox.add(reading(0), 0)
    message = outbox.take()
    assert message is not None
    outbox.sent(message, 1)
    outbox.add(reading(1), 1)  # reading 0 is dropped while its first message is out
    outbox.reconnected()
    assert [m.topic for m in drain(outbox, [10])] == ["m/1/0", "m/1/1"]
    assert outbox.acknowledged(1) == []  # a late PUBACK of the old connection


def test_cost_is_constant_per_message() -> None:
    """10,000 readings of 10 messages through a window of 64 in well under a second each way."""
    outbox = Outbox(queue_size=10_000, window=64)
    began = time.perf_counter()
    for number in range(10_000):
        outbox.add(reading(number, 10), number)
    out = drain(outbox, [0])
    elapsed = time.perf_counter() - began
    assert len(out) == 100_000
    assert outbox.pending == 0
    assert elapsed < 5.0, elapsed  # today's scan for the next unsent message took minutes


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 3)),
        st.tuples(st.just("take"), st.integers(1, 4)),
        st.tuples(st.just("ack"), st.integers(0, 5)),
        st.tuples(st.just("refuse"), st.just(0)),
        st.tuples(st.just("reconnect"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations, st.integers(1, 4), st.integers(1, 6))
def test_exactly_once_in_order_across_reconnects(
    ops: list[tuple[str, int]], window: int, queue_size: int
) -> None:
    outbox = Outbox(queue_size=queue_size, window=window)
    added: list[Message] = []
    position: dict[int, int] = {}
    acked: dict[int, int] = {}  # id(message) -> times acknowledged
    in_flight: list[tuple[int, Message]] = []  # what the "broker" holds, by mid
    last_taken: Message | None = None
    handed: list[Message] = []  # hand-overs on the current connection
    mid = 0
    number = 0
    dropped: set[int] = set()

    def check_order() -> None:
        order = [position[id(m)] for m in handed]
        assert order == sorted(order), "handed over out of order within one connection"

    for op, arg in ops:
        if op == "add":
            messages = reading(number, arg)
            for message in messages:
                position[id(message)] = len(added)
                added.append(message)
            held = [*outbox.readings(), number]
            lost = outbox.add(messages, number)
            assert lost == held[: len(lost)]  # always the oldest
            dropped.update(lost)
            number += 1
        elif op == "take":
            for _ in range(arg):
                taken = outbox.take()
                if taken is None:
                    break
                mid += 1
                outbox.sent(taken, mid)
                in_flight.append((mid, taken))
                handed.append(taken)
                last_taken = taken
            check_order()
        elif op == "ack" and in_flight:
            ack_mid, message = in_flight.pop(arg % len(in_flight))
            outbox.acknowledged(ack_mid)
            acked[id(message)] = acked.get(id(message), 0) + 1
        elif op == "refuse":
            refused = outbox.take()
            if refused is not None:
                outbox.refused(refused)
        elif op == "reconnect":
            in_flight.clear()  # their PUBACKs are lost with the connection
            outbox.reconnected()
            handed = []
            last_taken = None
        assert outbox.in_flight <= window
        assert outbox.pending <= queue_size
    del last_taken
    # The broker comes back for good: everything left goes out and is acknowledged.
    for ack_mid, message in in_flight:
        outbox.acknowledged(ack_mid)
        acked[id(message)] = acked.get(id(message), 0) + 1
    outbox.reconnected()
    handed = []
    next_mid = [mid + 1000]
    for message in drain(outbox, next_mid):
        handed.append(message)
        acked[id(message)] = acked.get(id(message), 0) + 1
    check_order()
    assert outbox.pending == 0
    kept = [m for m in added if m.reading not in dropped]
    # Exactly once: every kept message acknowledged once; a dropped reading's message
    # at most once (it may have been out already when it was dropped).
    assert all(acked.get(id(m), 0) == 1 for m in kept)
    assert all(acked.get(id(m), 0) <= 1 for m in added)
