"""Learned layouts (cosem_reader.axdr.shapes) give what the walk gives, or step aside.

The walk-only schema is the reference: whatever bytes come, a schema that has learned
shapes must return the same value and end, or raise the same error, as one that
never learns.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.generated.cosem_pdu import MODULE_NAME, TYPES
from cosem_reader.axdr.schema import BitString, Schema
from cosem_reader.axdr.shapes import MAX_SHAPES
from cosem_reader.errors import AxdrError
from tests.support.encoder import encode_data, flat_body, kaifa_ma309m_body, kaifa_series
from tests.support.strategies import data_values

WALK = Schema(TYPES, MODULE_NAME, learn_shapes=False)


def learning_schema() -> Schema:
    schema = Schema(TYPES, MODULE_NAME)
    schema.decoder("Data")  # compiles Data, which makes its shape book
    return schema


def outcome(schema: Schema, data: bytes) -> tuple[str, Any]:
    """What decoding ``data`` as Data gives: the value and end, or the error."""
    try:
        return "value", schema.decode("Data", data)
    except AxdrError as error:
        return "error", (str(error), error.offset, error.path)


def kaifa_bodies(count: int) -> list[bytes]:
    start = datetime(2026, 3, 29, 0, 59, 50, tzinfo=UTC)
    return [
        encode_data(kaifa_ma309m_body(moment, registers, "1KFM0200012345", "KFM1200200012345"))
        for moment, registers in kaifa_series(start, count)
    ]


def test_a_layout_seen_twice_becomes_a_shape_that_decodes_the_next_push() -> None:
    schema = learning_schema()
    bodies = kaifa_bodies(6)
    for body in bodies:
        assert outcome(schema, body) == outcome(WALK, body)
    (shape,) = schema.shape_books["Data"].shapes
    # The last pushes came through the shape: it accepts them, byte for byte.
    for body in bodies[3:]:
        assert shape.size == len(body)
        assert shape.guard(shape.unpack_from(body, 0)) == shape.expected
        assert shape.build(shape.unpack_from(body, 0)) == WALK.decode("Data", body)[0]


def test_the_flat_netz_noe_layout_is_learned_too() -> None:
    schema = learning_schema()
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    bodies = [
        encode_data(flat_body(moment, registers, "181220000009"))
        for moment, registers in kaifa_series(start, 5)
    ]
    for body in bodies:
        assert outcome(schema, body) == outcome(WALK, body)
    assert len(schema.shape_books["Data"].shapes) == 1


def test_the_shape_builds_the_same_objects_as_the_walk() -> None:
    """Same types as well as equal values: bytes stay bytes, lists stay lists."""
    schema = learning_schema()
    value = (
        "structure",
        [
            ("visible-string", "Zählerstand"),
            ("utf8-string", "Wärme €"),
            ("boolean", True),
            ("null-data", None),
            ("date-time", bytes(12)),
            ("long64", -5),
            ("array", [("unsigned", 1), ("enum", 2)]),
            ("octet-string", b""),
        ],
    )
    data = encode_data(value)
    for _ in range(3):
        decoded, end = schema.decode("Data", data)
    assert end == len(data)
    assert schema.shape_books["Data"].shapes

    def types(tree: Any) -> Any:
        name, item = tree
        if isinstance(item, list):
            return (type(name), [types(element) for element in item])
        return (type(name), type(item))

    assert decoded == WALK.decode("Data", data)[0]
    assert types(decoded) == types(WALK.decode("Data", data)[0])


@given(data_values(), st.data())
def test_whatever_the_bytes_a_learned_schema_answers_as_the_walk(
    value: tuple[str, Any], data: st.DataObject
) -> None:
    """Learn a layout, then feed it damaged copies: value, end or error never differ."""
    encoded = encode_data(value)
    schema = learning_schema()
    for _ in range(3):
        assert outcome(schema, encoded) == outcome(WALK, encoded)
    for _ in range(5):
        damaged = bytearray(encoded + data.draw(st.binary(max_size=3)))
        for _ in range(data.draw(st.integers(1, 3))):
            if damaged:
                index = data.draw(st.integers(0, len(damaged) - 1))
                damaged[index] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(damaged)))
        for candidate in (bytes(damaged), bytes(damaged[:cut])):
            assert outcome(schema, candidate) == outcome(WALK, candidate)


def test_values_with_new_numbers_but_the_same_layout_take_the_shape() -> None:
    schema = learning_schema()
    layout = [
        ("double-long-unsigned", 1),
        ("long", -2),
        ("octet-string", b"\x01\x00\x01\x08\x00\xff"),
    ]
    for number in range(3):
        schema.decode("Data", encode_data(("structure", [*layout, ("unsigned", number)])))
    (shape,) = schema.shape_books["Data"].shapes
    other = encode_data(
        (
            "structure",
            [
                ("double-long-unsigned", 99),
                ("long", 7),
                ("octet-string", b"abcdef"),
                ("unsigned", 200),
            ],
        )
    )
    assert shape.guard(shape.unpack_from(other, 0)) == shape.expected
    assert schema.decode("Data", other) == WALK.decode("Data", other)


def test_a_different_length_or_tag_is_not_taken_for_the_shape() -> None:
    schema = learning_schema()
    body = encode_data(("structure", [("octet-string", b"abc"), ("long-unsigned", 5)] * 3))
    for _ in range(3):
        schema.decode("Data", body)
    (shape,) = schema.shape_books["Data"].shapes
    longer = encode_data(("structure", [("octet-string", b"abcd"), ("long-unsigned", 5)] * 3))
    other_tag = encode_data(("structure", [("octet-string", b"abc"), ("long", 5)] * 3))
    for data in (longer, other_tag):
        if shape.size <= len(data):
            assert shape.guard(shape.unpack_from(data, 0)) != shape.expected
        assert outcome(schema, data) == outcome(WALK, data)


def test_layouts_the_shapes_cannot_hold_stay_with_the_walk() -> None:
    schema = learning_schema()
    with_bits = encode_data(
        ("structure", [("bit-string", BitString(b"\xa0", 3))] + [("unsigned", 1)] * 8)
    )
    long_string = encode_data(("structure", [("unsigned", 1)] * 8 + [("octet-string", b"x" * 130)]))
    long_list = encode_data(("array", [("unsigned", 1)] * 130))
    for data in (with_bits, long_string, long_list):
        for _ in range(10):
            assert outcome(schema, data) == outcome(WALK, data)
    assert schema.shape_books["Data"].shapes == ()


def test_bytearray_and_memoryview_input_take_the_walk() -> None:
    """A shape's strings are bytes; the walk slices what it is given."""
    schema = learning_schema()
    body = kaifa_bodies(1)[0]
    for _ in range(3):
        schema.decode("Data", body)
    assert schema.shape_books["Data"].shapes
    for view in (bytearray(body), memoryview(body)):
        value, _ = schema.decode("Data", view)  # type: ignore[arg-type]
        assert value == WALK.decode("Data", body)[0]
        assert type(value[1][1][1]) is type(view[0:1])


