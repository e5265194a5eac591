"""M-Bus link layer (EN 13757-2): the long frames that carry DLMS push telegrams.

A long frame on the wire::

    68 L L 68 | C A CI <user data> | CS 16

``L`` counts the bytes C, A, CI and the user data, so ``L >= 3`` and a frame is
``L + 6`` bytes long.  ``CS`` is the sum of the bytes from C up to the last
user-data byte, modulo 256.  Smart meters in Austria send ``C = 0x53`` or
``0x73`` (SND_UD) to the broadcast address ``A = 0xFF``; their ``CI`` byte
(``0x00``–``0x1F``) numbers the segments of one APDU: bits 0–3 are the segment
number, bit 4 (FIN) marks the last segment.  A push that fits one telegram has
``CI = 0x10``; a push in two telegrams has ``CI = 0x00`` then ``CI = 0x11``.

Meter quirk: the Sagemcom T210-D writes the length of a 263-byte telegram as
``68 01 01 68`` — the true ``L`` is 257, which does not fit one byte.  Its checksum
covers all 257 bytes and the stop byte follows them.  Both :func:`parse_long_frame`
and :class:`LongFrameReader` therefore read a frame with ``L + 256`` when the frame
with ``L`` is impossible (``L < 3``) or fails its checksum or stop byte, and the
longer frame passes both.

Framing is by length and checksum only.  The two telegrams of one EVN push arrive
about 160 ms apart, so an idle gap says nothing about where a frame ends.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass
from typing import Final, NamedTuple

from cosem_reader._slots import frozen_constructor
from cosem_reader.errors import FrameError
from cosem_reader.link.skipped_run import SkippedRun

__all__ = ["MAX_FRAME_LENGTH", "LongFrame", "LongFrameReader", "parse_long_frame"]

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

#: ``68 L L 68`` with ``L >= 3``: where a complete frame with the plain L may begin.
_HEADER: Final = re.compile(b"%c([%c-\\xff])\\1%c" % (_START, _MIN_L, _START))

_HINT_LINE = "check the serial settings (2400 baud, 8E1 or 8N1) and the wiring"
_HINT_RESYNC = "bytes were lost on the line; reading goes on at the next frame"


@dataclass(frozen=True, slots=True)
class LongFrame:
    """One M-Bus long frame: control field C, address A, control information CI, user data.

    For DLMS pushes the user data begins with STSAP ``01`` and DTSAP ``67``; the
    transport layer strips them and joins the segments by :attr:`segment_number`.
    """

    control: int
    address: int
    control_information: int
    user_data: bytes

    @property
    def is_last_segment(self) -> bool:
        """CI bit 4 (FIN): this telegram ends the APDU."""
        return bool(self.control_information & 0x10)

    @property
    def segment_number(self) -> int:
        """CI bits 0–3: the number of this segment within its APDU, from 0."""
        return self.control_information & 0x0F

    @property
    def raw_length(self) -> int:
        """The frame's length on the wire, from the first ``68`` to the stop byte."""
        return _HEADER_LENGTH + _MIN_L + len(self.user_data) + 2


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
    control, address, control_information = data[start + 4], data[start + 5], data[start + 6]
    user_data = bytes(data[start + 7 : checksum_at])
    if length <= _ADLER_PIECE:
        # Every frame but the T210-D's L + 256 reading: _byte_sum's one piece, inline and
        # over the user data the frame keeps (no second copy).
        total = control + address + control_information + zlib.adler32(user_data) - 1
    else:
        total = _byte_sum(data, start + _HEADER_LENGTH, checksum_at)
    checksum = total & 0xFF
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
    return _make_long_frame(control, address, control_information, user_data)


def _is_header(data: _Buffer, start: int) -> bool:
    """``68 L L 68`` at ``start``; the caller made sure four bytes are there."""
    return data[start + 3] == _START and data[start + 1] == data[start + 2]


def parse_long_frame(data: bytes | memoryview) -> LongFrame:
    """Exactly one M-Bus long frame, ``68 L L 68 C A CI <user data> CS 16``.

    Accepts the Sagemcom T210-D quirk (the L byte is the length modulo 256) when
    ``data`` is ``L + 262`` bytes long and that frame passes checksum and stop byte.
    Raises :class:`FrameError` with the offset of the offending byte.
    """
    size = len(data)
    if size < _HEADER_LENGTH:
        raise FrameError(
            f"long frame truncated: {size} bytes, the header 68 L L 68 alone has 4",
            offset=size,
        )
    if data[0] != _START:
        raise FrameError(
            f"long frame starts with 0x{data[0]:02X} instead of 0x68",
            offset=0,
            hint="an M-Bus long frame begins 68 L L 68",
        )
    if data[3] != _START:
        raise FrameError(
            f"long frame header has 0x{data[3]:02X} instead of the second start byte 0x68",
            offset=3,
        )
    if data[1] != data[2]:
        raise FrameError(
            f"long frame header has two different L fields, 0x{data[1]:02X} and 0x{data[2]:02X}",
            offset=2,
        )
    length = data[1]
    wanted = length + _HEADER_LENGTH + 2
    if size == wanted + _L_OVERFLOW:
        length += _L_OVERFLOW
    elif length < _MIN_L:
        raise FrameError(
            f"long frame has L={length}, below the minimum 3 (C, A, CI)",
            offset=1,
        )
    elif size < wanted:
        raise FrameError(
            f"long frame truncated: L={length} needs {wanted} bytes, got {size}",
            offset=size,
        )
    elif size > wanted:
        raise FrameError(
            f"long frame of {size} bytes, but L={length} says {wanted}",
            offset=wanted,
            hint="pass exactly one frame, or use LongFrameReader for a stream",
        )
    result = _check(data, 0, length, 0)
    if isinstance(result, _Failure):
        raise FrameError(result.message, offset=result.offset, hint=result.hint)
    return result


def _frames_in_a_row(
    buf: bytearray, base: int, skipped: SkippedRun, out: list[LongFrame | FrameError]
) -> int:
    """LongFrameReader's fast path: the frames in a row from ``buf[0]`` that _judge passes
    (complete with the plain L, no header inside, checksum and stop byte good); their end."""
    size = len(buf)
    search = _HEADER.search
    pos = 0
    found = _HEADER.match(buf, 0)
    while found is not None:
        length = buf[pos + 1]
        end = pos + length + 6
        if end > size:
            break
        # The first header after this one: the next frame's, or one inside this frame.
        following = search(buf, pos + 1, end + _HEADER_LENGTH)
        after = -1 if following is None else following.start()
        if 0 <= after <= end - _MIN_FRAME_LENGTH:
            break
        frame = _check(buf, pos, length, base)
        if type(frame) is not LongFrame:
            break
        if pos == 0:
            skipped.close(out)
        out.append(frame)
        pos = end
        found = following if after == end else _HEADER.match(buf, end)
    return pos


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


class LongFrameReader:
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
        pos = _frames_in_a_row(buf, base, self._skipped, out)
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
            # In C past the start bytes that begin no header (about one per frame).
            found = _HEADER.search(buf, index, best_end - _MIN_FRAME_LENGTH + _HEADER_LENGTH)
            if found is None:
                if settled:
                    # No header up to there: no frame begins there, whatever follows.
                    self._look = best_end - _MIN_FRAME_LENGTH + 1
                break
            index = found.start()
            end = index + buf[index + 1] + 6
            if end > size or isinstance(_check(buf, index, buf[index + 1], self._base), LongFrame):
                settled = False
                if end < best_end:
                    best, best_end = index, end
            if settled:
                self._look = index + 1
            index += 1
        return best
