"""How often the daemon speaks about a problem, and when it has read enough.

A wrong key or a neighbour's meter repeats with every push: each kind of problem
(per cause, per system title) is logged at most once per ``error_log_interval``,
with a count of what was held back.  The ``debug.stop_after_*`` counters and
``--once`` say when a runner stops.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from cosem_reader.app.config import Settings
from cosem_reader.cosem.plausibility import Withheld
from cosem_reader.errors import CosemReaderError, FrameError, SecurityError, SegmentError
from cosem_reader.pipeline.decoder import Decoded, StreamDecoder
from cosem_reader.security.authentication import RejectedPushError, describe_title
from cosem_reader.security.ciphering import CipheredApdu

__all__ = ["ProblemLog", "RateLimit", "StopLimits", "error_kind"]

log = logging.getLogger(__name__)

#: No telegram nor APDU is shorter: an M-Bus long frame has 9 bytes, an HDLC frame 8
#: (its closing flag shared), a data-notification APDU 7, a P1 telegram more.
_SHORTEST_UNIT = 5

_NUMBERS = re.compile(r"[0-9A-Fa-f]{4,}|\d+")


def error_kind(error: CosemReaderError) -> str:
    """Errors that differ only in numbers (offsets, counters) are one kind."""
    return f"{type(error).__name__}:{_NUMBERS.sub('#', error.message)}"


class RateLimit:
    """Logs one kind of recurring problem at most once per interval, with a count."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        count = self._suppressed.pop(kind, 0)
        if count:
            message += f" ({count} more since the last message)"
        self._last[kind] = now
        log.log(level, "%s", message)


class ProblemLog:
    """The lines about one meter's problems, each kind rate-limited."""

    def __init__(self, interval: float, label: str) -> None:
        self.label = label
        self._limit = RateLimit(interval)

    def no_key(self, ciphered: CipheredApdu) -> None:
        title = ciphered.system_title.hex().upper() if ciphered.system_title else "?"
        self._limit.log(
            logging.ERROR, "no-key",
            f"{self.label}the meter (system title {title}) ciphers its pushes and no key"
            " was given; set --key, key_file or COSEM_READER_KEY (32 hex digits from your"
            " grid operator)",
        )

    def foreign(self, title: bytes, own: bytes | None, count: int) -> None:
        self._limit.log(
            logging.WARNING, f"foreign:{title.hex()}",
            f"{self.label}ignored a push of another meter (system title {describe_title(title)});"
            f" this meter is {describe_title(own)} ({count} such"
            " pushes so far); set system_title if that is the wrong one",
        )

    def withheld(self, item: Withheld) -> None:
        self._limit.log(logging.WARNING, f"withheld:{item.reading.key}:{item.cause}",
                        f"{self.label}{item.reason}")

    def error(self, error: CosemReaderError, *, cut_expected: bool) -> None:
        """``cut_expected``: a push cut by opening the port or by the end of a capture."""
        if isinstance(error, RejectedPushError) and error.cause != "key":
            self._limit.log(logging.WARNING, f"rejected:{error.cause}:"
                            f"{describe_title(error.system_title)}", f"{self.label}{error}")
        elif isinstance(error, SecurityError):
            title = error.system_title if isinstance(error, RejectedPushError) else None
            self._limit.log(logging.ERROR, f"SecurityError:{describe_title(title)}",
                            f"{self.label}{error}")
        elif isinstance(error, FrameError | SegmentError) and cut_expected:
            # The first push after opening is usually cut (the port opened mid-push),
            # and a capture may end inside one: expected, not worth a warning.
            log.info("%sincomplete push ignored: %s", self.label, error)
        else:
            self._limit.log(logging.WARNING, error_kind(error),
                            f"{self.label}{error.layer} error: {error}")


class StopLimits:
    """``debug.stop_after_bytes/telegrams/apdus`` and ``--once``: when a runner stops."""

    def __init__(self, settings: Settings, label: str) -> None:
        self.debug = settings.debug
        self.once = settings.once
        self.label = label

    def cut(self, chunk: bytes, read: int) -> bytes:
        """``chunk`` without what lies beyond ``stop_after_bytes`` (``read`` bytes so far)."""
        limit = self.debug.stop_after_bytes
        if limit and read + len(chunk) > limit:
            return chunk[: limit - read]
        return chunk

    def room(self, frames: int, apdus: int) -> int | None:
        """How many bytes the decoder may take next without completing more telegrams or
        APDUs than ``stop_after_telegrams``/``_apdus`` leave (``None``: no such limit).

        A capture arrives in chunks of thousands of bytes, dozens of pushes: fed whole,
        the decoder would read past the limit before the runner could stop it."""
        debug = self.debug
        left = [limit - count for limit, count in (
            (debug.stop_after_telegrams, frames), (debug.stop_after_apdus, apdus)) if limit]
        if not left:
            return None
        if min(left) <= 0:
            return 0
        # k bytes end at most 1 + (k - 1) // _SHORTEST_UNIT units.
        return 1 + max(0, min(left) - 1) * _SHORTEST_UNIT

    def feed(self, decoder: StreamDecoder, chunk: bytes, on_bytes: Callable[[bytes], None],
             ) -> tuple[list[Decoded], bytes]:
        """``chunk`` through ``decoder``: its results, and the part of it read, not beyond
        the telegram or APDU that reaches a limit (the rest is never decoded)."""
        counters = decoder.counters
        room = self.room(counters.frames, counters.apdus)
        if room is None:
            on_bytes(chunk)
            return decoder.feed(chunk), chunk
        results: list[Decoded] = []
        read = 0
        while read < len(chunk) and room:
            piece = chunk[read:read + room]
            read += len(piece)
            on_bytes(piece)
            results += decoder.feed(piece)
            room = self.room(counters.frames, counters.apdus)
        return results, chunk[:read]

    def reached(self, read: int, frames: int, apdus: int, *, done: bool) -> bool:
        """Whether to stop after ``read`` bytes, ``frames`` telegrams and ``apdus`` APDUs;
        ``done``: a reading (or a security failure) came, all ``--once`` waits for."""
        debug = self.debug
        limits = (
            (debug.stop_after_bytes, read, "bytes"),
            (debug.stop_after_telegrams, frames, "telegrams"),
            (debug.stop_after_apdus, apdus, "APDUs"),
        )
        for limit, count, what in limits:
            if limit and count >= limit:
                log.info("%sstopping after %d %s (debug.stop_after_%s)", self.label, count,
                         what, what.lower())
                return True
        return self.once and done
