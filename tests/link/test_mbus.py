"""M-Bus link layer: long frames from real meters, every FrameError, and a noisy line."""

from __future__ import annotations

import re
from itertools import cycle
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cosem_reader.errors import FrameError
from cosem_reader.link.mbus import MAX_FRAME_LENGTH, LongFrame, LongFrameReader, parse_long_frame
from tests.support.mbus_telegrams import long_frame, split_into_telegrams
from tests.support.vectors import vector_params


def _is_mbus(vector: dict[str, Any]) -> bool:
    return bool(vector["link_layer"] == "mbus")


def _read_all(data: bytes, chunk_sizes: list[int] | None = None) -> list[LongFrame | FrameError]:
    reader = LongFrameReader()
    out: list[LongFrame | FrameError] = []
    if chunk_sizes is None:
        out += reader.feed(data)
    else:
        sizes = cycle(chunk_sizes)
        index = 0
        while index < len(data):
            size = next(sizes)
            out += reader.feed(data[index : index + size])
            index += size
    out += reader.flush()
    return out


def _frames(results: list[LongFrame | FrameError]) -> list[LongFrame]:
    return [item for item in results if isinstance(item, LongFrame)]


def _errors(results: list[LongFrame | FrameError]) -> list[FrameError]:
    return [item for item in results if isinstance(item, FrameError)]


def _summary(results: list[LongFrame | FrameError]) -> list[object]:
    """Frames compare by value; errors by their text and offset."""
    return [
        item if isinstance(item, LongFrame) else ("error", str(item), item.offset)
        for item in results
    ]


# -- real meters ------------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_mbus))
def test_vector_telegrams_are_framed_as_the_independent_decode_says(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["hex"])
    framing = vector["check"]["framing"]
    results = _read_all(wire)

    assert _errors(results) == []
    frames = _frames(results)
    count = int(re.match(r"(\d+) ", framing).group(1))  # type: ignore[union-attr]
    assert len(frames) == count
    assert sum(frame.raw_length for frame in frames) == len(wire)
    listed = re.search(r"telegram\(s\), CI (0x[0-9A-Fa-f]+(?:,0x[0-9A-Fa-f]+)*)", framing)
    if listed:
        assert [frame.control_information for frame in frames] == [
            int(ci, 16) for ci in listed.group(1).split(",")
        ]
    overflow = re.search(r"L byte 0x([0-9A-Fa-f]{2}) but (\d+) data bytes", framing)
    if overflow:
        assert wire[1] == int(overflow.group(1), 16)
        assert frames[0].raw_length - 6 == int(overflow.group(2))
    assert [frame.is_last_segment for frame in frames] == [False] * (count - 1) + [True]
    assert [frame.segment_number for frame in frames] == list(range(count))
    assert all(frame.user_data[:2] == b"\x01\x67" for frame in frames)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_mbus))
def test_vector_byte_by_byte_equals_one_piece(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["hex"])
    assert _summary(_read_all(wire, [1])) == _summary(_read_all(wire))


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_mbus))
def test_vector_frames_parse_one_by_one(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["hex"])
    position = 0
    for frame in _frames(_read_all(wire)):
        assert parse_long_frame(wire[position : position + frame.raw_length]) == frame
        position += frame.raw_length
    assert position == len(wire)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_mbus))
def test_vector_frame_comes_out_with_its_stop_byte(vector: dict[str, Any]) -> None:
    """No idle timeout, no look past the stop byte: EVN's second telegram follows 160 ms later."""
    wire = bytes.fromhex(vector["hex"])
    reader = LongFrameReader()
    end = 0
    for frame in _frames(_read_all(wire)):
        end += frame.raw_length
        assert reader.feed(wire[reader.offset + reader.buffered : end - 1]) == []
        assert reader.feed(wire[end - 1 : end]) == [frame]
    assert reader.flush() == []


# -- parse_long_frame: one frame, every error -------------------------------------------


def test_parse_long_frame_reads_fields() -> None:
    frame = parse_long_frame(long_frame(0x53, 0xFF, 0x11, b"\x01\x67\xaa\xbb"))
    assert frame == LongFrame(0x53, 0xFF, 0x11, b"\x01\x67\xaa\xbb")
    assert frame.is_last_segment
    assert frame.segment_number == 1
    assert frame.raw_length == 13 == len(long_frame(0x53, 0xFF, 0x11, b"\x01\x67\xaa\xbb"))


