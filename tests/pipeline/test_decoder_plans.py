"""Each StreamDecoder learns the readings plans of the layouts it meets, and only those."""

from __future__ import annotations

from datetime import datetime, timedelta

from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import StreamDecoder
from tests.support.encoder import data_notification, flat_body, kaifa_series


def _netz_noe_apdus(count: int) -> list[bytes]:
    start = datetime(2024, 3, 1, 12, 0)
    step = timedelta(seconds=5)
    return [
        data_notification(flat_body(moment, registers, "181220000009"))
        for moment, registers in kaifa_series(start, count, step)
    ]


def test_a_decoder_learns_for_itself_and_not_when_told_not_to() -> None:
    apdus = _netz_noe_apdus(4)
    learning, other, walking = StreamDecoder(), StreamDecoder(), StreamDecoder(learn=False)
    for apdu in apdus:
        found = learning.decode_apdu(apdu)
        assert isinstance(found, Notification)
        # Learned or walked, a push reads the same.
        assert walking.decode_apdu(apdu) == found
    assert len(learning._plans.items) == 1
    assert other._plans.items == ()
    assert walking._plans.items == ()
