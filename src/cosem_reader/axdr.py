"""A-XDR decoding (IEC 61334-6) driven by the generated ASN.1 type descriptors.

A :class:`Schema` compiles each descriptor of ``cosem_reader.generated.cosem_pdu``
once into a decoding function ``decode(buf, pos) -> (value, next_pos)`` and caches
it, so the walk over a push costs one closure call per ASN.1 value: no descriptor
is interpreted twice and no buffer is sliced element by element.

The tree it returns (see ``docs/architecture.md``):

=================  ====================================================
ASN.1              Python
=================  ====================================================
CHOICE             ``(alternative_name, value)``
SEQUENCE           ``dict`` by component name (absent OPTIONAL left out)
SEQUENCE OF        ``list``
INTEGER            ``int``
ENUMERATED         its name, or the ``int`` when the module names none
BOOLEAN            ``bool``
NULL               ``None``
OCTET STRING       ``bytes``
BIT STRING         :class:`BitString`
character strings  ``str``
=================  ====================================================

Errors are :class:`~cosem_reader.errors.AxdrError` with the byte offset and the
ASN.1 path, e.g. ``XDLMS-APDU.data-notification.notification-body.data-value
.structure[3].long-unsigned: needs 2 bytes, 1 left (at byte 61)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from cosem_reader.descriptors import (
    BitString as BitStringType,
)
from cosem_reader.descriptors import (
    Boolean,
    CharacterString,
    Choice,
    Descriptor,
    Enumerated,
    Integer,
    Null,
    ObjectIdentifier,
    OctetString,
    Reference,
    Sequence,
    SequenceOf,
    Tagged,
)
from cosem_reader.errors import AxdrError

__all__ = ["BitString", "Decoder", "Schema", "decode_length"]

#: ``decode(buf, pos) -> (value, next_pos)``
Decoder = Callable[[bytes, int], tuple[Any, int]]

#: The largest element count a length may announce before a decoder reads it.
#: Every element takes at least one byte (except NULL), so a count larger than
#: what is left cannot be right; checking it keeps garbage from allocating.
_MAX_NULL_RUN = 4096


class BitString(NamedTuple):
    """A BIT STRING value: ``length`` bits, first bit in the high bit of ``data[0]``."""

    data: bytes
    length: int

    def bits(self) -> str:
        """The bits as a string of ``0`` and ``1``, as Gurux prints them."""
        text = "".join(f"{byte:08b}" for byte in self.data)
        return text[: self.length]


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    """An A-XDR length: one byte below 0x80, else 0x8N followed by N bytes."""
    try:
        first = buf[pos]
    except IndexError:
        raise AxdrError("a length is missing: the data ends here", offset=pos) from None
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise AxdrError(f"invalid length prefix 0x{first:02X}", offset=pos)
    end = pos + 1 + count
    if end > len(buf):
        raise AxdrError(f"a {count}-byte length needs {count} more bytes", offset=pos)
    return int.from_bytes(buf[pos + 1 : end], "big"), end


def _truncated(pos: int, needed: int, buf: bytes) -> AxdrError:
    left = max(0, len(buf) - pos)
    return AxdrError(f"needs {needed} bytes, {left} left: the data is truncated", offset=pos)


def _with_path(error: AxdrError, step: str) -> AxdrError:
    return AxdrError(error.message, offset=error.offset, path=(step, *error.path), hint=error.hint)


_INTEGER_FORMATS: dict[tuple[int, bool], struct.Struct] = {
    (1, False): struct.Struct(">B"),
    (1, True): struct.Struct(">b"),
    (2, False): struct.Struct(">H"),
    (2, True): struct.Struct(">h"),
    (4, False): struct.Struct(">I"),
    (4, True): struct.Struct(">i"),
    (8, False): struct.Struct(">Q"),
    (8, True): struct.Struct(">q"),
}


def _integer_size(lower: int, upper: int) -> tuple[int, bool] | None:
    """The fixed A-XDR size of an INTEGER whose range is ``lower..upper``."""
    signed = lower < 0
    for size in (1, 2, 4, 8):
        bits = size * 8
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if low <= lower and upper <= high:
            return size, signed
    return None


class Schema:
    """Decoders for the type assignments of one ASN.1 module, compiled on first use."""

    def __init__(self, types: Mapping[str, Descriptor], module_name: str = "") -> None:
        self.types = types
        self.module_name = module_name
        self._compiled: dict[str, Decoder] = {}

    def decoder(self, type_name: str) -> Decoder:
        """The decoding function of a type assignment; errors carry the type name in the path."""
        compiled = self._compiled.get(type_name)
        if compiled is not None:
            return compiled
        if type_name not in self.types:
            raise KeyError(f"{type_name} is not a type of the module {self.module_name}")
        # A recursive type (Data is a SEQUENCE OF Data) sees this trampoline while it
        # is being compiled; everything compiled later gets the real decoder.
        cell: list[Decoder] = []

        def forward(buf: bytes, pos: int) -> tuple[Any, int]:
            return cell[0](buf, pos)

        self._compiled[type_name] = forward
        real = self._compile(self.types[type_name])
        cell.append(real)
        self._compiled[type_name] = real
        return real

    def decode(self, type_name: str, data: bytes, offset: int = 0) -> tuple[Any, int]:
        """Decode one value of ``type_name`` from ``data`` at ``offset``."""
        decode = self.decoder(type_name)
        try:
            return decode(data, offset)
        except AxdrError as error:
            raise _with_path(error, type_name) from None
        except (IndexError, struct.error):
            raise AxdrError("the data ends in the middle of a value", path=(type_name,)) from None

    # -- compilation -----------------------------------------------------------------

    def _compile(self, descriptor: Descriptor) -> Decoder:
        match descriptor:
            case Reference(name=name):
                return self.decoder(name)
            case Integer():
                return self._compile_integer(descriptor)
            case Enumerated(values=values):
                return _compile_enumerated(values)
            case Boolean():
                return _decode_boolean
            case Null():
                return _decode_null
            case OctetString(size=size):
                return _decode_octet_string if size is None else _compile_fixed_octets(size)
            case BitStringType():
                return _decode_bit_string
            case CharacterString(kind=kind):
                return _compile_character_string(kind)
            case Choice():
                return self._compile_choice(descriptor)
            case Sequence():
                return self._compile_sequence(descriptor)
            case SequenceOf(element=element):
                return self._compile_sequence_of(element)
            case Tagged():
                return _compile_tagged(descriptor)
            case ObjectIdentifier():
                return _compile_unsupported("OBJECT IDENTIFIER is BER encoded, not A-XDR")
        raise TypeError(f"unknown descriptor {descriptor!r}")  # pragma: no cover

    def _compile_integer(self, descriptor: Integer) -> Decoder:
        if descriptor.lower is None or descriptor.upper is None:
            return _decode_variable_integer
        fixed = _integer_size(descriptor.lower, descriptor.upper)
        if fixed is None:
            return _decode_variable_integer
        size = fixed[0]
        unpack_from = _INTEGER_FORMATS[fixed].unpack_from

        def decode_integer(buf: bytes, pos: int) -> tuple[Any, int]:
            try:
                return unpack_from(buf, pos)[0], pos + size
            except struct.error:
                raise _truncated(pos, size, buf) from None

        return decode_integer

    def _compile_choice(self, descriptor: Choice) -> Decoder:
        table: list[tuple[str, Decoder] | None] = [None] * 256
        for alternative in descriptor.alternatives:
            table[alternative.tag] = (alternative.name, self._compile(alternative.type))
        known = ", ".join(str(a.tag) for a in descriptor.alternatives[:8])

        def decode_choice(buf: bytes, pos: int) -> tuple[Any, int]:
            try:
                tag = buf[pos]
            except IndexError:
                raise _truncated(pos, 1, buf) from None
            entry = table[tag]
            if entry is None:
                raise AxdrError(
                    f"tag {tag} (0x{tag:02X}) is not an alternative of this CHOICE"
                    f" (known: {known}, …)",
                    offset=pos,
                )
            name, decode = entry
            try:
                value, end = decode(buf, pos + 1)
            except AxdrError as error:
                raise _with_path(error, name) from None
            return (name, value), end

        return decode_choice

    def _compile_sequence(self, descriptor: Sequence) -> Decoder:
        fields = tuple(
            (c.name, self._compile(c.type), c.optional or c.has_default, c.has_default, c.default)
            for c in descriptor.components
        )

        def decode_sequence(buf: bytes, pos: int) -> tuple[Any, int]:
            result: dict[str, Any] = {}
            for name, decode, flagged, has_default, default in fields:
                try:
                    if flagged:
                        try:
                            present = buf[pos]
                        except IndexError:
                            raise _truncated(pos, 1, buf) from None
                        pos += 1
                        if not present:
                            if has_default:
                                result[name] = default
                            continue
                    result[name], pos = decode(buf, pos)
                except AxdrError as error:
                    raise _with_path(error, name) from None
            return result, pos

        return decode_sequence

    def _compile_sequence_of(self, element: Descriptor) -> Decoder:
        decode_element = self._compile(element)
        element_may_be_empty = isinstance(element, Null)

        def decode_sequence_of(buf: bytes, pos: int) -> tuple[Any, int]:
            count, pos = decode_length(buf, pos)
            left = len(buf) - pos
            if count > left and not (element_may_be_empty and count <= _MAX_NULL_RUN):
                raise AxdrError(
                    f"announces {count} elements but only {left} bytes follow", offset=pos
                )
            items: list[Any] = []
            append = items.append
            index = 0
            try:
                for index in range(count):  # noqa: B007 - used in the error path
                    value, pos = decode_element(buf, pos)
                    append(value)
            except AxdrError as error:
                raise _with_path(error, f"[{index}]") from None
            return items, pos

        return decode_sequence_of


# -- leaf decoders ---------------------------------------------------------------------


def _decode_null(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _decode_boolean(buf: bytes, pos: int) -> tuple[Any, int]:
    try:
        return buf[pos] != 0, pos + 1
    except IndexError:
        raise _truncated(pos, 1, buf) from None


def _decode_variable_integer(buf: bytes, pos: int) -> tuple[Any, int]:
    """A-XDR INTEGER without a range: 0..127 in one byte, else 0x80|n and n bytes."""
    try:
        first = buf[pos]
    except IndexError:
        raise _truncated(pos, 1, buf) from None
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    end = pos + 1 + count
    if count == 0 or end > len(buf):
        raise _truncated(pos + 1, count, buf)
    return int.from_bytes(buf[pos + 1 : end], "big", signed=True), end


def _compile_enumerated(values: tuple[tuple[str, int], ...]) -> Decoder:
    names: dict[int, str] = {number: name for name, number in values}

    def decode_enumerated(buf: bytes, pos: int) -> tuple[Any, int]:
        try:
            number = buf[pos]
        except IndexError:
            raise _truncated(pos, 1, buf) from None
        return names.get(number, number), pos + 1

    return decode_enumerated


def _decode_octet_string(buf: bytes, pos: int) -> tuple[Any, int]:
    size, pos = decode_length(buf, pos)
    end = pos + size
    if end > len(buf):
        raise _truncated(pos, size, buf)
    return buf[pos:end], end


def _compile_fixed_octets(size: int) -> Decoder:
    def decode_fixed_octets(buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(buf):
            raise _truncated(pos, size, buf)
        return buf[pos:end], end

    return decode_fixed_octets


def _decode_bit_string(buf: bytes, pos: int) -> tuple[Any, int]:
    bits, pos = decode_length(buf, pos)
    size = (bits + 7) // 8
    end = pos + size
    if end > len(buf):
        raise _truncated(pos, size, buf)
    return BitString(bytes(buf[pos:end]), bits), end


def _compile_character_string(kind: str) -> Decoder:
    encoding = "utf-8" if kind == "UTF8String" else "latin-1"

    def decode_character_string(buf: bytes, pos: int) -> tuple[Any, int]:
        size, pos = decode_length(buf, pos)
        end = pos + size
        if end > len(buf):
            raise _truncated(pos, size, buf)
        return bytes(buf[pos:end]).decode(encoding, errors="replace"), end

    return decode_character_string


def _compile_tagged(descriptor: Tagged) -> Decoder:
    if isinstance(descriptor.type, BitStringType) and descriptor.tag_class == "APPLICATION":
        return _compile_ber_bit_string(descriptor.number)
    return _compile_unsupported(
        f"[{descriptor.tag_class} {descriptor.number}] types are BER encoded (ACSE), not A-XDR"
    )


def _compile_ber_bit_string(number: int) -> Decoder:
    """``Conformance`` travels BER encoded inside the A-XDR InitiateRequest/-Response."""
    identifier = bytes([0x5F, number]) if number >= 31 else bytes([0x40 | number])

    def decode_ber_bit_string(buf: bytes, pos: int) -> tuple[Any, int]:
        if bytes(buf[pos : pos + len(identifier)]) != identifier:
            raise AxdrError(f"expected the BER tag {identifier.hex().upper()}", offset=pos)
        pos += len(identifier)
        size, pos = decode_length(buf, pos)
        end = pos + size
        if size < 1 or end > len(buf):
            raise _truncated(pos, max(size, 1), buf)
        unused = buf[pos]
        return BitString(bytes(buf[pos + 1 : end]), (size - 1) * 8 - unused), end

    return decode_ber_bit_string


def _compile_unsupported(reason: str) -> Decoder:
    def decode_unsupported(buf: bytes, pos: int) -> tuple[Any, int]:
        raise AxdrError(f"cannot decode: {reason}", offset=pos)

    return decode_unsupported
