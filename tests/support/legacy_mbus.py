"""The M-Bus long-frame reader and segment joiner as they were before their fast paths:
the oracles the differential tests compare LongFrameReader and SegmentJoiner with."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Final, NamedTuple

from cosem_reader._slots import frozen_constructor
from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.mbus import LongFrame
from cosem_reader.link.skipped_run import SkippedRun

__all__ = ["LegacyLongFrameReader", "LegacySegmentJoiner"]

log = logging.getLogger(__name__)

_START: Final = 0x68
_STOP: Final = 0x16
#: The bytes ``68 L L 68`` before C.
_HEADER_LENGTH: Final = 4
#: C, A and CI: the part of ``L`` that is not user data.
_MIN_L: Final = 3
#: The smallest long frame: header, C, A, CI, CS, stop.
_MIN_FRAME_LENGTH: Final = _HEADER_LENGTH + _MIN_L + 2
#: The Sagemcom T210-D quirk: the L byte is the true length modulo 256.
_L_OVERFLOW: Final = 256
#: The longest frame the reader accepts: ``L = 255 + 256`` under the L-overflow quirk.
MAX_FRAME_LENGTH: Final = _HEADER_LENGTH + 255 + _L_OVERFLOW + 2
#: Feed chunks are scanned in pieces of this size to keep the buffer bounded.
_FEED_PIECE: Final = 4096

_HINT_LINE = "check the serial settings (2400 baud, 8E1 or 8N1) and the wiring"
_HINT_RESYNC = "bytes were lost on the line; reading goes on at the next frame"


#: One per frame on the line: built through the slots (see cosem_reader._slots).
_make_long_frame = frozen_constructor(LongFrame)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a frame with a good ``68 L L 68`` header was rejected."""

    message: str
    offset: int
    hint: str


_Buffer = bytes | bytearray | memoryview


#: Adler-32's first sum is 1 + the byte sum modulo 65521: exact for up to 256 bytes.
_ADLER_PIECE: Final = 256


def _byte_sum(data: _Buffer, start: int, end: int) -> int:
    """The sum of ``data[start:end]``, through zlib's Adler-32 (five times faster than sum())."""
    if end - start <= _ADLER_PIECE:
        # Every frame but the T210-D's L + 256 reading: one call.
        return (zlib.adler32(data[start:end]) & 0xFFFF) - 1
    total = 0
    while start < end:
        stop = min(end, start + _ADLER_PIECE)
        total += (zlib.adler32(data[start:stop]) & 0xFFFF) - 1
        start = stop
    return total


def _check(data: _Buffer, start: int, length: int, base: int) -> LongFrame | _Failure:
    """The frame at ``data[start]`` read with ``L = length``; all its bytes are present.

    ``base`` is the stream offset of ``data[0]``, for the failure's offset.
    """
    checksum_at = start + _HEADER_LENGTH + length
    checksum = _byte_sum(data, start + _HEADER_LENGTH, checksum_at) & 0xFF
    if checksum != data[checksum_at]:
        return _Failure(
            f"long frame at byte {base + start} (L={length}) has checksum "
            f"0x{data[checksum_at]:02X}, its bytes sum to 0x{checksum:02X}",
            base + checksum_at,
            _HINT_LINE,
        )
    if data[checksum_at + 1] != _STOP:
        return _Failure(
            f"long frame at byte {base + start} (L={length}) ends with "
            f"0x{data[checksum_at + 1]:02X} instead of the stop byte 0x16",
            base + checksum_at + 1,
            _HINT_LINE,
        )
    return _make_long_frame(
        data[start + 4],
        data[start + 5],
        data[start + 6],
        bytes(data[start + 7 : checksum_at]),
    )


def _is_header(data: _Buffer, start: int) -> bool:
    """``68 L L 68`` at ``start``; the caller made sure four bytes are there."""
    return data[start + 3] == _START and data[start + 1] == data[start + 2]


# The verdicts of LongFrameReader._judge besides a frame or a failure.
_NOT_A_HEADER: Final = "not a header"


