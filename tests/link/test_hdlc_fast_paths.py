"""The HDLC reader's remembered headers behave exactly like parsing every header afresh."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import CosemReaderError
from cosem_reader.link import hdlc as hdlc_module
from cosem_reader.link.hdlc import HdlcFrame, HdlcFrameReader
from tests.support.hdlc_frames import FLAG, build_hdlc_frame
from tests.support.vectors import vector_params


def _read(wire: bytes, chunk: int, remember: bool) -> list[Any]:
    """What one reader reports for ``wire`` fed twice in ``chunk``-byte pieces."""
    reader = HdlcFrameReader()
    if not remember:
        # The plain path: every header parsed from its bytes.
        reader._header_at = hdlc_module._parse_header  # type: ignore[method-assign]
    out: list[Any] = []
    for _ in range(2):
        for pos in range(0, len(wire), chunk):
            out += reader.feed(wire[pos : pos + chunk])
    out += reader.flush()
    return [
        (type(i).__name__, i.offset, str(i)) if isinstance(i, CosemReaderError)
        else (i, i.offset) for i in out
    ]


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: v["link_layer"] == "hdlc"))
@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_vector_streams_read_the_same_with_remembered_headers(
    vector: dict[str, Any], chunk: int
) -> None:
    wire = bytes.fromhex(vector["hex"])
    assert _read(wire, chunk, remember=True) == _read(wire, chunk, remember=False)


_frames = st.lists(
    st.builds(
        build_hdlc_frame,
        st.binary(max_size=40),
        segmented=st.booleans(),
        dst=st.sampled_from([b"\x03", b"\xce\xff", b"\x02\x23"]),
        src=st.sampled_from([b"\x03", b"\x41", b"\x00\x02\x00\x23"]),
        control=st.sampled_from([0x03, 0x13, 0x10]),
    ).map(lambda frame: FLAG + frame),
    min_size=1,
    max_size=8,
)


@given(frames=_frames, damage=st.lists(st.tuples(st.integers(0), st.integers(1, 255)),
                                        max_size=3), chunk=st.integers(1, 80))
def test_damaged_streams_read_the_same_with_remembered_headers(
    frames: list[bytes], damage: list[tuple[int, int]], chunk: int
) -> None:
    """A header changed in any byte is never taken from memory for the one it was."""
    wire = bytearray(b"".join(frames) + FLAG)
    for where, flip in damage:
        wire[where % len(wire)] ^= flip
    assert _read(bytes(wire), chunk, remember=True) == _read(bytes(wire), chunk, remember=False)


def test_a_repeated_header_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    plain = hdlc_module._parse_header

    def counting(buf: Any, start: int, available: int) -> Any:
        parsed.append(start)
        return plain(buf, start, available)

    monkeypatch.setattr(hdlc_module, "_parse_header", counting)
    middle = build_hdlc_frame(b"\xe0\x00\x00\x02", segmented=True)
    last = build_hdlc_frame(b"\xe0\x80\x00\x03")
    out = HdlcFrameReader().feed(FLAG + (middle + FLAG) * 3 + (last + FLAG) * 2)
    assert [frame.segmented for frame in out if isinstance(frame, HdlcFrame)] == [True] * 3 + [
        False
    ] * 2
    assert len(parsed) == 2