def test_parse_long_frame_accepts_memoryview() -> None:
    wire = long_frame(0x73, 0xFF, 0x10, b"\x01\x67\x0f")
    assert parse_long_frame(memoryview(wire)) == parse_long_frame(wire)


def test_parse_long_frame_accepts_l_field_overflow() -> None:
    """Sagemcom T210-D: 257 bytes after the header, L byte says 0x01."""
    user_data = b"\x01\x67" + bytes(range(252))
    wire = long_frame(0x53, 0xFF, 0x00, user_data)
    assert wire[1:3] == b"\x01\x01"
    frame = parse_long_frame(wire)
    assert frame.user_data == user_data
    assert frame.raw_length == len(wire) == 263


@pytest.mark.parametrize(
    ("wire", "message", "offset"),
    [
        pytest.param("68 03", "truncated: 2 bytes", 2, id="short-header"),
        pytest.param("10 03 03 68 53 FF 10 62 16", "starts with 0x10", 0, id="bad-start"),
        pytest.param("68 03 03 10 53 FF 10 62 16", "second start byte", 3, id="bad-2nd-start"),
        pytest.param("68 03 04 68 53 FF 10 62 16", "two different L fields", 2, id="l-differ"),
        pytest.param("68 02 02 68 53 FF 52 16", "L=2, below the minimum 3", 1, id="l-below-3"),
        pytest.param("68 05 05 68 53 FF 10 01 67", "needs 11 bytes, got 9", 9, id="truncated"),
        pytest.param("68 03 03 68 53 FF 10 62 16 00", "10 bytes, but L=3 says 9", 9, id="too-long"),
        pytest.param("68 03 03 68 53 FF 10 63 16", "checksum 0x63, its bytes sum to 0x62", 7,
                     id="checksum"),
        pytest.param("68 03 03 68 53 FF 10 62 17", "0x17 instead of the stop byte", 8,
                     id="stop-byte"),
    ],
)
def test_parse_long_frame_errors(wire: str, message: str, offset: int) -> None:
    with pytest.raises(FrameError, match=re.escape(message)) as caught:
        parse_long_frame(bytes.fromhex(wire))
    assert caught.value.offset == offset
    assert "\n" not in str(caught.value)


def test_parse_long_frame_rejects_overflow_with_bad_checksum() -> None:
    wire = bytearray(long_frame(0x53, 0xFF, 0x00, b"\x01\x67" + bytes(252)))
    wire[-2] ^= 0xFF
    with pytest.raises(FrameError, match="checksum") as caught:
        parse_long_frame(bytes(wire))
    assert caught.value.offset == len(wire) - 2


# -- LongFrameReader: one error per skipped run, with the stream offset -----------------

GOOD = long_frame(0x53, 0xFF, 0x10, b"\x01\x67\xde\xad\xbe\xef")


def test_reader_skips_garbage_before_a_frame() -> None:
    results = _read_all(b"\x00\x16\x68\x68\xe5" + GOOD)
    assert _frames(results) == [parse_long_frame(GOOD)]
    [error] = _errors(results)
    assert results[0] is error
    assert error.offset == 0
    assert "skipped 5 byte(s) that do not begin an M-Bus long frame" in str(error)
    assert "(at byte 0)" in str(error)


def test_reader_finds_good_frame_right_after_truncated_one() -> None:
    first, second = split_into_telegrams(bytes(range(200)) * 2, max_user_data=247)
    truncated = first[:100]
    for sizes in ([1], [7], [10_000]):
        results = _read_all(b"\x00" * 3 + truncated + second + GOOD, sizes)
        assert _frames(results) == [parse_long_frame(second), parse_long_frame(GOOD)]
        [error] = _errors(results)
        assert error.offset == 0
        assert str(error).startswith("skipped 103 byte(s): long frame at byte 3 (L=250)")


def test_reader_yields_the_good_frame_with_its_stop_byte_after_a_truncated_one() -> None:
    truncated = split_into_telegrams(bytes(300))[0][:50]
    reader = LongFrameReader()
    assert reader.feed(truncated + GOOD[:-1]) == []
    [error, frame] = reader.feed(GOOD[-1:])
    assert isinstance(error, FrameError)
    assert str(error).startswith(
        "skipped 50 byte(s): long frame at byte 0 (259 bytes) is cut short after 50 bytes"
    )
    assert frame == parse_long_frame(GOOD)


