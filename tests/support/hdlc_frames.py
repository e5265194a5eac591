"""Test-only builders: HDLC frames and general-block-transfer blocks around an APDU.

They write the wire format the way IEC 62056-46 and the Green Book describe it (the
reverse of :mod:`cosem_reader.link.hdlc` and :mod:`cosem_reader.transport.block_transfer`),
so tests never depend on anyone's published bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.hdlc import HdlcFrame, crc16_x25
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner

FLAG = b"\x7e"


def _check_address(address: bytes) -> None:
    if len(address) not in (1, 2, 4) or not address[-1] & 1 or any(b & 1 for b in address[:-1]):
        raise ValueError(
            f"not an HDLC address as sent (1, 2 or 4 bytes, LSB 1 on the last): {address.hex()}"
        )


def build_hdlc_frame(
    information: bytes,
    *,
    segmented: bool = False,
    dst: bytes = b"\x03",
    src: bytes = b"\x21",
    control: int = 0x13,
) -> bytes:
    """One frame from its format field to its FCS, without flags."""
    _check_address(dst)
    _check_address(src)
    header_size = 2 + len(dst) + len(src) + 1 + 2
    length = header_size + (len(information) + 2 if information else 0)
    if length > 0x7FF:
        raise ValueError(f"frame length {length} exceeds 2047")
    head = bytes([0xA0 | (0x08 if segmented else 0) | (length >> 8), length & 0xFF])
    head += dst + src + bytes([control])
    frame = head + crc16_x25(head).to_bytes(2, "little")
    if information:
        frame += information
        frame += crc16_x25(frame).to_bytes(2, "little")
    return frame


def split_into_information_fields(
    apdu: bytes, max_information: int = 128, llc: bytes = b"\xe6\xe7\x00"
) -> list[bytes]:
    """The information fields of the frames that carry ``apdu``: LLC header on the first."""
    if max_information < 1:
        raise ValueError("max_information must be at least 1")
    payload = llc + apdu
    return [payload[i : i + max_information] for i in range(0, len(payload), max_information)]


def join_frames(frames: list[bytes], *, shared_flags: bool = False) -> bytes:
    """Frames (without flags) as on the wire: ``7E f 7E f 7E`` or ``7E f 7E 7E f 7E``."""
    if shared_flags:
        return FLAG + FLAG.join(frames) + FLAG
    return b"".join(FLAG + frame + FLAG for frame in frames)


def build_hdlc_frames(
    apdu: bytes,
    max_information: int = 128,
    dst: bytes = b"\x03",
    src: bytes = b"\x21",
    control: int = 0x13,
    llc: bytes = b"\xe6\xe7\x00",
    shared_flags: bool = False,
) -> bytes:
    """``apdu`` in HDLC frames as on the wire, segmented (S = 1 ... S = 0) where needed."""
    fields = split_into_information_fields(apdu, max_information, llc)
    frames = [
        build_hdlc_frame(field, segmented=i < len(fields) - 1, dst=dst, src=src, control=control)
        for i, field in enumerate(fields)
    ]
    return join_frames(frames, shared_flags=shared_flags)


def axdr_length(length: int) -> bytes:
    """An A-XDR length: one byte below 0x80, else 0x8N and N big-endian bytes."""
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def build_general_block_transfer(apdu: bytes, block_size: int) -> list[bytes]:
    """``apdu`` cut into general-block-transfer APDUs of ``block_size`` bytes of block-data.

    Block-control is ``40`` (streaming, window 0) and ``C0`` on the last block, as Landis+Gyr
    meters send it; block-number-ack is 0.
    """
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    pieces = [apdu[i : i + block_size] for i in range(0, len(apdu), block_size)] or [b""]
    blocks = []
    for number, piece in enumerate(pieces, start=1):
        control = 0x40 | (0x80 if number == len(pieces) else 0)
        blocks.append(
            bytes([0xE0, control])
            + number.to_bytes(2, "big")
            + b"\x00\x00"
            + axdr_length(len(piece))
            + piece
        )
    return blocks


def join_apdus(items: Sequence[HdlcFrame | FrameError]) -> list[bytes | SegmentError]:
    """The APDUs (or segment errors) a fresh HDLC joiner makes of ``items``, flushed."""
    joiner = HdlcApduJoiner()
    out: list[bytes | SegmentError] = []
    for item in items:
        out += joiner.push(item)
    return out + joiner.flush()

