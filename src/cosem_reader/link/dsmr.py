"""DSMR P1 telegrams: the ASCII telegrams of Dutch, Belgian and Luxembourg meters.

A telegram is ``/XXXZ<identification>`` CR LF, an empty line, one line per object
``A-B:C.D.E(value)(value)…`` and ``!`` followed by the CRC: four hex digits of
CRC-16/ARC over everything from ``/`` to ``!`` inclusive (DSMR 4 and 5, P1
Companion Standard §6.2); DSMR 2 and 3 end with a bare ``!``.

The Sagemcom T210-D-r of Energienetze Steiermark and Luxembourg's Smarty write the
same telegram ciphered: a general-glo-ciphering APDU ``DB 08 <system title>
<length> 30 <frame counter> <ciphertext> <12-byte tag>`` straight onto the line,
with no frame around it (Luxmetering P1 Port Specification v1.1.3 §3.2.5).
:class:`P1Reader` finds both in a stream; the pipeline deciphers the APDUs with the
security layer, and :mod:`cosem_reader.cosem.dsmr_readings` turns every telegram into
readings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cosem_reader.errors import FrameError

__all__ = [
    "P1Reader",
    "Telegram",
    "crc16",
    "find_telegram",
    "is_telegram",
    "p1_evidence",
    "p1_frame_at_start",
]

#: A telegram longer than this is not one (DSMR 5 telegrams with every object and
#: four M-Bus devices stay under 3 KiB); it bounds the reader's buffer.
MAX_TELEGRAM = 16384
#: The same bound for a ciphered P1 frame (its plaintext is one telegram).
MAX_CIPHERED_FRAME = MAX_TELEGRAM + 64

_START = ord("/")
_END = ord("!")
_CRC_DIGITS = 4
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_NOT_TEXT = re.compile(rb"[^\x20-\x7e\r\n]|/[A-Za-z]{3}\d")
#: ``/`` + the three-letter manufacturer id + the baud-rate digit (IEC 62056-21 §6.3.14).
_IDENTIFICATION = re.compile(rb"/[A-Za-z]{3}\d")
#: Where a telegram or a ciphered P1 frame may start.
_CANDIDATE = re.compile(rb"/[A-Za-z]{3}\d|\xdb\x08")
#: The most bytes between two ciphered P1 frames that the link probe takes as noise.
_PROBE_GAP = 1024
#: Bytes the second of them must be followed by: by then an HDLC or M-Bus frame around
#: such an APDU has ended and proved itself instead.
_PROBE_MARGIN = 16
_CANDIDATE_KEEP = 4
_CIPHERED_START = b"\xdb\x08"
_OBJECT_LINE = re.compile(rb"(\d+-\d+:\d+\.\d+\.\d+(?:\*\d+)?)?(\([^()]*\))+")
_AUTHENTICATED_ENCRYPTED = 0x30
_CIPHERED_HEADER = 15


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected, initial value 0), as DSMR 4 and 5 use it."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


@dataclass(frozen=True, slots=True)
class Telegram:
    """One telegram whose CRC checked: ``text`` runs from ``/`` to ``!`` inclusive."""

    text: bytes
    #: The CRC the meter wrote; None for DSMR 2 and 3, which write none.
    crc: int | None

    @property
    def identification(self) -> str:
        """The header line without ``/``, e.g. ``EST5\\253710000_A``."""
        return self.text[1:].split(b"\r", 1)[0].split(b"\n", 1)[0].decode("ascii")


def is_telegram(data: bytes) -> bool:
    """Whether ``data`` begins like a telegram (``/XXX5…``): a deciphered P1 frame does."""
    return _IDENTIFICATION.match(data) is not None


def _crc_end(data: bytes, bang: int) -> tuple[int | None, int] | None:
    """The CRC after the ``!`` at ``bang`` and where the telegram ends; None until it is there."""
    after = data[bang + 1 : bang + 1 + _CRC_DIGITS]
    if after[:1] in (b"\r", b"\n"):
        return None, bang + 1
    if len(after) < _CRC_DIGITS:
        return None if all(byte in _HEX_DIGITS for byte in after) else (-1, bang + 1)
    try:
        return int(after, 16), bang + 1 + _CRC_DIGITS
    except ValueError:
        return -1, bang + 1


def find_telegram(
    data: bytes, start: int = 0, *, final: bool = False
) -> tuple[Telegram | FrameError | None, int]:
    """The telegram whose ``/`` is at ``data[start]``, and where to go on from.

    Returns ``(None, start)`` while it has not fully arrived (unless ``final``), a
    :class:`FrameError` for a telegram cut short or with a wrong CRC, and the
    position after what it took.
    """
    limit = min(len(data), start + MAX_TELEGRAM)
    bang = data.find(b"!", start + 1, limit)
    # A byte that is no text, or the next telegram's first line, cuts it short.
    cut = _NOT_TEXT.search(data, start + 1, bang if bang >= 0 else limit)
    if cut is not None:
        index = cut.start()
        return _error("is cut off by the next telegram or frame", start, index), index
    if bang < 0:
        if limit - start >= MAX_TELEGRAM:
            return _error(f"runs longer than {MAX_TELEGRAM} bytes", start, limit), limit
        if final:
            return _error("is cut off by the end of the stream", start, len(data)), len(data)
        return None, start
    found = _crc_end(data, bang)
    if found is None:
        if final:
            return _error("is cut off by the end of the stream", start, len(data)), len(data)
        return None, start
    crc, after = found
    text = data[start : bang + 1]
    if crc == -1:
        return _error("has no CRC after '!'", start, after), after
    if crc is not None and crc16(text) != crc:
        return _error(
            f"CRC {crc:04X} does not match the text (CRC-16/ARC {crc16(text):04X})", start, after
        ), after
    return Telegram(text, crc), after


def _error(what: str, start: int, end: int) -> FrameError:
    return FrameError(
        f"DSMR telegram {what}; {end - start} bytes skipped",
        offset=start,
        hint="check the serial settings (DSMR 4/5: 115200 8N1, DSMR 2/3: 9600 7E1)",
        frame_lost=True,
    )


def _ciphered_end(data: bytes, start: int) -> int | None:
    """Where the ciphered P1 frame at ``start`` ends, -1 if it is none, None until known.

    Nothing frames it, so the header must look right: a FLAG manufacturer id in
    the system title (three capital letters), a length the reader can hold, and a
    security control byte of suite 0–2 that ciphers or authenticates.
    """
    head = data[start : start + _CIPHERED_HEADER]  # begins DB 08 (the scan found it)
    maker = head[2:5]
    if not all(0x41 <= byte <= 0x5A for byte in maker):
        return -1
    if len(head) < _CIPHERED_HEADER:
        return None
    first = head[10]
    if first < 0x80:
        length, content = first, 11
    elif first in (0x81, 0x82):
        size = first - 0x80
        length, content = int.from_bytes(head[11 : 11 + size], "big"), 11 + size
    else:
        return -1
    control = head[content]
    if length < 5 or length > MAX_CIPHERED_FRAME or control & 0x8F > 2 or not control & 0x30:
        return -1
    end = start + content + length
    return end if end <= len(data) else None


class P1Reader:
    """Feed it a P1 stream in any chunking; it returns telegrams, ciphered APDUs and errors.

    Plain telegrams come as :class:`Telegram` (their CRC checked), ciphered P1
    frames as the bytes of the whole APDU, what was cut off or failed its CRC as a
    :class:`FrameError`.  Bytes between them (CR LF, line noise) are skipped.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0  # of the buffer's first byte in the stream

    def feed(self, chunk: bytes) -> list[Telegram | bytes | FrameError]:
        """More bytes of the stream; what they completed, in stream order."""
        self._buffer += chunk
        return self._scan(final=False)

    def flush(self) -> list[Telegram | bytes | FrameError]:
        """End of stream: the telegram left incomplete, as an error."""
        return self._scan(final=True)

    def _scan(self, *, final: bool) -> list[Telegram | bytes | FrameError]:
        results: list[Telegram | bytes | FrameError] = []
        data = self._buffer
        pos = 0
        while (match := _CANDIDATE.search(data, pos)) is not None:
            pos = match.start()
            if data[pos] == _START:
                found, after = find_telegram(data, pos, final=final)
                if found is None:
                    break
                if isinstance(found, FrameError) and found.offset is not None:
                    found.offset += self._offset
                results.append(found)
                pos = after
                continue
            end = _ciphered_end(data, pos)
            if end is None and not final:
                break
            if end is not None and end >= 0:
                results.append(data[pos:end])
                pos = end
                continue
            if end is None and len(data) - pos >= _CIPHERED_HEADER:
                results.append(_cut_frame(pos + self._offset, len(data) - pos))
                pos = len(data)
                break
            pos += 1
        else:
            # A candidate's first bytes may end the buffer: keep them for the next chunk.
            pos = len(data) if final else max(pos, len(data) - _CANDIDATE_KEEP)
        self._buffer = data[pos:]
        self._offset += pos
        return results


