"""HDLC frames (IEC 62056-46, frame format type 3) and the APDUs they carry.

A frame on the wire::

    7E | A0/A8 LL | dst (1-4) | src (1-4) | control | HCS (2) | information | FCS (2) | 7E
         format     addresses                          header      (optional)   frame     flag
                                                       check                    check

* Format field, 2 bytes ``1010 S LLL LLLLLLLL``: frame format type 3 (bits 15-12 = 0xA), the
  segmentation bit S (bit 11, "more segments of this APDU follow") and the 11-bit frame length,
  which counts the bytes from the format field to the FCS inclusive, flags excluded (at most
  2047).
* Addresses are 1, 2 or 4 bytes; the least significant bit of a byte is 1 on the last byte of
  the address.  Push meters send e.g. ``CE FF`` / ``03`` (Landis+Gyr), ``CF`` / ``02 23``
  (Iskraemeco), ``41`` / ``08 83`` (Aidon).
* The control field tells the frame type: ``03``/``13`` is an unnumbered information (UI) frame
  (``13`` with the poll/final bit), an even value an I-frame with send and receive sequence
  numbers N(S), N(R).  Push meters use either; joining never depends on them.
* HCS covers format..control, FCS covers format..information.  Both are CRC-16/X.25, sent least
  significant byte first.  A frame without information ends with its HCS, which then also
  serves as the FCS.
* Consecutive frames may share one flag: ``7E frame 7E frame 7E``; others send ``7E 7E``
  between frames.

The first information field of an APDU starts with the LLC header ``E6 E7 00`` (response,
push) or ``E6 E6 00`` (command); the following segments of the same APDU carry none.  A
segmented APDU is the frames with S = 1 followed by the one with S = 0, their information
fields joined.

:func:`parse_hdlc_frame` checks one frame; :class:`HdlcFrameReader` finds the frames in a byte
stream and resynchronises after garbage or damage;
:class:`cosem_reader.transport.hdlc_segments.HdlcApduJoiner` turns frames into APDUs.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Final

from cosem_reader._slots import frozen_constructor
from cosem_reader.errors import FrameError

__all__ = [
    "FLAG",
    "LLC_COMMAND",
    "LLC_RESPONSE",
    "MAX_FRAME_LENGTH",
    "HdlcFrame",
    "HdlcFrameReader",
    "crc16_x25",
    "llc_header_length",
    "parse_hdlc_frame",
]

#: The opening and closing flag of every frame.
FLAG: Final = 0x7E
#: LLC header of a response or push (destination LSAP E6, source LSAP E7, quality 00).
LLC_RESPONSE: Final = b"\xe6\xe7\x00"
#: LLC header of a command (client to server).
LLC_COMMAND: Final = b"\xe6\xe6\x00"
#: The largest value the 11-bit frame length can take.
MAX_FRAME_LENGTH: Final = 0x7FF

_FORMAT_TYPE_3: Final = 0xA
_SEGMENTATION_BIT: Final = 0x08
_MAX_ADDRESS_BYTES: Final = 4
#: At most this many bytes after a frame are "stray bytes", not a stream gone wrong.
_MAX_STRAY_BYTES: Final = 16
#: Headers a reader remembers: a meter sends two or three (first, middle, last segment).
_MAX_KNOWN_HEADERS: Final = 16

_LINE_HINT: Final = "the bytes were damaged on the line; check baud rate, parity and wiring"

# CRC-16/X.25 is the bit-reflected form of CRC-16/IBM-3740, which binascii.crc_hqx computes
# in C from its own table; reflecting every input byte and the result gives X.25 at C speed.
_REFLECTED_BYTE: Final = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25 of ``data``: the HDLC HCS and FCS.

    Polynomial 0x1021 (0x8408 reflected), initial value 0xFFFF, input and output reflected,
    final XOR 0xFFFF; the check value of ``b"123456789"`` is 0x906E.  The result is sent least
    significant byte first.
    """
    return _crc_on(data, 0xFFFF)[0]


def _crc_on(data: bytes | bytearray | memoryview, register: int) -> tuple[int, int]:
    register = binascii.crc_hqx(bytes(data).translate(_REFLECTED_BYTE), register)
    reflected = (_REFLECTED_BYTE[register & 0xFF] << 8) | _REFLECTED_BYTE[register >> 8]
    return reflected ^ 0xFFFF, register


