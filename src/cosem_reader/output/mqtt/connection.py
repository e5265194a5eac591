"""One meter's connection through paho: hand the queue over, take PUBACKs, reconnect."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cosem_reader.output.mqtt import paho_setup
from cosem_reader.output.mqtt.delivery import Delivery
from cosem_reader.output.mqtt.discovery import DiscoveryBook, is_birth
from cosem_reader.output.mqtt.payloads import OFFLINE
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.output.outbox import Message

if TYPE_CHECKING:
    import paho.mqtt.client as paho
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["BrokerConnection"]

logger = logging.getLogger(__name__)


class BrokerConnection:
    """The paho side of a publisher: its client, callbacks and hand-over.

    It shares the publisher's ``lock``, which guards the delivery, the discovery book
    and the flags here; ``queue_availability`` (called under that lock) puts the
    meter's current availability at the front of the queue.
    """

    def __init__(
        self,
        settings: MqttSettings,
        lock: threading.Lock,
        delivery: Delivery,
        book: DiscoveryBook,
        queue_availability: Callable[[], None],
    ) -> None:
        self.settings = settings
        self._lock = lock
        self.drained = threading.Condition(lock)
        self._delivery = delivery
        self._book = book
        self._queue_availability = queue_availability
        self._send_lock = threading.Lock()  # one hand-over to paho at a time
        self._pump_wanted = False
        self._acknowledged = False  # a PUBACK came since paho's thread last pumped
        self._handing_over = True  # False once drain() has counted what is left
        self.connected = False
        self.stopping = False
        self._broker_down_logged = False
        self.tls_problem: str | None = None
        self.client: paho.Client | None = None

    def connect(self, meter_id: str, availability_topic: str | None) -> None:
        """Connect in the background (once); paho retries with back-off."""
        if self.client is not None:
            return
        client_id = paho_setup.client_id_of(self.settings, meter_id)
        client = paho_setup.new_client(
            self.settings,
            client_id,
            availability_topic,
            self._filter_paho_log,
            self.set_tls_problem,
            after_loop=self._after_loop,
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self.client = client
        paho_setup.connect(client, self.settings, client_id)

    def set_tls_problem(self, problem: str) -> None:
        """Keep why the certificate was refused, for the line of the failed connection."""
        self.tls_problem = problem

    def _filter_paho_log(self, record: logging.LogRecord) -> bool:
        return paho_setup.demote_paho_record(record, self.stopping)

    # -- paho's callbacks, on its network thread -------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        settings = self.settings
        if reason_code.is_failure:
            paho_setup.log_refused(settings, reason_code)
            return
        with self._send_lock:
            # paho would resend its own unacknowledged copies; the outbox resends them
            # instead, in order, together with what was queued while disconnected.
            client.drop_out_messages()
            with self._lock:
                receive_maximum = getattr(properties, "ReceiveMaximum", None)
                self._delivery.reconnected(receive_maximum, self._book.announced())
                self._queue_availability()
                self.connected = True
                pending = self._delivery.outbox.pending
            was_down = self._broker_down_logged
            self._broker_down_logged = False
            self.tls_problem = None
        paho_setup.log_connected(settings, pending, was_down)
        if settings.homeassistant_discovery:
            client.subscribe(f"{settings.discovery_prefix}/status", qos=1)
            # Retained configs come back once: those of this meter under an old name go.
            client.subscribe(f"{settings.discovery_prefix}/sensor/+/+/config", qos=1)
        self.pump()

    def _on_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        if not self._broker_down_logged:
            self._broker_down_logged = True
            paho_setup.log_connect_failed(self.settings, self.tls_problem)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self.connected = False
            stopping = self.stopping
            self._delivery.secure()
            self.drained.notify_all()
        if not stopping and not self._broker_down_logged:
            self._broker_down_logged = True
            paho_setup.log_lost(self.settings, reason_code)

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        _reason_code: ReasonCode,
        _properties: Properties,
    ) -> None:
        with self._lock:
            self.completed(self._delivery.outbox.acknowledged(mid))
        # The next message goes when this turn of paho's loop has read every PUBACK
        # there was (_after_loop): one batch for them all.
        self._acknowledged = True

    def _after_loop(self) -> None:
        if self._acknowledged:
            self._acknowledged = False
            self.pump()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if message.retain and message.topic.endswith("/config"):
            with self._lock:
                clearing = self._book.clearing(message.topic, message.payload)
                if clearing is not None:
                    self._delivery.outbox.add([clearing])
            if clearing is not None:
                self.pump()
            return
        if not is_birth(message.retain, message.payload):
            return
        logger.info("MQTT: Home Assistant is online, sending discovery again")
        with self._lock:
            if not self.connected:
                return
            self._delivery.outbox.add(self._book.for_birth())
        self.pump()

    # -- handing over to paho -----------------------------------------------------------

    def completed(self, readings: list[int]) -> None:
        """Readings the broker now holds completely (callers hold the lock)."""
        if self._delivery.completed(readings):
            self.drained.notify_all()

    def pump(self) -> None:
        """Hand paho what the window allows; a thread that finds this busy does not wait."""
        client = self.client
        if client is None:
            return
        while True:
            with self._lock:
                self._pump_wanted = True
            if not self._send_lock.acquire(blocking=False):
                return  # the thread handing over sees _pump_wanted and goes on
            try:
                with self._lock:
                    self._pump_wanted = False
                self._hand_over(client)
            finally:
                self._send_lock.release()
            with self._lock:
                if not self._pump_wanted:
                    return

    def _hand_over(self, client: paho.Client) -> None:
        """Publish what the outbox gives, a window's worth at a time (callers hold _send_lock).

        The batch is taken and settled under one lock each, paho's publish() runs
        between them without it.
        """
        outbox = self._delivery.outbox
        while True:
            with self._lock:
                if not (self.connected and self._handing_over):
                    return
                batch = list(iter(outbox.take, None))
            if not batch:
                return
            handed, refused, stopped = _publish(client, batch)
            with self._lock:
                self.completed(self._delivery.handed_over(handed, refused))
            if stopped:
                return

    # -- stopping ------------------------------------------------------------------------

    def drain(self, deadline: float, timeout: float) -> tuple[int, int, bool]:
        """Wait for the queue to drain before ``deadline``, then hand over nothing more.

        Returns the readings left, the messages of them sent but not confirmed, and
        whether the connection is up.
        """
        # Hand over until 1.5 s before the deadline, wait for the PUBACKs of what is
        # out until 0.5 s before it, and keep the rest for ``offline``.
        drain_until = deadline - min(1.5, timeout * 0.4)
        confirm_until = deadline - min(0.5, timeout * 0.15)
        outbox = self._delivery.outbox
        with self._lock:
            self.stopping = True
            # Also while disconnected: the broker may come back within the timeout.
            while outbox.pending and time.monotonic() < drain_until:
                self.drained.wait(max(0.0, min(0.1, drain_until - time.monotonic())))
            # Hand over nothing more, and wait for what is out, so the count is exact.
            self._handing_over = False
            while outbox.in_flight and self.connected and time.monotonic() < confirm_until:
                self.drained.wait(0.02)
            if self._delivery.spool is not None:
                self._delivery.spool.flush()
            self._delivery.secure()
            return outbox.pending, outbox.in_flight, self.connected

    def close(self, client: paho.Client, send_offline: str | None, deadline: float) -> None:
        """Publish ``offline`` on ``send_offline`` (waited for until ``deadline``), disconnect."""
        if send_offline is not None:
            # paho's window has room for one message beyond the outbox's (see paho_setup).
            with self._send_lock:
                info = client.publish(send_offline, OFFLINE, self.settings.qos, retain=True)
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as error:
                logger.debug("MQTT: offline not confirmed: %s", error)
        client.disconnect()
        client.loop_stop()
        # The paho logger is shared by every publisher of the process.
        logging.getLogger(paho_setup.PAHO_LOGGER).removeFilter(self._filter_paho_log)
        self.client = None
        self.connected = False


def _publish(
    client: paho.Client, batch: list[Message]
) -> tuple[list[tuple[Message, int | None]], list[Message], bool]:
    """Hand paho a batch: the messages it took with their ids (None: it never can send
    one), those to queue again in order, and whether paho stopped taking them."""
    from paho.mqtt.enums import MQTTErrorCode  # noqa: PLC0415 - see paho_setup

    handed: list[tuple[Message, int | None]] = []
    for taken, message in enumerate(batch, 1):
        try:
            info = client.publish(message.topic, message.payload, message.qos, message.retain)
        except ValueError as error:
            logger.error("MQTT: cannot publish on %r: %s", message.topic, error)
            handed.append((message, None))
            continue
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            handed.append((message, info.mid))
        elif info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # Without a connection paho keeps its copy, which the next on_connect
            # drops; the outbox sends the message again then.
            handed.append((message, info.mid))
            return handed, batch[taken:], True
        else:
            # MQTT_ERR_QUEUE_SIZE and whatever else: the next PUBACK or connection
            # tries again, in order.
            logger.debug("MQTT: paho refused %s: %s", message.topic, info.rc)
            return handed, batch[taken - 1 :], True
    return handed, [], False
