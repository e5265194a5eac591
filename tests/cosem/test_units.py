"""The DLMS unit enumeration: real scaler-unit structures first, then the table's own rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.units import NO_UNIT, UNITS, Unit, unit_code, unit_symbol
from tests.support.vectors import VECTORS, vector_params

# An OBIS octet-string followed, before the next OBIS code, by a scaler-unit structure
# {integer scaler, enum unit}: 02 02 0F ss 16 uu.
_SCALER_UNIT = re.compile(r"0202 0F([0-9A-F]{2}) 16([0-9A-F]{2})".replace(" ", ""))


def _plain_apdu_hex(vector: dict[str, Any]) -> str:
    """The bytes of a vector in which the APDU is readable without deciphering."""
    plaintext = vector["expected"].get("plaintext_hex")
    if plaintext:
        return str(plaintext).upper()
    # Frame headers and checksums between elements do not form 09 06 or 02 02 0F .. 16 ..
    # patterns in these captures, so the search below also works across HDLC segments.
    return "" if vector["encrypted"] else str(vector["hex"]).upper()


def _stated_unit_pairs(vector: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(OBIS, unit enum on the wire, unit the source states) for every value we can locate."""
    apdu = _plain_apdu_hex(vector)
    pairs = []
    for dotted, stated in vector["expected"].get("values", {}).items():
        if stated.get("unit") is None:
            continue
        obis_hex = "0906" + bytes(int(g) for g in dotted.split(".")).hex().upper()
        start = apdu.find(obis_hex)
        if start < 0 or start % 2:
            continue
        following = apdu[start + len(obis_hex) :]
        following = following[: following.find("0906")] if "0906" in following else following
        match = _SCALER_UNIT.search(following)
        if match is not None and match.start() % 2 == 0:
            pairs.append((dotted, int(match.group(2), 16), stated["unit"]))
    return pairs


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: bool(_stated_unit_pairs(v))))
def test_unit_enum_on_the_wire_has_the_symbol_the_source_states(vector: dict[str, Any]) -> None:
    for dotted, code, stated in _stated_unit_pairs(vector):
        assert unit_symbol(code) == stated, (dotted, code)


@pytest.mark.vectors
def test_every_unit_the_vectors_state_is_in_the_table() -> None:
    if not VECTORS:
        pytest.skip("real meter vectors not found")
    stated = {
        value["unit"]
        for vector in VECTORS
        for value in vector["expected"].get("values", {}).values()
        if value.get("unit") is not None
    }
    assert stated
    for symbol in stated:
        code = unit_code(symbol)
        assert code is not None, symbol
        assert unit_symbol(code) == symbol


def test_electrical_units_have_their_blue_book_numbers() -> None:
    # Blue Book edition 14 numbering, as also used by Gurux's Unit enum.
    expected = {
        8: "°", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh", 32: "varh",
        33: "A", 35: "V", 44: "Hz", 9: "°C", 13: "m3", 56: "%", 7: "s",
    }  # fmt: skip
    assert {code: unit_symbol(code) for code in expected} == expected


def test_no_unit_and_unknown_codes_have_no_symbol() -> None:
    assert UNITS[NO_UNIT].symbol is None
    for code in (0, 58, 59, 68, 69, 73, 127, 175, 252, 253, 254, 255, -1, 256):
        assert unit_symbol(code) is None


def test_unit_code_prefers_the_plain_quantity() -> None:
    assert unit_code("m3") == 13  # 14 is the corrected volume
    assert unit_code("m3/h") == 15
    assert unit_code("kWh") is None


def test_table_is_keyed_by_its_own_code() -> None:
    assert all(isinstance(unit, Unit) and unit.code == code for code, unit in UNITS.items())
    assert set(range(1, 58)) <= set(UNITS)
    assert {60, 61, 62, 63, 64, 65, 66, 67, 70, 71, 72, 253, 254, 255} <= set(UNITS)
    assert all(unit.description for unit in UNITS.values())


@given(st.integers(min_value=0, max_value=255))
def test_symbol_and_code_round_trip(code: int) -> None:
    symbol = unit_symbol(code)
    if symbol is None:
        assert code not in UNITS or UNITS[code].symbol is None
    else:
        back = unit_code(symbol)
        assert back is not None
        assert back <= code
        assert unit_symbol(back) == symbol
