"""The Gurux DLMS translator's XML for a decoded xDLMS APDU, without Gurux.

Many meter projects compare telegrams in the *simple XML* the Gurux DLMS
translator (``GXDLMSTranslator.pduToXml``) prints.  This module writes the same
element names, attributes and nesting from the A-XDR tree of
:func:`cosem_reader.axdr.apdu.decode_apdu`, so a user can diff our dump against
Gurux's.  Gurux is never imported at run time.

What Gurux prints (gurux-dlms 1.0.203, the Python port; facts re-stated, not copied):

* Every value is an element with a ``Value`` attribute; numbers are upper-case
  hex, zero-padded to their A-XDR size, two's complement for negative numbers:
  ``<Int8 Value="FF" />``, ``<UInt16 Value="08FD" />``,
  ``<UInt32 Value="00001267" />``, ``<Int64 Value="FFFFFFFFFFFFFFFC" />``.
* ``Data`` alternatives are named ``None`` (null-data), ``Array``, ``Structure``,
  ``Boolean``, ``BitString``, ``Int32``, ``UInt32``, ``OctetString``, ``String``
  (visible-string), ``StringUTF8``, ``BCD``, ``Int8``, ``Int16``, ``UInt8``,
  ``UInt16``, ``CompactArray``, ``Int64``, ``UInt64``, ``Enum``, ``Float32``,
  ``Float64``, ``DateTime``, ``Date``, ``Time``.  Arrays and structures carry
  their element count as hex in ``Qty`` (at least two digits: ``Qty="0A"``).
* Booleans are ``True``/``False``; bit strings their bits (``"101001011"``);
  octet strings, floats, date-times, dates and times their bytes as hex.
* Visible and UTF-8 strings are shown as text when every byte is 32..127 (or a
  NUL, trailing NULs dropped), else as hex bytes separated by spaces
  (``"47 72 C3 BC C3 9F 65"``).
* Comments (``<!--…-->``) precede: a 6-byte octet string ending in 255 (the
  OBIS code, ``<!--1.0.1.8.0.255-->``); a 12- or 5-byte octet string that reads
  as a date-time or date of a year between 1970 and 2100; any other printable
  octet string (its text); floats (their value); date-time, date and time values.
  Gurux formats dates with the host's locale and time zone; this module writes
  the meter's wall time, ``<!--2024-03-05 14:30:05-->``, so the output does not
  depend on the machine.
* A data-notification is ``<DataNotification><LongInvokeIdAndPriority/>
  <DateTime/><NotificationBody><DataValue>…``.

Where the Python port of Gurux fails or drops information, this module writes
what the translator means to write and says so in the function's docstring: a
``Date`` value (Gurux 1.0.203 raises), XML escaping of ``< & "`` in strings
(Gurux writes them raw, which is not well-formed XML), the errors inside a
get-response-with-list (Gurux leaves them out), the access selection inside a
get-request-with-list (left out by Gurux), a compact-array (Gurux writes an
empty contents description), ``dont-care`` (Gurux stops), and
general-ded-ciphering (Gurux names it ``GeneralGloCiphering`` too).

Lines end in ``\\n`` (Gurux: ``\\r\\n``); nesting is indented by two spaces.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

from cosem_reader.axdr.schema import BitString
from cosem_reader.security.ciphering import CipheredApdu

__all__ = ["DATA_ELEMENTS", "apdu_to_xml", "ciphered_to_xml", "data_to_xml"]

#: Gurux's element name for each alternative of the ``Data`` CHOICE.
DATA_ELEMENTS: dict[str, str] = {
    "null-data": "None",
    "array": "Array",
    "structure": "Structure",
    "boolean": "Boolean",
    "bit-string": "BitString",
    "double-long": "Int32",
    "double-long-unsigned": "UInt32",
    "octet-string": "OctetString",
    "visible-string": "String",
    "utf8-string": "StringUTF8",
    "bcd": "BCD",
    "integer": "Int8",
    "long": "Int16",
    "unsigned": "UInt8",
    "long-unsigned": "UInt16",
    "compact-array": "CompactArray",
    "long64": "Int64",
    "long64-unsigned": "UInt64",
    "enum": "Enum",
    "float32": "Float32",
    "float64": "Float64",
    "date-time": "DateTime",
    "date": "Date",
    "time": "Time",
    # Gurux has no name for it (its parser stops at tag 255).
    "dont-care": "DontCare",
}

#: Hex digits of each fixed-size integer alternative (twice its A-XDR size).
_INTEGER_DIGITS: dict[str, int] = {
    "integer": 2,
    "bcd": 2,
    "unsigned": 2,
    "enum": 2,
    "long": 4,
    "long-unsigned": 4,
    "double-long": 8,
    "double-long-unsigned": 8,
    "long64": 16,
    "long64-unsigned": 16,
}

#: Gurux's names of the Data-Access-Result values (its ``ErrorCode`` names).
_DATA_ACCESS_RESULTS: dict[str, str] = {
    "success": "Success",
    "hardware-fault": "HardwareFault",
    "temporary-failure": "TemporaryFailure",
    "read-write-denied": "ReadWriteDenied",
    "object-undefined": "UndefinedObject",
    "object-class-inconsistent": "InconsistentClass",
    "object-unavailable": "UnavailableObject",
    "type-unmatched": "UnmatchedType",
    "scope-of-access-violated": "AccessViolated",
    "data-block-unavailable": "DataBlockUnavailable",
    "long-get-aborted": "LongGetOrReadAborted",
    "no-long-get-in-progress": "NoLongGetOrReadInProgress",
    "long-set-aborted": "LongSetOrWriteAborted",
    "no-long-set-in-progress": "NoLongSetOrWriteInProgress",
    "data-block-number-invalid": "DataBlockNumberInvalid",
    "other-reason": "OtherReason",
}

#: Conformance bits in ASN.1 order (bit 0 first) with Gurux's names; bit 6,
#: reserved-six in Green Book 8.3, is delta-value-encoding in later editions.
_CONFORMANCE_BITS: tuple[str, ...] = (
    "ReservedZero",
    "GeneralProtection",
    "GeneralBlockTransfer",
    "Read",
    "Write",
    "UnconfirmedWrite",
    "DeltaValueEncoding",
    "ReservedSeven",
    "Attribute0SupportedWithSet",
    "PriorityMgmtSupported",
    "Attribute0SupportedWithGet",
    "BlockTransferWithGetOrRead",
    "BlockTransferWithSetOrWrite",
    "BlockTransferWithAction",
    "MultipleReferences",
    "InformationReport",
    "DataNotification",
    "Access",
    "ParameterizedAccess",
    "Get",
    "Set",
    "SelectiveAccess",
    "EventNotification",
    "Action",
)

#: Gurux's element names of the ciphered short forms it knows; the others are
#: named by the same pattern (``glo_`` or ``ded_`` and the service in CamelCase).
_CIPHERED_ELEMENTS: dict[str, str] = {
    "glo-initiateRequest": "glo_InitiateRequest",
    "glo-initiateResponse": "glo_InitiateResponse",
    "glo-readRequest": "glo_ReadRequest",
    "glo-readResponse": "glo_ReadResponse",
    "glo-writeRequest": "glo_WriteRequest",
    "glo-writeResponse": "glo_WriteResponse",
    "glo-confirmedServiceError": "glo_GloConfirmedServiceError",
    "glo-get-request": "glo_GetRequest",
    "glo-get-response": "glo_GetResponse",
    "glo-set-request": "glo_SetRequest",
    "glo-set-response": "glo_SetResponse",
    "glo-action-request": "glo_ActionRequest",
    "glo-action-response": "glo_ActionResponse",
    "ded-get-request": "ded_GetRequest",
    "ded-get-response": "ded_GetResponse",
    "ded-set-request": "ded_SetRequest",
    "ded-set-response": "ded_SetResponse",
    "ded-actionRequest": "ded_ActionRequest",
    "ded-action-response": "ded_ActionResponse",
    "ded-confirmedServiceError": "ded_GloConfirmedServiceError",
    "general-glo-ciphering": "GeneralGloCiphering",
    "general-ded-ciphering": "GeneralDedCiphering",
    "general-ciphering": "GeneralCiphering",
}

_OBIS_LENGTH = 6
_DATE_TIME_LENGTH = 12
_DATE_LENGTH = 5
_TIME_LENGTH = 4
_NOT_SPECIFIED = 0xFF
_PRINTABLE = range(32, 127)
#: Bytes Gurux shows as text in a visible or UTF-8 string (NUL included).
_GURUX_TEXT_BYTES = frozenset({0, *range(32, 128)})


# -- the writer ---------------------------------------------------------------------------


def _attribute(value: str) -> str:
    """An attribute value in double quotes, escaped so that a parser reads it back unchanged."""
    escaped = (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )
    return f'"{escaped}"'


def _comment_text(text: str) -> str:
    """Text an XML comment may hold: no ``--``, no trailing ``-``, no control characters."""
    cleaned = "".join(
        char if char.isprintable() or char == " " else f"\\x{ord(char):02x}" for char in text
    )
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "- -")
    return cleaned + " " if cleaned.endswith("-") else cleaned


class _Xml:
    """Lines of simple XML, indented by two spaces per level."""

    def __init__(self, comments: bool) -> None:
        self.comments = comments
        self.lines: list[str] = []
        self.depth = 0

    def _line(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def start(self, tag: str, attributes: Mapping[str, str] | None = None) -> None:
        attrs = "".join(f" {name}={_attribute(v)}" for name, v in (attributes or {}).items())
        self._line(f"<{tag}{attrs}>")
        self.depth += 1

    def end(self, tag: str) -> None:
        self.depth -= 1
        self._line(f"</{tag}>")

    def value(self, tag: str, value: str) -> None:
        self._line(f"<{tag} Value={_attribute(value)} />")

    def empty(self, tag: str, attributes: Mapping[str, str] | None = None) -> None:
        attrs = "".join(f" {name}={_attribute(v)}" for name, v in (attributes or {}).items())
        self._line(f"<{tag}{attrs} />")

    def comment(self, text: str | None) -> None:
        if self.comments and text is not None:
            self._line(f"<!--{_comment_text(text)}-->")

    def text(self) -> str:
        return "\n".join(self.lines)


# -- formatting of values -------------------------------------------------------------------


def _hex(data: bytes | bytearray) -> str:
    return bytes(data).hex().upper()


def _integer_hex(value: int, digits: int) -> str:
    """Upper-case hex, two's complement within ``digits`` hex digits, zero-padded."""
    return f"{value & ((1 << (4 * digits)) - 1):0{digits}X}"


