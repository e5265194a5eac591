"""A pseudo-terminal that behaves like a meter on a USB M-Bus adapter.

The daemon opens ``path``, a symlink to the slave side of a pty, exactly as it
opens ``/dev/serial/by-id/usb-…``; the test writes pushes into the master side.
:meth:`PtyMeter.unplug` closes the master and removes the symlink (what the
kernel does to a USB serial device), :meth:`PtyMeter.replug` creates a new pty
behind the same symlink path.
"""

from __future__ import annotations

import contextlib
import os
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest


class PtyMeter:
    """The master side of a pty, reachable for the daemon through a stable symlink."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master: int | None = None
        self.written = 0
        self.plug()

    def plug(self) -> None:
        """Create a new pty and point the symlink at its slave."""
        master, slave = os.openpty()
        # Raw mode from the start: the line discipline must not touch bytes written
        # before the daemon has opened and configured the slave (CR→LF, echo).
        tty.setraw(slave)
        name = os.ttyname(slave)
        # The daemon opens its own descriptor; without one open on the slave side a
        # pty master returns EIO, which is not how an adapter behaves.
        self._slave = slave
        self.master = master
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.path.symlink_to(name)

    def unplug(self) -> None:
        """Close the master and remove the symlink, as when the adapter is pulled."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self.master is not None:
            os.close(self.master)
            self.master = None
        os.close(self._slave)

    def replug(self) -> None:
        """A new pty behind the same path, as when the adapter comes back."""
        self.plug()

    def write(self, data: bytes, *, pace: float = 0.0, chunk: int = 64) -> None:
        """Send bytes as the meter would; ``pace`` seconds between chunks of ``chunk`` bytes."""
        assert self.master is not None, "the meter is unplugged"
        for start in range(0, len(data), chunk):
            os.write(self.master, data[start : start + chunk])
            self.written += len(data[start : start + chunk])
            if pace:
                time.sleep(pace)

    def close(self) -> None:
        """Unplug for good."""
        if self.master is not None:
            self.unplug()


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[PtyMeter]:
    """A pty 'meter' behind a symlink, as /dev/serial/by-id/... would be."""
    instance = PtyMeter(tmp_path / "ttyMETER")
    yield instance
    instance.close()

