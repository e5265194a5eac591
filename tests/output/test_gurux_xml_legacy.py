"""The fast XML writer prints, character for character, what the old writer printed.

The old writer is kept in ``tests/support/legacy_gurux_{data,xml}.py``; it was held to the
Gurux translator's element tree (``test_gurux_xml.py``).  Here the new text must equal
the old text: on every shared vector's APDUs (deciphered or not), on other APDUs, and on
any ``Data`` value hypothesis makes, with and without comments.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.axdr.schema import BitString
from cosem_reader.cosem.readings import Notification
from cosem_reader.output import gurux_data
from cosem_reader.output.gurux_xml import apdu_to_xml, ciphered_to_xml, data_to_xml
from cosem_reader.security.ciphering import CipheredApdu
from tests.support import legacy_gurux_xml as legacy
from tests.support.encoder import encode_data
from tests.support.strategies import data_values
from tests.support.vectors import decode_vector, vector_params


def _same_text(tree: tuple[str, Any]) -> None:
    for comments in (True, False):
        assert apdu_to_xml(tree, comments=comments) == legacy.apdu_to_xml(tree, comments=comments)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params())
def test_vector_xml_is_the_old_writers(vector: dict[str, Any]) -> None:
    """Every shared vector: each decoded APDU and each APDU left ciphered."""
    results = decode_vector(vector)
    written = 0
    for result in results:
        if isinstance(result, Notification) and result.tree is not None:
            _same_text(result.tree)
            written += 1
        elif isinstance(result, CipheredApdu):
            for comments in (True, False):
                ours = ciphered_to_xml(result, comments=comments)
                assert ours == legacy.ciphered_to_xml(result, comments=comments)
            written += 1
    if not written:
        pytest.skip("the vector decodes to no APDU (DSMR text or a damaged capture)")


_U32 = encode_data(("double-long-unsigned", 4711)).hex()
_OTHER_APDUS = (
    "C401C100" + _U32,
    "C402C10000000001000401020304",
    "C403C10200" + _U32 + "00" + encode_data(("enum", 30)).hex(),
    "C001C100070100630100FF0201010204020412000809060000010000FF"
    "0F02120000090C07E80305020E1E0000FFC400090C07E80305020E1E0000FFC4000100",
    "C003C1020003010001080" + "0FF02000008" + "0000010000FF0200",
    "C2010C07E80305020E1E0000FFC400" + "00030100010800FF02" + _U32,
    "E08100010000050102030405",
    "01000000065F1F0400007E1FFFFF",
    "0800065F1F040000101D04000007",
    "D80102",
)


@pytest.mark.parametrize("apdu", _OTHER_APDUS)
def test_other_apdus_are_the_old_writers(apdu: str) -> None:
    _same_text(decode_apdu(bytes.fromhex(apdu)))


def _obis_codes() -> st.SearchStrategy[tuple[str, Any]]:
    """Octet strings of OBIS-code length, ending in 255 or not (the writer keeps their notes)."""
    return st.tuples(
        st.just("octet-string"),
        st.tuples(st.binary(min_size=5, max_size=5), st.sampled_from([b"\xff", b"\x00"])).map(
            lambda parts: parts[0] + parts[1]
        ),
    )


_COMPACT_ARRAY = (
    "compact-array",
    {
        "contents-description": (
            "structure",
            [("long-unsigned", None), ("array", {"number-of-elements": 2,
                                                 "type-description": ("unsigned", None)})],
        ),
        "array-contents": b"\x00\x01\x02\x03",
    },
)  # fmt: skip


@given(
    st.recursive(
        st.one_of(data_values(), _obis_codes(), st.just(_COMPACT_ARRAY)),
        lambda children: st.tuples(
            st.sampled_from(["structure", "array"]), st.lists(children, max_size=8)
        ),
        max_leaves=60,
    )
)
@example(("visible-string", 'a<b & "c"\t\n\r--x-'))
@example(("utf8-string", "Grüße\x00\x07 -- \x7f-"))
@example(
    ("structure", [("bit-string", BitString(b"\xa5\x80", 9)), ("date", b"\x07\xe8\x02\x1e\x05")])
)
@example(("float32", b"\xff\xc0\x00\x00"))
@example(("array", [("unsigned", 7)] * 300))
def test_any_data_is_the_old_writers(value: tuple[str, Any]) -> None:
    """Data values of every alternative, nested, more than 255 elements included."""
    for comments in (True, False):
        assert data_to_xml(value, comments=comments) == legacy.data_to_xml(value, comments=comments)
    notification = ("data-notification", {
        "long-invoke-id-and-priority": 0x80000001,
        "date-time": bytes.fromhex("07EA01010400000000FFC400"),
        "notification-body": {"data-value": value},
    })  # fmt: skip
    _same_text(notification)


def test_the_notes_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBIS codes that never repeat cannot grow the notes kept without end."""
    monkeypatch.setattr(gurux_data, "_OBIS_LENGTH_NOTES_MAX", 8)
    monkeypatch.setattr(gurux_data, "_OBIS_LENGTH_NOTES", {})
    for index in range(50):
        value = ("octet-string", bytes([1, 0, index, 8, 0, 255]))
        assert data_to_xml(value) == legacy.data_to_xml(value)
        assert len(gurux_data._OBIS_LENGTH_NOTES) <= 8