def _field(value: int, width: int) -> str:
    return "*" * width if value == _NOT_SPECIFIED else f"{value:0{width}d}"


def _date_text(data: bytes) -> str:
    """``2024-03-05`` from the first 5 bytes of a COSEM date (unspecified fields as ``*``)."""
    year = int.from_bytes(data[0:2], "big")
    month, day = data[2], data[3]
    year_text = "****" if year == 0xFFFF else f"{year:04d}"
    month_text = {0xFD: "DST-end", 0xFE: "DST-begin"}.get(month, _field(month, 2))
    day_text = {0xFD: "second-last", 0xFE: "last"}.get(day, _field(day, 2))
    return f"{year_text}-{month_text}-{day_text}"


def _time_text(data: bytes) -> str:
    """``09:47:15`` (``.hh`` appended when hundredths are given) from a COSEM time."""
    text = f"{_field(data[0], 2)}:{_field(data[1], 2)}:{_field(data[2], 2)}"
    if data[3] not in (0, _NOT_SPECIFIED):
        text += f".{data[3]:02d}"
    return text


def _date_time_text(data: bytes) -> str:
    """The wall time of a 12-byte COSEM date-time, ``2024-03-05 14:30:05``."""
    return f"{_date_text(data[:_DATE_LENGTH])} {_time_text(data[_DATE_LENGTH:9])}"