def llc_header_length(data: bytes | bytearray) -> int:
    """3 when ``data`` begins with an LLC header (``E6 E7 00`` or ``E6 E6 00``), else 0.

    P1 dongles and some dumps hand on a push as its LLC PDU without the HDLC frame
    around it: the header, then the APDU.  No APDU begins with ``E6``.
    """
    return len(LLC_RESPONSE) if data[:3] in (LLC_RESPONSE, LLC_COMMAND) else 0


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One HDLC frame whose HCS and FCS matched.

    ``destination_address`` and ``source_address`` are the address bytes as sent (the last one
    has its least significant bit set); ``information`` is empty for a frame without an
    information field.  ``offset`` is where the frame's opening flag (or, without flags, its
    format field) was in the input; it does not take part in comparisons.
    """

    segmented: bool
    destination_address: bytes
    source_address: bytes
    control: int
    information: bytes
    offset: int | None = field(default=None, compare=False)

    @property
    def is_information_frame(self) -> bool:
        """An I-frame (control bit 0 is 0): it carries N(S) and N(R)."""
        return not self.control & 0x01

    @property
    def is_unnumbered_information(self) -> bool:
        """A UI frame: control ``03``, or ``13`` with the poll/final bit."""
        return self.control & 0xEF == 0x03

    @property
    def poll_final(self) -> bool:
        """The poll/final bit (bit 4 of the control field)."""
        return bool(self.control & 0x10)

    @property
    def send_sequence(self) -> int | None:
        """N(S) of an I-frame (bits 1-3 of the control field), ``None`` for other frames."""
        return (self.control >> 1) & 0x07 if self.is_information_frame else None

    @property
    def receive_sequence(self) -> int | None:
        """N(R) of an I- or S-frame (bits 5-7 of the control field), ``None`` for U-frames."""
        if self.control & 0x03 == 0x03:
            return None
        return (self.control >> 5) & 0x07


_make_frame = frozen_constructor(HdlcFrame)


@dataclass(frozen=True, slots=True)
class _Header:
    """What the bytes up to and including the HCS say about a frame."""

    length: int
    segmented: bool
    destination_address: bytes
    source_address: bytes
    control: int
    #: Offset of the first information byte, counted from the format field.
    information_start: int
    #: The CRC register after the header's bytes, HCS included: the FCS goes on from it.
    register: int


class _NeedMore:
    """The header cannot be judged yet: more bytes are needed."""


_NEED_MORE: Final = _NeedMore()


def _parse_header(
    buf: bytes | bytearray, start: int, available: int
) -> _Header | _NeedMore | tuple[str, int]:
    """Check the header of the frame whose format field is at ``buf[start]``.

    Looks only at ``buf[start:available]`` and decides in byte order, so the verdict for a
    given prefix never depends on how many bytes after it have arrived.  Returns the header,
    ``_NEED_MORE``, or ``(problem, offset of the problem from start)``.
    """
    if available - start < 2:
        return _NEED_MORE
    first = buf[start]
    if first >> 4 != _FORMAT_TYPE_3:
        return (f"HDLC format type is 0x{first >> 4:X}, not 0xA (frame format type 3)", 0)
    length = ((first & 0x07) << 8) | buf[start + 1]
    # format (2) + addresses (1 + 1) + control (1) + HCS (2)
    if length < 7:
        return (f"HDLC frame length {length} is shorter than the smallest header (7)", 1)
    addresses: list[bytes] = []
    pos = start + 2
    for role in ("destination", "source"):
        address_end = _address_end(buf, start, pos, available, length, role=role)
        if not isinstance(address_end, int):
            return address_end
        addresses.append(bytes(buf[pos:address_end]))
        pos = address_end
    control_at = pos
    header_end = control_at + 3  # control + HCS
    information_and_fcs = length - (header_end - start)
    if information_and_fcs < 0 or information_and_fcs in (1, 2):
        return (
            f"HDLC frame length {length} does not fit its {header_end - start}-byte header "
            "plus an information field and FCS",
            1,
        )
    if header_end > available:
        return _NEED_MORE
    expected, register = _crc_on(memoryview(buf)[start : header_end - 2], 0xFFFF)
    received = buf[header_end - 2] | (buf[header_end - 1] << 8)
    if expected != received:
        return (
            f"HDLC header check sequence is 0x{received:04X}, expected 0x{expected:04X}",
            header_end - 2 - start,
        )
    return _Header(
        length=length,
        segmented=bool(first & _SEGMENTATION_BIT),
        destination_address=addresses[0],
        source_address=addresses[1],
        control=buf[control_at],
        information_start=header_end - start,
        register=_crc_on(memoryview(buf)[header_end - 2 : header_end], register)[1],
    )


def _address_end(
    buf: bytes | bytearray, start: int, pos: int, available: int, length: int, *, role: str
) -> int | _NeedMore | tuple[str, int]:
    """Where the HDLC address at ``buf[pos]`` ends: its last byte has the low bit set."""
    address_start = pos
    while True:
        if pos - start >= length:
            return (f"HDLC {role} address runs past the frame length {length}", 1)
        if pos >= available:
            return _NEED_MORE
        size = pos - address_start + 1
        if buf[pos] & 0x01:
            pos += 1
            break
        if size >= _MAX_ADDRESS_BYTES:
            return (
                f"HDLC {role} address does not end within {_MAX_ADDRESS_BYTES} bytes",
                address_start - start,
            )
        pos += 1
    if pos - address_start == 3:
        return (
            f"HDLC {role} address has 3 bytes; only 1, 2 or 4 are allowed",
            address_start - start,
        )
    return pos


def _finish_frame(
    buf: bytes | bytearray, start: int, header: _Header, offset: int | None
) -> HdlcFrame | tuple[str, int]:
    """Check the FCS of the frame at ``buf[start:start + header.length]`` and build it."""
    end = start + header.length
    information_start = start + header.information_start
    if information_start == end:
        information = b""
    else:
        information = bytes(buf[information_start : end - 2])
        expected = _crc_on(information, header.register)[0]
        received = buf[end - 2] | (buf[end - 1] << 8)
        if expected != received:
            return (
                f"HDLC frame check sequence is 0x{received:04X}, expected 0x{expected:04X}",
                header.length - 2,
            )
    return _make_frame(header.segmented, header.destination_address, header.source_address,
                       header.control, information, offset)


def parse_hdlc_frame(data: bytes | bytearray | memoryview) -> HdlcFrame:
    """Check and decode one HDLC frame, with or without its opening and closing flags.

    Raises :class:`FrameError` naming the problem (format type, length, address, HCS, FCS,
    missing or extra bytes) with its offset in ``data``.
    """
    buf = bytes(data)
    start = 1 if buf[:1] == b"\x7e" else 0
    header = _parse_header(buf, start, len(buf))
    if isinstance(header, _NeedMore):
        raise FrameError(
            f"HDLC frame is cut short after {len(buf)} bytes",
            offset=len(buf),
            hint="pass the whole frame from its format field to its FCS",
        )
    if isinstance(header, tuple):
        problem, where = header
        raise FrameError(problem, offset=start + where, hint=_LINE_HINT)
    end = start + header.length
    if end > len(buf):
        raise FrameError(
            f"HDLC frame length says {header.length} bytes, only {len(buf) - start} are there",
            offset=len(buf),
            hint="the frame was cut short; pass the whole frame",
        )
    trailing = buf[end:]
    if trailing not in (b"", b"\x7e"):
        raise FrameError(
            f"{len(trailing)} bytes follow the HDLC frame of length {header.length}",
            offset=end,
            hint="pass one frame at a time, or use HdlcFrameReader for a stream",
        )
    frame = _finish_frame(buf, start, header, 0)
    if isinstance(frame, tuple):
        problem, where = frame
        raise FrameError(problem, offset=start + where, hint=_LINE_HINT)
    return frame


class HdlcFrameReader:
    """Find HDLC frames in a byte stream cut into chunks of any size.

    ``feed(chunk)`` returns, in stream order, the frames completed by the chunk and a
    :class:`FrameError` for each stretch it had to skip; it never raises on bad input.  A frame
    comes out as soon as its last FCS byte arrives: the length field says where it ends, the
    CRCs vouch for it, and its closing flag may be shared with the next frame anyway.

    A frame starts at a flag followed by a format byte ``A0``-``AF``.  When such a start turns
    out wrong (length, address, HCS, FCS, or the stream ends inside it), the search resumes at
    the byte after that flag, not after the length it claimed, so a frame cut short never
    takes the next frame down with it.  The reader holds at most one frame of the largest
    length (2047 bytes plus its opening flag) between calls; garbage is counted, not kept.
    An error's offset is where the bad frame or the skipped bytes begin, counted from the
    start of the stream, so frames and errors come out with offsets in stream order.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        #: Stream offset of ``_buf[0]``.
        self._base = 0
        #: Where scanning resumes in ``_buf``; a candidate's opening flag once ``_header`` is set.
        self._pos = 0
        self._header: _Header | None = None
        #: Stream offset of the first non-flag byte skipped since the last frame, if any.
        self._skip_start: int | None = None
        #: An error already covers the current skipped stretch.
        self._skip_reported = False
        #: Stream offset just after the last good frame's FCS (before its closing flag).
        self._frame_end: int | None = None
        #: Headers that passed, by their bytes up to the HCS (one size per meter's addresses).
        self._known_headers: dict[bytes, _Header] = {}
        self._header_size = 0

    @property
    def buffered(self) -> int:
        """How many bytes the reader holds: the start of a frame that is still arriving."""
        return len(self._buf) - self._pos

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[HdlcFrame | FrameError]:
        """Add ``chunk`` to the stream; return the frames and errors it completed."""
        self._buf += chunk
        out: list[HdlcFrame | FrameError] = []
        self._scan(out, final=False)
        if self._pos:
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0
        return out

    def flush(self) -> list[HdlcFrame | FrameError]:
        """End of stream: report a frame cut short and trailing garbage, then start afresh.

        Bytes after the start of a frame that was cut short are searched for frames too.
        """
        out: list[HdlcFrame | FrameError] = []
        self._scan(out, final=True)
        self._close_skip(out, len(self._buf))
        self._base += len(self._buf)
        self._buf.clear()
        self._pos = 0
        self._header = None
        self._skip_start = None
        self._skip_reported = False
        return out

    def _skip(self, index: int) -> None:
        """Note that ``_buf[index]``, not a flag, belongs to no frame."""
        if self._skip_start is None:
            self._skip_start = self._base + index
            self._skip_reported = False

    def _close_skip(self, out: list[HdlcFrame | FrameError], index: int) -> None:
        """Report the skipped stretch that ends before ``_buf[index]`` unless already reported."""
        if self._skip_start is not None and not self._skip_reported:
            count = self._base + index - self._skip_start
            out.append(self._skipped(count))
        self._skip_start = None
        self._skip_reported = False

    def _skipped(self, count: int) -> FrameError:
        assert self._skip_start is not None
        after_frame = self._frame_end is not None and self._skip_start - self._frame_end in (0, 1)
        if after_frame and count <= _MAX_STRAY_BYTES:
            # Some adapters and capture tools add a byte or three after a push.
            return FrameError(
                f"skipped {count} stray bytes after an HDLC frame",
                offset=self._skip_start,
                hint="the frame before them is intact",
            )
        return FrameError(
            f"skipped {count} bytes that are not an HDLC frame",
            offset=self._skip_start,
            hint="expected 7E A0/A8 ...; check that the meter speaks HDLC and the serial settings",
        )

    def _reject(self, out: list[HdlcFrame | FrameError], flag: int, error: FrameError) -> None:
        """The frame starting at ``_buf[flag]`` is bad: report it, go on after its flag."""
        self._close_skip(out, flag)
        out.append(error)
        self._skip_start = self._base + flag
        self._skip_reported = True
        self._header = None
        self._pos = flag + 1

    def _scan(self, out: list[HdlcFrame | FrameError], *, final: bool) -> None:
        buf = self._buf
        available = len(buf)
        while True:
            header = self._header
            if header is None:
                i = self._pos
                flag = buf.find(FLAG, i)
                if flag < 0:
                    if i < available:
                        self._skip(i)
                    self._pos = available
                    return
                if flag > i:
                    self._skip(i)
                if flag + 1 >= available:
                    self._pos = flag
                    return
                if buf[flag + 1] >> 4 != _FORMAT_TYPE_3:
                    self._pos = flag + 1
                    continue
                parsed = self._header_at(buf, flag + 1, available)
                if isinstance(parsed, _NeedMore):
                    self._pos = flag
                    if final:
                        self._reject(out, flag, self._cut_short(flag, available))
                        continue
                    return
                if isinstance(parsed, tuple):
                    problem, _where = parsed
                    error = FrameError(problem, offset=self._base + flag, hint=_LINE_HINT)
                    self._reject(out, flag, error)
                    continue
                self._header = header = parsed
                self._pos = flag
            flag = self._pos
            end = flag + 1 + header.length
            if end > available:
                if final:
                    self._reject(out, flag, self._cut_short(flag, available))
                    continue
                return
            frame = _finish_frame(buf, flag + 1, header, self._base + flag)
            if isinstance(frame, tuple):
                problem, _where = frame
                error = FrameError(problem, offset=self._base + flag, hint=_LINE_HINT)
                self._reject(out, flag, error)
                continue
            self._close_skip(out, flag)
            out.append(frame)
            self._header = None
            self._pos = end
            self._frame_end = self._base + end

    def _header_at(
        self, buf: bytearray, start: int, available: int
    ) -> _Header | _NeedMore | tuple[str, int]:
        """``_parse_header``: a header's verdict depends on its bytes alone; meters repeat them."""
        known = self._known_headers
        size = self._header_size
        if start + size <= available:
            header = known.get(bytes(buf[start : start + size]))
            if header is not None:
                return header
        parsed = _parse_header(buf, start, available)
        if isinstance(parsed, _Header):
            if parsed.information_start != size or len(known) >= _MAX_KNOWN_HEADERS:
                known.clear()
                self._header_size = parsed.information_start
            known[bytes(buf[start : start + parsed.information_start])] = parsed
        return parsed

    def _cut_short(self, flag: int, available: int) -> FrameError:
        return FrameError(
            f"HDLC frame cut short: the stream ended {available - flag - 1} bytes into it",
            offset=self._base + flag,
            hint="the capture or the line stopped in the middle of a frame",
        )
