"""HDLC segments joined into APDUs (IEC 62056-46: the segmentation bit S of the format field).

The first information field of an APDU starts with the LLC header; the following
segments of the same APDU carry none.  A segmented APDU is the frames with S = 1
followed by the one with S = 0, their information fields joined.
"""

from __future__ import annotations

import logging
from typing import Final

from cosem_reader.axdr.apdu_tags import GENERAL_BLOCK_TRANSFER
from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.hdlc import LLC_COMMAND, LLC_RESPONSE, HdlcFrame

__all__ = ["HdlcApduJoiner"]

log = logging.getLogger(__name__)

#: General-block-transfer tag; see :class:`HdlcApduJoiner` for why the joiner looks at it.
_GBT_TAG: Final = GENERAL_BLOCK_TRANSFER
_GBT_LAST_BLOCK: Final = 0x80
_LLC_HEADERS: Final = (LLC_RESPONSE, LLC_COMMAND)


class HdlcApduJoiner:
    """Join the information fields of HDLC frames into APDUs.

    ``push(frame)`` returns, in order, the APDUs (LLC header removed) and :class:`SegmentError`
    instances for frames it had to drop; it never raises on bad input.

    * A frame whose information starts with an LLC header (``E6 E7 00`` or ``E6 E6 00``)
      begins an APDU.  With S = 0 it is the whole APDU; with S = 1 the following frames'
      information fields are appended up to and including the next frame with S = 0.
    * A new LLC-headed frame while a segmented APDU is open drops the open one with an error.
    * A frame without LLC header while none is open is skipped with an error: the first
      segment of its APDU was lost.  The one exception is a Landis+Gyr quirk: in a
      general-block-transfer (APDU tag ``E0``) only the frame with the first block carries the
      LLC header, the frames with the next blocks carry their ``E0`` block bare.  So after a
      block that is not the last one, a bare frame starting with ``E0`` begins an APDU.
    * Frames without information (supervisory and unnumbered control frames) carry no APDU
      and are passed over.
    * Pass the :class:`FrameError` instances from :class:`HdlcFrameReader` too: a frame lost in
      the middle of a segmented APDU would otherwise join the segments around the gap into a
      wrong APDU.

    Control bytes (UI ``03``/``13`` or I-frames with N(S)/N(R)) are not used for joining:
    meters differ in which they send, and a push stream is never acknowledged.  An APDU longer
    than ``max_apdu_size`` is dropped with an error, which keeps memory bounded.
    """

    def __init__(self, max_apdu_size: int = 0xFFFF) -> None:
        self.max_apdu_size = max_apdu_size
        self._segments: list[bytes] | None = None
        self._size = 0
        self._first_offset: int | None = None
        self._block_transfer_open = False

    @property
    def open(self) -> bool:
        """A segmented APDU has begun and its last segment has not yet come."""
        return self._segments is not None

    def push(self, frame: HdlcFrame | FrameError) -> list[bytes | SegmentError]:
        """Take the next frame (or link-layer error); return the APDUs and errors it completes."""
        out: list[bytes | SegmentError] = []
        if isinstance(frame, FrameError):
            if self._segments is not None:
                out.append(
                    self._drop(
                        f"segmented APDU dropped after {len(self._segments)} segments: "
                        f"a frame was lost ({frame.message})"
                    )
                )
            return out
        information = frame.information
        if not information:
            return out
        if information.startswith(_LLC_HEADERS):
            if self._segments is not None:
                out.append(
                    self._drop(
                        f"segmented APDU dropped after {len(self._segments)} segments: a new "
                        "APDU began before its last segment",
                        hint="a frame was lost on the line",
                    )
                )
            self._begin(frame, information[len(LLC_RESPONSE) :], out)
        elif self._segments is not None:
            self._segments.append(information)
            self._size += len(information)
            if self._size > self.max_apdu_size:
                out.append(
                    self._drop(
                        f"segmented APDU exceeds {self.max_apdu_size} bytes",
                        hint="the frame with S = 0 that ends it never came",
                    )
                )
            elif not frame.segmented:
                apdu = b"".join(self._segments)
                self._segments = None
                self._first_offset = None
                self._emit(apdu, out)
        elif self._block_transfer_open and information[0] == _GBT_TAG:
            self._begin(frame, information, out)
        else:
            out.append(
                SegmentError(
                    "HDLC frame without LLC header (E6 E7 00) and no APDU open: skipped",
                    offset=frame.offset,
                    hint="the frame with the start of its APDU was lost",
                )
            )
        return out

    def flush(self) -> list[bytes | SegmentError]:
        """End of stream: report a segmented APDU whose last segment never came."""
        out: list[bytes | SegmentError] = []
        if self._segments is not None:
            out.append(
                self._drop(
                    f"segmented APDU cut short after {len(self._segments)} segments: "
                    "the stream ended"
                )
            )
        self._block_transfer_open = False
        return out

    def _begin(self, frame: HdlcFrame, first: bytes, out: list[bytes | SegmentError]) -> None:
        if frame.segmented:
            self._segments = [first]
            self._size = len(first)
            self._first_offset = frame.offset
        else:
            self._emit(first, out)

    def _emit(self, apdu: bytes, out: list[bytes | SegmentError]) -> None:
        self._block_transfer_open = (
            len(apdu) >= 2 and apdu[0] == _GBT_TAG and not apdu[1] & _GBT_LAST_BLOCK
        )
        out.append(apdu)

    def _drop(self, message: str, hint: str | None = None) -> SegmentError:
        error = SegmentError(message, offset=self._first_offset, hint=hint)
        log.debug("%s", error)
        self._segments = None
        self._size = 0
        self._first_offset = None
        return error