def _looks_like_date(data: bytes) -> bool:
    """Gurux's guess: a date whose year lies strictly between 1970 and 2100 and whose
    month and day exist (a day-of-month that does not exist makes it give up)."""
    year = int.from_bytes(data[0:2], "big")
    month, day = data[2], data[3]
    if not 1970 < year < 2100:
        return False
    if month in (0xFD, 0xFE) or day in (0xFD, 0xFE):
        return True
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        # Gurux marks such a field as not specified and still shows the date.
        return True
    days_in_month = (31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                     31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]  # fmt: skip
    return day <= days_in_month


def _octet_string_comment(data: bytes) -> str | None:
    """What Gurux notes above an octet string: OBIS code, date(-time) or text."""
    if not data:
        return None
    if len(data) == _OBIS_LENGTH and data[5] == 0xFF:
        return ".".join(str(byte) for byte in data)
    if len(data) == _DATE_TIME_LENGTH and _looks_like_date(data):
        return _date_time_text(data)
    if len(data) == _DATE_LENGTH and _looks_like_date(data):
        return _date_text(data)
    if all(byte in _PRINTABLE for byte in data):
        return data.decode("ascii")
    return None


def _float_text(data: bytes) -> str:
    if len(data) == 4:
        number = struct.unpack(">f", data)[0]
        text = f"{number:.9g}" if math.isfinite(number) else str(number)
    else:
        text = repr(struct.unpack(">d", data)[0])
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _string_value(raw: bytes) -> tuple[str, str | None]:
    """Gurux's ``Value`` of a visible or UTF-8 string, and the text for a comment when
    ``Value`` shows hex: text when every byte is 32..127 (or NUL), else spaced hex."""
    if all(byte in _GURUX_TEXT_BYTES for byte in raw):
        text = raw.rstrip(b"\x00").decode("ascii")
        # XML cannot carry a NUL, not even escaped: such a string is shown as hex.
        if "\x00" not in text:
            return text, None
    spaced = " ".join(f"{byte:02X}" for byte in raw)
    return spaced, raw.decode("utf-8", errors="replace")


