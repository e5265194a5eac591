"""General-block-transfer: parsing blocks and joining them, alone and inside HDLC frames."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import SegmentError
from cosem_reader.link.hdlc import HdlcFrame, HdlcFrameReader
from cosem_reader.transport.block_transfer import (
    BlockTransferJoiner,
    GeneralBlockTransfer,
    parse_general_block_transfer,
)
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from tests.support.hdlc_frames import (
    axdr_length,
    build_general_block_transfer,
    build_hdlc_frames,
)
from tests.support.vectors import vector_params

BLOCKS = re.compile(r"general-block-transfer (\d+) blocks")


def uses_block_transfer(vector: dict[str, Any]) -> bool:
    return vector["link_layer"] == "hdlc" and bool(BLOCKS.search(vector["check"]["framing"]))


def hdlc_apdus(wire: bytes) -> list[bytes]:
    """The APDUs in HDLC wire bytes; fails on any link-layer error."""
    reader = HdlcFrameReader()
    joiner = HdlcApduJoiner()
    out: list[bytes] = []
    for item in [*reader.feed(wire), *reader.flush()]:
        assert isinstance(item, HdlcFrame), item
        for apdu in joiner.push(item):
            assert isinstance(apdu, bytes), apdu
            out.append(apdu)
    assert joiner.flush() == []
    return out


def run_joiner(apdus: list[bytes]) -> list[bytes | SegmentError]:
    joiner = BlockTransferJoiner()
    out: list[bytes | SegmentError] = []
    for apdu in apdus:
        out += joiner.push(apdu)
    return out + joiner.flush()


# --- real meter vectors -------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(uses_block_transfer))
def test_vector_blocks(vector: dict[str, Any]) -> None:
    """The blocks of each capture are numbered 1..n, the last one marked, and join to the APDU."""
    match = BLOCKS.search(vector["check"]["framing"])
    assert match
    count = int(match[1])
    apdus = hdlc_apdus(bytes.fromhex(vector["hex"]))
    blocks = [parse_general_block_transfer(apdu) for apdu in apdus]
    complete = blocks[-count:]
    assert [b.block_number for b in complete] == list(range(1, count + 1))
    assert [b.last_block for b in complete] == [False] * (count - 1) + [True]
    assert all(b.streaming and b.window == 0 and b.block_number_ack == 0 for b in blocks)
    # Blocks before the complete transfer belong to one that was interrupted.
    interrupted = blocks[:-count]
    assert [b.block_number for b in interrupted] == list(range(1, len(interrupted) + 1))
    assert not any(b.last_block for b in interrupted)

    (inner,) = run_joiner(apdus[-count:])
    assert isinstance(inner, bytes)
    assert inner.startswith(bytes.fromhex(vector["check"]["apdu_first_bytes"]))
    out = run_joiner(apdus)
    assert [o for o in out if isinstance(o, bytes)] == [inner]
    assert len([o for o in out if isinstance(o, SegmentError)]) == (1 if interrupted else 0)


# --- one block ----------------------------------------------------------------------------


def test_parse_block_fields() -> None:
    """Block-control bits, both numbers and the block-data come out of their places."""
    block = parse_general_block_transfer(bytes.fromhex("E0C5000300020361 6263"))
    assert block == GeneralBlockTransfer(True, True, 5, 3, 2, b"abc")
    long_block = parse_general_block_transfer(bytes.fromhex("E0000001000082012C") + bytes(300))
    assert long_block == GeneralBlockTransfer(False, False, 0, 1, 0, bytes(300))


@given(
    control=st.integers(0, 255),
    number=st.integers(0, 0xFFFF),
    ack=st.integers(0, 0xFFFF),
    data=st.binary(max_size=400),
)
def test_parse_round_trip(control: int, number: int, ack: int, data: bytes) -> None:
    """Any block written by the Green Book's layout parses back to its fields."""
    apdu = (
        bytes([0xE0, control])
        + number.to_bytes(2, "big")
        + ack.to_bytes(2, "big")
        + axdr_length(len(data))
        + data
    )
    assert parse_general_block_transfer(apdu) == GeneralBlockTransfer(
        last_block=bool(control & 0x80),
        streaming=bool(control & 0x40),
        window=control & 0x3F,
        block_number=number,
        block_number_ack=ack,
        block_data=data,
    )


