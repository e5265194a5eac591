"""The M-Bus reader's byte sum (through Adler-32) is the plain sum, at every length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.link import mbus


@given(data=st.binary(max_size=1200), start=st.integers(0, 40), stop=st.integers(0, 1200))
def test_byte_sum_is_sum(data: bytes, start: int, stop: int) -> None:
    end = max(start, min(stop, len(data)))
    for buffer in (data, bytearray(data), memoryview(data)):
        assert mbus._byte_sum(buffer, start, end) == sum(data[start:end])


def test_byte_sum_of_the_longest_frame_of_0xff() -> None:
    data = b"\xff" * mbus.MAX_FRAME_LENGTH
    assert mbus._byte_sum(data, 0, len(data)) == 255 * len(data)