def _character_bytes(name: str, text: str) -> bytes:
    if name == "visible-string":
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return text.encode("utf-8")


# -- Data -----------------------------------------------------------------------------------


def _bit_string(value: Any) -> BitString:
    if isinstance(value, BitString):
        return value
    data, length = value
    return BitString(bytes(data), int(length))


def _write_data(xml: _Xml, value: tuple[str, Any]) -> None:
    name, item = value
    tag = DATA_ELEMENTS.get(name)
    if tag is None:
        raise ValueError(f"{name!r} is not an alternative of the Data CHOICE")
    if name in ("null-data", "dont-care"):
        xml.empty(tag)
    elif name in ("array", "structure"):
        xml.start(tag, {"Qty": _integer_hex(len(item), 2)})
        for element in item:
            _write_data(xml, element)
        xml.end(tag)
    elif name in _INTEGER_DIGITS:
        xml.value(tag, _integer_hex(int(item), _INTEGER_DIGITS[name]))
    elif name == "octet-string":
        xml.comment(_octet_string_comment(bytes(item)))
        xml.value(tag, _hex(item))
    elif name in ("visible-string", "utf8-string"):
        shown, text = _string_value(_character_bytes(name, item))
        xml.comment(text)
        xml.value(tag, shown)
    elif name == "boolean":
        xml.value(tag, "True" if item else "False")
    elif name == "bit-string":
        xml.value(tag, _bit_string(item).bits())
    elif name in ("float32", "float64"):
        xml.comment(_float_text(bytes(item)))
        xml.value(tag, _hex(item))
    elif name == "date-time":
        xml.comment(_date_time_text(bytes(item)) if len(item) == _DATE_TIME_LENGTH else None)
        xml.value(tag, _hex(item))
    elif name == "date":
        xml.comment(_date_text(bytes(item)) if len(item) == _DATE_LENGTH else None)
        xml.value(tag, _hex(item))
    elif name == "time":
        xml.comment(_time_text(bytes(item)) if len(item) == _TIME_LENGTH else None)
        xml.value(tag, _hex(item))
    else:  # compact-array
        _write_compact_array(xml, item)


