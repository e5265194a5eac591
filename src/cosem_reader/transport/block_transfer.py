"""General-block-transfer (GBT): one APDU carried in numbered blocks.

The XDLMS-APDU ``general-block-transfer`` [224] (Green Book, DLMS UA 1000-2)::

    E0 | block-control | block-number | block-number-ack | block-data
         Unsigned8       Unsigned16     Unsigned16         OCTET STRING (A-XDR length + bytes)

block-control: bit 7 last-block, bit 6 streaming, bits 0-5 window.  Blocks are numbered from
1; the block-data of blocks 1..n, n being the one with last-block set, joined in order is the
inner APDU: a ``DB`` general-glo-ciphering or a plain ``0F`` data-notification on the push
meters seen (Landis+Gyr E450/E570 send block-control ``40`` ... ``C0``: streaming, window 0).
block-number-ack and window matter for a client that acknowledges blocks; a push stream is
never acknowledged, so joining uses only the block number and the last-block bit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu_tags import GENERAL_BLOCK_TRANSFER
from cosem_reader.axdr.schema import decode_length
from cosem_reader.errors import AxdrError, SegmentError

__all__ = [
    "GENERAL_BLOCK_TRANSFER_TAG",
    "BlockTransferJoiner",
    "GeneralBlockTransfer",
    "parse_general_block_transfer",
]

log = logging.getLogger(__name__)

#: XDLMS-APDU tag of general-block-transfer (224).
GENERAL_BLOCK_TRANSFER_TAG: Final = GENERAL_BLOCK_TRANSFER

_LAST_BLOCK: Final = 0x80
_STREAMING: Final = 0x40
_WINDOW: Final = 0x3F
_HEADER_SIZE: Final = 6


@dataclass(frozen=True, slots=True)
class GeneralBlockTransfer:
    """One block of a general-block-transfer."""

    last_block: bool
    streaming: bool
    window: int
    block_number: int
    block_number_ack: int
    block_data: bytes


_make_block = frozen_constructor(GeneralBlockTransfer)


def _axdr_length(apdu: bytes, pos: int) -> tuple[int, int]:
    """The A-XDR length of the block-data at ``apdu[pos]``."""
    try:
        return decode_length(apdu, pos)
    except AxdrError as error:
        raise SegmentError(
            f"general-block-transfer block-data: {error.message}", offset=pos
        ) from None


def parse_general_block_transfer(apdu: bytes | bytearray | memoryview) -> GeneralBlockTransfer:
    """Decode one general-block-transfer APDU (tag ``E0``).

    Raises :class:`SegmentError` with the offset in ``apdu`` when the tag is not ``E0``, the
    fixed fields are cut short, the block-data length is not A-XDR, or it does not match the
    bytes that follow.
    """
    data = bytes(apdu)
    control, number, start = _block_fields(data)
    return _make_block(
        bool(control & _LAST_BLOCK),
        bool(control & _STREAMING),
        control & _WINDOW,
        number,
        (data[4] << 8) | data[5],
        data[start:],
    )


def _block_fields(data: bytes) -> tuple[int, int, int]:
    """block-control, block-number and where block-data starts in the block ``data``.

    The checks of :func:`parse_general_block_transfer`, which the joiner calls alone: it
    needs no :class:`GeneralBlockTransfer` per block.
    """
    if not data or data[0] != GENERAL_BLOCK_TRANSFER_TAG:
        found = f"0x{data[0]:02X}" if data else "nothing"
        raise SegmentError(f"APDU tag is {found}, not 0xE0 (general-block-transfer)", offset=0)
    if len(data) < _HEADER_SIZE:
        raise SegmentError(
            f"general-block-transfer of {len(data)} bytes is shorter than its 6-byte header",
            offset=len(data),
        )
    length, start = _axdr_length(data, _HEADER_SIZE)
    if start + length != len(data):
        raise SegmentError(
            f"general-block-transfer block-data length {length} does not match the "
            f"{len(data) - start} bytes that follow",
            offset=_HEADER_SIZE,
            hint="the block was cut short or joined with other bytes",
        )
    return data[1], (data[2] << 8) | data[3], start


class BlockTransferJoiner:
    """Join general-block-transfer blocks in a stream of APDUs.

    ``push(apdu)`` returns, in order, the APDUs ready for the next layer and
    :class:`SegmentError` instances for what it had to drop; it never raises on bad input.

    * An APDU that is not a general-block-transfer passes straight through.
    * Block 1 begins a transfer; each further block must carry the next number; the joined
      block-data comes out with the block that has last-block set.
    * A new block 1 while a transfer is open drops the open one with an error (a meter that
      was interrupted starts its next push from block 1), and so does a gap in the numbers or a
      block that does not parse.  A block other than 1 with no transfer open is skipped with an
      error.
    * A transfer longer than ``max_apdu_size`` is dropped, which keeps memory bounded.
    """

    def __init__(self, max_apdu_size: int = 1 << 20) -> None:
        self.max_apdu_size = max_apdu_size
        self._parts: list[bytes] | None = None
        self._size = 0

    @property
    def open(self) -> bool:
        """A transfer has begun and its last block has not yet come."""
        return self._parts is not None

    def push(self, apdu: bytes) -> list[bytes | SegmentError]:
        """Take the next APDU; return what it completes (APDUs and errors)."""
        if not apdu or apdu[0] != GENERAL_BLOCK_TRANSFER_TAG:
            return [apdu]
        out: list[bytes | SegmentError] = []
        try:
            control, number, start = _block_fields(apdu)
        except SegmentError as error:
            if self._parts is not None:
                self._drop(out, f"a block that does not parse came after block {len(self._parts)}")
            out.append(error)
            return out
        if number == 1:
            if self._parts is not None:
                self._drop(out, f"a new transfer began after block {len(self._parts)}")
            self._parts = []
            self._size = 0
        elif self._parts is None:
            out.append(
                SegmentError(
                    f"general-block-transfer block {number} without block 1 before it: skipped",
                    hint="the blocks before it were lost",
                )
            )
            return out
        elif number != len(self._parts) + 1:
            self._drop(
                out,
                f"block {number} came where block {len(self._parts) + 1} belongs",
                hint="a block was lost on the way",
            )
            return out
        block_data = apdu[start:]
        self._parts.append(block_data)
        self._size += len(block_data)
        if self._size > self.max_apdu_size:
            self._drop(out, f"the joined block-data exceeds {self.max_apdu_size} bytes")
        elif control & _LAST_BLOCK:
            out.append(b"".join(self._parts))
            self._parts = None
            self._size = 0
        return out

    def flush(self) -> list[bytes | SegmentError]:
        """End of stream: report a transfer whose last block never came."""
        out: list[bytes | SegmentError] = []
        if self._parts is not None:
            self._drop(out, f"the stream ended after block {len(self._parts)}")
        return out

    def _drop(self, out: list[bytes | SegmentError], why: str, hint: str | None = None) -> None:
        error = SegmentError(
            f"general-block-transfer dropped without its last block: {why}", hint=hint
        )
        log.debug("%s", error)
        out.append(error)
        self._parts = None
        self._size = 0
