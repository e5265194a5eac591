"""paho set-up: the client of one meter's connection, its TLS context, its log lines.

paho (and ssl with it) is imported when a publisher connects: the settings and payloads
serve every run, and a run without MQTT should not carry 10 MB of MQTT and TLS code in
its memory.

The client is paho's own with changes of plumbing (:mod:`.paho_client`), imported with
paho.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from cosem_reader.output.mqtt.payloads import OFFLINE
from cosem_reader.output.mqtt.settings import MqttSettings, sanitize_level

if TYPE_CHECKING:
    import ssl

    import paho.mqtt.client as paho
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "PAHO_LOGGER",
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

    from cosem_reader.output.mqtt.paho_client import Client  # noqa: PLC0415

    protocol = (
        MQTTProtocolVersion.MQTTv5 if settings.protocol == "5" else MQTTProtocolVersion.MQTTv311
    )
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else True,
    )
    client.after_loop = after_loop
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
