"""The exit codes of every ``cosem-reader`` command, and which error ends in which.

The codes are those of sysexits.h (as :mod:`os` has them): systemd's
``RestartPreventExitStatus=78`` keeps a broken configuration from restarting in a
loop, and scripts tell a missing capture (66) from a wrong key (65).  The code of
an error follows from its class alone, never from the wording of its message.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from typing import Final

from cosem_reader.errors import CaptureError, ConfigError, CosemReaderError, SourceError

__all__ = [
    "EX_CONFIG",
    "EX_DATAERR",
    "EX_INTERRUPTED",
    "EX_NOINPUT",
    "EX_OK",
    "EX_SOFTWARE",
    "EX_UNAVAILABLE",
    "EX_USAGE",
    "exit_code_for",
    "most_severe",
]

EX_OK: Final = os.EX_OK
#: A command line that names no command (or no action of ``config``).
EX_USAGE: Final = os.EX_USAGE
#: A wrong key, a push that does not decode, a capture without a reading.
EX_DATAERR: Final = os.EX_DATAERR
#: A capture (or standard input) that is missing or not in the form given.
EX_NOINPUT: Final = os.EX_NOINPUT
#: ``--once`` could not open the port, a recording cannot be written.
EX_UNAVAILABLE: Final = os.EX_UNAVAILABLE
#: A bug: a traceback was logged.
EX_SOFTWARE: Final = os.EX_SOFTWARE
#: The configuration (file, environment, flags) is invalid.
EX_CONFIG: Final = os.EX_CONFIG
#: Stopped by a second Ctrl-C: the shell's convention, 128 + the signal's number.
EX_INTERRUPTED: Final = 128 + signal.SIGINT

#: The exit code of each error class, the most specific first.
_BY_ERROR: Final[tuple[tuple[type[CosemReaderError], int], ...]] = (
    (ConfigError, EX_CONFIG),
    (CaptureError, EX_NOINPUT),
    (SourceError, EX_UNAVAILABLE),
)

#: When meters end differently, the code the process ends with: the first one present.
_SEVERITY: Final = (EX_SOFTWARE, EX_CONFIG, EX_NOINPUT, EX_UNAVAILABLE, EX_DATAERR)


def exit_code_for(error: CosemReaderError) -> int:
    """The exit code of a command that ``error`` ended: by its class, else EX_DATAERR."""
    for kind, code in _BY_ERROR:
        if isinstance(error, kind):
            return code
    return EX_DATAERR


def most_severe(codes: Iterable[int]) -> int:
    """The one exit code for several meters' codes: a bug first, EX_OK only if all are."""
    present = set(codes)
    return next((code for code in _SEVERITY if code in present), EX_OK)
