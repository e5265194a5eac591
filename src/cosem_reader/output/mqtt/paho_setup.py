"""paho set-up: the client of one meter's connection, its TLS context, its log lines.

paho (and ssl with it) is imported when a publisher connects: the settings and payloads
serve every run, and a run without MQTT should not carry 10 MB of MQTT and TLS code in
its memory.

The client is paho's own with one change of plumbing (:func:`client_class`): its TCP
socket is a :class:`BufferedSocket`, so a batch of packets costs a few system calls
instead of four per message.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cosem_reader.output.mqtt.payloads import OFFLINE
from cosem_reader.output.mqtt.settings import MqttSettings, sanitize_level

if TYPE_CHECKING:
    import ssl

    import paho.mqtt.client as paho
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "PAHO_LOGGER",
    "BufferedSocket",
    "client_class",
    "client_id_of",
    "connect",
    "demote_paho_record",
    "log_connect_failed",
    "log_connected",
    "log_lost",
    "log_refused",
    "new_client",
    "tls_context",
]

logger = logging.getLogger(__name__)

#: paho's own log lines go to this logger, shared by every publisher of the process.
PAHO_LOGGER = "cosem_reader.output.mqtt.paho"


#: Bytes one recv() asks the kernel for, and the most a send() keeps back.
BUFFER = 65536


class BufferedSocket:
    """paho's TCP socket, read and written through a buffer.

    paho reads a packet with three recv() calls (command byte, length, body) and writes
    each packet with its own send(): four system calls and a wake-up of the broker per
    QoS 1 message.  Here one recv() takes what the kernel holds and the packets are
    served from memory; :meth:`pending` tells paho's loop that bytes are waiting (as it
    asks an SSL socket), so it reads them without waiting in select().  A send() while
    paho has further packets queued (``more()``, paho's ``want_write``) is kept, up to
    :data:`BUFFER` bytes; the last packet of the batch leaves with what was kept, in one
    send().  What paho cannot learn from a short write (kept bytes that did not all
    leave) it learns as ``BlockingIOError``: the packet stays queued in paho, after the
    kept bytes, and paho waits until the socket is writable.  Used by paho's network
    thread alone.
    """

    __slots__ = ("_drained", "_more", "_pos", "_received", "_sock", "_unsent")

    def __init__(self, sock: socket.socket, more: Callable[[], bool]) -> None:
        self._sock = sock
        self._more = more
        self._received = b""
        self._pos = 0
        self._drained = False  # the last recv() took all the kernel held
        self._unsent = bytearray()

    def pending(self) -> int:
        """Bytes received and not yet read by paho."""
        return len(self._received) - self._pos

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, else from one recv() that fills it."""
        if self._pos < len(self._received):
            chunk = self._received[self._pos : self._pos + size]
            self._pos += len(chunk)
            return chunk
        if self._drained:
            # paho reads until told there is nothing more; that the kernel held no more
            # is known already, and select() in paho's next turn sees what came since.
            self._drained = False
            raise BlockingIOError
        data = self._sock.recv(max(size, BUFFER))
        self._drained = 0 < len(data) < max(size, BUFFER)
        if len(data) <= size:
            return data
        self._received, self._pos = data, size
        return data[:size]

    def send(self, data: bytes | bytearray) -> int:
        """Keep ``data`` while paho has more to send, else send it after what was kept."""
        kept = self._unsent
        if not kept and not self._more():
            return self._sock.send(data)
        before = len(kept)
        kept += data
        if len(kept) <= BUFFER and self._more():
            return len(data)
        try:
            sent = self._sock.send(kept)
        except BlockingIOError:
            del kept[before:]
            raise
        if sent > before:
            kept.clear()
            return sent - before
        # Not even the kept bytes all left: nothing of ``data`` did.
        del kept[before:]
        del kept[:sent]
        raise BlockingIOError

    def close(self) -> None:
        """Send what is kept (paho closes right after a DISCONNECT), then close."""
        if self._unsent:
            with contextlib.suppress(OSError):
                self._sock.send(self._unsent)
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_CLIENT_CLASS: type[paho.Client] | None = None


def client_class() -> type[paho.Client]:
    """paho's ``Client`` with a :class:`BufferedSocket` and a hook after each loop turn.

    paho makes its socket in ``_create_socket`` (paho 2.x); should a later paho not call
    it, the client is paho's plain one, slower and otherwise the same.  TLS and
    websocket connections keep paho's socket.  ``after_loop`` runs on the network
    thread at the end of each turn of paho's loop, after the packets read and written:
    where the publisher hands over a batch for the PUBACKs of the turn.
    """
    global _CLIENT_CLASS  # noqa: PLW0603 - built once paho is imported
    if _CLIENT_CLASS is None:
        import paho.mqtt.client as paho  # noqa: PLC0415 - see the module's docstring
        from paho.mqtt.enums import MQTTErrorCode  # noqa: PLC0415
        from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
        from paho.mqtt.properties import Properties  # noqa: PLC0415
        from paho.mqtt.reasoncodes import ReasonCode  # noqa: PLC0415

        # What paho decodes from every 2-byte PUBACK (success, no properties), made
        # once: a Properties object takes paho some 10 us to build, per message.
        success = ReasonCode(PacketTypes.PUBACK)
        no_properties = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

        class Client(paho.Client):
            after_loop: Callable[[], None] | None = None

            def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
                packet = self._in_packet["packet"]
                if cmd != "PUBACK" or len(packet) != 2:
                    return super()._handle_pubackcomp(cmd)
                # paho's own steps for a PUBACK, without decoding the same answer anew.
                mid = packet[0] << 8 | packet[1]
                self._easy_log(paho.MQTT_LOG_DEBUG, "Received PUBACK (Mid: %d)", mid)
                with self._out_message_mutex:
                    if mid in self._out_messages:
                        return self._do_on_publish(mid, success, no_properties)
                return MQTTErrorCode.MQTT_ERR_SUCCESS

            def _create_socket(self) -> Any:
                sock = super()._create_socket()
                if type(sock) is socket.socket:
                    return BufferedSocket(sock, self.want_write)
                return sock

            def loop_misc(self) -> MQTTErrorCode:
                rc = super().loop_misc()
                if self.after_loop is not None:
                    # This thread is awake and reads want_write() before it waits
                    # again: a publish() of its own need not wake it (a byte on paho's
                    # socket pair and a hand-over of the GIL per message).
                    wake, self._sockpairW = self._sockpairW, None
                    try:
                        self.after_loop()
                    finally:
                        self._sockpairW = wake
                return rc

        _CLIENT_CLASS = Client
    return _CLIENT_CLASS


def client_id_of(settings: MqttSettings, meter_id: str) -> str:
    """The configured client id, else one naming this machine and the meter."""
    return settings.client_id or sanitize_level(f"cosem-reader-{socket.gethostname()}-{meter_id}")


def new_client(
    settings: MqttSettings,
    client_id: str,
    availability_topic: str | None,
    log_filter: Callable[[logging.LogRecord], bool],
    on_tls_problem: Callable[[str], None],
    *,
    after_loop: Callable[[], None] | None = None,
) -> paho.Client:
    """A paho client for one meter, set up and not yet connected; the caller adds callbacks.

    ``after_loop`` runs on paho's network thread after each turn of its loop.
    """
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: PLC0415

    protocol = (
        MQTTProtocolVersion.MQTTv5 if settings.protocol == "5" else MQTTProtocolVersion.MQTTv311
    )
    client = client_class()(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else True,
    )
    client.after_loop = after_loop  # type: ignore[attr-defined]
    paho_log = logging.getLogger(PAHO_LOGGER)
    paho_log.addFilter(log_filter)
    client.enable_logger(paho_log)
    # A bug in a callback must not end the network loop (and with it reconnection).
    client.suppress_exceptions = True
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set_context(tls_context(settings, on_tls_problem))
    if availability_topic is not None:  # None: compat publishes no availability
        client.will_set(availability_topic, OFFLINE, settings.qos, retain=True)
    client.reconnect_delay_set(settings.reconnect_min_delay, settings.reconnect_max_delay)
    # No limit of paho's own: the outbox keeps to its window (and stop() sends
    # ``offline`` beside it), and paho's limit costs a walk over every message in
    # flight on each PUBACK.
    client.max_inflight_messages_set(0)
    return client


def connect(client: paho.Client, settings: MqttSettings, client_id: str) -> None:
    """Connect in the background; paho retries with back-off."""
    port = settings.effective_port
    logger.info(
        "MQTT: connecting to %s:%d as %s (%s%s)",
        settings.host,
        port,
        client_id,
        f"MQTT {settings.protocol}",
        ", TLS" if settings.tls else "",
    )
    if settings.protocol == "5":
        client.connect_async(settings.host, port, settings.keepalive, clean_start=True)
    else:
        client.connect_async(settings.host, port, settings.keepalive)
    client.loop_start()


def tls_context(settings: MqttSettings, on_problem: Callable[[str], None]) -> ssl.SSLContext:
    """The TLS context of ``settings``; a refused certificate's reason goes to ``on_problem``."""
    import ssl  # noqa: PLC0415 - see the module's docstring

    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.reject_unauthorized:
        logger.warning(
            "MQTT: TLS certificate verification is off (reject_unauthorized = false):"
            " anyone on the path can read and change what is published"
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    class _Socket(ssl.SSLSocket):
        # paho reports a failed handshake as a failed connection, without the
        # reason; keep the certificate's reason for the log line.
        def do_handshake(self, block: bool = False) -> None:
            try:
                super().do_handshake(block)
            except ssl.SSLCertVerificationError as error:
                on_problem(str(error.verify_message or error.reason))
                raise

    context.sslsocket_class = _Socket
    return context


def demote_paho_record(record: logging.LogRecord, stopping: bool) -> bool:
    """Keep paho's expected complaints out of the log (a logging filter's answer).

    While a publisher stops, paho's network thread may run once more after
    ``disconnect()`` and complain that the client is not connected; while the
    broker is away it says so on every retry (and that a socket failed when it
    went).  The outage is already one warning of
    ours, so these lines are debug output.
    """
    if record.levelno < logging.ERROR:
        return True
    if stopping:
        return False
    message = record.getMessage()
    if "not connected" in message or "failed to receive on socket" in message:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


def log_connect_failed(settings: MqttSettings, tls_problem: str | None) -> None:
    """The one line of an unreachable broker, or of its refused certificate."""
    if tls_problem is not None:
        logger.error(
            "MQTT: the TLS certificate of %s:%d is not accepted (%s); set mqtt.ca_file to"
            " the CA that signed it, or mqtt.reject_unauthorized = false to accept any"
            " certificate; retrying, readings are queued meanwhile",
            settings.host,
            settings.effective_port,
            tls_problem,
        )
        return
    logger.warning(
        "MQTT: cannot reach %s:%d; retrying, readings are queued meanwhile",
        settings.host,
        settings.effective_port,
    )


def log_refused(settings: MqttSettings, reason_code: ReasonCode) -> None:
    """The line of a broker that refused the connection: most often the credentials."""
    logger.error(
        "MQTT: %s:%d refused the connection: %s;"
        " check mqtt.username, mqtt.password and mqtt.client_id",
        settings.host,
        settings.effective_port,
        reason_code,
    )


def log_connected(settings: MqttSettings, pending: int, was_down: bool) -> None:
    """The line of a connection made; a warning after an outage, to end its warning."""
    logger.log(
        logging.WARNING if was_down else logging.INFO,
        "MQTT: connected to %s:%d%s",
        settings.host,
        settings.effective_port,
        f", sending {pending} queued reading(s)" if pending else "",
    )


def log_lost(settings: MqttSettings, reason_code: ReasonCode) -> None:
    """The one line of a connection that went down."""
    logger.warning(
        "MQTT: connection to %s:%d lost (%s); reconnecting, readings are queued meanwhile",
        settings.host,
        settings.effective_port,
        reason_code,
    )