class _Wait(NamedTuple):
    """The frame at a start needs more bytes; ``if_given_up`` says why it would be skipped.

    A named tuple, not a frozen dataclass: one is made for each chunk a frame arrives in.
    """

    if_given_up: _Failure | None
    #: The frame's claimed length when it is cut short: its bytes are still
    #: arriving, or a valid frame starts inside it; None once it failed and only
    #: its ``L + 256`` reading is pending.
    cut_short: int | None = None


class LegacyLongFrameReader:
    """Finds M-Bus long frames in a byte stream that arrives in arbitrary chunks.

    :meth:`feed` returns, in stream order, each frame as soon as its stop byte has
    arrived, and a :class:`FrameError` (returned, not raised) for each run of bytes
    it had to skip: garbage before a start byte, a truncated frame, a frame with a
    wrong checksum or stop byte.  After a rejected frame the reader searches for the
    next ``68 L L 68`` right after the rejected start byte, never after the frame's
    claimed end, so the frame that follows a truncated one is not lost.

    A start whose frame is still incomplete (or that failed and waits for the
    ``L + 256`` reading of the T210-D quirk) gives way to a later start that already
    forms a complete, valid frame ending earlier: that is a truncated frame followed
    by a good one.  This rule depends only on the bytes, not on how they were
    chunked.

    The buffer holds at most one frame of :data:`MAX_FRAME_LENGTH` plus one
    piece of a feed chunk.
    """

    __slots__ = ("_base", "_buf", "_look", "_need", "_skipped")

    def __init__(self) -> None:
        self._buf = bytearray()
        #: Stream offset of ``_buf[0]``.
        self._base = 0
        #: Buffer index from which later starts have not yet been ruled out as frames.
        self._look = 0
        self._skipped = SkippedRun(
            "do not begin an M-Bus long frame (68 L L 68)", _HINT_LINE, _MIN_FRAME_LENGTH
        )
        #: The length of the frame at ``_buf[0]`` while only its remaining bytes are
        #: awaited: until they are all there, a chunk without a start byte decides nothing.
        self._need: int | None = None

    @property
    def offset(self) -> int:
        """How many bytes of the stream the reader has consumed (buffered ones excluded)."""
        return self._base

    @property
    def buffered(self) -> int:
        """How many bytes wait in the buffer for the rest of a frame."""
        return len(self._buf)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[LongFrame | FrameError]:
        """Take the next bytes of the stream; return the frames and errors they completed."""
        out: list[LongFrame | FrameError] = []
        buf = self._buf
        if type(chunk) is bytes and len(chunk) <= _FEED_PIECE:
            # What a serial port delivers: one piece, without a view to cut it into pieces.
            buf += chunk
            if not self._awaits_rest():
                self._scan(out, final=False)
            return out
        view = memoryview(chunk).cast("B")
        for piece in range(0, len(view), _FEED_PIECE):
            buf += view[piece : piece + _FEED_PIECE]
            if not self._awaits_rest():
                self._scan(out, final=False)
        return out

    def _awaits_rest(self) -> bool:
        """Whether the buffer is only the start of a frame whose header has arrived.

        Until that frame is complete, only a valid frame starting inside it can change
        the verdict (what _scan would find), so there is nothing to scan.
        """
        need = self._need
        buf = self._buf
        if need is None or len(buf) >= need:
            return False
        if buf.find(_START, max(1, self._look)) < 0:
            # No start byte among the new bytes: none of them can begin a frame.
            self._look = len(buf)
            return True
        return self._earliest_valid(1, len(buf) + 1) is None

    def flush(self) -> list[LongFrame | FrameError]:
        """End of stream: decide what is buffered, report leftover partial data."""
        out: list[LongFrame | FrameError] = []
        self._scan(out, final=True)
        self._skipped.close(out)
        return out

    # -- scanning ----------------------------------------------------------------------

    def _scan(self, out: list[LongFrame | FrameError], *, final: bool) -> None:
        buf = self._buf
        size = len(buf)
        base = self._base
        skip = self._skipped.add
        pos = 0
        self._need = None
        while pos < size:
            start = buf.find(_START, pos)
            if start < 0:
                skip(base + pos, base + size, None, out)
                pos = size
                break
            if start > pos:
                skip(base + pos, base + start, None, out)
            verdict = self._judge(start, final=final)
            if isinstance(verdict, LongFrame):
                self._skipped.close(out)
                out.append(verdict)
                pos = start + verdict.raw_length
            elif isinstance(verdict, _Wait):
                later = self._earliest_valid(start + 1, size + 1)
                if later is None and final:
                    skip(base + start, base + start + 1, verdict.if_given_up, out)
                    pos = start + 1
                    continue
                if later is None:
                    pos = start
                    self._need = verdict.cut_short
                    break
                skip(base + start, base + later, self._given_up(start, later, verdict), out)
                pos = later
            elif isinstance(verdict, _Failure):
                skip(base + start, base + start + 1, verdict, out)
                pos = start + 1
            else:
                skip(base + start, base + start + 1, None, out)
                pos = start + 1
        del buf[:pos]
        self._base += pos
        self._look = max(0, self._look - pos)

    def _given_up(self, start: int, later: int, wait: _Wait) -> _Failure:
        """Why the frame at ``start`` is skipped for the valid frame at ``later``."""
        if wait.cut_short is None and wait.if_given_up is not None:
            return wait.if_given_up
        return _Failure(
            f"long frame at byte {self._base + start} ({wait.cut_short} bytes) is cut short "
            f"after {later - start} bytes by a new frame",
            self._base + start,
            _HINT_RESYNC,
        )

    def _judge(self, start: int, *, final: bool) -> LongFrame | _Failure | _Wait | str:
        """What the bytes from ``buf[start]`` (a 0x68) are, as far as they can tell yet."""
        buf = self._buf
        available = len(buf) - start
        offset = self._base + start
        if available < _HEADER_LENGTH:
            if available >= 3 and buf[start + 1] != buf[start + 2]:
                return _NOT_A_HEADER
            truncated = _Failure(
                f"stream ended {available} byte(s) into a long-frame header",
                offset,
                _HINT_RESYNC,
            )
            return truncated if final else _Wait(truncated)
        if not _is_header(buf, start):
            return _NOT_A_HEADER
        length = buf[start + 1]
        failure: _Failure
        if length >= _MIN_L:
            end = start + length + 6
            if end > len(buf):
                if not final:
                    # While its bytes arrive the frame is only ever given up for a valid
                    # frame inside it, and _given_up words that itself.
                    return _Wait(None, length + 6)
                return _Failure(
                    f"long frame at byte {offset} (L={length}) is truncated: "
                    f"the stream ended after {available} of its {length + 6} bytes",
                    offset,
                    _HINT_RESYNC,
                )
            # Whatever the verdict, a valid frame that starts inside this one and ends
            # first wins: byte by byte, it would have arrived before this one was decided.
            # (Starts below _look are already ruled out.)
            if self._look <= end - _MIN_FRAME_LENGTH and (
                self._earliest_valid(start + 1, end) is not None
            ):
                return _Wait(None, length + 6)
            checked = _check(buf, start, length, self._base)
            if isinstance(checked, LongFrame):
                return checked
            failure = checked
        else:
            failure = _Failure(
                f"long frame at byte {offset} has L={length}, below the minimum 3 (C, A, CI)",
                offset + 1,
                _HINT_LINE,
            )
        return self._judge_overflow(start, length, failure, final=final)

    def _judge_overflow(
        self, start: int, length: int, failure: _Failure, *, final: bool
    ) -> LongFrame | _Failure | _Wait:
        """The frame read with ``L + 256`` (the T210-D quirk), once the plain L failed."""
        buf = self._buf
        end = start + length + _L_OVERFLOW + 6
        if end > len(buf):
            return failure if final else _Wait(failure)
        if self._earliest_valid(start + 1, end) is not None:
            return _Wait(failure)
        checked = _check(buf, start, length + _L_OVERFLOW, self._base)
        if isinstance(checked, LongFrame):
            log.debug(
                "long frame at byte %d read with L=%d (L-field overflow)",
                self._base + start,
                length + _L_OVERFLOW,
            )
            return checked
        return failure

    def _earliest_valid(self, first: int, before: int) -> int | None:
        """The start of the complete, valid frame (plain L) that ends first, before ``before``.

        Starts below ``self._look`` are known not to begin a complete valid frame.
        """
        buf = self._buf
        size = len(buf)
        best: int | None = None
        best_end = min(before, size + 1)
        index = max(first, self._look)
        settled = True
        while index + _MIN_FRAME_LENGTH <= best_end:
            index = buf.find(_START, index, best_end - _MIN_FRAME_LENGTH + 1)
            if index < 0:
                break
            decided = True
            if _is_header(buf, index) and buf[index + 1] >= _MIN_L:
                end = index + buf[index + 1] + 6
                if end > size:
                    decided = False
                elif isinstance(_check(buf, index, buf[index + 1], self._base), LongFrame):
                    decided = False
                    if end < best_end:
                        best, best_end = index, end
            settled = settled and decided
            if settled:
                self._look = index + 1
            index += 1
        return best


