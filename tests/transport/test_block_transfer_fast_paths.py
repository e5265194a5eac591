"""The block joiner reads only a block's fields, not a GeneralBlockTransfer per block: it
joins and drops exactly as the same rules over parse_general_block_transfer do."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import SegmentError
from cosem_reader.transport.block_transfer import (
    BlockTransferJoiner,
    parse_general_block_transfer,
)
from tests.support.hdlc_frames import build_general_block_transfer


def _by_parsed_blocks(apdus: list[bytes]) -> list[str]:
    """The joiner's rules over whole parsed blocks: the slow path, as words."""
    out: list[str] = []
    parts: list[bytes] | None = None
    for apdu in apdus:
        if not apdu or apdu[0] != 0xE0:
            out.append(f"apdu {apdu.hex()}")
            continue
        try:
            block = parse_general_block_transfer(apdu)
        except SegmentError as error:
            if parts is not None:
                out.append("dropped")
                parts = None
            out.append(f"{error.offset} {error}")
            continue
        if block.block_number == 1:
            if parts is not None:
                out.append("dropped")
            parts = []
        elif parts is None:
            out.append(f"block {block.block_number} without block 1")
            continue
        elif block.block_number != len(parts) + 1:
            out.append("dropped")
            parts = None
            continue
        parts.append(block.block_data)
        if block.last_block:
            out.append(f"apdu {b''.join(parts).hex()}")
            parts = None
    return [*out, "dropped"] if parts is not None else out


def _by_joiner(apdus: list[bytes]) -> list[str]:
    joiner = BlockTransferJoiner()
    out = [item for apdu in apdus for item in joiner.push(apdu)] + joiner.flush()
    words: list[str] = []
    for item in out:
        if isinstance(item, bytes):
            words.append(f"apdu {item.hex()}")
        elif "dropped without its last block" in str(item):
            words.append("dropped")
        elif "without block 1" in str(item):
            words.append(str(item).split(" without")[0].replace("general-block-transfer ", "")
                         + " without block 1")
        else:
            words.append(f"{item.offset} {item}")
    return words


@st.composite
def _damaged_block_streams(draw: st.DrawFn) -> list[bytes]:
    """Transfers split at random sizes, some blocks lost, repeated, cut or changed."""
    apdus: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        inner = draw(st.binary(min_size=1, max_size=400))
        apdus += build_general_block_transfer(inner, draw(st.integers(1, 200)))
        if draw(st.booleans()):
            apdus.append(b"\x0f" + inner[:5])
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(apdus) - 1))
        block = bytearray(apdus[index])
        action = draw(st.sampled_from(["lose", "repeat", "cut", "change", "empty"]))
        if action == "lose":
            del apdus[index]
            if not apdus:
                break
            continue
        if action == "repeat":
            apdus.insert(index, bytes(block))
        elif not block:
            continue
        elif action == "cut":
            del block[draw(st.integers(0, len(block) - 1)) :]
        elif action == "change":
            block[draw(st.integers(0, min(len(block) - 1, 9)))] ^= draw(st.integers(1, 255))
        else:
            block = bytearray()
        apdus[index] = bytes(block)
    return apdus


@given(_damaged_block_streams())
def test_joiner_reads_blocks_as_parsing_them_does(apdus: list[bytes]) -> None:
    assert _by_joiner(apdus) == _by_parsed_blocks(apdus)
