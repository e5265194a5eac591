"""The per-layer debug logs: what ``log_telegram_raw`` shows of a telegram."""

from __future__ import annotations

from typing import Any

import pytest

from cosem_reader.app.tracing import hdlc_wire_bytes, mbus_wire_bytes
from cosem_reader.link.hdlc import HdlcFrame, HdlcFrameReader
from cosem_reader.link.mbus import LongFrame, LongFrameReader
from tests.support.vectors import vector_params


@pytest.mark.parametrize("vector", vector_params(lambda v: v["link_layer"] == "mbus"))
def test_a_telegram_is_shown_whole_as_it_came(vector: dict[str, Any]) -> None:
    """``68 L L 68 … CS 16`` byte for byte, the T210-D's L byte modulo 256 included
    (smart-meter-mbus-dlms logs the whole frame; issue 13)."""
    data = bytes.fromhex(vector["hex"])
    frames = [item for item in LongFrameReader().feed(data) if isinstance(item, LongFrame)]
    assert frames
    for frame in frames:
        wire = mbus_wire_bytes(frame)
        assert wire[:1] == b"\x68"
        assert wire[-1:] == b"\x16"
        assert wire in data
    assert sum(len(mbus_wire_bytes(frame)) for frame in frames) == sum(
        frame.raw_length for frame in frames
    )


@pytest.mark.parametrize("vector", vector_params(lambda v: v["link_layer"] == "hdlc"))
def test_an_hdlc_frame_is_shown_whole_as_it_came(vector: dict[str, Any]) -> None:
    """``7E A… … FCS 7E`` byte for byte, not only the information field."""
    data = bytes.fromhex(vector["hex"])
    frames = [item for item in HdlcFrameReader().feed(data) if isinstance(item, HdlcFrame)]
    assert frames
    for frame in frames:
        assert hdlc_wire_bytes(frame) in data
