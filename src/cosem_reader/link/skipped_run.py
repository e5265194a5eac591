"""A run of bytes a link-layer reader skipped, reported as one error when it ends.

Noise on a line comes byte by byte; one line per run (not per byte) tells the user
what was lost, and why when a rejected frame started the run.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol

from cosem_reader.errors import FrameError

__all__ = ["MAX_REPORTED_RUN", "SkippedRun"]

log = logging.getLogger(__name__)

#: A run of skipped bytes is reported at the latest after this many bytes, so that
#: a line with wrong serial settings shows up in the log while it lasts.
MAX_REPORTED_RUN: Final = 4096


class Failure(Protocol):
    """Why a frame was rejected: a one-line message and a hint for the user."""

    @property
    def message(self) -> str: ...

    @property
    def hint(self) -> str: ...


class SkippedRun:
    """The stream offsets of the bytes skipped since the last frame, and why."""

    __slots__ = ("end", "failure", "frame_size", "hint", "start", "what")

    def __init__(self, what: str, hint: str, frame_size: int) -> None:
        #: What the skipped bytes are not, for a run no rejected frame explains.
        self.what = what
        self.hint = hint
        #: A run at least this long held a frame (``frame_lost``).
        self.frame_size = frame_size
        self.start: int | None = None
        self.end = 0
        self.failure: Failure | None = None

    def add(self, start: int, end: int, failure: Failure | None, out: list[Any]) -> None:
        """Stream bytes ``start:end`` belong to no frame; ``failure`` says why, if known."""
        if self.start is None:
            self.start = start
            self.failure = failure
        elif self.failure is None:
            self.failure = failure
        self.end = end
        if self.end - self.start >= MAX_REPORTED_RUN:
            self.close(out)

    def close(self, out: list[Any]) -> None:
        """The run ended: one :class:`FrameError` for all of it, appended to ``out``."""
        if self.start is None:
            return
        count = self.end - self.start
        failure = self.failure
        if failure is None:
            error = FrameError(
                f"skipped {count} byte(s) that {self.what}",
                offset=self.start,
                hint=self.hint,
                frame_lost=count >= self.frame_size,
            )
        else:
            error = FrameError(
                f"skipped {count} byte(s): {failure.message}",
                offset=self.start,
                hint=failure.hint,
                frame_lost=True,
            )
        log.debug("%s", error)
        out.append(error)
        self.start = None
        self.failure = None
