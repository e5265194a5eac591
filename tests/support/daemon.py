"""Running ``cosem-reader read`` in a subprocess for the end-to-end tests, and test pushes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.encoder import (
    ciphered_push,
    data_notification,
    kaifa_ma309m_body,
    kaifa_series,
    mbus_push,
)
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import Subscriber

ROOT = Path(__file__).resolve().parents[2]
#: A key made up for these tests; never a meter's.
KEY = bytes.fromhex("5A1B2C3D4E5F60718293A4B5C6D7E8F9")
WRONG_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
SYSTEM_TITLE = b"KFMTEST\x07"
START = datetime(2026, 3, 1, 8, 0, 0)


def push(index: int, key: bytes = KEY, auth_key: bytes | None = None) -> bytes:
    """The wire bytes of push ``index`` (two M-Bus telegrams), frame counter 1000 + index;
    with ``auth_key`` authenticated (security control 0x30, GCM tag)."""
    moment, registers = kaifa_series(START + timedelta(seconds=5 * index), 1)[0]
    body = kaifa_ma309m_body(moment, registers, "1KFMTEST000007", "KFMTEST000000007")
    plaintext = data_notification(body, invoke_id=index)
    control = 0x21 if auth_key is None else 0x30
    return mbus_push(
        ciphered_push(plaintext, key, SYSTEM_TITLE, 1000 + index, control, auth_key)
    )


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (one that has imported nothing the tests have)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=daemon_environment(cwd),
        cwd=cwd,
        check=False,
        timeout=60,
    )


def daemon_environment(config_home: Path) -> dict[str, str]:
    """The environment of a daemon under test: none of the developer's settings.

    No ``COSEM_READER_*`` variables, no journald stream, and an empty ``XDG_CONFIG_HOME``
    so that no ``~/.config/cosem-reader`` is found; unbuffered, so lines arrive at once.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COSEM_READER_") and key != "JOURNAL_STREAM"
    }
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), environment.get("PYTHONPATH", "")]
    )
    environment["PYTHONUNBUFFERED"] = "1"
    environment["XDG_CONFIG_HOME"] = str(config_home)
    return environment


class Daemon:
    """``python -m cosem_reader read ARGS`` with its output collected line by line."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        # An empty directory: the working directory and the config home, so that no
        # ./cosem-reader.toml or ~/.config/cosem-reader of the developer's is found.
        empty = Path(tempfile.mkdtemp(prefix="cosem-reader-test-"))
        environment = daemon_environment(empty)
        environment.update(env or {})
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cosem_reader", "read", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=cwd or empty,
        )
        self._threads = [
            threading.Thread(target=self._collect, args=(self.process.stdout, self.stdout),
                             daemon=True),
            threading.Thread(target=self._collect, args=(self.process.stderr, self.stderr),
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _collect(self, stream: object, lines: list[str]) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            with self._changed:
                lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0,
                 what: str = "condition") -> None:
        """Wait until ``predicate()`` holds; fail with the output so far when it does not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}\n{self.output()}")
                self._changed.wait(min(left, 0.1))

    def wait_for_stderr(self, text: str, timeout: float = 15.0, count: int = 1) -> None:
        """Wait until ``text`` occurs in ``count`` stderr lines."""
        self.wait_for(lambda: sum(text in line for line in self.stderr) >= count, timeout,
                      f"{text!r} on stderr")

    def wait_for_readings(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` JSON lines arrived on stdout."""
        self.wait_for(lambda: len(self.stdout) >= count, timeout, f"{count} readings")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code once the process ends (killed after ``timeout``)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the daemon did not stop in {timeout} s\n{self.output()}"
            ) from None
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def output(self) -> str:
        """stdout and stderr so far, for assertion messages."""
        return "--- stdout\n" + "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr)


def push_until_published(meter: PtyMeter, subscriber: Subscriber,
                         process: subprocess.Popen[bytes]) -> None:
    """Push until a state message arrives (the port may open after the first push)."""
    for index in range(15):
        assert process.poll() is None, process.communicate()[0].decode()
        meter.write(push(index))
        try:
            subscriber.wait_for(lambda messages: any(m.topic.endswith("/state")
                                                     for m in messages), timeout=1.0)
        except AssertionError:
            continue
        return
    raise AssertionError("no state message arrived")


