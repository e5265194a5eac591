"""The Gurux-comparable XML dump: the same element tree as the Gurux DLMS translator.

The comparisons with Gurux need the ``gurux-dlms`` package (extra ``bench``); they
skip without it.  The other tests check our own output: golden text, comments,
escaping, and an element for every Data alternative.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu, decode_data, untagged_date_time
from cosem_reader.axdr.schema import BitString
from cosem_reader.cosem.readings import Notification
from cosem_reader.output.gurux_xml import DATA_ELEMENTS, apdu_to_xml, ciphered_to_xml, data_to_xml
from cosem_reader.pipeline.decoder import Layer, decode_capture
from cosem_reader.security.ciphering import CipheredApdu, encipher, parse_ciphered_apdu
from tests.support.encoder import (
    cosem_date_time,
    data_notification,
    encode_data,
    encode_length,
    obis,
    scaler_unit,
)
from tests.support.strategies import _INT_RANGES as INT_RANGES
from tests.support.strategies import data_values
from tests.support.vectors import decode_vector, vector_params

GURUX_REASON = "gurux-dlms is not installed (pip install -e '.[bench]'); it is what we compare with"


# -- helpers ----------------------------------------------------------------------------------


def gurux_xml(apdu: bytes, *, comments: bool = False) -> str:
    """What the Gurux DLMS translator prints for one APDU."""
    gurux = pytest.importorskip("gurux_dlms", reason=GURUX_REASON)
    translator = gurux.GXDLMSTranslator()
    translator.comments = comments
    text: str = translator.pduToXml(gurux.GXByteBuffer(apdu))
    return text


Tree = tuple[str, tuple[tuple[str, str], ...], tuple[Any, ...]]


def element_tree(text: str) -> Tree:
    """tag, attributes and children, recursively; comments and whitespace dropped."""

    def walk(element: ET.Element) -> Tree:
        return (
            element.tag,
            tuple(sorted(element.attrib.items())),
            tuple(walk(child) for child in element),
        )

    return walk(ET.fromstring(text))


def first_difference(ours: Tree, theirs: Tree, path: str = "") -> str | None:
    """Where two element trees part, for a readable assertion message."""
    here = f"{path}/{ours[0]}"
    if ours[0] != theirs[0]:
        return f"{path}: <{ours[0]}> here, Gurux has <{theirs[0]}>"
    if ours[1] != theirs[1]:
        return f"{here}: attributes {dict(ours[1])}, Gurux has {dict(theirs[1])}"
    for index, (mine, other) in enumerate(zip(ours[2], theirs[2], strict=False)):
        found = first_difference(mine, other, f"{here}[{index}]")
        if found:
            return found
    if len(ours[2]) != len(theirs[2]):
        return f"{here}: {len(ours[2])} children, Gurux has {len(theirs[2])}"
    return None


def assert_same_tree(ours: str, theirs: str) -> None:
    difference = first_difference(element_tree(ours), element_tree(theirs))
    assert difference is None, difference


def commented_elements(text: str) -> list[str]:
    """The path of every element a comment stands directly before."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(text, parser=parser)
    found: list[str] = []

    def walk(element: ET.Element, path: str) -> None:
        children = list(element)
        for index, child in enumerate(children):
            # A comment's tag is the ET.Comment factory, an element's a string.
            if not isinstance(child.tag, str):
                following = next((c for c in children[index + 1 :] if isinstance(c.tag, str)), None)
                if following is not None:
                    found.append(f"{path}/{following.tag}@{children.index(following)}")
            else:
                walk(child, f"{path}/{child.tag}@{index}")

    walk(root, root.tag)
    return sorted(set(found))


def without_tagged_date_time(apdu: bytes) -> bytes:
    """Kaifa MA304/Kamstrup write the notification's date-time as ``09 0C`` + 12 bytes;
    Gurux reads only the module's ``0C`` + 12 bytes, so it is shown that form."""
    return untagged_date_time(apdu)


def vector_notifications(vector: dict[str, Any]) -> list[Notification]:
    """The notifications of a vector, from its plaintext where no key is published."""
    found = [r for r in decode_vector(vector) if isinstance(r, Notification)]
    if not found and vector.get("expected", {}).get("plaintext_hex"):
        plaintext = bytes.fromhex(vector["expected"]["plaintext_hex"])
        found = [r for r in decode_capture(plaintext, layer="raw") if isinstance(r, Notification)]
    return found


