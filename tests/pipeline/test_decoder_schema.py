"""Learning belongs to the decoder: each StreamDecoder owns its A-XDR schema, which
learns only its own meter's layouts and can be told not to; the shared schema learns
nothing.  And the tagged date-time quirk and the end of a bare APDU, each in one place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cosem_reader.axdr.apdu import decode_apdu, schema, untagged_date_time
from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import StreamDecoder
from cosem_reader.pipeline.probe import apdu_end
from tests.support.encoder import cosem_date_time, data_notification, flat_body, kaifa_series

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def pushes(count: int) -> list[bytes]:
    return [
        data_notification(flat_body(moment, registers, "181220000009"), invoke_id=index + 1)
        for index, (moment, registers) in enumerate(kaifa_series(START, count))
    ]


def readings_of(decoder: StreamDecoder, apdus: list[bytes]) -> list[object]:
    results = [decoder.decode_apdu(apdu) for apdu in apdus]
    assert all(isinstance(result, Notification) for result in results)
    return [result.readings for result in results if isinstance(result, Notification)]


def test_each_decoder_learns_its_own_meters_layouts() -> None:
    learning, other = StreamDecoder(layer="raw"), StreamDecoder(layer="raw")
    readings_of(learning, pushes(4))
    assert len(learning.schema.shape_books["Data"].shapes) == 1
    other.decode_apdu(pushes(1)[0])
    assert other.schema is not learning.schema
    assert other.schema.shape_books["Data"].shapes == ()


def test_learn_false_walks_every_push_to_the_same_readings() -> None:
    walking, learning = StreamDecoder(layer="raw", learn=False), StreamDecoder(layer="raw")
    apdus = pushes(5)
    assert readings_of(walking, apdus) == readings_of(learning, apdus)
    assert walking.schema.shape_books == {}
    assert learning.schema.shape_books["Data"].shapes


def test_the_shared_schema_learns_nothing() -> None:
    for apdu in pushes(4):
        decode_apdu(apdu)
    assert schema().shape_books == {}


def tagged(apdu: bytes) -> bytes:
    """The same data-notification with its date-time written ``09 0C`` (Kaifa MA304)."""
    return apdu[:5] + b"\x09" + apdu[5:]


@pytest.mark.parametrize("with_time", [True, False], ids=["date-time", "no-date-time"])
def test_the_tagged_date_time_is_untagged_in_one_place(with_time: bool) -> None:
    body = flat_body(START, kaifa_series(START, 1)[0][1], "181220000009")
    plain = data_notification(body, date_time=cosem_date_time(START) if with_time else b"")
    if with_time:
        assert untagged_date_time(tagged(plain)) == plain
        assert decode_apdu(tagged(plain)) == decode_apdu(plain)
    else:
        assert untagged_date_time(plain) == plain


def test_a_bare_tagged_apdu_ends_where_its_bytes_do() -> None:
    body = flat_body(START, kaifa_series(START, 1)[0][1], "181220000009")
    first = tagged(data_notification(body, date_time=cosem_date_time(START)))
    tree, end = apdu_end(first + first, None)
    assert end == len(first)
    assert tree == decode_apdu(first)
    results = StreamDecoder(layer="raw").feed(first + first)
    assert [type(result) for result in results] == [Notification, Notification]
