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

from typing import Literal

from cosem_reader import hdlc, mbus
from cosem_reader.apdu import DATA_NOTIFICATION, schema
from cosem_reader.errors import CosemReaderError
from cosem_reader.security import decode_ciphered_apdu, is_ciphered

__all__ = ["LinkLayer", "LinkProbe", "guess_layer"]

LinkLayer = Literal["mbus", "hdlc", "raw"]

_MBUS_START = 0x68
_HDLC_FLAG = 0x7E
_OCTET_STRING_TAG = 0x09
_RAW_WINDOW = 4096


#: The APDUs a meter pushes bare: data-notification, general-glo/ded-ciphering,
#: general-block-transfer, event-notification and get-response.  The short glo-/ded-
#: forms and the association APDUs are left out on purpose: their headers are so
#: short that ciphertext matches them all the time.
_PUSHED_APDU_TAGS = frozenset({DATA_NOTIFICATION, 0xDB, 0xDC, 0xE0, 0xC2, 0xC4})


def _apdu_tag(byte: bytes) -> bool:
    return bool(byte) and byte[0] in _PUSHED_APDU_TAGS


def _whole_apdu_at_start(data: bytes) -> bool:
    """Whether the bytes begin with one complete APDU, followed by nothing or the next one."""
    if not _apdu_tag(data[:1]):
        return False
    try:
        if is_ciphered(data):
            end = decode_ciphered_apdu(data, 0, b"\x00" * 8)[1]
        else:
            view = data
            # the tagged date-time some Kaifa and Kamstrup meters send (09 0C …)
            if len(data) > 7 and data[0] == DATA_NOTIFICATION and data[5] == _OCTET_STRING_TAG:
                view = data[:5] + data[6:]
            end = schema().decode("XDLMS-APDU", view)[1] + len(data) - len(view)
    except CosemReaderError:
        return False
    # Random bytes decode as a short APDU now and then; what follows must agree.
    return end == len(data) or _apdu_tag(data[end : end + 1])


class LinkProbe:
    """Feed it the first bytes of a stream until it names the link layer.

    ``feed`` returns None while the evidence is missing, else the layer and all
    bytes seen so far (to be fed to that layer's reader).  It keeps at most
    ``limit`` bytes; :meth:`give_up` answers with the best guess when the stream
    ends or the limit is reached without a valid frame.
    """

    def __init__(self, limit: int = 16384) -> None:
        self.limit = limit
        self._mbus = mbus.LongFrameReader()
        self._hdlc = hdlc.HdlcFrameReader()
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> tuple[LinkLayer, bytes] | None:
        """More bytes; the layer and the bytes so far once a frame or APDU proves it."""
        first_chunk = not self._buffer
        self._buffer += chunk
        # Bare APDUs show at the very start; a whole capture may come in one chunk.
        near_start = first_chunk or len(self._buffer) <= _RAW_WINDOW
        if near_start and _whole_apdu_at_start(bytes(self._buffer)):
            return "raw", self._take()
        if any(isinstance(item, mbus.LongFrame) for item in self._mbus.feed(chunk)):
            return "mbus", self._take()
        if any(isinstance(item, hdlc.HdlcFrame) for item in self._hdlc.feed(chunk)):
            return "hdlc", self._take()
        if len(self._buffer) >= self.limit:
            return self.give_up()
        return None

    def give_up(self) -> tuple[LinkLayer, bytes]:
        """The best guess without proof: the earliest plausible frame start, else bare APDUs."""
        return guess_layer(bytes(self._buffer)), self._take()

    def _take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def guess_layer(data: bytes) -> LinkLayer:
    """The earliest plausible frame start (``68 L L 68``, ``7E A0``/``7E A8``), else raw."""
    end = len(data)
    for index, byte in enumerate(data):
        if (
            byte == _MBUS_START
            and index + 3 < end
            and data[index + 1] == data[index + 2]
            and data[index + 3] == _MBUS_START
        ):
            return "mbus"
        if byte == _HDLC_FLAG and index + 1 < end and data[index + 1] & 0xF0 == 0xA0:
            return "hdlc"
    return "raw"