def _has_notification(vector: dict[str, Any]) -> bool:
    return bool(vector_notifications(vector))


def _ciphered_without_key(vector: dict[str, Any]) -> list[CipheredApdu]:
    layer = cast("Layer", "raw" if vector["link_layer"] == "raw-apdu" else vector["link_layer"])
    results = decode_capture(bytes.fromhex(vector["hex"]), layer=layer)
    return [r for r in results if isinstance(r, CipheredApdu)]


def ciphered_wire_bytes(ciphered: CipheredApdu) -> bytes:
    """The general-glo/ded-ciphering APDU the parsed header came from."""
    content = (
        bytes([ciphered.security_control])
        + ciphered.frame_counter.to_bytes(4, "big")
        + ciphered.ciphertext
        + (ciphered.auth_tag or b"")
    )
    title = ciphered.system_title or b""
    return (
        bytes([ciphered.tag])
        + encode_length(len(title))
        + title
        + encode_length(len(content))
        + content
    )


# -- the real vectors against Gurux ---------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_has_notification))
def test_vector_xml_has_gurux_element_tree(vector: dict[str, Any]) -> None:
    """Every vector's plaintext APDU: our element tree is Gurux's, tag by tag, attribute
    by attribute."""
    for notification in vector_notifications(vector):
        ours = apdu_to_xml(notification.tree)
        theirs = gurux_xml(without_tagged_date_time(notification.apdu))
        assert_same_tree(ours, theirs)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_has_notification))
def test_vector_comments_stand_where_gurux_puts_them(vector: dict[str, Any]) -> None:
    """OBIS codes, date-times, texts and floats get a comment before the same elements."""
    for notification in vector_notifications(vector):
        ours = commented_elements(apdu_to_xml(notification.tree))
        theirs = commented_elements(
            gurux_xml(without_tagged_date_time(notification.apdu), comments=True)
        )
        assert ours == theirs
        assert ours, "a push without any OBIS code, date-time or text comment"


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: bool(_ciphered_without_key(v))))
def test_vector_ciphered_apdu_xml_is_gurux_without_key(vector: dict[str, Any]) -> None:
    """Without a key, every ciphered APDU of a vector prints as Gurux prints it."""
    for ciphered in _ciphered_without_key(vector):
        if ciphered.kind != "general-glo-ciphering":
            continue
        assert_same_tree(ciphered_to_xml(ciphered), gurux_xml(ciphered_wire_bytes(ciphered)))


# -- other APDUs against Gurux ------------------------------------------------------------------

_U32 = encode_data(("double-long-unsigned", 4711)).hex()
_OTHER_APDUS = {
    "get-response-normal": "C401C100" + _U32,
    "get-response-normal-error": "C401C10103",
    "get-response-with-datablock": "C402C10000000001000401020304",
    "get-response-with-datablock-error": "C402C101000000020104",
    "get-response-with-list": "C403C10200" + _U32 + "00" + encode_data(("enum", 30)).hex(),
    "get-request-normal": "C001C100030100010800FF0200",
    "get-request-normal-selective": "C001C100070100630100FF0201010204020412000809060000010000FF"
    "0F02120000090C07E80305020E1E0000FFC400090C07E80305020E1E0000FFC4000100",
    "get-request-next": "C002C100000005",
    "get-request-with-list": "C003C1020003010001080" + "0FF02000008" + "0000010000FF0200",
    "event-notification": "C2000003" + "0100010800FF02" + _U32,
    "event-notification-with-time": "C2010C07E80305020E1E0000FFC400" + "00030100010800FF02" + _U32,
    "general-block-transfer": "E08100010000050102030405",
    "initiate-request": "01000000065F1F0400007E1FFFFF",
    "initiate-request-dedicated-key": "010110000102030405060708090A0B0C0D0E0F"
    "0000065F1F0400007E1FFFFF",
    "initiate-response": "0800065F1F040000101D04000007",
    "exception-response": "D80102",
}


@pytest.mark.parametrize("apdu", _OTHER_APDUS.values(), ids=_OTHER_APDUS.keys())
def test_other_apdus_have_gurux_element_tree(apdu: str) -> None:
    """get-request/-response, event-notification, general-block-transfer, initiate, exception."""
    data = bytes.fromhex(apdu)
    assert_same_tree(apdu_to_xml(decode_apdu(data)), gurux_xml(data))


