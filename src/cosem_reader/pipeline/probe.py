"""Telling the link layer from the bytes: M-Bus long frames, HDLC frames or bare APDUs.

A stream can start anywhere inside a push, where ciphertext bytes look like
anything — a stray ``0x0F`` is not a data-notification and a stray ``0x68`` is
not a telegram.  So only evidence decides: a frame that passes its checksum
(M-Bus) or its HCS and FCS (HDLC), or a whole APDU that decodes from the very
first byte (bare APDUs, as a raw capture or a P1 line without framing carries
them).  Until then :class:`LinkProbe` keeps the bytes, so nothing is lost once it
has decided.
"""

from __future__ import annotations

from typing import Any, Literal

from cosem_reader.axdr.apdu import decode_apdu_at_start
from cosem_reader.axdr.apdu_tags import (
    DATA_NOTIFICATION,
    EVENT_NOTIFICATION,
    GENERAL_BLOCK_TRANSFER,
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
    GET_RESPONSE,
)
from cosem_reader.axdr.schema import Schema
from cosem_reader.errors import CosemReaderError
from cosem_reader.link import dsmr, hdlc, mbus
from cosem_reader.security.ciphering import decode_ciphered_apdu, is_ciphered

__all__ = ["LinkLayer", "LinkProbe", "apdu_end", "guess_layer"]

LinkLayer = Literal["mbus", "hdlc", "raw", "dsmr"]

_MBUS_START = 0x68
_HDLC_FLAG = 0x7E
_RAW_WINDOW = 4096
#: Runs of zeros in any binary file decode as tiny APDUs (``0F 00 00 00 00 00 00`` is a
#: data-notification carrying null-data); a real push is never this short.
_MIN_EVIDENCE = 16
#: A data-notification's date-time length byte: absent, 12 bytes, or the tagged form's
#: ``09`` (:func:`cosem_reader.axdr.apdu.untagged_date_time`).
_DATE_TIME_LENGTHS = frozenset({0x00, 0x0C, 0x09})
#: The short glo- forms carry no system title; their header's length is all we need.
_ANY_SYSTEM_TITLE = b"\x00" * 8


#: The APDUs a meter pushes bare: data-notification, general-glo/ded-ciphering,
#: general-block-transfer, event-notification and get-response.  The short glo-/ded-
#: forms and the association APDUs are left out on purpose: their headers are so
#: short that ciphertext matches them all the time.
_PUSHED_APDU_TAGS = frozenset(
    {
        DATA_NOTIFICATION,
        GENERAL_GLO_CIPHERING,
        GENERAL_DED_CIPHERING,
        GENERAL_BLOCK_TRANSFER,
        EVENT_NOTIFICATION,
        GET_RESPONSE,
    }
)


def _apdu_tag(byte: bytes) -> bool:
    return bool(byte) and byte[0] in _PUSHED_APDU_TAGS


def apdu_end(
    data: bytes, system_title: bytes | None, using: Schema | None = None
) -> tuple[Any, int]:
    """Where the APDU (ciphered or not) that ``data`` begins with ends, and its tree
    (None for a ciphered one, whose header alone says); raises
    :class:`~cosem_reader.errors.CosemReaderError` when it is none or not whole yet."""
    if is_ciphered(data):
        return None, decode_ciphered_apdu(data, 0, system_title)[1]
    return decode_apdu_at_start(data, using)


def _apdu_end(data: bytes) -> int | None:
    """Where the pushed APDU that ``data`` begins with ends; None if it is not one."""
    llc = hdlc.llc_header_length(data)
    if llc:
        # An LLC PDU without its HDLC frame: the header, then the APDU.
        end = _apdu_end(data[llc:])
        return None if end is None else llc + end
    if not _apdu_tag(data[:1]):
        return None
    try:
        tree, end = apdu_end(data, _ANY_SYSTEM_TITLE)
    except CosemReaderError:
        return None
    return end if tree is None or _plausible_push(tree) else None


def _plausible_push(tree: Any) -> bool:
    """Whether a decoded APDU could be a meter's push, not machine code that decoded.

    Random bytes hold a data-notification now and then (``0F`` opens many x86
    instructions); a meter's carries a 12-byte date-time or none, and a structure or
    array of values, never a lone value or null-data.
    """
    name, value = tree
    if name != "data-notification":
        return True
    stamp = value.get("date-time") or b""
    kind = value["notification-body"]["data-value"][0]
    return len(stamp) in (0, 12) and kind in ("structure", "array")


def _whole_apdu_at_start(data: bytes) -> bool:
    """Whether the bytes begin with one complete APDU, followed by nothing or the next one."""
    end = _apdu_end(data)
    # Random bytes decode as a short APDU now and then; what follows must agree.
    if end is None or end == len(data):
        return end is not None
    return _apdu_tag(data[end : end + 1]) or bool(hdlc.llc_header_length(data[end:]))


def _two_apdus_in(data: bytes) -> int | None:
    """Where two whole pushed APDUs stand back to back, for a stream of bare APDUs
    joined in the middle of one; None when there are no such two."""
    for start, byte in enumerate(data):
        if byte not in _PUSHED_APDU_TAGS:
            continue
        end = _apdu_end(data[start:])
        if end is None or end < _MIN_EVIDENCE:
            continue
        if not _same_kind(data[start:], data[start + end :]):
            continue
        second = _apdu_end(data[start + end :])
        if second is not None and second >= _MIN_EVIDENCE:
            return start
    return None


