"""The bundled demo capture and its demo key (``decode --demo``, ``read --demo``).

The capture ships inside the package, so the demo works after any install, not only
in a clone; it is found with :mod:`importlib.resources`.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from cosem_reader.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CAPTURE", "DEMO_KEY", "DEMO_TIMEZONE", "capture_path", "with_demo"]

#: Made by the project's own encoder (README.md beside it); the values are invented.
CAPTURE = "kaifa-ma309m-demo.bin"
#: The key the demo capture is ciphered with; public, and no meter's.
DEMO_KEY = "000102030405060708090A0B0C0D0E0F"
#: The zone of the Austrian meter the capture imitates.
DEMO_TIMEZONE = "Europe/Vienna"


@contextlib.contextmanager
def capture_path() -> Iterator[Path]:
    """A file system path of the demo capture, valid inside the ``with`` block."""
    from importlib import resources  # noqa: PLC0415 - only --demo pays for its imports

    with resources.as_file(resources.files(__name__).joinpath(CAPTURE)) as path:
        yield path


Handler = Callable[[argparse.Namespace], int]


def with_demo(handler: Handler, capture_dest: str, *, required: bool = False) -> Handler:
    """``handler`` that, under ``--demo``, reads the demo capture with the demo key.

    ``capture_dest`` is the argument that names the capture (``file`` for decode,
    ``replay`` for read); ``required`` says that without ``--demo`` it must be given.
    A key or time zone given on the command line still wins.
    """

    def run(args: argparse.Namespace) -> int:
        given = getattr(args, capture_dest, None) is not None
        if not getattr(args, "demo", False):
            if required and not given:
                raise ConfigError("no capture given", hint="name a FILE (- for standard "
                                  "input), or try --demo for the bundled demo capture")
            return handler(args)
        if given:
            what = "FILE" if capture_dest == "file" else f"--{capture_dest}"
            raise ConfigError(f"--demo and {what} both name a capture",
                              hint="leave out one of them")
        with capture_path() as path:
            setattr(args, capture_dest, str(path))
            args.key = args.key or DEMO_KEY
            args.timezone = args.timezone or DEMO_TIMEZONE
            return handler(args)

    return run