def _cut_frame(offset: int, size: int) -> FrameError:
    return FrameError(
        f"ciphered P1 frame is cut off by the end of the stream; {size} bytes skipped",
        offset=offset,
        frame_lost=True,
    )


def _all_objects(telegram: Telegram) -> bool:
    """Whether every line of a telegram without CRC (DSMR 2, 3) is an object or its
    continuation: what stands in for the CRC when telling the layer."""
    lines = [line.strip() for line in telegram.text[:-1].splitlines()[1:]]
    objects = [line for line in lines if line]
    return bool(objects) and all(_OBJECT_LINE.fullmatch(line) for line in objects)


def p1_frame_at_start(data: bytes) -> bool:
    """Whether ``data`` begins with a whole authenticated ciphered P1 frame (security
    control 0x30, as the T210-D-r and Smarty send) and then nothing, CR LF or the next
    frame: a stream joined between two frames, which bare APDUs could not resync."""
    if not data.startswith(_CIPHERED_START):
        return False
    end = _ciphered_end(data, 0)
    if end is None or end < 0:
        return False
    control = data[11 + (data[10] - 0x80 if data[10] > 0x80 else 0)]
    return control & _AUTHENTICATED_ENCRYPTED == _AUTHENTICATED_ENCRYPTED and (
        data[end : end + 1] in (b"", b"\r", b"\n", _CIPHERED_START[:1])
    )


