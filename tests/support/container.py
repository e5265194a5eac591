"""Running the built images (``make image-test``) against a pty meter and a broker.

The images are built by ``make image-test``, which names them in
``COSEM_READER_TEST_IMAGE`` and ``COSEM_READER_TEST_ADDON_IMAGE``, the engine in
``COSEM_READER_TEST_PODMAN`` and the options this machine needs for ``run`` in
``COSEM_READER_TEST_RUN_OPTIONS``; without them the image tests skip.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.pty_meter import PtyMeter


def image(variable: str) -> str:
    """The image named in ``variable``, or a skip saying how to get one."""
    name = os.environ.get(variable)
    if not name:
        pytest.skip(f"{variable} is not set: `make image-test` builds the image and runs this")
    return name


@contextmanager
def container(image_name: str, meter: PtyMeter, arguments: Sequence[str] = (),
              options: Sequence[str] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """The image running with ``meter`` as its /dev/ttyUSB0, on the host's network.

    The pty is bind-mounted (a ``--device`` node of a pty is not in the container's
    devpts and reads fail with EIO) and its group is added, as the host's dialout
    group would be for a USB adapter.
    """
    engine = shlex.split(os.environ.get("COSEM_READER_TEST_PODMAN", "podman"))
    slave = os.path.realpath(meter.path)
    os.chmod(slave, 0o660)
    name = f"cosem-reader-test-{uuid.uuid4().hex[:8]}"
    machine = shlex.split(os.environ.get("COSEM_READER_TEST_RUN_OPTIONS", ""))
    command = [*engine, "run", *machine, "--rm", "--name", name, "--network", "host",
               "-v", f"{slave}:/dev/ttyUSB0:dev", "--device-cgroup-rule", "c 136:* rwm",
               "--group-add", str(Path(slave).stat().st_gid), *options, image_name, *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        subprocess.run([*engine, "stop", "-t", "10", name], capture_output=True,
                       check=False, timeout=60)
        process.wait(timeout=60)
