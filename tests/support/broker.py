"""A real MQTT broker for the tests: mosquitto when installed, else the embedded amqtt.

Use the fixture by importing it into a test module (``from broker import broker_fixture``)
and asking for ``broker``: a :class:`Broker` already running on a free loopback port,
with ``host``, ``port``, ``kind``, ``stop()`` and ``start()`` (the same port again), so a
test can take the broker away and bring it back.  ``COSEM_READER_TEST_BROKER=amqtt``
forces the embedded broker, ``=mosquitto`` requires mosquitto.

:class:`Relay` is a TCP pass-through a test puts between a client and the broker to
decide when that client may reach the broker again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["Broker", "Relay", "broker_fixture", "find_mosquitto", "free_port", "wait_for_port"]

HOST = "127.0.0.1"

_AMQTT_SCRIPT = """
import asyncio, sys
from amqtt.broker import Broker

config = {
    "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:" + sys.argv[1]}},
    "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
}

async def main():
    broker = Broker(config)
    await broker.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the broker exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout} s")


def find_mosquitto() -> str | None:
    """mosquitto's path (PATH, then /usr/sbin where Debian puts it), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class Broker:
    """One broker process on a fixed loopback port, stoppable and restartable."""

    def __init__(self, workdir: Path, kind: str | None = None) -> None:
        wanted = kind or os.environ.get("COSEM_READER_TEST_BROKER", "")
        mosquitto = find_mosquitto()
        if wanted == "mosquitto" and mosquitto is None:
            pytest.fail("COSEM_READER_TEST_BROKER=mosquitto but mosquitto is not installed")
        if wanted not in ("", "mosquitto", "amqtt"):
            pytest.fail(f"COSEM_READER_TEST_BROKER={wanted!r}: use mosquitto or amqtt")
        if wanted == "amqtt" or mosquitto is None:
            pytest.importorskip("amqtt", reason="neither mosquitto nor amqtt is installed")
            self.kind = "amqtt"
        else:
            self.kind = "mosquitto"
        self.host = HOST
        self.port = free_port()
        self.workdir = workdir
        self._mosquitto = mosquitto
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"{self.kind}.log"

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is up."""
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            assert self._mosquitto is not None
            config = self.workdir / "mosquitto.conf"
            config.write_text(
                f"listener {self.port} {self.host}\n"
                "allow_anonymous true\n"
                "persistence false\n"
                # A publisher may outrun a test's Python subscriber by more than the
                # default 1,000 queued messages: the broker would drop theirs.
                "max_queued_messages 0\n"
                "log_dest stderr\n"
                "log_type error\nlog_type warning\nlog_type notice\n",
                encoding="utf-8",
            )
            return [self._mosquitto, "-c", str(config)]
        return [sys.executable, "-c", _AMQTT_SCRIPT, str(self.port)]

    def start(self) -> None:
        """Start the broker (again) on the same port and wait until it accepts connections."""
        if self.running:
            return
        deadline = time.monotonic() + 10.0
        while True:
            with self._log.open("ab") as log:
                self._process = subprocess.Popen(
                    self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            try:
                wait_for_port(self.port, process=self._process)
                return
            except RuntimeError:
                # The port may still be held by the previous process' sockets.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the broker; clients lose their connections."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._process = None

    def log(self) -> str:
        """What the broker wrote, for assertion messages."""
        return self._log.read_text(encoding="utf-8", errors="replace") if self._log.exists() else ""


@pytest.fixture(name="broker")
def broker_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A running broker on a free loopback port, stopped after the test."""
    instance = Broker(tmp_path_factory.mktemp("broker"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


class Relay:
    """A TCP pass-through on its own loopback port to ``(host, port)``.

    While closed it accepts and at once closes every connection, so a client keeps
    retrying; :meth:`cut` also ends the connections already relayed.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self.host = HOST
        self.port: int = self._listener.getsockname()[1]
        self.is_open = True
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        """Relay new connections again."""
        self.is_open = True

    def close_gate(self) -> None:
        """Refuse new connections (accept and close them)."""
        self.is_open = False

    def cut(self) -> None:
        """End every relayed connection."""
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def shutdown(self) -> None:
        """Stop listening and end everything."""
        self._closed = True
        self.cut()
        # close() alone leaves the thread in accept() holding the socket, still listening
        # (and relaying one more connection); shutdown() ends that accept().
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.is_open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