def p1_evidence(data: bytes, *, final: bool = False) -> bool:
    """Whether ``data`` proves a P1 stream: a whole telegram whose CRC checks (without
    CRC, DSMR 2 and 3: whose every line is an object), or two ciphered P1 frames of
    one system title with bytes between them (CR LF, noise).

    One ciphered frame is no proof: an HDLC or M-Bus frame may carry the same APDU
    (the probe tries those first, and their frame ends a few bytes after the APDU),
    and bare APDUs back to back are the raw layer's.  ``final``: the stream has
    ended, so no frame around them can still end.
    """
    frames: list[tuple[int, int]] = []
    pos = 0
    while (match := _CANDIDATE.search(data, pos)) is not None:
        pos = match.start()
        if data[pos] == _START:
            found, _ = find_telegram(data, pos)
            if isinstance(found, Telegram) and (found.crc is not None or _all_objects(found)):
                return True
        else:
            end = _ciphered_end(data, pos)
            if end is not None and end >= 0:
                frames.append((pos, end))
        pos += 1
    ends = dict(frames)
    for start, end in frames:
        after = min((other for other in ends if other >= end), default=end)
        if (
            end < after <= end + _PROBE_GAP
            and ends[after] + (0 if final else _PROBE_MARGIN) <= len(data)
            and data[after + 2 : after + 10] == data[start + 2 : start + 10]
        ):
            return True
    return False
