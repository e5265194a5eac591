"""The general-block-transfer header read by hand is the one the generated module
describes: block-control, block-number, block-number-ack, then the block-data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.transport.block_transfer import parse_general_block_transfer
from tests.support.hdlc_frames import axdr_length


@given(
    control=st.integers(0, 0xFF),
    number=st.integers(0, 0xFFFF),
    ack=st.integers(0, 0xFFFF),
    data=st.binary(max_size=300),
)
def test_the_hand_read_header_is_the_descriptors(
    control: int, number: int, ack: int, data: bytes
) -> None:
    apdu = (
        b"\xe0" + bytes([control]) + number.to_bytes(2) + ack.to_bytes(2) + axdr_length(len(data))
        + data
    )  # fmt: skip
    name, fields = decode_apdu(apdu)
    block = parse_general_block_transfer(apdu)
    assert name == "general-block-transfer"
    # Block-Control is an Unsigned8 in the module; its bits are the Green Book's.
    assert fields["block-control"] == (
        block.last_block << 7 | block.streaming << 6 | block.window
    )
    assert fields["block-number"] == block.block_number
    assert fields["block-number-ack"] == block.block_number_ack
    assert fields["block-data"] == block.block_data