# -- transport (cosem_reader.transport.mbus_segments) --

#: STSAP and DTSAP in front of each segment's piece of the APDU.
_TSAP_LENGTH: Final = 2

_HINT_LOST = "a telegram was lost or damaged on the line; the next push should be complete"
_HINT_MIDWAY = "normal when reading starts in the middle of a push"


def _describe(count: int, size: int) -> str:
    segments = "segment 0" if count == 1 else f"segments 0–{count - 1}"
    return f"{segments} ({size} APDU bytes)"


class LegacySegmentJoiner:
    """Joins M-Bus segments into APDUs, one :meth:`push` per received telegram.

    An APDU is returned when its last segment (FIN) arrives after segments
    0, 1, … without a gap.  An incomplete sequence is discarded with one
    :class:`SegmentError` that names what was dropped; the telegram that broke it
    is still handled: a segment 0 starts the next APDU (a single telegram,
    ``CI = 0x10``, is returned at once), any other segment belongs to an APDU whose
    beginning is lost and is dropped with it, together with the rest of that APDU.
    """

    __slots__ = ("_dropping", "_next", "_parts", "_received", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        #: The segment number the open APDU needs next; None while no APDU is open.
        self._next: int | None = None
        #: The segment number that continues an APDU already reported as broken.
        self._dropping: int | None = None
        self._size = 0
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
        self._received += len(frame.user_data)
        number = frame.segment_number
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
            return out
        piece = frame.user_data[_TSAP_LENGTH:]
        if self._next is not None:
            if number == self._next:
                self._add(piece, frame.is_last_segment, out, at)
                return out
            expected = f"where segment {self._next} was expected"
            if number == 0:
                self._discard_open(out, at, f"segment 0 of a new APDU arrived {expected}")
            else:
                self._discard_open(out, at, f"segment {number} arrived {expected}", also=number)
                self._dropping = None if frame.is_last_segment else number + 1
                return out
        elif self._dropping is not None and number == self._dropping and number != 0:
            # The rest of an APDU already reported as broken: one error per APDU is enough.
            self._dropping = None if frame.is_last_segment else number + 1
            return out
        self._dropping = None
        if number != 0:
            out.append(
                SegmentError(
                    f"segment {number} dropped: segment 0 of its APDU did not arrive",
                    offset=at,
                    hint=_HINT_MIDWAY,
                )
            )
            self._dropping = None if frame.is_last_segment else number + 1
            return out
        self._next = 0
        self._add(piece, frame.is_last_segment, out, at)
        return out

    def flush(self) -> list[SegmentError]:
        """End of stream: report an APDU still waiting for segments."""
        out: list[bytes | SegmentError] = []
        self._discard_open(
            out, self._received, f"the stream ended where segment {self._next} was expected"
        )
        self._dropping = None
        return [error for error in out if isinstance(error, SegmentError)]

    def _add(self, piece: bytes, last: bool, out: list[bytes | SegmentError], at: int) -> None:
        self._parts.append(piece)
        self._size += len(piece)
        if not last:
            assert self._next is not None
            self._next += 1
            return
        apdu = b"".join(self._parts)
        count = len(self._parts)
        self._reset()
        if apdu:
            out.append(apdu)
            return
        out.append(
            SegmentError(
                f"{_describe(count, 0)} carried an empty APDU",
                offset=at,
                hint=_HINT_LOST,
            )
        )

    def _discard_open(
        self, out: list[bytes | SegmentError], at: int, reason: str, *, also: int | None = None
    ) -> None:
        if self._next is None:
            return
        dropped = _describe(len(self._parts), self._size)
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
        self._size = 0
        self._next = None
