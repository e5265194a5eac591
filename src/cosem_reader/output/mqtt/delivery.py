"""The publisher's queue: the outbox, the spool beside it, and the lines about both.

:class:`Delivery` is sans-IO apart from the spool file: the publisher calls it under its
lock, and hands paho what :meth:`Outbox.take` gives.
"""

from __future__ import annotations

import logging

from cosem_reader.output.mqtt.payloads import OFFLINE, ONLINE, control_message
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.output.outbox import Message, Outbox
from cosem_reader.output.spool import MeterSpool, Spool, open_spool

__all__ = ["WINDOW", "Delivery"]

logger = logging.getLogger(__name__)

#: Messages handed to paho and not yet acknowledged, at most.  Enough to keep a LAN
#: broker busy; small enough that a callback hands paho little work at a time, so paho
#: keeps answering PINGREQs and PUBACKs while a backlog drains.
WINDOW = 64


class Delivery:
    """One meter's readings until the broker holds them: queue, spool, overflow lines.

    Not thread-safe: callers hold the publisher's lock.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.queue_size, WINDOW)
        self.spool_file: Spool | None = open_spool(settings.spool, settings.spool_max_mb)
        self.spool: MeterSpool | None = None  # once the meter id is known
        self._sequence = 0

    @property
    def restoring(self) -> bool:
        """Whether a spool is open and the meter's readings in it not yet queued."""
        return self.spool_file is not None and self.spool is None

    def restore(self, meter_id: str) -> None:
        """Queue the readings the spool kept from before, first and in order."""
        assert self.spool_file is not None
        spool = self.spool = MeterSpool(self.spool_file, meter_id)
        kept = spool.restore()
        for reading, messages in kept:
            spool.completed(self.outbox.add(messages, reading), drained=False)
        spool.flush()
        if kept:
            logger.warning(
                "MQTT spool %s: %d reading(s) kept from before are sent first",
                self.spool_file.path,
                len(kept),
            )

    def enqueue(self, messages: list[Message], connected: bool) -> None:
        """Queue the messages of one reading; the oldest reading goes when the queue is full."""
        if self.spool is not None:
            reading = self.spool.number()
            at_risk = not connected or self.outbox.pending > 0
            self.spool.queued(reading, messages, at_risk)
        else:
            self._sequence += 1
            reading = self._sequence
        overflowing = self.outbox.dropped > 0
        dropped = self.outbox.add(messages, reading)
        if self.spool is not None and dropped:
            self.spool.completed(dropped, drained=False)
        if self.outbox.dropped and not overflowing:
            logger.warning(
                "MQTT queue full (%d readings) while %s is unreachable: dropping the oldest"
                " readings; raise mqtt.queue_size to keep more",
                self.settings.queue_size,
                self.settings.host,
            )

    def queue_availability(self, topic: str, available: bool) -> None:
        """Replace any unsent availability message by the current state, at the front."""
        self.outbox.discard_unsent("availability")
        payload = (ONLINE if available else OFFLINE).encode("ascii")
        self.outbox.add_first([control_message(topic, payload, self.settings, "availability")])

    def reconnected(self, receive_maximum: int | None, first: list[Message]) -> None:
        """Send everything unacknowledged again, ``first`` (discovery) ahead of it."""
        # An MQTT 5 broker may take fewer unacknowledged messages than the window.
        self.outbox.window = min(WINDOW, receive_maximum or WINDOW)
        self.outbox.reconnected()
        self.outbox.add_first(first)

    def handed_over(
        self, handed: list[tuple[Message, int | None]], refused: list[Message]
    ) -> list[int]:
        """What the client made of a batch :meth:`Outbox.take` gave; the readings completed.

        ``handed`` pairs each message it took with its message id (None: it never can
        send it, a topic it rejects); ``refused``, the rest of the batch in order, goes
        first again.
        """
        outbox = self.outbox
        for message in reversed(refused):
            outbox.refused(message)
        readings: list[int] = []
        for message, mid in handed:
            readings += outbox.abandoned(message) if mid is None else outbox.sent(message, mid)
        return readings

    def completed(self, readings: list[int]) -> bool:
        """Readings the broker now holds completely; True when that drained the queue."""
        if self.spool is not None and readings:
            self.spool.completed(readings, drained=not self.outbox.pending)
        if not readings or self.outbox.pending:
            return False
        if self.outbox.dropped:
            logger.warning(
                "MQTT queue drained; %d reading(s) were dropped while the broker was unreachable",
                self.outbox.dropped,
            )
            self.outbox.dropped = 0
        return True

    def secure(self) -> None:
        """Write the spool's readings at risk now (the connection is gone or stopping)."""
        if self.spool is not None:
            self.spool.secure()

    def close(self) -> None:
        """Close the spool file (the frame counters go with it)."""
        if self.spool_file is not None:
            self.spool_file.close()
            self.spool_file = self.spool = None
