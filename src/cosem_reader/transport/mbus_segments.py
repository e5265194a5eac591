"""Transport over M-Bus: join the segments (telegrams) of one APDU.

A DLMS push that does not fit one M-Bus long frame is cut into segments.  The CI
byte of each telegram numbers them: bits 0–3 are the segment number (0, 1, 2, …),
bit 4 (FIN) marks the last one.  The user data of every segment begins with the
transport service access points STSAP (``01``) and DTSAP (``67``), followed by the
next piece of the APDU.  Kaifa MA309M pushes arrive as two telegrams, ``CI = 0x00``
and ``CI = 0x11``; a push that fits one telegram has ``CI = 0x10``.

This module reads only the fields of :class:`~cosem_reader.link.mbus.LongFrame` and
whether a :class:`~cosem_reader.errors.FrameError` lost a telegram; the bytes of the
frame are the link layer's business.

The ``offset`` of a :class:`SegmentError` is a byte position in this layer's
input: the user data of all segments pushed so far, one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.mbus import LongFrame

__all__ = ["SegmentJoiner", "join_segments"]

log = logging.getLogger(__name__)

#: STSAP and DTSAP in front of each segment's piece of the APDU.
_TSAP_LENGTH: Final = 2

_HINT_LOST = "a telegram was lost or damaged on the line; the next push should be complete"
_HINT_MIDWAY = "normal when reading starts in the middle of a push"


def _describe(count: int, size: int) -> str:
    segments = "segment 0" if count == 1 else f"segments 0–{count - 1}"
    return f"{segments} ({size} APDU bytes)"


class SegmentJoiner:
    """Joins M-Bus segments into APDUs, one :meth:`push` per received telegram.

    An APDU is returned when its last segment (FIN) arrives after segments
    0, 1, … without a gap.  An incomplete sequence is discarded with one
    :class:`SegmentError` that names what was dropped; the telegram that broke it
    is still handled: a segment 0 starts the next APDU (a single telegram,
    ``CI = 0x10``, is returned at once), any other segment belongs to an APDU whose
    beginning is lost and is dropped with it, together with the rest of that APDU.
    """

    __slots__ = ("_dropping", "_next", "_parts", "_received")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        #: The segment number the open APDU needs next; None while no APDU is open.
        self._next: int | None = None
        #: The segment number that continues an APDU already reported as broken.
        self._dropping: int | None = None
        self._received = 0

    @property
    def is_open(self) -> bool:
        """True while segments of an unfinished APDU are held."""
        return self._next is not None

    def push(self, frame: LongFrame | FrameError) -> list[bytes | SegmentError]:
        """Take the next telegram; return the APDU it completed and what had to be discarded.

        The link layer's errors may be passed in stream order too: one that lost a
        telegram ends the open APDU, whose rest is gone.  Otherwise the tail of one
        push and the head of the next, both lost, would leave segments 0 and 1 of two
        pushes that join like one.
        """
        out: list[bytes | SegmentError] = []
        if isinstance(frame, FrameError):
            if frame.frame_lost and self._next is not None:
                # The segments after the lost one belong to the dropped APDU: no more errors.
                self._dropping = self._next + 1
                self._discard_open(out, self._received, "a telegram was lost on the line")
            return out
        at = self._received
        data = frame.user_data
        self._received = at + len(data)
        number = frame.segment_number
        if (number != (self._next or 0) or len(data) < _TSAP_LENGTH) and self._drops(
            frame, number, out, at
        ):
            return out
        # The next segment of the open APDU, or segment 0 of a new one.
        if self._next is None:
            self._dropping = None
        parts = self._parts
        parts.append(data[_TSAP_LENGTH:])
        if not frame.is_last_segment:
            self._next = number + 1
            return out
        apdu = b"".join(parts)
        count = len(parts)
        self._reset()
        if apdu:
            out.append(apdu)
        else:
            error = f"{_describe(count, 0)} carried an empty APDU"
            out.append(SegmentError(error, offset=at, hint=_HINT_LOST))
        return out

    def _drops(
        self, frame: LongFrame, number: int, out: list[bytes | SegmentError], at: int
    ) -> bool:
        """A telegram too short or not the segment expected: reports what is dropped,
        and whether the telegram is (a segment 0 ends the open APDU and starts a new one)."""
        if len(frame.user_data) < _TSAP_LENGTH:
            reason = (
                f"segment {number} has {len(frame.user_data)} byte(s) of user data, "
                "too few for STSAP and DTSAP"
            )
            if self._next is not None:
                self._discard_open(out, at, reason, also=number)
            else:
                out.append(SegmentError(f"{reason}; dropped", offset=at, hint=_HINT_LOST))
            self._dropping = None if frame.is_last_segment else number + 1
            return True
        if self._next is not None:
            expected = f"where segment {self._next} was expected"
            if number == 0:
                self._discard_open(out, at, f"segment 0 of a new APDU arrived {expected}")
                return False
            self._discard_open(out, at, f"segment {number} arrived {expected}", also=number)
        elif self._dropping is not None and number == self._dropping:
            # The rest of an APDU already reported as broken: one error per APDU is enough.
            pass
        else:
            out.append(
                SegmentError(
                    f"segment {number} dropped: segment 0 of its APDU did not arrive",
                    offset=at,
                    hint=_HINT_MIDWAY,
                )
            )
        self._dropping = None if frame.is_last_segment else number + 1
        return True

    def flush(self) -> list[SegmentError]:
        """End of stream: report an APDU still waiting for segments."""
        out: list[bytes | SegmentError] = []
        self._discard_open(
            out, self._received, f"the stream ended where segment {self._next} was expected"
        )
        self._dropping = None
        return [error for error in out if isinstance(error, SegmentError)]

    def _discard_open(
        self, out: list[bytes | SegmentError], at: int, reason: str, *, also: int | None = None
    ) -> None:
        if self._next is None:
            return
        dropped = _describe(len(self._parts), sum(map(len, self._parts)))
        if also is not None:
            dropped += f" and segment {also}"
        error = SegmentError(
            f"APDU discarded: {reason}; dropped {dropped}",
            offset=at,
            hint=_HINT_LOST,
        )
        log.debug("%s", error)
        out.append(error)
        self._reset()

    def _reset(self) -> None:
        self._parts = []
        self._next = None


def join_segments(frames: Sequence[LongFrame]) -> bytes:
    """The APDU carried by ``frames``: segments 0, 1, …, the last one (only) with FIN.

    Strips STSAP and DTSAP from each segment.  Raises :class:`SegmentError` when
    the frames are not one complete sequence.
    """
    if not frames:
        raise SegmentError("no segments to join", offset=0)
    pieces: list[bytes] = []
    at = 0
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        if frame.segment_number != index:
            raise SegmentError(
                f"segment {frame.segment_number} found where segment {index} belongs",
                offset=at,
            )
        if frame.is_last_segment and index != last:
            raise SegmentError(
                f"segment {index} is marked last (FIN) but {last - index} more follow",
                offset=at,
            )
        if index == last and not frame.is_last_segment:
            raise SegmentError(
                f"segment {index} is not marked last (FIN): the APDU is incomplete",
                offset=at + len(frame.user_data),
            )
        if len(frame.user_data) < _TSAP_LENGTH:
            raise SegmentError(
                f"segment {index} has {len(frame.user_data)} byte(s) of user data, "
                "too few for STSAP and DTSAP",
                offset=at,
            )
        pieces.append(frame.user_data[_TSAP_LENGTH:])
        at += len(frame.user_data)
    return b"".join(pieces)