def _p1_stream(buffer: bytearray) -> bool:
    """A DSMR P1 stream: a telegram whose CRC checks, or ciphered P1 frames (Sagemcom
    T210-D-r, Smarty) with noise between them; checked after M-Bus and HDLC, whose
    frames around such an APDU end first and prove themselves."""
    return dsmr.p1_evidence(bytes(buffer))


def _same_kind(first: bytes, second: bytes) -> bool:
    """Whether the next APDU continues the first as a meter's pushes do: the same tag,
    and for general-block-transfer the next block number.  Line noise holds two short
    APDUs of any kind back to back within a few hundred KiB; of one kind, hardly ever."""
    if not second or second[0] != first[0]:
        return False
    if first[0] == DATA_NOTIFICATION:
        # A date-time is absent or 12 bytes (09 0C: the tagged form of some meters).
        return all(len(apdu) > 5 and apdu[5] in _DATE_TIME_LENGTHS for apdu in (first, second))
    if first[0] == EVENT_NOTIFICATION:
        # Its time is OPTIONAL: absent (00), or present (01) and 12 bytes long.
        return all(apdu[1:2] == b"\x00" or apdu[1:3] == b"\x01\x0c" for apdu in (first, second))
    if first[0] != GENERAL_BLOCK_TRANSFER:
        return True
    return len(second) > 3 and int.from_bytes(second[2:4]) == int.from_bytes(first[2:4]) + 1


class LinkProbe:
    """Feed it the first bytes of a stream until it names the link layer.

    ``feed`` returns None while the evidence is missing, else the layer and the
    bytes seen so far (to be fed to that layer's reader).  After ``limit`` bytes
    without proof it settles for a plausible frame start, or for two whole bare
    APDUs back to back; on pure noise it keeps looking, holding at most ``limit``
    bytes.  :meth:`give_up` answers with the best guess when the stream ends.
    """

    def __init__(self, limit: int = 16384, *, at_stream_start: bool = True) -> None:
        self.limit = limit
        #: A probe started in the middle of a stream (to watch a recognised layer) takes
        #: no APDU at its first byte for proof: noise decodes as a short APDU now and then.
        self.at_stream_start = at_stream_start
        self._mbus = mbus.LongFrameReader()
        self._hdlc = hdlc.HdlcFrameReader()
        self._buffer = bytearray()
        #: Whether the last answer of :meth:`feed` rests on proof (a checked frame, whole
        #: APDUs) rather than on a plausible frame start: a guess may be wrong.
        self.proven = False

    def feed(self, chunk: bytes) -> tuple[LinkLayer, bytes] | None:
        """More bytes; the layer and the bytes so far once a frame or APDU proves it."""
        first_chunk = not self._buffer
        self._buffer += chunk
        self.proven = True
        # Bare APDUs show at the very start; a whole capture may come in one chunk.
        near_start = first_chunk or len(self._buffer) <= _RAW_WINDOW
        if self.at_stream_start and near_start and dsmr.p1_frame_at_start(bytes(self._buffer)):
            return "dsmr", self._take()
        if self.at_stream_start and near_start and _whole_apdu_at_start(bytes(self._buffer)):
            return "raw", self._take()
        if any(isinstance(item, mbus.LongFrame) for item in self._mbus.feed(chunk)):
            return "mbus", self._take()
        if any(isinstance(item, hdlc.HdlcFrame) for item in self._hdlc.feed(chunk)):
            return "hdlc", self._take()
        if _p1_stream(self._buffer):
            return "dsmr", self._take()
        if len(self._buffer) >= self.limit:
            # No frame passed its checks.  Two whole bare APDUs are proof too; a frame
            # start that fits is a guess worth taking, so that the reader then says
            # what is wrong with the frames (wrong parity, say) instead of nothing.
            start = _two_apdus_in(bytes(self._buffer))
            if start is not None:
                return "raw", self._take()[start:]
            guess = guess_layer(bytes(self._buffer), strict=True)
            if guess is not None:
                self.proven = False
                return guess, self._take()
            # Nothing that even looks like a frame or an APDU (line noise): keep
            # looking, holding only the newest bytes.
            del self._buffer[: len(self._buffer) - self.limit // 2]
        return None

    def give_up(self) -> tuple[LinkLayer, bytes]:
        """The best guess without proof: the earliest plausible frame start, else bare APDUs."""
        self.proven = False
        if dsmr.p1_evidence(bytes(self._buffer), final=True):
            return "dsmr", self._take()
        return guess_layer(bytes(self._buffer)) or "raw", self._take()

    def _take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def guess_layer(data: bytes, *, strict: bool = False) -> LinkLayer | None:
    """The earliest plausible frame start (``68 L L 68``, ``7E A0``/``7E A8``), else raw.

    ``strict`` asks more of an HDLC start (its length field must land on a closing
    flag: ciphertext holds a ``7E A0`` every 4 KiB or so) and answers None instead
    of raw when nothing fits.
    """
    end = len(data)
    for index, byte in enumerate(data):
        if (
            byte == _MBUS_START
            and index + 3 < end
            and data[index + 1] == data[index + 2]
            and data[index + 3] == _MBUS_START
        ):
            return "mbus"
        if byte == _HDLC_FLAG and index + 2 < end and data[index + 1] & 0xF0 == 0xA0:
            if not strict:
                return "hdlc"
            closing = index + 1 + (((data[index + 1] & 0x07) << 8) | data[index + 2])
            if closing < end and data[closing] == _HDLC_FLAG:
                return "hdlc"
    return None if strict else "raw"
