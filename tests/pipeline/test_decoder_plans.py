"""Each StreamDecoder learns the readings plans of the layouts it meets, and only those."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError
from cosem_reader.pipeline.decoder import StreamDecoder
from tests.support.encoder import (
    cosem_date_time,
    data_notification,
    flat_body,
    kaifa_ma309m_body,
    kaifa_series,
    obis,
    scaler_unit,
)
from tests.support.strategies import data_values


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


def test_pushes_through_fused_plans_are_the_walks_notifications_through_a_layout_change() -> None:
    """Shapes and plans fused, then a meter with other OBIS codes (same shape), then
    another layout, then the first again: every notification equals the walk's."""
    start = datetime(2024, 3, 1, 12, 0)
    series = list(kaifa_series(start, 12, timedelta(seconds=5)))
    netz_noe = [flat_body(moment, registers, "181220000009") for moment, registers in series]
    other_codes = [
        ("structure", [obis("1.0.2.8.0.255") if e == obis("1.0.1.8.0.255") else e for e in b[1]])
        for b in netz_noe
    ]
    nested = [
        kaifa_ma309m_body(moment, registers, "1KFM0200012345", "KFM1200200012345")
        for moment, registers in series
    ]
    stream = [*netz_noe[:4], *other_codes[:4], *nested[:4], *netz_noe[4:], *nested[4:]]
    learning, walking = StreamDecoder(), StreamDecoder(learn=False)
    for index, body in enumerate(stream):
        header = cosem_date_time(start + timedelta(seconds=index), -60)
        apdu = data_notification(body, invoke_id=index, date_time=header)
        found = learning.decode_apdu(apdu)
        assert isinstance(found, Notification)
        assert found == walking.decode_apdu(apdu)
    assert sum(
        replay is not None for known in learning._plans._fused.values() for _, replay in known
    ) == 3


def _outcome(decoder: StreamDecoder, apdu: bytes) -> object:
    """What a push decodes to; an error by its class and words (errors are not equal)."""
    found = decoder.decode_apdu(apdu)
    if isinstance(found, CosemReaderError):
        return type(found), str(found)
    return found


@st.composite
def _pushes(draw: st.DrawFn) -> bytes:
    """A data-notification of registers (OBIS code, number, scaler-unit) and other values."""
    elements: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(2, 6))):
        if draw(st.booleans()):
            code = draw(st.sampled_from(["1.0.1.8.0.255", "1.0.32.7.0.255", "0.0.96.1.0.255"]))
            kind = draw(st.sampled_from(["long-unsigned", "double-long-unsigned", "long"]))
            bound = {"long-unsigned": 2**16, "double-long-unsigned": 2**32, "long": 2**15}[kind]
            value = draw(st.integers(0, bound - 1))
            unit = scaler_unit(draw(st.integers(-3, 3)), draw(st.sampled_from([27, 30, 35])))
            elements += [obis(code), (kind, value), unit]
        else:
            elements.append(draw(data_values()))
    return data_notification(("structure", elements))


@given(_pushes(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8))
def test_a_learned_push_with_any_byte_changed_decodes_as_the_walk_decodes_it(
    apdu: bytes, changes: list[tuple[int, int]]
) -> None:
    """Once shapes and plans are learned and fused, a push that differs in any one byte
    (a tag, a length, an OBIS code, a scaler-unit, a value) gives the walk's result."""
    learning, walking = StreamDecoder(), StreamDecoder(learn=False)
    for _ in range(4):
        assert _outcome(learning, apdu) == _outcome(walking, apdu)
    for where, flip in changes:
        changed = bytearray(apdu)
        changed[where % len(changed)] ^= flip
        assert _outcome(learning, bytes(changed)) == _outcome(walking, bytes(changed))
        assert _outcome(learning, apdu) == _outcome(walking, apdu)
