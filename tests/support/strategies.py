"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from cosem_reader.axdr.schema import BitString

_INT_RANGES = {
    "double-long": (-(2**31), 2**31 - 1),
    "double-long-unsigned": (0, 2**32 - 1),
    "integer": (-128, 127),
    "bcd": (-128, 127),
    "long": (-(2**15), 2**15 - 1),
    "unsigned": (0, 255),
    "long-unsigned": (0, 2**16 - 1),
    "long64": (-(2**63), 2**63 - 1),
    "long64-unsigned": (0, 2**64 - 1),
    "enum": (0, 255),
}


def _bit_strings(bits: int) -> st.SearchStrategy[tuple[str, Any]]:
    size = (bits + 7) // 8
    return st.tuples(
        st.just("bit-string"),
        st.binary(min_size=size, max_size=size).map(lambda data: BitString(data, bits)),
    )


def _leaf() -> st.SearchStrategy[tuple[str, Any]]:
    integers = [
        st.tuples(st.just(name), st.integers(low, high))
        for name, (low, high) in _INT_RANGES.items()
    ]
    return st.one_of(
        *integers,
        st.just(("null-data", None)),
        st.just(("dont-care", None)),
        st.tuples(st.just("boolean"), st.booleans()),
        st.tuples(st.just("octet-string"), st.binary(max_size=300)),
        st.tuples(
            st.just("visible-string"),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        ),
        st.tuples(st.just("utf8-string"), st.text(max_size=20)),
        st.tuples(st.just("float32"), st.binary(min_size=4, max_size=4)),
        st.tuples(st.just("float64"), st.binary(min_size=8, max_size=8)),
        st.tuples(st.just("date-time"), st.binary(min_size=12, max_size=12)),
        st.tuples(st.just("date"), st.binary(min_size=5, max_size=5)),
        st.tuples(st.just("time"), st.binary(min_size=4, max_size=4)),
        st.integers(0, 200).flatmap(_bit_strings),
    )


def data_values() -> st.SearchStrategy[tuple[str, Any]]:
    """Random Data values, nested structures and arrays included."""
    return st.recursive(
        _leaf(),
        lambda children: st.tuples(
            st.sampled_from(["structure", "array"]), st.lists(children, max_size=6)
        ),
        max_leaves=40,
    )


#: A reading's value of each kind a Reading holds, with the decimals whose text is tricky
#: (negative zero, exponents, NaN) and those a scaler makes.
READING_VALUES_BY_KIND: dict[type, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(-(2**63), 2**64),
    Decimal: st.one_of(
        st.decimals(allow_nan=True),
        st.sampled_from([Decimal("-0"), Decimal("-0.00"), Decimal("0E+2"), Decimal("1E-7")]),
        st.integers(-(2**31), 2**31).flatmap(
            lambda raw: st.integers(-9, 3).map(lambda scaler: Decimal(raw).scaleb(scaler))
        ),
    ),
    str: st.text(max_size=12),
    bytes: st.binary(max_size=6),
    float: st.floats(),
    datetime: st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=2))])),
}


def reading_values(instants: st.SearchStrategy[datetime] | None = None) -> st.SearchStrategy[Any]:
    """A reading's value of any kind; its date-times from ``instants`` when given."""
    kinds = dict(READING_VALUES_BY_KIND)
    if instants is not None:
        kinds[datetime] = instants
    return st.one_of(*kinds.values())