@pytest.mark.parametrize(
    ("apdu", "words", "offset"),
    [
        pytest.param(b"", "nothing", 0, id="empty"),
        pytest.param(b"\xdb\x08", "not 0xE0", 0, id="other-tag"),
        pytest.param(b"\xe0\x40\x00\x01", "shorter than its 6-byte header", 4, id="short"),
        pytest.param(
            b"\xe0\x40\x00\x01\x00\x00", "ends where a length should be", 6, id="no-length"
        ),
        pytest.param(b"\xe0\x40\x00\x01\x00\x00\x80", "no A-XDR length", 6, id="length-0x80"),
        pytest.param(
            b"\xe0\x40\x00\x01\x00\x00\x82\x01", "ends inside a 2-byte length", 6, id="length-cut"
        ),
        pytest.param(
            b"\xe0\x40\x00\x01\x00\x00\x03ab", "does not match the 2 bytes", 6, id="data-short"
        ),
        pytest.param(
            b"\xe0\x40\x00\x01\x00\x00\x01ab", "does not match the 2 bytes", 6, id="data-long"
        ),
    ],
)
def test_parse_errors(apdu: bytes, words: str, offset: int) -> None:
    """A malformed block raises a SegmentError that says what is wrong and where."""
    with pytest.raises(SegmentError, match=words) as caught:
        parse_general_block_transfer(apdu)
    assert caught.value.offset == offset


# --- one whole transfer ------------------------------------------------------------------


@given(apdu=st.binary(max_size=2000), block_size=st.integers(1, 700))
def test_blocks_round_trip(apdu: bytes, block_size: int) -> None:
    """An APDU cut into blocks of any size joins back to itself."""
    blocks = build_general_block_transfer(apdu, block_size)
    assert run_joiner(blocks) == [apdu]
    numbers = [parse_general_block_transfer(b).block_number for b in blocks]
    assert numbers == list(range(1, len(blocks) + 1))


def test_incomplete_transfers_are_dropped_with_a_line() -> None:
    """Gaps, a missing last block and blocks after the last one are errors."""
    blocks = build_general_block_transfer(bytes(300), 100)
    (gap,) = run_joiner([blocks[0], blocks[2]])
    assert isinstance(gap, SegmentError)
    assert "block 3 came where block 2 belongs" in str(gap)
    (cut,) = run_joiner(blocks[:2])
    assert isinstance(cut, SegmentError)
    assert "without its last block" in str(cut)
    whole, after = run_joiner([*blocks, blocks[0]])
    assert whole == bytes(300)
    assert isinstance(after, SegmentError)
    assert run_joiner([]) == []


# --- the joiner ---------------------------------------------------------------------------


def test_joiner_passes_other_apdus_through() -> None:
    """APDUs other than general-block-transfer come out unchanged, also in mid-transfer."""
    blocks = build_general_block_transfer(b"inner", 2)
    out = run_joiner([b"\x0f\x01", blocks[0], b"", b"\xdb\x08", *blocks[1:]])
    assert out == [b"\x0f\x01", b"", b"\xdb\x08", b"inner"]


def test_joiner_drops_interrupted_transfer_on_new_block_one() -> None:
    """A new block 1 while a transfer is open drops the open one with an error."""
    first = build_general_block_transfer(b"A" * 50, 10)
    second = build_general_block_transfer(b"B" * 50, 10)
    out = run_joiner(first[:2] + second)
    assert isinstance(out[0], SegmentError)
    assert "new transfer began after block 2" in str(out[0])
    assert out[1:] == [b"B" * 50]


def test_joiner_drops_transfer_with_gap() -> None:
    """A missing block drops the transfer; the blocks after it are skipped with errors."""
    blocks = build_general_block_transfer(b"C" * 50, 10)
    out = run_joiner([blocks[0], blocks[2], blocks[3], blocks[4]])
    assert all(isinstance(o, SegmentError) for o in out)
    assert "block 3 came where block 2 belongs" in str(out[0])
    assert "block 4 without block 1" in str(out[1])
    assert len(out) == 3


def test_joiner_drops_transfer_on_bad_block() -> None:
    """A block that does not parse drops the open transfer and reports both."""
    blocks = build_general_block_transfer(b"D" * 50, 10)
    out = run_joiner([blocks[0], blocks[1][:-1], blocks[2]])
    assert [type(o) for o in out] == [SegmentError, SegmentError, SegmentError]
    assert "does not parse" in str(out[0])
    assert "does not match" in str(out[1])


