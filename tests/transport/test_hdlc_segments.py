"""HDLC segments joined into APDUs: the LLC header, S = 1 up to S = 0, lost frames,
the size bound and the Landis+Gyr bare general-block-transfer frames."""

from __future__ import annotations

from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.hdlc import HdlcFrame, HdlcFrameReader
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from tests.support.hdlc_frames import build_general_block_transfer, build_hdlc_frames, join_apdus

# --- the APDU joiner ----------------------------------------------------------------------


def frames_of(wire: bytes) -> list[HdlcFrame]:
    reader = HdlcFrameReader()
    items = [*reader.feed(wire), *reader.flush()]
    assert all(isinstance(i, HdlcFrame) for i in items)
    return [i for i in items if isinstance(i, HdlcFrame)]


def test_joiner_joins_segments_and_strips_llc() -> None:
    """S = 1 frames up to the S = 0 one make one APDU without the LLC header."""
    apdu = bytes(range(256)) * 2
    frames = frames_of(build_hdlc_frames(apdu, max_information=100))
    assert len(frames) == 6
    assert join_apdus(list(frames)) == [apdu]


def test_joiner_accepts_command_llc() -> None:
    """The command LLC header E6 E6 00 starts an APDU too."""
    frames = frames_of(build_hdlc_frames(b"\xc0\x01", llc=b"\xe6\xe6\x00"))
    assert join_apdus(list(frames)) == [b"\xc0\x01"]


def test_joiner_drops_open_apdu_on_new_first_segment() -> None:
    """A new LLC-headed frame while a segmented APDU is open drops the open one with an error."""
    lost = frames_of(build_hdlc_frames(b"L" * 300, max_information=100))[:2]
    kept = frames_of(build_hdlc_frames(b"K" * 300, max_information=100))
    out = join_apdus(lost + kept)
    assert isinstance(out[0], SegmentError)
    assert "new APDU began" in str(out[0])
    assert out[1:] == [b"K" * 300]


def test_joiner_skips_frame_without_llc_when_none_open() -> None:
    """A continuation frame whose first segment was lost is skipped with an error."""
    frames = frames_of(build_hdlc_frames(b"X" * 300, max_information=100))
    out = join_apdus(frames[1:] + frames_of(build_hdlc_frames(b"ok")))
    assert [type(o) for o in out] == [SegmentError, SegmentError, SegmentError, bytes]
    assert "without LLC header" in str(out[0])
    assert out[-1] == b"ok"


def test_joiner_drops_open_apdu_on_frame_error() -> None:
    """A frame error between two segments drops the open APDU instead of joining around a gap."""
    frames = frames_of(build_hdlc_frames(b"Y" * 300, max_information=100))
    joiner = HdlcApduJoiner()
    assert joiner.push(frames[0]) == []
    assert joiner.open
    (error,) = joiner.push(FrameError("HDLC frame check sequence is wrong", offset=9))
    assert isinstance(error, SegmentError)
    assert "a frame was lost" in str(error)
    assert not joiner.open
    assert joiner.push(FrameError("more garbage")) == []


def test_joiner_flush_reports_open_apdu() -> None:
    """At the end of the stream an APDU whose last segment never came is reported."""
    frames = frames_of(build_hdlc_frames(b"Z" * 300, max_information=100))
    joiner = HdlcApduJoiner()
    joiner.push(frames[0])
    (error,) = joiner.flush()
    assert isinstance(error, SegmentError)
    assert error.offset == 0
    assert joiner.flush() == []


def test_joiner_bounds_apdu_size() -> None:
    """Endless S = 1 frames are dropped once they exceed max_apdu_size."""
    joiner = HdlcApduJoiner(max_apdu_size=1000)
    first = HdlcFrame(True, b"\x03", b"\x21", 0x13, b"\xe6\xe7\x00" + bytes(100))
    more = HdlcFrame(True, b"\x03", b"\x21", 0x13, bytes(100))
    out = joiner.push(first)
    for _ in range(20):
        out += joiner.push(more)
    assert any(isinstance(o, SegmentError) and "exceeds" in str(o) for o in out)
    assert not any(isinstance(o, bytes) for o in out)


def test_joiner_passes_over_frames_without_information() -> None:
    """Control frames without information carry no APDU and do not disturb one."""
    frames = frames_of(build_hdlc_frames(b"W" * 150, max_information=100))
    rr = HdlcFrame(False, b"\x03", b"\x21", 0x31, b"")
    assert join_apdus([frames[0], rr, frames[1]]) == [b"W" * 150]


def test_joiner_takes_bare_block_transfer_frames_after_a_block() -> None:
    """Landis+Gyr: only block 1's frame has the LLC header; the next blocks come bare."""
    blocks = build_general_block_transfer(b"P" * 250, 100)
    frames = [HdlcFrame(False, b"\xce\xff", b"\x03", 0x13, b"\xe6\xe7\x00" + blocks[0])]
    frames += [HdlcFrame(False, b"\xce\xff", b"\x03", 0x13, block) for block in blocks[1:]]
    assert join_apdus(list(frames)) == blocks
    # After the last block, a bare E0 frame has no transfer to belong to.
    out = join_apdus([*frames, frames[1]])
    assert out[:3] == blocks
    assert isinstance(out[3], SegmentError)
    # Without block 1 before them, bare blocks are skipped.
    assert all(isinstance(o, SegmentError) for o in join_apdus(frames[1:]))