def test_reader_reports_checksum_and_resyncs() -> None:
    broken = bytearray(GOOD)
    broken[-2] ^= 0x01
    results = _read_all(GOOD + bytes(broken) + GOOD)
    assert _summary(results)[0] == parse_long_frame(GOOD)
    [error] = _errors(results)
    assert error.offset == len(GOOD)
    assert f"skipped {len(GOOD)} byte(s): long frame at byte {len(GOOD)} (L=9) has checksum" in str(
        error
    )
    assert "serial settings" in str(error)
    assert len(_frames(results)) == 2


def test_reader_reports_wrong_stop_byte() -> None:
    broken = GOOD[:-1] + b"\x17"
    [error, frame] = _read_all(broken + GOOD)
    assert isinstance(error, FrameError)
    assert "ends with 0x17 instead of the stop byte 0x16" in str(error)
    assert error.offset == 0
    assert frame == parse_long_frame(GOOD)


def test_reader_reports_l_below_three() -> None:
    [error, frame] = _read_all(b"\x68\x02\x02\x68\x53\xff\x52\x16" + GOOD)
    assert isinstance(error, FrameError)
    assert "L=2, below the minimum 3" in str(error)
    assert error.offset == 0
    assert frame == parse_long_frame(GOOD)


def test_reader_flush_reports_partial_frame() -> None:
    reader = LongFrameReader()
    assert reader.feed(GOOD + GOOD[:9]) == [parse_long_frame(GOOD)]
    [error] = reader.flush()
    assert isinstance(error, FrameError)
    assert error.offset == len(GOOD)
    assert str(error).startswith(
        "skipped 9 byte(s): long frame at byte 15 (L=9) is truncated: "
        "the stream ended after 9 of its 15 bytes"
    )
    assert reader.flush() == []


def test_reader_flush_reports_partial_header() -> None:
    reader = LongFrameReader()
    assert reader.feed(b"\x68\x07") == []
    [error] = reader.flush()
    assert isinstance(error, FrameError)
    assert "stream ended 2 byte(s) into a long-frame header" in str(error)
    assert error.offset == 0


def test_reader_flush_of_clean_stream_is_empty() -> None:
    reader = LongFrameReader()
    assert reader.feed(GOOD) == [parse_long_frame(GOOD)]
    assert reader.flush() == []


def test_reader_reads_l_field_overflow_in_a_stream() -> None:
    apdu = bytes(range(256)) + b"\x01\x02\x03\x04"
    telegrams = split_into_telegrams(apdu, max_user_data=254)
    assert telegrams[0][1] == 0x01
    wire = b"".join(telegrams) + GOOD
    for sizes in ([1], [3, 50], [10_000]):
        frames = _frames(_read_all(wire, sizes))
        assert [frame.raw_length for frame in frames] == [263, 19, len(GOOD)]


def test_reader_reports_endless_garbage_while_it_lasts() -> None:
    reader = LongFrameReader()
    results = []
    for _ in range(40):
        results += reader.feed(b"\x55" * 1000)
        assert reader.buffered == 0
    errors = _errors(results)
    assert len(errors) == len(results)
    # One report per at least 4096 skipped bytes, not one per feed.
    assert 40_000 // (4096 + 1000) <= len(errors) <= 40_000 // 4096
    offsets = [error.offset or 0 for error in errors]
    assert offsets == sorted(set(offsets))
    assert offsets[0] == 0
    assert reader.offset == 40_000


# -- a noisy line: property tests --------------------------------------------------------

fake_header = st.integers(0, 255).map(lambda length: bytes((0x68, length, length, 0x68)))
garbage = st.lists(
    st.one_of(st.binary(min_size=1, max_size=40), st.sampled_from([b"\x68", b"\x16", b"\x68\x68"]),
              fake_header),
    min_size=1,
    max_size=6,
).map(b"".join)
apdus = st.binary(min_size=1, max_size=700)


@st.composite
def damaged_telegram(draw: st.DrawFn) -> bytes:
    """A telegram cut short, or with one byte after the header changed."""
    telegrams = split_into_telegrams(draw(apdus), max_user_data=draw(st.sampled_from([247, 250])))
    telegram = draw(st.sampled_from(telegrams))
    if draw(st.booleans()):
        return telegram[: draw(st.integers(1, len(telegram) - 1))]
    damaged = bytearray(telegram)
    damaged[draw(st.integers(4, len(telegram) - 1))] ^= draw(st.integers(1, 255))
    return bytes(damaged)