def _gurux_data_values() -> st.SearchStrategy[tuple[str, Any]]:
    """Data values Gurux 1.0.203 itself prints as well-formed XML: no ``date`` (it raises),
    no ``dont-care`` or compact-array, no NaN floats (re-encoded), no date-time deviation
    of a day or more (it raises), no ``< & "`` or NUL in strings (written unescaped)."""
    text = st.characters(exclude_characters='<&"\x00', max_codepoint=0x2FF)
    finite32 = st.floats(width=32, allow_nan=False).map(lambda f: struct.pack(">f", f))
    finite64 = st.floats(allow_nan=False).map(lambda f: struct.pack(">d", f))

    integers = [
        st.tuples(st.just(name), st.integers(low, high)) for name, (low, high) in INT_RANGES.items()
    ]
    bit_strings = st.integers(0, 100).flatmap(
        lambda bits: st.binary(min_size=(bits + 7) // 8, max_size=(bits + 7) // 8).map(
            lambda data: ("bit-string", BitString(data, bits))
        )
    )
    # Gurux raises for a deviation of a day or more, which no clock sends.
    date_times = st.builds(
        lambda head, deviation, status: head + struct.pack(">h", deviation) + bytes([status]),
        st.binary(min_size=9, max_size=9),
        st.one_of(st.integers(-720, 720), st.just(-0x8000)),
        st.integers(0, 255),
    )
    leaves = st.one_of(
        *integers,
        st.just(("null-data", None)),
        st.tuples(st.just("boolean"), st.booleans()),
        st.tuples(st.just("octet-string"), st.binary(max_size=40)),
        st.tuples(st.just("date-time"), date_times),
        st.tuples(st.just("time"), st.binary(min_size=4, max_size=4)),
        bit_strings,
        st.tuples(st.just("float32"), finite32),
        st.tuples(st.just("float64"), finite64),
        st.tuples(
            st.just("visible-string"),
            st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='<&"')),
        ),
        st.tuples(st.just("utf8-string"), st.text(text, max_size=20)),
    )
    return st.recursive(
        leaves,
        lambda children: st.tuples(
            st.sampled_from(["structure", "array"]), st.lists(children, max_size=5)
        ),
        max_leaves=25,
    )


@given(_gurux_data_values())
def test_any_data_in_a_notification_has_gurux_element_tree(value: tuple[str, Any]) -> None:
    """Random Data bodies (nested, every alternative Gurux can print) give Gurux's tree."""
    apdu = data_notification(
        value, invoke_id=0x00ABCDEF, date_time=cosem_date_time(datetime(2024, 3, 5, 14, 30))
    )
    assert_same_tree(apdu_to_xml(decode_apdu(apdu)), gurux_xml(apdu))


# -- our own output, no Gurux needed ----------------------------------------------------------


def _small_notification() -> bytes:
    body = (
        "structure",
        [
            obis("1.0.1.8.0.255"),
            ("double-long-unsigned", 4711),
            scaler_unit(0, 30),
            ("visible-string", "KFM 1"),
        ],
    )
    moment = datetime(2024, 3, 5, 14, 30, 5)
    return data_notification(
        body,
        invoke_id=0x00000123,
        date_time=cosem_date_time(moment, deviation=-120, daylight_saving=True),
    )


GOLDEN = """\
<DataNotification>
  <LongInvokeIdAndPriority Value="00000123" />
  <!--2024-03-05 14:30:05-->
  <DateTime Value="07E80305020E1E0500FF8880" />
  <NotificationBody>
    <DataValue>
      <Structure Qty="04">
        <!--1.0.1.8.0.255-->
        <OctetString Value="0100010800FF" />
        <UInt32 Value="00001267" />
        <Structure Qty="02">
          <Int8 Value="00" />
          <Enum Value="1E" />
        </Structure>
        <String Value="KFM 1" />
      </Structure>
    </DataValue>
  </NotificationBody>
</DataNotification>"""


def test_golden_data_notification() -> None:
    """A small push prints exactly so: Gurux's names, hex widths, comments, indentation."""
    assert apdu_to_xml(decode_apdu(_small_notification())) == GOLDEN