def test_the_shapes_are_bounded_and_the_newest_comes_first() -> None:
    schema = learning_schema()
    book = schema.shape_books["Data"]
    for count in range(1, MAX_SHAPES + 4):
        body = encode_data(("array", [("long-unsigned", 7)] * (count + 4)))
        for _ in range(4):
            schema.decode("Data", body)
        assert book.shapes[0].size == len(body)
    assert len(book.shapes) == MAX_SHAPES


def test_a_layout_that_never_repeats_is_looked_at_less_and_less() -> None:
    """Backing off: a stream of ever new layouts does not pay for learning each one."""
    schema = learning_schema()
    book = schema.shape_books["Data"]
    looked = 0
    original = book.layout

    def counting(*args: Any) -> Any:
        nonlocal looked
        looked += 1
        return original(*args)

    book.layout = counting  # type: ignore[method-assign, assignment]
    for count in range(1000):
        strings = [("octet-string", bytes(count % 100)), ("octet-string", bytes(count // 100))]
        schema.decode("Data", encode_data(("array", [("long-unsigned", count)] * 3 + strings)))
    assert book.shapes == ()
    assert looked < 30


def test_the_builder_source_holds_no_decoded_bytes() -> None:
    """Only field indices and bound names reach exec, never anything from the wire."""
    schema = learning_schema()
    book = schema.shape_books["Data"]
    data = encode_data(
        (
            "structure",
            [("octet-string", b"__import__('os')"), ("visible-string", "); exit(1) #")] * 4,
        )
    )
    layout = book.layout(WALK.decode("Data", data)[0], data, 0, len(data))
    assert layout is not None
    assert re.fullmatch(r"[ntcv\d\s\(\)\[\],!=]*", layout.expression)


@pytest.mark.parametrize("walk_only", [True, False])
def test_the_switch_turns_learning_off(walk_only: bool) -> None:
    schema = Schema(TYPES, MODULE_NAME, learn_shapes=not walk_only)
    body = kaifa_bodies(1)[0]
    for _ in range(3):
        schema.decode("Data", body)
    assert ("Data" in schema.shape_books) is not walk_only


def test_a_value_too_big_for_a_shape_takes_the_walk() -> None:
    schema = learning_schema()
    big = encode_data(("array", [("structure", [("long-unsigned", 1)] * 20)] * 127))
    for _ in range(4):
        assert outcome(schema, big) == outcome(WALK, big)
    assert schema.shape_books["Data"].shapes == ()


def test_a_failure_while_learning_costs_the_value_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = learning_schema()
    book = schema.shape_books["Data"]

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug in the layout reader")

    monkeypatch.setattr(book, "layout", broken)
    body = kaifa_bodies(1)[0]
    for _ in range(5):
        assert outcome(schema, body) == outcome(WALK, body)
    assert book.shapes == ()