def test_joiner_single_block_and_flush() -> None:
    """Block 1 with last-block set is a whole transfer; flush reports an unfinished one."""
    joiner = BlockTransferJoiner()
    assert joiner.push(build_general_block_transfer(b"one", 10)[0]) == [b"one"]
    assert joiner.push(build_general_block_transfer(b"two" * 10, 10)[0]) == []
    assert joiner.open
    (error,) = joiner.flush()
    assert isinstance(error, SegmentError)
    assert "stream ended after block 1" in str(error)
    assert not joiner.open


def test_joiner_bounds_transfer_size() -> None:
    """A transfer that grows past max_apdu_size is dropped."""
    joiner = BlockTransferJoiner(max_apdu_size=1000)
    blocks = build_general_block_transfer(bytes(5000), 100)
    out = [o for b in blocks for o in joiner.push(b)]
    assert not any(isinstance(o, bytes) for o in out)
    assert "exceeds 1000 bytes" in str(out[0])


# --- streams of transfers -----------------------------------------------------------------


@st.composite
def transfer_streams(draw: st.DrawFn) -> tuple[list[list[bytes]], list[bytes], int]:
    """Messages as lists of APDUs (plain, complete or interrupted transfers), the APDUs that
    must come out, and how many transfers were interrupted."""
    messages: list[list[bytes]] = []
    expected: list[bytes] = []
    interrupted = 0
    for _ in range(draw(st.integers(1, 6))):
        size = draw(st.integers(1, 900))
        inner = draw(st.binary(min_size=size, max_size=size))
        kind = draw(st.sampled_from(["plain", "complete", "interrupted"]))
        if kind == "plain":
            apdu = b"\x0f" + inner
            messages.append([apdu])
            expected.append(apdu)
            continue
        blocks = build_general_block_transfer(inner, draw(st.integers(1, 250)))
        if kind == "interrupted" and len(blocks) > 1:
            messages.append(blocks[: draw(st.integers(1, len(blocks) - 1))])
            interrupted += 1
        else:
            messages.append(blocks)
            expected.append(inner)
    return messages, expected, interrupted


@given(transfer_streams())
def test_stream_of_transfers(stream: tuple[list[list[bytes]], list[bytes], int]) -> None:
    """Complete transfers and plain APDUs come out in order; each interrupted one is one error."""
    messages, expected, interrupted = stream
    out = run_joiner([apdu for message in messages for apdu in message])
    assert [o for o in out if isinstance(o, bytes)] == expected
    assert len([o for o in out if isinstance(o, SegmentError)]) == interrupted


@given(transfer_streams(), st.data())
def test_stream_of_transfers_in_hdlc(
    stream: tuple[list[list[bytes]], list[bytes], int], data: st.DataObject
) -> None:
    """The same inside HDLC frames of random size, LLC header on every block or (Landis+Gyr)
    only on the first block of a transfer, fed in random chunks."""
    messages, expected, interrupted = stream
    wire = b""
    for message in messages:
        llc_on_every_block = data.draw(st.booleans())
        max_information = data.draw(st.integers(8, 300))
        shared = data.draw(st.booleans())
        for index, apdu in enumerate(message):
            llc = b"\xe6\xe7\x00" if index == 0 or llc_on_every_block else b""
            wire += build_hdlc_frames(
                apdu, max_information=max_information, llc=llc, shared_flags=shared
            )
    chunks = data.draw(st.lists(st.integers(1, 400), min_size=1, max_size=40))
    reader = HdlcFrameReader()
    joiner = HdlcApduJoiner()
    items: list[bytes | SegmentError] = []
    pos = 0
    sizes = iter(chunks)
    while pos < len(wire):
        size = next(sizes, len(wire))
        for frame in reader.feed(wire[pos : pos + size]):
            assert isinstance(frame, HdlcFrame), frame
            items += joiner.push(frame)
        pos += size
    assert reader.flush() == []
    assert joiner.flush() == []
    assert all(isinstance(i, bytes) for i in items)
    out = run_joiner([i for i in items if isinstance(i, bytes)])
    assert [o for o in out if isinstance(o, bytes)] == expected
    assert len([o for o in out if isinstance(o, SegmentError)]) == interrupted