def _write_type_description(xml: _Xml, description: tuple[str, Any]) -> None:
    name, item = description
    tag = DATA_ELEMENTS.get(name, name)
    if name == "array":
        xml.start(tag, {"Qty": _integer_hex(int(item["number-of-elements"]), 2)})
        _write_type_description(xml, item["type-description"])
        xml.end(tag)
    elif name == "structure":
        xml.start(tag, {"Qty": _integer_hex(len(item), 2)})
        for element in item:
            _write_type_description(xml, element)
        xml.end(tag)
    else:
        xml.empty(tag)


def _write_compact_array(xml: _Xml, item: Mapping[str, Any]) -> None:
    """``<CompactArray><ContentsDescription>`` (the types, as empty elements)
    ``<ArrayContents Value="…" />``: Gurux's element names; Gurux 1.0.203 itself
    writes an empty description and run-together numbers."""
    xml.start("CompactArray")
    xml.start("ContentsDescription")
    _write_type_description(xml, item["contents-description"])
    xml.end("ContentsDescription")
    xml.value("ArrayContents", _hex(item["array-contents"]))
    xml.end("CompactArray")


def data_to_xml(value: tuple[str, Any], *, comments: bool = True) -> str:
    """One ``Data`` value (``("structure", [...])`` etc.) as Gurux's simple XML."""
    xml = _Xml(comments)
    _write_data(xml, value)
    return xml.text()


# -- the APDUs ----------------------------------------------------------------------------------


