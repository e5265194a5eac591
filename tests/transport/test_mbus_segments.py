"""M-Bus transport: segments joined into APDUs, and what is discarded when one is missing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.mbus import LongFrame, LongFrameReader, parse_long_frame
from cosem_reader.transport.mbus_segments import SegmentJoiner, join_segments
from tests.support.mbus_telegrams import split_into_telegrams
from tests.support.vectors import vector_params


def _is_mbus(vector: dict[str, Any]) -> bool:
    return bool(vector["link_layer"] == "mbus")


def _is_segmented_mbus(vector: dict[str, Any]) -> bool:
    return _is_mbus(vector) and not vector["check"]["framing"].startswith("1 ")


def _frames_of(wire: bytes) -> list[LongFrame]:
    reader = LongFrameReader()
    results = reader.feed(wire) + reader.flush()
    assert all(isinstance(item, LongFrame) for item in results)
    return [item for item in results if isinstance(item, LongFrame)]


def _segments(apdu: bytes, max_user_data: int = 250) -> list[LongFrame]:
    return [parse_long_frame(t) for t in split_into_telegrams(apdu, max_user_data=max_user_data)]


def _push_all(
    joiner: SegmentJoiner, frames: Sequence[LongFrame | FrameError]
) -> list[bytes | SegmentError]:
    out: list[bytes | SegmentError] = []
    for frame in frames:
        out += joiner.push(frame)
    return out


def _ciphered_apdu_length(apdu: bytes) -> int:
    """2 + 8 + length field + length, for ``DB 08 <system title> <length> ...``."""
    first = apdu[10]
    if first < 0x80:
        return 2 + 8 + 1 + first
    size = first & 0x7F
    return 2 + 8 + 1 + size + int.from_bytes(apdu[11 : 11 + size], "big")


# -- real meters ------------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_mbus))
def test_vector_apdu_is_joined_complete(vector: dict[str, Any]) -> None:
    frames = _frames_of(bytes.fromhex(vector["hex"]))
    joiner = SegmentJoiner()
    out = _push_all(joiner, frames)

    assert len(out) == 1
    [apdu] = out
    assert isinstance(apdu, bytes)
    assert not joiner.is_open
    first_bytes = vector["check"].get("apdu_first_bytes")
    if first_bytes:
        assert apdu.hex().upper().startswith(first_bytes.upper())
    system_title = vector["check"].get("system_title")
    if system_title:
        assert apdu[2:10].hex().upper() == system_title.upper()
    if apdu[:2] == b"\xdb\x08":
        assert len(apdu) == _ciphered_apdu_length(apdu)
    assert join_segments(frames) == apdu


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_segmented_mbus))
def test_vector_second_telegram_alone_is_discarded(vector: dict[str, Any]) -> None:
    """Reading started between the telegrams of a push: nothing half-joined goes up."""
    frames = _frames_of(bytes.fromhex(vector["hex"]))
    assert len(frames) >= 2
    joiner = SegmentJoiner()
    out = _push_all(joiner, frames[1:] + frames)
    assert [type(item) for item in out] == [SegmentError, bytes]
    assert out[1] == join_segments(frames)


# -- SegmentJoiner ----------------------------------------------------------------------


def test_single_telegram_is_passed_on() -> None:
    [frame] = _segments(b"\x0f\x01\x02")
    assert frame.control_information == 0x10
    assert SegmentJoiner().push(frame) == [b"\x0f\x01\x02"]


def test_segments_are_joined_on_fin() -> None:
    apdu = bytes(range(256)) * 3
    frames = _segments(apdu)
    assert [frame.control_information for frame in frames] == [0x00, 0x01, 0x02, 0x13]
    joiner = SegmentJoiner()
    assert [joiner.push(frame) for frame in frames] == [[], [], [], [apdu]]
    assert joiner.flush() == []


def test_restart_at_segment_zero_discards_open_apdu_and_starts_new_one() -> None:
    old = _segments(b"\xaa" * 400)
    new = _segments(b"\xbb" * 300)
    out = _push_all(SegmentJoiner(), [old[0], *new])
    [error, apdu] = out
    assert apdu == b"\xbb" * 300
    assert isinstance(error, SegmentError)
    assert str(error).startswith(
        "APDU discarded: segment 0 of a new APDU arrived where segment 1 was expected; "
        "dropped segment 0 (248 APDU bytes) (at byte 250)"
    )
    assert error.offset == 250


def test_restart_with_single_telegram_passes_it_on() -> None:
    old = _segments(b"\xaa" * 400)
    [single] = _segments(b"\xcc" * 10)
    [error, apdu] = _push_all(SegmentJoiner(), [old[0], single])
    assert isinstance(error, SegmentError)
    assert apdu == b"\xcc" * 10


def test_missing_segment_discards_apdu_and_its_rest_once() -> None:
    frames = _segments(bytes(1000))
    assert len(frames) == 5
    joiner = SegmentJoiner()
    out = _push_all(joiner, [frames[0], frames[1], frames[3], frames[4], *_segments(b"\x01")])
    [error, apdu] = out
    assert apdu == b"\x01"
    assert isinstance(error, SegmentError)
    assert error.message == (
        "APDU discarded: segment 3 arrived where segment 2 was expected; "
        "dropped segments 0–1 (496 APDU bytes) and segment 3"
    )
    assert error.offset == 500
    assert "lost or damaged" in str(error)


def test_orphan_segment_is_dropped() -> None:
    first, second = _segments(bytes(300))
    joiner = SegmentJoiner()
    [error] = joiner.push(second)
    assert isinstance(error, SegmentError)
    assert error.message == "segment 1 dropped: segment 0 of its APDU did not arrive"
    assert error.offset == 0
    assert not joiner.is_open
    assert _push_all(joiner, [first, second]) == [bytes(300)]


def test_orphan_segment_rest_is_dropped_silently() -> None:
    frames = _segments(bytes(700))
    out = _push_all(SegmentJoiner(), frames[1:])
    assert len(out) == 1
    assert isinstance(out[0], SegmentError)


def test_duplicate_segment_breaks_the_apdu() -> None:
    first, second, third = _segments(bytes(600))
    [error] = _push_all(SegmentJoiner(), [first, second, second, third])
    assert isinstance(error, SegmentError)
    assert "segment 1 arrived where segment 2 was expected" in str(error)
    assert error.offset == 500


def test_too_short_user_data_is_reported() -> None:
    joiner = SegmentJoiner()
    head = _segments(bytes(300))[0]
    [error] = _push_all(joiner, [head, LongFrame(0x53, 0xFF, 0x11, b"\x01")])
    assert isinstance(error, SegmentError)
    assert error.message == (
        "APDU discarded: segment 1 has 1 byte(s) of user data, too few for STSAP and DTSAP; "
        "dropped segment 0 (248 APDU bytes) and segment 1"
    )
    assert error.offset == 250
    [alone] = joiner.push(LongFrame(0x53, 0xFF, 0x10, b""))
    assert isinstance(alone, SegmentError)
    assert alone.message == (
        "segment 0 has 0 byte(s) of user data, too few for STSAP and DTSAP; dropped"
    )
    assert alone.offset == 251


def test_empty_apdu_is_reported() -> None:
    [error] = SegmentJoiner().push(LongFrame(0x53, 0xFF, 0x10, b"\x01\x67"))
    assert isinstance(error, SegmentError)
    assert error.message == "segment 0 (0 APDU bytes) carried an empty APDU"
    assert error.offset == 0


def test_flush_reports_open_apdu() -> None:
    joiner = SegmentJoiner()
    assert joiner.push(_segments(bytes(300))[0]) == []
    assert joiner.is_open
    [error] = joiner.flush()
    assert error.message == (
        "APDU discarded: the stream ended where segment 1 was expected; "
        "dropped segment 0 (248 APDU bytes)"
    )
    assert error.offset == 250
    assert joiner.flush() == []


# -- join_segments ----------------------------------------------------------------------


def test_join_segments_strips_tsaps() -> None:
    apdu = bytes(range(200)) * 2
    assert join_segments(_segments(apdu, max_user_data=100)) == apdu


@pytest.mark.parametrize(
    ("order", "message", "offset"),
    [
        pytest.param([], "no segments to join", 0, id="empty"),
        pytest.param([1, 2], "segment 1 found where segment 0 belongs", 0, id="no-zero"),
        pytest.param([0, 2], "segment 2 found where segment 1 belongs", 100, id="gap"),
        pytest.param([0, 1], "segment 1 is not marked last (FIN): the APDU is incomplete", 200,
                     id="no-fin"),
    ],
)
def test_join_segments_errors(order: list[int], message: str, offset: int) -> None:
    frames = _segments(bytes(250), max_user_data=100)
    with pytest.raises(SegmentError, match=re.escape(message)) as caught:
        join_segments([frames[index] for index in order])
    assert caught.value.offset == offset


def test_join_segments_rejects_fin_before_the_end() -> None:
    [single] = _segments(b"\x01")
    with pytest.raises(SegmentError, match=re.escape("segment 0 is marked last (FIN) but 1 more")):
        join_segments([single, single])


def test_join_segments_rejects_short_user_data() -> None:
    with pytest.raises(SegmentError, match="too few for STSAP and DTSAP") as caught:
        join_segments([LongFrame(0x53, 0xFF, 0x10, b"")])
    assert caught.value.offset == 0


# -- property tests ---------------------------------------------------------------------

apdus = st.binary(min_size=1, max_size=700)


def _telegrams(apdu: bytes, max_user_data: int = 3) -> list[LongFrame]:
    return [parse_long_frame(t) for t in split_into_telegrams(apdu, max_user_data)]


def test_a_lost_tail_and_a_lost_head_are_not_joined_into_one_apdu() -> None:
    """Found by hypothesis: segment 0 of one push and segment 1 of the next look like one.

    Only the link layer knows that telegrams were lost between them.
    """
    first, second = _telegrams(b"AB"), _telegrams(b"CD")
    lost = FrameError("long frame with a wrong checksum", frame_lost=True)
    # Without the link layer's word, nothing in the segments tells.
    assert _push_all(SegmentJoiner(), [first[0], second[1]]) == [b"AD"]
    out = _push_all(SegmentJoiner(), [first[0], lost, lost, second[1]])
    assert [type(item) for item in out] == [SegmentError, SegmentError]
    assert "a telegram was lost" in str(out[0])


def test_one_error_for_a_push_that_lost_a_middle_segment() -> None:
    frames: list[LongFrame | FrameError] = [*_telegrams(b"ABC")]
    frames[1] = FrameError("long frame with a wrong checksum", frame_lost=True)
    out = _push_all(SegmentJoiner(), [*frames, *_telegrams(b"XYZ")])
    assert out[-1] == b"XYZ"
    assert sum(isinstance(item, SegmentError) for item in out) == 1


def test_noise_between_the_segments_of_a_push_does_not_break_it() -> None:
    """A few stray bytes are not a lost telegram: the push still comes out."""
    first, second = _telegrams(b"AB")
    noise = FrameError("skipped 3 byte(s) that do not begin an M-Bus long frame")
    assert _push_all(SegmentJoiner(), [first, noise, second]) == [b"AB"]


@given(
    pushes=st.lists(st.tuples(apdus, st.none() | st.integers(0, 15)), min_size=1, max_size=8),
    max_user_data=st.integers(3, 252),
)
def test_every_complete_push_comes_out_and_each_broken_one_is_reported_once(
    pushes: list[tuple[bytes, int | None]], max_user_data: int
) -> None:
    """Each push loses one telegram (by index) or none; complete ones come out, in order."""
    joiner = SegmentJoiner()
    expected: list[bytes] = []
    broken = 0
    out: list[bytes | SegmentError] = []
    for apdu, lost in pushes:
        telegrams = split_into_telegrams(apdu[: 16 * (max_user_data - 2)], max_user_data)
        frames: list[LongFrame | FrameError] = [parse_long_frame(t) for t in telegrams]
        if lost is not None and lost < len(frames):
            # The M-Bus reader reports a damaged telegram where it stood.
            frames[lost] = FrameError("a damaged telegram", frame_lost=True)
            broken += len(frames) > 1
        else:
            expected.append(apdu[: 16 * (max_user_data - 2)])
        out += _push_all(joiner, frames)
    out += joiner.flush()
    assert [item for item in out if isinstance(item, bytes)] == expected
    # A push missing its tail and the next one missing its head go in one error.
    errors = sum(isinstance(item, SegmentError) for item in out)
    assert (errors > 0) == (broken > 0)
    assert errors <= broken


@given(frames=st.lists(st.builds(LongFrame, st.integers(0, 255), st.integers(0, 255),
                                 st.integers(0, 255), st.binary(max_size=20))))
def test_joiner_never_raises_on_any_frames(frames: list[LongFrame]) -> None:
    joiner = SegmentJoiner()
    out = _push_all(joiner, frames) + list(joiner.flush())
    assert all(isinstance(item, bytes | SegmentError) for item in out)
    assert all(item for item in out if isinstance(item, bytes))
