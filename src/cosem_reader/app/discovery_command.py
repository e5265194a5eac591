"""``cosem-reader discovery --clear``: remove the Home Assistant entities cosem-reader made.

Discovery configs are retained on the broker, so they outlive the daemon: a user who
turns discovery off, renames a meter or uninstalls keeps entities until the retained
configs are replaced by empty messages.  This command reads the retained configs under
the discovery prefix, keeps those whose ``origin`` is cosem-reader (never another
application's) and clears them; Home Assistant then removes the entities.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any

from cosem_reader.app.exit_codes import EX_CONFIG, EX_OK, EX_UNAVAILABLE, EX_USAGE
from cosem_reader.errors import ConfigError
from cosem_reader.output.homeassistant import published_by_us

if TYPE_CHECKING:
    import paho.mqtt.client as paho

    from cosem_reader.output.mqtt import MqttSettings

__all__ = ["add_discovery_command", "clear_discovery", "run_discovery"]

#: Seconds the broker gets to answer each step; a broker on the LAN answers in ms.
TIMEOUT = 15.0


def add_discovery_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``discovery --clear`` to the ``cosem-reader`` command line."""
    discovery = commands.add_parser(
        "discovery",
        help="remove the Home Assistant discovery configs cosem-reader published",
        description="With --clear: read the retained discovery configs under the discovery"
        " prefix and clear those cosem-reader published (their origin says so), so Home"
        " Assistant removes the entities. The broker comes from the config file,"
        " environment or --mqtt-url, as for read.",
    )
    discovery.add_argument("--clear", action="store_true", help="clear the retained configs")
    discovery.add_argument("--config", metavar="FILE", help="TOML config file")
    discovery.add_argument("--mqtt-url", metavar="URL", help="mqtt[s]://[user:pass@]host[:port]")
    discovery.add_argument(
        "--meter", metavar="ID", help="only this meter's configs (its topic level)"
    )
    discovery.set_defaults(handler=run_discovery)


def run_discovery(args: argparse.Namespace) -> int:
    """``cosem-reader discovery --clear``: one line per cleared config, one summary line."""
    # The settings machinery is imported when the command runs, not at start-up.
    from cosem_reader.app.config import ConfigProblems, load_settings  # noqa: PLC0415

    if not args.clear:
        print("cosem-reader: error: say what to do: discovery --clear", file=sys.stderr)
        return EX_USAGE
    try:
        # Only the broker matters here: a stand-in capture answers the check that a
        # meter has a source, so a config without a serial port is enough.
        flags = {"mqtt_url": args.mqtt_url, "replay": os.devnull}
        settings = load_settings(args.config, flags).mqtt
    except ConfigError as error:
        problems = error.problems if isinstance(error, ConfigProblems) else [error]
        for problem in problems:
            print(f"cosem-reader: config error: {problem}", file=sys.stderr)
        return EX_CONFIG
    try:
        cleared = clear_discovery(settings, node=args.meter)
    except (OSError, TimeoutError) as error:
        where = f"{settings.host}:{settings.effective_port}"
        print(
            f"cosem-reader: error: MQTT broker {where} not reachable ({error});"
            " check mqtt.url or --mqtt-url",
            file=sys.stderr,
        )
        return EX_UNAVAILABLE
    for topic in cleared:
        print(f"cleared {topic}")
    prefix = settings.discovery_prefix
    print(f"{len(cleared)} discovery configs of cosem-reader cleared under {prefix}/")
    return EX_OK


def clear_discovery(
    settings: MqttSettings, *, node: str | None = None, keep: frozenset[str] = frozenset()
) -> list[str]:
    """Clear cosem-reader's retained discovery configs on the broker; the topics cleared."""
    client, session = _connect(settings)
    try:
        retained = session.retained(client, f"{settings.discovery_prefix}/+/+/+/config")
        topics = published_by_us(retained, node=node, keep=keep)
        for topic in topics:
            info = client.publish(topic, b"", qos=1, retain=True)
            info.wait_for_publish(TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()
    return topics


class _Session:
    """The broker's answers, handed from paho's network thread to the caller."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.failure: str | None = None
        self.marker = f"cosem-reader/discovery-clear/{uuid.uuid4().hex}"
        self.marker_seen = threading.Event()
        self.messages: dict[str, bytes] = {}

    def on_connect(self, _client: Any, _data: Any, _flags: Any, code: Any, _props: Any) -> None:
        if code.is_failure:
            self.failure = str(code)
        self.connected.set()

    def on_message(self, _client: Any, _data: Any, message: paho.MQTTMessage) -> None:
        if message.topic == self.marker:
            self.marker_seen.set()
        elif message.retain:
            self.messages[message.topic] = bytes(message.payload)

    def retained(self, client: paho.Client, pattern: str) -> dict[str, bytes]:
        """The retained messages matching ``pattern``.

        The broker sends retained messages on subscribing, before anything published
        later on a topic of the same subscription request; a marker published after the
        subscription thus arrives once all of them are in.
        """
        client.subscribe([(pattern, 1), (self.marker, 1)])
        client.publish(self.marker, b"", qos=1)
        if not self.marker_seen.wait(TIMEOUT):
            raise TimeoutError("the broker did not echo the end marker")
        return dict(self.messages)


def _connect(settings: MqttSettings) -> tuple[paho.Client, _Session]:
    # Imported here: a run without MQTT loads neither paho nor ssl.
    import ssl  # noqa: PLC0415

    import paho.mqtt.client as paho  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    session = _Session()
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"cosem-reader-clear-{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if not settings.reject_unauthorized:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client.tls_set_context(context)
    client.on_connect = session.on_connect
    client.on_message = session.on_message
    client.connect(settings.host, settings.effective_port, keepalive=30)
    client.loop_start()
    if not session.connected.wait(TIMEOUT) or session.failure is not None:
        client.loop_stop()
        raise TimeoutError(session.failure or "no answer to CONNECT")
    return client, session