def _camel(name: str) -> str:
    """``get-request-normal`` → ``GetRequestNormal``, ``initiateRequest`` → ``InitiateRequest``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _access_result(value: Any) -> str:
    if isinstance(value, str):
        return _DATA_ACCESS_RESULTS.get(value, _camel(value))
    return str(value)


def _write_data_notification(xml: _Xml, body: Mapping[str, Any]) -> None:
    xml.start("DataNotification")
    xml.value("LongInvokeIdAndPriority", _integer_hex(body["long-invoke-id-and-priority"], 8))
    date_time = bytes(body["date-time"])
    if len(date_time) == _DATE_TIME_LENGTH:
        xml.comment(_date_time_text(date_time))
    xml.value("DateTime", _hex(date_time))
    xml.start("NotificationBody")
    xml.start("DataValue")
    _write_data(xml, body["notification-body"]["data-value"])
    xml.end("DataValue")
    xml.end("NotificationBody")
    xml.end("DataNotification")


def _write_attribute_descriptor(xml: _Xml, descriptor: Mapping[str, Any]) -> None:
    xml.start("AttributeDescriptor")
    xml.comment(str(descriptor["class-id"]))
    xml.value("ClassId", _integer_hex(descriptor["class-id"], 4))
    instance = bytes(descriptor["instance-id"])
    xml.comment(".".join(str(byte) for byte in instance))
    xml.value("InstanceId", _hex(instance))
    xml.value("AttributeId", _integer_hex(descriptor["attribute-id"], 2))
    xml.end("AttributeDescriptor")


def _write_access_selection(xml: _Xml, selection: Mapping[str, Any] | None) -> None:
    if selection is None:
        return
    xml.start("AccessSelection")
    xml.value("AccessSelector", _integer_hex(selection["access-selector"], 2))
    xml.start("AccessParameters")
    _write_data(xml, selection["access-parameters"])
    xml.end("AccessParameters")
    xml.end("AccessSelection")


def _write_get_request(xml: _Xml, request: tuple[str, Any]) -> None:
    """get-request-normal, -next and -with-list; in a with-list request the access
    selection of each descriptor is written too (Gurux 1.0.203 leaves it out)."""
    kind, body = request
    tags = {
        "get-request-normal": "GetRequestNormal",
        "get-request-next": "GetRequestForNextDataBlock",
        "get-request-with-list": "GetRequestWithList",
    }
    tag = tags.get(kind, _camel(kind))
    xml.start("GetRequest")
    xml.start(tag)
    xml.value("InvokeIdAndPriority", _integer_hex(body["invoke-id-and-priority"], 2))
    if kind == "get-request-normal":
        _write_attribute_descriptor(xml, body["cosem-attribute-descriptor"])
        _write_access_selection(xml, body.get("access-selection"))
    elif kind == "get-request-next":
        xml.value("BlockNumber", _integer_hex(body["block-number"], 8))
    else:
        items = body["attribute-descriptor-list"]
        xml.start("AttributeDescriptorList", {"Qty": _integer_hex(len(items), 2)})
        for item in items:
            xml.start("AttributeDescriptorWithSelection")
            _write_attribute_descriptor(xml, item["cosem-attribute-descriptor"])
            _write_access_selection(xml, item.get("access-selection"))
            xml.end("AttributeDescriptorWithSelection")
        xml.end("AttributeDescriptorList")
    xml.end(tag)
    xml.end("GetRequest")


def _write_get_data_result(xml: _Xml, result: tuple[str, Any]) -> None:
    kind, value = result
    if kind == "data":
        xml.start("Data")
        _write_data(xml, value)
        xml.end("Data")
    else:
        xml.value("DataAccessError", _access_result(value))


def _write_get_response(xml: _Xml, response: tuple[str, Any]) -> None:
    """get-response-normal, -with-datablock (Gurux spells it ``GetResponsewithDataBlock``)
    and -with-list; errors in a list are written as ``DataAccessError`` (Gurux 1.0.203
    drops them)."""
    kind, body = response
    tags = {
        "get-response-normal": "GetResponseNormal",
        "get-response-with-datablock": "GetResponsewithDataBlock",
        "get-response-with-list": "GetResponseWithList",
    }
    tag = tags.get(kind, _camel(kind))
    xml.start("GetResponse")
    xml.start(tag)
    xml.value("InvokeIdAndPriority", _integer_hex(body["invoke-id-and-priority"], 2))
    result = body["result"]
    if kind == "get-response-normal":
        xml.start("Result")
        _write_get_data_result(xml, result)
        xml.end("Result")
    elif kind == "get-response-with-datablock":
        xml.start("Result")
        xml.value("LastBlock", "01" if result["last-block"] else "00")
        xml.value("BlockNumber", _integer_hex(result["block-number"], 8))
        xml.start("Result")
        block_kind, block = result["result"]
        if block_kind == "raw-data":
            xml.value("RawData", _hex(block))
        else:
            xml.value("DataAccessResult", _access_result(block))
        xml.end("Result")
        xml.end("Result")
    else:
        xml.start("Result", {"Qty": _integer_hex(len(result), 2)})
        for item in result:
            _write_get_data_result(xml, item)
        xml.end("Result")
    xml.end(tag)
    xml.end("GetResponse")


def _write_event_notification(xml: _Xml, body: Mapping[str, Any]) -> None:
    xml.start("EventNotificationRequest")
    if "time" in body:
        time = bytes(body["time"])
        if len(time) == _DATE_TIME_LENGTH:
            xml.comment(_date_time_text(time))
        xml.value("Time", _hex(time))
    _write_attribute_descriptor(xml, body["cosem-attribute-descriptor"])
    xml.start("AttributeValue")
    _write_data(xml, body["attribute-value"])
    xml.end("AttributeValue")
    xml.end("EventNotificationRequest")


def _write_general_block_transfer(xml: _Xml, body: Mapping[str, Any]) -> None:
    """Block control: bit 7 last block, bit 6 streaming, bits 0–5 window size."""
    control = int(body["block-control"])
    xml.start("GeneralBlockTransfer")
    xml.comment(f"Last block: {bool(control & 0x80)}")
    xml.comment(f"Streaming: {bool(control & 0x40)}")
    xml.comment(f"Window size: {control & 0x3F}")
    xml.value("BlockControl", _integer_hex(control, 2))
    xml.value("BlockNumber", _integer_hex(body["block-number"], 4))
    xml.value("BlockNumberAck", _integer_hex(body["block-number-ack"], 4))
    xml.value("BlockData", _hex(body["block-data"]))
    xml.end("GeneralBlockTransfer")


def _write_conformance(xml: _Xml, tag: str, conformance: Any) -> None:
    bits = _bit_string(conformance)
    xml.start(tag)
    for index, flag in enumerate(bits.bits()):
        if flag == "1" and index < len(_CONFORMANCE_BITS):
            xml.empty("ConformanceBit", {"Name": _CONFORMANCE_BITS[index]})
    xml.end(tag)


def _write_initiate_request(xml: _Xml, body: Mapping[str, Any]) -> None:
    """InitiateRequest; response-allowed is written only when FALSE (its default is TRUE)."""
    xml.start("InitiateRequest")
    if "dedicated-key" in body:
        xml.value("DedicatedKey", _hex(body["dedicated-key"]))
    if body.get("response-allowed") is False:
        xml.value("ResponseAllowed", "false")
    if "proposed-quality-of-service" in body:
        xml.value("ProposedQualityOfService", _integer_hex(body["proposed-quality-of-service"], 2))
    xml.value("ProposedDlmsVersionNumber", _integer_hex(body["proposed-dlms-version-number"], 2))
    _write_conformance(xml, "ProposedConformance", body["proposed-conformance"])
    xml.value("ProposedMaxPduSize", _integer_hex(body["client-max-receive-pdu-size"], 4))
    xml.end("InitiateRequest")


def _write_initiate_response(xml: _Xml, body: Mapping[str, Any]) -> None:
    xml.start("InitiateResponse")
    if "negotiated-quality-of-service" in body:
        quality = body["negotiated-quality-of-service"]
        xml.value("NegotiatedQualityOfService", _integer_hex(quality, 2))
    version = body["negotiated-dlms-version-number"]
    xml.value("NegotiatedDlmsVersionNumber", _integer_hex(version, 2))
    _write_conformance(xml, "NegotiatedConformance", body["negotiated-conformance"])
    xml.value("NegotiatedMaxPduSize", _integer_hex(body["server-max-receive-pdu-size"], 4))
    xml.value("VaaName", _integer_hex(body["vaa-name"], 4))
    xml.end("InitiateResponse")


def _write_exception_response(xml: _Xml, body: Mapping[str, Any]) -> None:
    """ExceptionResponse; the invocation counter of an invocation-counter-error (which
    Gurux 1.0.203 cannot show) goes into a comment."""
    xml.start("ExceptionResponse")
    state = body["state-error"]
    xml.value("StateError", _camel(state) if isinstance(state, str) else str(state))
    error, detail = body["service-error"]
    if detail is not None:
        xml.comment(f"invocation counter {detail}")
    xml.value("ServiceError", _camel(error))
    xml.end("ExceptionResponse")


def _write_general_ciphering_tree(xml: _Xml, kind: str, body: Mapping[str, Any]) -> None:
    tag = _CIPHERED_ELEMENTS[kind]
    xml.start(tag)
    xml.value("SystemTitle", _hex(body["system-title"]))
    xml.value("CipheredService", _hex(body["ciphered-content"]))
    xml.end(tag)


def _ciphered_element(kind: str) -> str:
    known = _CIPHERED_ELEMENTS.get(kind)
    if known is not None:
        return known
    prefix, _, service = kind.partition("-")
    return f"{prefix}_{_camel(service)}"


_WRITERS: dict[str, Callable[[_Xml, Any], None]] = {
    "data-notification": _write_data_notification,
    "get-request": _write_get_request,
    "get-response": _write_get_response,
    "event-notification-request": _write_event_notification,
    "general-block-transfer": _write_general_block_transfer,
    "initiateRequest": _write_initiate_request,
    "initiateResponse": _write_initiate_response,
    "exception-response": _write_exception_response,
}


def _write_generic(xml: _Xml, name: str, value: Any) -> None:
    """Any other part of the tree: one element per component, named in CamelCase
    after the ASN.1 module (not Gurux's names; Gurux is not compared here)."""
    tag = _camel(name)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        if value[0] in DATA_ELEMENTS and name in ("data", "list-of-data", "value"):
            xml.start(tag)
            _write_data(xml, value)
            xml.end(tag)
            return
        xml.start(tag)
        _write_generic(xml, value[0], value[1])
        xml.end(tag)
    elif isinstance(value, Mapping):
        xml.start(tag)
        for key, item in value.items():
            _write_generic(xml, key, item)
        xml.end(tag)
    elif isinstance(value, list):
        xml.start(tag, {"Qty": _integer_hex(len(value), 2)})
        for item in value:
            _write_generic(xml, name if name != "list-of-data" else "data", item)
        xml.end(tag)
    elif value is None:
        xml.empty(tag)
    elif isinstance(value, bool):
        xml.value(tag, "True" if value else "False")
    elif isinstance(value, int):
        xml.value(tag, f"{value:X}" if value >= 0 else str(value))
    elif isinstance(value, bytes | bytearray):
        xml.value(tag, _hex(value))
    elif isinstance(value, BitString):
        xml.value(tag, value.bits())
    else:
        xml.value(tag, str(value))


def apdu_to_xml(tree: tuple[str, Any], *, comments: bool = True) -> str:
    """The Gurux translator's simple XML for a decoded xDLMS APDU.

    ``tree`` is what :func:`cosem_reader.axdr.apdu.decode_apdu` returns, e.g.
    ``("data-notification", {...})``.  Gurux's element names and nesting are
    written for data-notification, get-request, get-response,
    event-notification-request, general-block-transfer, initiateRequest,
    initiateResponse, exception-response, general-glo/ded-ciphering and the
    ciphered short forms; any other APDU is written generically (element names
    from the ASN.1 module).  ``comments=False`` leaves out the ``<!--…-->`` notes.
    Raises ValueError for a tree that is not a decoded APDU.
    """
    if not (isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[0], str)):
        raise ValueError("expected an APDU tree (alternative_name, value) from decode_apdu")
    kind, body = tree
    xml = _Xml(comments)
    writer = _WRITERS.get(kind)
    if writer is not None:
        writer(xml, body)
    elif kind in ("general-glo-ciphering", "general-ded-ciphering"):
        _write_general_ciphering_tree(xml, kind, body)
    elif isinstance(body, bytes | bytearray) and kind.startswith(("glo-", "ded-")):
        # Gurux shows what follows the length: SC, frame counter, ciphertext, tag.
        xml.value(_ciphered_element(kind), _hex(body))
    else:
        _write_generic(xml, kind, body)
    return xml.text()