def test_comments_can_be_left_out() -> None:
    """comments=False drops every comment and nothing else."""
    tree = decode_apdu(_small_notification())
    plain = apdu_to_xml(tree, comments=False)
    assert "<!--" not in plain
    assert plain == "\n".join(line for line in GOLDEN.splitlines() if "<!--" not in line)


def test_obis_date_time_and_text_comments() -> None:
    """OBIS codes, date-times (octet string or Data), dates, times, texts and floats are noted."""
    value = (
        "structure",
        [
            obis("0.0.96.1.0.255"),
            ("octet-string", cosem_date_time(datetime(2024, 2, 29, 23, 59, 58))),
            ("octet-string", b"\x07\xe8\x02\x1d\xff"),
            ("octet-string", b"1KFM0200012345"),
            ("octet-string", b"\x01\x02\x03"),
            ("date-time", cosem_date_time(None)),
            ("date", b"\x07\xe8\x02\x1d\x04"),
            ("time", b"\x17\x3b\x3a\x32"),
            ("float32", struct.pack(">f", 1.5)),
            ("float64", struct.pack(">d", 230.25)),
        ],
    )
    comments = [line.strip()[4:-3] for line in data_to_xml(value).splitlines() if "<!--" in line]
    assert comments == [
        "0.0.96.1.0.255",
        "2024-02-29 23:59:58",
        "2024-02-29",
        "1KFM0200012345",
        "****-**-** **:**:**",
        "2024-02-29",
        "23:59:58.50",
        "1.5",
        "230.25",
    ]


def test_octet_strings_that_only_look_like_dates_get_no_date_comment() -> None:
    """12 bytes whose year is outside 1970..2100, or whose day does not exist, are not dates."""
    not_a_year = cosem_date_time(datetime(2024, 3, 5)).replace(b"\x07\xe8", b"\x01\x00", 1)
    february_30 = bytearray(cosem_date_time(datetime(2023, 2, 28)))
    february_30[3] = 30
    for raw in (not_a_year, bytes(february_30)):
        assert "<!--" not in data_to_xml(("octet-string", raw))


@pytest.mark.parametrize(
    "text",
    ['<tag attr="x">&amp;</tag>', "tab\there", "line\nbreak\r", "'single' \"double\"", "a--b-"],
)
def test_odd_strings_are_escaped_and_read_back(text: str) -> None:
    """Markup characters in strings stay data: the XML parses and gives the string back."""
    xml = data_to_xml(("structure", [("visible-string", text), ("octet-string", text.encode())]))
    root = ET.fromstring(xml)
    shown = root[0].attrib["Value"]
    if all(32 <= ord(char) < 128 for char in text):
        assert shown == text
    else:
        assert shown == " ".join(f"{byte:02X}" for byte in text.encode("latin-1"))


def test_non_ascii_strings_show_hex_like_gurux_and_text_in_a_comment() -> None:
    """Gurux shows a string with bytes outside 32..127 as spaced hex; the comment has the text."""
    xml = data_to_xml(("utf8-string", "Grüße"))
    assert xml == '<!--Grüße-->\n<StringUTF8 Value="47 72 C3 BC C3 9F 65" />'


def test_trailing_nuls_are_dropped_and_inner_nuls_shown_as_hex() -> None:
    """Gurux strips NULs at the end; XML cannot carry one inside, so such a string is hex."""
    assert data_to_xml(("visible-string", "AB\x00\x00")) == '<String Value="AB" />'
    assert ET.fromstring(data_to_xml(("visible-string", "A\x00B"), comments=False)).attrib == {
        "Value": "41 00 42"
    }


def test_negative_numbers_are_twos_complement_hex() -> None:
    """Gurux writes every integer as hex of its A-XDR size, negatives in two's complement."""
    xml = data_to_xml(
        (
            "structure",
            [
                ("integer", -1),
                ("long", -2),
                ("double-long", -3),
                ("long64", -4),
                ("bcd", -7),
                ("long64-unsigned", 2**64 - 1),
                ("boolean", False),
                ("bit-string", BitString(b"\xa5\x80", 9)),
                ("null-data", None),
            ],
        )
    )
    values = [e.attrib.get("Value") for e in ET.fromstring(xml)]
    assert values == [
        "FF",
        "FFFE",
        "FFFFFFFD",
        "FFFFFFFFFFFFFFFC",
        "F9",
        "FFFFFFFFFFFFFFFF",
        "False",
        "101001011",
        None,
    ]
    assert ET.fromstring(xml).attrib == {"Qty": "09"}


