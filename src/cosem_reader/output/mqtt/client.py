"""The paho adapter: :class:`MqttPublisher`, one meter's connection and its threads."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from cosem_reader.cosem.readings import Notification
from cosem_reader.output.mqtt import paho_setup
from cosem_reader.output.mqtt.compat import COMPAT_NAME, compat_messages
from cosem_reader.output.mqtt.connection import BrokerConnection
from cosem_reader.output.mqtt.delivery import Delivery
from cosem_reader.output.mqtt.discovery import DiscoveryBook
from cosem_reader.output.mqtt.payloads import OFFLINE, ONLINE, meter_id_from, reading_messages
from cosem_reader.output.mqtt.schedules import PublishSchedule
from cosem_reader.output.mqtt.settings import MqttSettings, topic_level
from cosem_reader.output.outbox import Message
from cosem_reader.output.spool import Spool

if TYPE_CHECKING:
    import ssl

__all__ = ["MqttPublisher"]

logger = logging.getLogger(__name__)


class MqttPublisher:
    """Publishes one meter's readings to an MQTT broker.

    ``meter_id`` is this meter's topic level; without it the first notification names
    the meter (:func:`meter_id_from`), and the connection waits for it (the last will
    needs the availability topic).  All methods are thread-safe and never block on the
    network, except :meth:`stop`, which waits up to ``timeout`` for the queue to drain.

    The queue is a :class:`~cosem_reader.output.mqtt.delivery.Delivery`; this class is its
    paho adapter: it hands paho at most :data:`WINDOW` messages at a time, and after each
    turn of paho's loop that brought PUBACKs as many more as they freed, from whichever
    thread gets there first; no thread waits for another to do so (a thread that finds
    the hand-over busy leaves a note and returns).
    """

    def __init__(self, settings: MqttSettings, meter_id: str | None = None) -> None:
        self.settings = settings
        self.meter_id = topic_level(meter_id, settings) if meter_id else None
        self._schedule = PublishSchedule(settings)
        self._lock = threading.Lock()  # the delivery, the discovery book, the flags
        self._delivery = Delivery(settings)
        self._book = DiscoveryBook(settings)
        self._available = True
        self._started = False
        self._link = BrokerConnection(
            settings, self._lock, self._delivery, self._book, self._queue_availability
        )

    # -- public API -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._link.connected

    @property
    def pending(self) -> int:
        """Readings not yet acknowledged by the broker."""
        with self._lock:
            return self._delivery.outbox.pending

    @property
    def spool(self) -> Spool | None:
        """The open ``mqtt.spool``, also the place for the frame counters; None without one."""
        return self._delivery.spool_file

    @property
    def compat(self) -> bool:
        """Whether smart-meter-mbus-dlms' topics are published: no meter level, no availability."""
        return self.settings.compat == COMPAT_NAME

    @property
    def topic_prefix(self) -> str | None:
        """``<topic_base>/<meter>``, None until the meter id is known."""
        return f"{self.settings.topic_base}/{self.meter_id}" if self.meter_id else None

    @property
    def availability_topic(self) -> str | None:
        """``<topic_base>/<meter>/availability``; None until the meter id is known, or compat."""
        prefix = self.topic_prefix
        return f"{prefix}/availability" if prefix and not self.compat else None

    @property
    def state_topic(self) -> str | None:
        """``<topic_base>/<meter>/state``, None until the meter id is known."""
        prefix = self.topic_prefix
        return f"{prefix}/state" if prefix else None

    def start(self) -> None:
        """Connect in the background; an unreachable broker is retried with back-off."""
        if self._started:
            return
        self._started = True
        if self.settings.test_mode:
            logger.info("MQTT test mode: nothing is published, no broker is contacted")
            return
        if self.meter_id is not None:
            self._connect()

    def publish(self, notification: Notification) -> None:
        """Queue one reading (discovery for new OBIS codes first) and send it when connected."""
        if self.meter_id is None:
            self.meter_id = topic_level(meter_id_from(notification), self.settings)
            if self._started and not self.settings.test_mode:
                self._connect()
        when = notification.timestamp or datetime.now().astimezone()
        if not self._schedule.due(when):
            logger.debug("reading of %s skipped by the publishing schedule", when.isoformat())
            return
        with self._lock:
            messages = self._reading_messages(notification)
            if not self.settings.test_mode:
                self._book.queued(messages)
                self._delivery.enqueue(messages, self._link.connected)
        if self.settings.test_mode:
            for message in messages:
                logger.info(
                    "MQTT test mode, would publish %s: %s",
                    message.topic,
                    message.payload.decode("utf-8", errors="replace"),
                )
            return
        self._link.pump()

    def set_available(self, online: bool, reason: str | None = None) -> None:
        """Publish ``online``/``offline`` on the retained availability topic (when it changes)."""
        with self._lock:
            changed = online != self._available
            self._available = online
            if not changed:
                return
            if not self.settings.test_mode and self._link.connected:
                self._queue_availability()
        state = ONLINE if online else OFFLINE
        if self.settings.test_mode and self.availability_topic is not None:
            logger.info("MQTT test mode, would publish %s: %s", self.availability_topic, state)
        elif reason:
            # Before its first reading an unnamed meter has no topic level yet.
            who = f"meter {self.meter_id}" if self.meter_id else "the meter"
            logger.info("%s %s: %s", who, state, reason)
        self._link.pump()

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), publish ``offline``, disconnect.

        The whole call takes at most ``timeout`` seconds plus a moment; the readings
        not delivered by then are counted in a warning, exactly when the broker
        confirmed all it was sent.
        """
        client = self._link.client
        if client is None:
            self._delivery.close()
            return
        deadline = time.monotonic() + timeout
        left, in_doubt, connected = self._link.drain(deadline, timeout)
        spooled = self._delivery.spool is not None
        if left:
            logger.warning(
                "MQTT: %d reading(s) not delivered to %s before stopping%s%s",
                left,
                self.settings.host,
                f" ({in_doubt} message(s) of them sent but not confirmed)" if in_doubt else "",
                "; the spool keeps them for the next start" if spooled else "",
            )
        self._link.close(client, self.availability_topic if connected else None, deadline)
        self._delivery.close()

    # -- under the lock ------------------------------------------------------------------

    @property
    def _discovery(self) -> dict[str, bytes]:
        """The discovery configs announced, by topic."""
        return self._book.configs

    def _reading_messages(self, notification: Notification) -> list[Message]:
        """Discovery for newly confirmed OBIS codes, then the reading's own messages."""
        prefix = self.topic_prefix
        assert prefix is not None
        assert self.meter_id is not None
        messages: list[Message] = []
        if self.settings.homeassistant_discovery:
            messages.extend(self._book.new_messages(notification, self.meter_id, prefix))
        if self.compat:
            messages.extend(compat_messages(notification, self.settings))
        else:
            messages.extend(reading_messages(notification, self.settings, prefix))
        return messages

    def _queue_availability(self) -> None:
        topic = self.availability_topic
        if topic is not None:
            self._delivery.queue_availability(topic, self._available)

    # -- connecting ----------------------------------------------------------------------

    def _connect(self) -> None:
        """Queue what the spool kept, then connect (once the meter id is known)."""
        assert self.meter_id is not None
        if self._delivery.restoring:
            with self._lock:
                self._delivery.restore(self.meter_id)
        self._link.connect(self.meter_id, self.availability_topic)

    def _tls_context(self) -> ssl.SSLContext:
        return paho_setup.tls_context(self.settings, self._link.set_tls_problem)