def ciphered_to_xml(ciphered: CipheredApdu, *, comments: bool = True) -> str:
    """What the Gurux translator prints for a ciphered APDU it cannot decipher.

    general-glo-ciphering: ``<GeneralGloCiphering><SystemTitle Value="…" />
    <CipheredService Value="…" /></GeneralGloCiphering>``, the ciphered service
    being security control byte ‖ frame counter ‖ ciphertext ‖ authentication tag.
    general-ded-ciphering is ``GeneralDedCiphering`` (Gurux 1.0.203 prints
    ``GeneralGloCiphering`` for it too); the short forms are one element such as
    ``<glo_GetResponse Value="…" />``.  The comment spells out the security header.
    """
    service = (
        bytes([ciphered.security_control])
        + ciphered.frame_counter.to_bytes(4, "big")
        + ciphered.ciphertext
        + (ciphered.auth_tag or b"")
    )
    security = ciphered.security
    note = (
        f"Security control 0x{ciphered.security_control:02X}: suite {security.suite}"
        f"{', authenticated' if security.authenticated else ''}"
        f"{', encrypted' if security.encrypted else ''}"
        f"; frame counter {ciphered.frame_counter}; a key is needed to decipher it"
    )
    xml = _Xml(comments)
    tag = _ciphered_element(ciphered.kind)
    if ciphered.kind in ("general-glo-ciphering", "general-ded-ciphering"):
        xml.start(tag)
        xml.comment(note)
        xml.value("SystemTitle", _hex(ciphered.system_title or b""))
        xml.value("CipheredService", _hex(service))
        xml.end(tag)
    else:
        xml.comment(note)
        xml.value(tag, _hex(service))
    return xml.text()