def _check_elements(value: tuple[str, Any], element: ET.Element) -> None:
    name, item = value
    assert element.tag == DATA_ELEMENTS[name]
    if name in ("array", "structure"):
        assert element.attrib == {"Qty": f"{len(item):02X}"}
        assert len(element) == len(item)
        for child_value, child in zip(item, element, strict=True):
            _check_elements(child_value, child)
    elif name in ("null-data", "dont-care"):
        assert element.attrib == {}
    else:
        assert "Value" in element.attrib


@given(data_values())
def test_every_data_value_gives_one_element_per_value(value: tuple[str, Any]) -> None:
    """Any Data value (all alternatives, any nesting, any string) is well-formed XML with one
    element per value, named after Gurux's data type."""
    decoded, _ = decode_data(encode_data(value))
    _check_elements(decoded, ET.fromstring(data_to_xml(decoded)))


def test_every_data_alternative_has_an_element_name() -> None:
    """All 25 alternatives of the module's Data CHOICE are named."""
    from cosem_reader.axdr.generated.cosem_pdu import TYPES  # noqa: PLC0415

    alternatives = {a.name for a in TYPES["Data"].alternatives}  # type: ignore[union-attr]
    assert alternatives == set(DATA_ELEMENTS)


def test_compact_array_shows_description_and_contents() -> None:
    """compact-array: the type description as empty elements, the contents as hex."""
    raw = bytes([19, 2, 2, 18, 9]) + encode_length(9) + bytes.fromhex("000102414200020143")
    decoded, _ = decode_data(raw)
    root = ET.fromstring(data_to_xml(decoded))
    assert root.tag == "CompactArray"
    description, contents = root
    assert [e.tag for e in description.iter()] == [
        "ContentsDescription",
        "Structure",
        "UInt16",
        "OctetString",
    ]
    assert contents.tag == "ArrayContents"
    assert contents.attrib == {"Value": "000102414200020143"}


def test_ciphered_apdu_without_key() -> None:
    """A general-glo-ciphering push: system title, then SC ‖ frame counter ‖ ciphertext ‖ tag."""
    title = b"KFM\x10\x20\x30\x40\x50"
    apdu = encipher(
        _small_notification(), bytes(16), title, 35, security_control=0x30, auth_key=bytes(16)
    )
    ciphered = parse_ciphered_apdu(apdu)
    xml = ciphered_to_xml(ciphered)
    root = ET.fromstring(xml)
    assert root.tag == "GeneralGloCiphering"
    assert [(e.tag, e.attrib["Value"]) for e in root] == [
        ("SystemTitle", title.hex().upper()),
        ("CipheredService", apdu[11:].hex().upper()),
    ]
    assert "frame counter 35" in xml
    assert "<!--" not in ciphered_to_xml(ciphered, comments=False)


def test_ciphered_short_form_is_one_element() -> None:
    """glo-get-response (0xCC) carries no system title: one element with the ciphered service."""
    title = b"KFM\x10\x20\x30\x40\x50"
    apdu = encipher(b"\xc4\x01\xc1\x00\x11\x05", bytes(16), title, 7, tag=0xCC)
    ciphered = parse_ciphered_apdu(apdu, title)
    root = ET.fromstring(ciphered_to_xml(ciphered))
    assert root.tag == "glo_GetResponse"
    assert root.attrib == {"Value": apdu[2:].hex().upper()}


def test_tree_that_is_not_an_apdu_is_refused() -> None:
    """A bare Data value or anything else is not an APDU tree."""
    with pytest.raises(ValueError, match="APDU tree"):
        apdu_to_xml([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an alternative of the Data CHOICE"):
        data_to_xml(("no-such-type", 1))


def test_unknown_apdu_kinds_are_written_generically() -> None:
    """An APDU without a Gurux writer here (set-response) still gives well-formed XML."""
    tree = decode_apdu(bytes.fromhex("C501C100"))
    root = ET.fromstring(apdu_to_xml(tree))
    assert root.tag == "SetResponse"
    assert root[0].tag == "SetResponseNormal"
