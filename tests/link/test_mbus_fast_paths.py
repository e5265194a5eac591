"""The M-Bus reader's fast paths against the reader as it was (tests.support.legacy_mbus).

Any stream of intact, damaged, cut and nested frames, overflowing-L frames, fake
headers and noise, fed in any chunking, gives the same frames and errors, at the
same offsets, and leaves the same bytes buffered.
"""

from __future__ import annotations

from itertools import cycle

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import FrameError
from cosem_reader.link.mbus import LongFrame, LongFrameReader
from tests.support.legacy_mbus import LegacyLongFrameReader
from tests.support.mbus_telegrams import long_frame

_Reader = LongFrameReader | LegacyLongFrameReader

user_data = st.binary(min_size=0, max_size=40) | st.binary(min_size=250, max_size=262)
telegram = st.builds(long_frame, st.integers(0, 255), st.integers(0, 255),
                     st.integers(0, 0x1F), user_data)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A telegram cut short, with one byte changed, or with a frame put inside it."""
    wire = draw(telegram)
    how = draw(st.sampled_from(["cut", "byte", "nested"]))
    if how == "cut":
        return wire[: draw(st.integers(1, len(wire) - 1))]
    if how == "nested":
        at = draw(st.integers(1, len(wire)))
        return wire[:at] + draw(telegram) + wire[at:]
    changed = bytearray(wire)
    changed[draw(st.integers(1, len(wire) - 1))] ^= draw(st.integers(1, 255))
    return bytes(changed)


#: A valid frame that carries a valid frame in its user data: the inner one ends first.
wrapping = st.builds(
    lambda inner, before, after: long_frame(0x53, 0xFF, 0x10, before + inner + after),
    telegram, st.binary(max_size=8), st.binary(max_size=8),
)
fake_header = st.integers(0, 255).map(lambda length: bytes((0x68, length, length, 0x68)))
noise = st.binary(min_size=1, max_size=30) | st.sampled_from([b"\x68", b"\x16", b"\x68\x68"])
pieces = telegram | telegram | damaged() | wrapping | fake_header | noise
streams = st.lists(pieces, max_size=12).map(b"".join)


def _read(reader: _Reader, data: bytes, sizes: list[int]) -> list[object]:
    """Everything the reader says, errors as text and offset, and what it holds after each feed."""
    said: list[object] = []
    chunks = cycle(sizes)
    index = 0
    while index < len(data):
        size = next(chunks)
        said += reader.feed(data[index : index + size])
        said.append(("buffered", reader.buffered, reader.offset))
        index += size
    said += reader.flush()
    return [
        (str(item), item.offset, item.frame_lost) if isinstance(item, FrameError) else item
        for item in said
    ]


@given(data=streams, sizes=st.lists(st.integers(1, 700), min_size=1, max_size=6))
def test_the_reader_says_what_the_reader_before_its_fast_paths_said(
    data: bytes, sizes: list[int]
) -> None:
    assert _read(LongFrameReader(), data, sizes) == _read(LegacyLongFrameReader(), data, sizes)


@given(data=streams)
def test_the_reader_says_it_in_one_piece_as_in_a_big_chunk_as_the_old_one(data: bytes) -> None:
    """Chunks longer than a feed piece, and a bytearray, go through the view."""
    for chunk in (data * 3, bytearray(data * 3)):
        new = LongFrameReader().feed(chunk)
        old = LegacyLongFrameReader().feed(chunk)
        assert [x if isinstance(x, LongFrame) else str(x) for x in new] == [
            x if isinstance(x, LongFrame) else str(x) for x in old
        ]
