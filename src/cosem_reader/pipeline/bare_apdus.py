"""Bare APDUs back to back, as a raw capture or a P1 line without framing carries them.

There is no frame around them: A-XDR says where each one ends (``apdu_length``), an
LLC header (``E6 E7 00``) before one is skipped.  Like the frame readers, ``feed``
returns what it found and what it had to skip, never raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cosem_reader.errors import CosemReaderError, FrameError
from cosem_reader.link import hdlc

__all__ = ["BareApduReader"]

log = logging.getLogger(__name__)

#: The most bytes held while waiting for an APDU to arrive whole.
_MAX_APDU = 65536


class BareApduReader:
    """Feed it bytes; it returns each whole APDU, or a :class:`FrameError` for bytes
    that are none (lost to the link layer, like noise between frames)."""

    def __init__(self, apdu_length: Callable[[bytes], int]) -> None:
        self._apdu_length = apdu_length
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes | FrameError]:
        """More bytes; the APDUs they completed."""
        self._buffer += chunk
        return self._drain(final=False)

    def flush(self) -> list[bytes | FrameError]:
        """End of stream: what is left is an APDU cut short, or none at all."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[bytes | FrameError]:
        found: list[bytes | FrameError] = []
        while self._buffer:
            llc = hdlc.llc_header_length(self._buffer)
            try:
                end = llc + self._apdu_length(self._buffer[llc:])
            except CosemReaderError as error:
                # Bare APDUs have no framing to resync on: an error means the APDU
                # has not fully arrived yet, unless the stream has ended.
                if not final and len(self._buffer) < _MAX_APDU:
                    break
                found.append(_not_an_apdu(error, len(self._buffer)))
                self._buffer = b""
                break
            found.append(self._buffer[llc:end])
            self._buffer = self._buffer[end:]
        return found


def _not_an_apdu(error: CosemReaderError, size: int) -> FrameError:
    """Bytes between bare APDUs that are none: lost to the link layer, like noise
    between frames, not a push that failed."""
    log.debug("bare APDU does not decode: %s", error)
    return FrameError(
        f"skipped {size} bytes that are no complete APDU",
        hint="the capture is cut off, or holds no bare APDUs; check --layer",
    )
