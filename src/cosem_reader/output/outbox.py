"""The MQTT outbound queue, sans-IO: what to send next, what is in flight, what to resend.

:class:`Outbox` knows nothing of sockets, paho or threads (h11's ``Connection`` is the
model): the adapter asks it for the next message (:meth:`Outbox.take`), tells it the
message id the client gave the message (:meth:`Outbox.sent`) or that the client refused
it (:meth:`Outbox.refused`), reports acknowledgements (:meth:`Outbox.acknowledged`) and
a new connection (:meth:`Outbox.reconnected`).  Every step is O(1) per message: the
unsent messages are a deque with the next one at its left, the messages in flight a
dict in the order they were handed over.

Guarantees, whatever the order of calls: every message of a reading that is not
dropped is acknowledged exactly once, and messages are handed over in the order they
were added; after a reconnect the messages that were in flight go first, in their
order, then the unsent ones.  At most ``window`` messages are in flight.  At most
``queue_size`` readings are held; adding one more drops the oldest (counted in
:attr:`Outbox.dropped`).  Messages that are no reading (availability, discovery) are
not counted and never dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Message", "Outbox"]


@dataclass(slots=True, eq=False)
class Message:
    """One MQTT PUBLISH; ``reading`` is the number of the reading it belongs to, or None."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    reading: int | None = None
    kind: str = "reading"  # "reading" | "availability" | "discovery" | "resend"


class Outbox:
    """Messages waiting for the broker, in order, bounded by readings."""

    def __init__(self, queue_size: int, window: int) -> None:
        if queue_size < 1 or window < 1:
            raise ValueError("queue_size and window must be at least 1")
        self.queue_size = queue_size
        self.window = window
        #: Readings dropped since the last time the caller reset it to 0.
        self.dropped = 0
        self._unsent: deque[Message] = deque()
        # In flight: handed over, not yet acknowledged.  A message whose id is not
        # known yet (between take() and sent()) is in _taken.
        self._in_flight: dict[int, Message] = {}
        self._taken: dict[int, Message] = {}  # id(message) -> message
        self._early_acks: set[int] = set()
        self._readings: dict[int, int] = {}  # reading -> messages not acknowledged

    # -- what the caller reads ---------------------------------------------------------

    @property
    def pending(self) -> int:
        """Readings not yet acknowledged completely."""
        return len(self._readings)

    @property
    def in_flight(self) -> int:
        """Messages handed over and not acknowledged (or refused) yet."""
        return len(self._in_flight) + len(self._taken)

    def __len__(self) -> int:
        """Messages not acknowledged yet, in flight or not."""
        return len(self._unsent) + self.in_flight

    def readings(self) -> list[int]:
        """The numbers of the readings held, oldest first."""
        return list(self._readings)

    def unsent(self) -> Iterator[Message]:
        """The messages not handed over, in the order they will be."""
        return iter(self._unsent)

    # -- adding ------------------------------------------------------------------------

    def add(self, messages: Iterable[Message], reading: int | None = None) -> list[int]:
        """Queue messages at the end; with ``reading`` they are one reading's messages.

        Returns the readings dropped to make room (oldest first).
        """
        count = 0
        for message in messages:
            message.reading = reading if message.kind == "reading" else None
            count += message.reading is not None
            self._unsent.append(message)
        dropped: list[int] = []
        if reading is not None and count:
            self._readings[reading] = count
            while len(self._readings) > self.queue_size:
                dropped.append(self._drop_oldest())
        return dropped

    def add_first(self, messages: Iterable[Message]) -> None:
        """Queue messages that are no reading before every unsent message."""
        for message in reversed(list(messages)):
            message.reading = None
            self._unsent.appendleft(message)

    def discard_unsent(self, kind: str) -> None:
        """Forget the unsent messages of one kind (an availability that is out of date)."""
        if any(message.kind == kind for message in self._unsent):
            self._unsent = deque(m for m in self._unsent if m.kind != kind)

    def _drop_oldest(self) -> int:
        oldest = next(iter(self._readings))
        del self._readings[oldest]
        self.dropped += 1
        # The oldest reading's unsent messages follow at most a few messages that are no
        # reading (availability, discovery) at the left: the cost is not the queue's length.
        kept: list[Message] = []
        while self._unsent:
            message = self._unsent.popleft()
            if message.reading is None:
                kept.append(message)
            elif message.reading != oldest:
                self._unsent.appendleft(message)
                break
        self._unsent.extendleft(reversed(kept))
        return oldest

    # -- handing over ------------------------------------------------------------------

    def take(self) -> Message | None:
        """The next message to hand over, or None when none is left or the window is full.

        The caller reports what became of it: :meth:`sent` or :meth:`refused`.
        """
        if not self._unsent or self.in_flight >= self.window:
            return None
        message = self._unsent.popleft()
        self._taken[id(message)] = message
        return message

    def sent(self, message: Message, mid: int) -> list[int]:
        """The client accepted ``message`` as ``mid``; returns the readings it completed."""
        if self._taken.pop(id(message), None) is None:
            return []  # the connection was reset meanwhile; the message is queued again
        if mid in self._early_acks:
            self._early_acks.discard(mid)
            return self._done(message)
        self._in_flight[mid] = message
        return []

    def refused(self, message: Message) -> None:
        """The client did not take ``message`` (its queue is full): it goes first again.

        Call it for the most recently taken message only, so the order holds.
        """
        if self._taken.pop(id(message), None) is not None:
            self._unsent.appendleft(message)

    def abandoned(self, message: Message) -> list[int]:
        """The client can never send ``message`` (a topic it rejects): count it as done."""
        if self._taken.pop(id(message), None) is None:
            return []
        return self._done(message)

    def acknowledged(self, mid: int) -> list[int]:
        """The broker acknowledged ``mid``; returns the readings now complete."""
        message = self._in_flight.pop(mid, None)
        if message is None:
            if self._taken:
                # The acknowledgement overtook sent(): remember it for that call.
                self._early_acks.add(mid)
            return []
        return self._done(message)

    def _done(self, message: Message) -> list[int]:
        reading = message.reading
        if reading is None or reading not in self._readings:
            return []
        self._readings[reading] -= 1
        if self._readings[reading]:
            return []
        del self._readings[reading]
        return [reading]

    def reconnected(self) -> None:
        """A new connection: what was in flight goes first again, in its order.

        Messages of readings dropped meanwhile are forgotten, as are unsent copies of
        what a reconnect resends anyway (the caller adds those with :meth:`add_first`).
        """
        again = [*self._in_flight.values(), *self._taken.values()]
        self._in_flight.clear()
        self._taken.clear()
        self._early_acks.clear()
        self._unsent.extendleft(
            reversed([m for m in again if m.reading is None or m.reading in self._readings])
        )
        for kind in ("availability", "discovery", "resend"):
            self.discard_unsent(kind)