junk = st.lists(st.one_of(garbage, damaged_telegram()), min_size=1, max_size=3).map(b"".join)


def _accidental_frame(stream: bytes, start: int) -> bool:
    """Independent of the reader: do the bytes at ``start`` pass as a frame, with L or L+256?"""
    if stream[start : start + 1] != b"\x68" or len(stream) < start + 4:
        return False
    if stream[start + 3] != 0x68 or stream[start + 1] != stream[start + 2]:
        return False
    for length in (stream[start + 1], stream[start + 1] + 256):
        end = start + 4 + length
        if length >= 3 and end + 2 <= len(stream):
            body = stream[start + 4 : end]
            if sum(body) % 256 == stream[end] and stream[end + 1] == 0x16:
                return True
    return False


@given(
    pushes=st.lists(st.tuples(st.none() | junk, apdus), min_size=1, max_size=6),
    tail=st.none() | junk,
    chunk_sizes=st.lists(st.integers(1, 600), min_size=1, max_size=8),
)
def test_every_intact_telegram_comes_out_once_in_order(
    pushes: list[tuple[bytes | None, bytes]], tail: bytes | None, chunk_sizes: list[int]
) -> None:
    stream = b""
    intact: list[bytes] = []
    intact_starts: set[int] = set()
    gaps: list[tuple[int, int]] = []
    for noise, apdu in pushes:
        if noise:
            gaps.append((len(stream), len(noise)))
            stream += noise
        for telegram in split_into_telegrams(apdu, max_user_data=247):
            intact_starts.add(len(stream))
            intact.append(telegram)
            stream += telegram
    if tail:
        gaps.append((len(stream), len(tail)))
        stream += tail
    assume(
        not any(
            _accidental_frame(stream, start)
            for start in range(len(stream))
            if start not in intact_starts
        )
    )

    results = _read_all(stream, chunk_sizes)

    assert _frames(results) == [parse_long_frame(telegram) for telegram in intact]
    errors = _errors(results)
    assert [error.offset for error in errors] == [start for start, _ in gaps]
    assert [str(error).split(":")[0].split(" that")[0] for error in errors] == [
        f"skipped {size} byte(s)" for _, size in gaps
    ]
    assert _summary(results) == _summary(_read_all(stream))


@given(noise=st.lists(junk, min_size=1, max_size=20), chunk_sizes=st.lists(st.integers(1, 900)))
def test_buffer_stays_bounded_on_endless_garbage(
    noise: list[bytes], chunk_sizes: list[int]
) -> None:
    reader = LongFrameReader()
    sizes = cycle(chunk_sizes or [64])
    for piece in noise * 5:
        index = 0
        while index < len(piece):
            size = next(sizes)
            reader.feed(piece[index : index + size])
            index += size
            assert reader.buffered < MAX_FRAME_LENGTH
    reader.flush()
    assert reader.buffered == 0


@given(data=st.binary(max_size=2000), chunk_sizes=st.lists(st.integers(1, 300), min_size=1))
def test_reader_never_raises_and_chunking_does_not_matter(
    data: bytes, chunk_sizes: list[int]
) -> None:
    results = _read_all(data, chunk_sizes)
    assert all(isinstance(item, LongFrame | FrameError) for item in results)
    assert _summary(results) == _summary(_read_all(data))


@pytest.mark.parametrize(
    ("before", "lost"),
    [
        pytest.param(b"\x00\x01\x02", False, id="three-stray-bytes"),
        pytest.param(bytes(20), True, id="a-frames-worth-of-bytes"),
        pytest.param(bytes.fromhex("68 03 03 68 53 FF 10 63 16"), True, id="damaged-frame"),
    ],
)
def test_a_frame_error_says_whether_a_frame_was_lost(before: bytes, lost: bool) -> None:
    """The transport ends an open APDU on a lost frame, but not on stray bytes."""
    good = bytes.fromhex("68 03 03 68 53 FF 10 62 16")
    found = LongFrameReader().feed(before + good)
    (error,) = [item for item in found if isinstance(item, FrameError)]
    assert error.frame_lost is lost
    assert isinstance(found[-1], LongFrame)
