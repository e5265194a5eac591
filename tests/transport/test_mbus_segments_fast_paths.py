"""The segment joiner's fast path against the joiner as it was (tests.support.legacy_mbus).

Any run of telegrams, in order, out of order, repeated, too short, with lost and
stray-byte link errors between them, gives the same APDUs and errors, at the same
offsets, and leaves the same APDU open.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import FrameError, SegmentError
from cosem_reader.link.mbus import LongFrame
from cosem_reader.transport.mbus_segments import SegmentJoiner
from tests.support.legacy_mbus import LegacySegmentJoiner

_Joiner = SegmentJoiner | LegacySegmentJoiner

telegrams = st.builds(
    LongFrame,
    st.just(0x53),
    st.just(0xFF),
    st.sampled_from([0x00, 0x01, 0x02, 0x10, 0x11, 0x12]) | st.integers(0, 0x1F),
    st.binary(max_size=5) | st.just(b"\x01\x67"),
)
link_errors = st.builds(
    FrameError, st.just("skipped bytes"), offset=st.integers(0, 99), frame_lost=st.booleans()
)


def _said(joiner: _Joiner, items: list[LongFrame | FrameError]) -> list[object]:
    said: list[object] = []
    for item in items:
        said += joiner.push(item)
        said.append(("open", joiner.is_open))
    said += joiner.flush()
    return [
        (str(item), item.offset) if isinstance(item, SegmentError) else item for item in said
    ]


@given(items=st.lists(telegrams | telegrams | link_errors, max_size=20))
def test_the_joiner_says_what_the_joiner_before_its_fast_path_said(
    items: list[LongFrame | FrameError],
) -> None:
    assert _said(SegmentJoiner(), items) == _said(LegacySegmentJoiner(), items)
