"""The Gurux DLMS translator's XML for one A-XDR ``Data`` value, and the XML writer.

See :mod:`cosem_reader.output.gurux_xml` for what Gurux prints and where this differs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

from cosem_reader.axdr.schema import BitString

__all__ = [
    "DATA_ELEMENTS",
    "DATE_TIME_LENGTH",
    "Xml",
    "bit_string",
    "data_to_xml",
    "date_time_text",
    "hex_text",
    "integer_hex",
    "write_data",
]


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


_OBIS_LENGTH = 6
DATE_TIME_LENGTH = 12
_DATE_LENGTH = 5
_TIME_LENGTH = 4
_NOT_SPECIFIED = 0xFF
_PRINTABLE = range(32, 127)
#: Bytes Gurux shows as text in a visible or UTF-8 string (NUL included).
_GURUX_TEXT_BYTES = frozenset({0, *range(32, 128)})


# -- the writer ---------------------------------------------------------------------------


#: What an attribute value escapes so that a parser reads it back unchanged (one pass,
#: so the ``&`` of an escape is never escaped again).
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
     "\r": "&#13;"}
)  # fmt: skip


def _attribute(value: str) -> str:
    """An attribute value in double quotes, escaped."""
    return f'"{value.translate(_ATTRIBUTE_ESCAPES)}"'


def _comment_text(text: str) -> str:
    """Text an XML comment may hold: no ``--``, no trailing ``-``, no control characters."""
    if text.isprintable() and "--" not in text and text[-1:] != "-":
        return text  # the common case (OBIS codes, dates, numbers), checked in C
    cleaned = "".join(
        char if char.isprintable() or char == " " else f"\\x{ord(char):02x}" for char in text
    )
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "- -")
    return cleaned + " " if cleaned.endswith("-") else cleaned


class Xml:
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


def hex_text(data: bytes | bytearray) -> str:
    return bytes(data).hex().upper()


def integer_hex(value: int, digits: int) -> str:
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


def date_time_text(data: bytes) -> str:
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
    if len(data) == DATE_TIME_LENGTH and _looks_like_date(data):
        return date_time_text(data)
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


def bit_string(value: Any) -> BitString:
    if isinstance(value, BitString):
        return value
    data, length = value
    return BitString(bytes(data), int(length))


def write_data(xml: Xml, value: tuple[str, Any]) -> None:
    """One ``Data`` value as lines of ``xml`` at its depth."""
    _write(value, "  " * xml.depth, xml.comments, xml.lines)


# The Data writers append finished lines to ``out`` (one f-string a line, no ``Xml``
# call): a push has some sixty Data values, and the writer was most of ``--format xml``.
_Writer = Callable[[Any, str, bool, list[str]], None]


def _write(value: tuple[str, Any], indent: str, comments: bool, out: list[str]) -> None:
    name, item = value
    writer = _DATA_WRITERS.get(name)
    if writer is None:
        raise ValueError(f"{name!r} is not an alternative of the Data CHOICE")
    writer(item, indent, comments, out)


def _list_writer(tag: str) -> _Writer:
    def write(item: Any, indent: str, comments: bool, out: list[str]) -> None:
        out.append(f'{indent}<{tag} Qty="{len(item) & 0xFF:02X}">')
        inner = indent + "  "
        writers = _DATA_WRITERS
        for name, element in item:
            # _write() inlined: a push has some sixty elements; it raises for a bad name.
            writer = writers.get(name)
            if writer is None:
                _write((name, element), inner, comments, out)
            else:
                writer(element, inner, comments, out)
        out.append(f"{indent}</{tag}>")

    return write


def _integer_writer(tag: str, digits: int) -> _Writer:
    mask = (1 << (4 * digits)) - 1
    spec = f"0{digits}X"

    def write(item: Any, indent: str, comments: bool, out: list[str]) -> None:
        out.append(f'{indent}<{tag} Value="{int(item) & mask:{spec}}" />')

    return write


def _empty_writer(tag: str) -> _Writer:
    def write(item: Any, indent: str, comments: bool, out: list[str]) -> None:
        out.append(f"{indent}<{tag} />")

    return write


def _hex_writer(tag: str, note: Callable[[bytes], str | None]) -> _Writer:
    """An element whose ``Value`` is its bytes in hex, below what ``note`` says of them."""

    def write(item: Any, indent: str, comments: bool, out: list[str]) -> None:
        data = bytes(item)
        if comments:
            text = note(data)
            if text is not None:
                out.append(f"{indent}<!--{_comment_text(text)}-->")
        out.append(f'{indent}<{tag} Value="{data.hex().upper()}" />')

    return write


def _string_writer(name: str) -> _Writer:
    tag = DATA_ELEMENTS[name]

    def write(item: Any, indent: str, comments: bool, out: list[str]) -> None:
        shown, text = _string_value(_character_bytes(name, item))
        if comments and text is not None:
            out.append(f"{indent}<!--{_comment_text(text)}-->")
        out.append(f"{indent}<{tag} Value={_attribute(shown)} />")

    return write


def _write_boolean(item: Any, indent: str, comments: bool, out: list[str]) -> None:
    out.append(f'{indent}<Boolean Value="{"True" if item else "False"}" />')


def _write_bit_string(item: Any, indent: str, comments: bool, out: list[str]) -> None:
    out.append(f"{indent}<BitString Value={_attribute(bit_string(item).bits())} />")


def _write_compact_array_data(item: Any, indent: str, comments: bool, out: list[str]) -> None:
    xml = Xml(comments)
    xml.lines, xml.depth = out, len(indent) // 2
    _write_compact_array(xml, item)


#: The notes above the octet strings of OBIS-code length, which repeat in every push;
#: cleared when full (a meter has a few dozen OBIS codes).
_OBIS_LENGTH_NOTES: dict[bytes, str | None] = {}
_OBIS_LENGTH_NOTES_MAX = 4096


def _octet_string_note(data: bytes) -> str | None:
    if len(data) != _OBIS_LENGTH:
        return _octet_string_comment(data)
    try:
        return _OBIS_LENGTH_NOTES[data]
    except KeyError:
        pass
    note = _octet_string_comment(data)
    if len(_OBIS_LENGTH_NOTES) >= _OBIS_LENGTH_NOTES_MAX:
        _OBIS_LENGTH_NOTES.clear()
    _OBIS_LENGTH_NOTES[data] = note
    return note


def _sized_note(length: int, text: Callable[[bytes], str]) -> Callable[[bytes], str | None]:
    return lambda data: text(data) if len(data) == length else None


_DATA_WRITERS: dict[str, _Writer] = {
    "null-data": _empty_writer("None"),
    "dont-care": _empty_writer("DontCare"),
    "array": _list_writer("Array"),
    "structure": _list_writer("Structure"),
    **{name: _integer_writer(DATA_ELEMENTS[name], n) for name, n in _INTEGER_DIGITS.items()},
    "octet-string": _hex_writer("OctetString", _octet_string_note),
    "visible-string": _string_writer("visible-string"),
    "utf8-string": _string_writer("utf8-string"),
    "boolean": _write_boolean,
    "bit-string": _write_bit_string,
    "float32": _hex_writer("Float32", _float_text),
    "float64": _hex_writer("Float64", _float_text),
    "date-time": _hex_writer("DateTime", _sized_note(DATE_TIME_LENGTH, date_time_text)),
    "date": _hex_writer("Date", _sized_note(_DATE_LENGTH, _date_text)),
    "time": _hex_writer("Time", _sized_note(_TIME_LENGTH, _time_text)),
    "compact-array": _write_compact_array_data,
}


def _write_type_description(xml: Xml, description: tuple[str, Any]) -> None:
    name, item = description
    tag = DATA_ELEMENTS.get(name, name)
    if name == "array":
        xml.start(tag, {"Qty": integer_hex(int(item["number-of-elements"]), 2)})
        _write_type_description(xml, item["type-description"])
        xml.end(tag)
    elif name == "structure":
        xml.start(tag, {"Qty": integer_hex(len(item), 2)})
        for element in item:
            _write_type_description(xml, element)
        xml.end(tag)
    else:
        xml.empty(tag)


def _write_compact_array(xml: Xml, item: Mapping[str, Any]) -> None:
    """``<CompactArray><ContentsDescription>`` (the types, as empty elements)
    ``<ArrayContents Value="…" />``: Gurux's element names; Gurux 1.0.203 itself
    writes an empty description and run-together numbers."""
    xml.start("CompactArray")
    xml.start("ContentsDescription")
    _write_type_description(xml, item["contents-description"])
    xml.end("ContentsDescription")
    xml.value("ArrayContents", hex_text(item["array-contents"]))
    xml.end("CompactArray")


def data_to_xml(value: tuple[str, Any], *, comments: bool = True) -> str:
    """One ``Data`` value (``("structure", [...])`` etc.) as Gurux's simple XML."""
    xml = Xml(comments)
    write_data(xml, value)
    return xml.text()
