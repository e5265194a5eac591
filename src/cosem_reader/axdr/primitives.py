"""The A-XDR leaves (IEC 61334-6): lengths, integers, strings, and the CHOICE entries
that decode a leaf alternative without a call of its own.  :class:`~cosem_reader.axdr
.schema.Schema` compiles the descriptors into these; they know no descriptor."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from cosem_reader.axdr.descriptors import BitString as BitStringType
from cosem_reader.axdr.descriptors import Integer, Tagged
from cosem_reader.errors import AxdrError

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
    """An A-XDR length: one byte below 0x80, else 0x8N followed by N (1..4) bytes.

    Shared by every layer that reads A-XDR framing (the security header, block
    transfer); their messages wrap this one's.
    """
    try:
        first = buf[pos]
    except IndexError:
        raise AxdrError("the data ends where a length should be", offset=pos) from None
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise AxdrError(
            f"0x{first:02X} is no A-XDR length (one byte below 0x80, or 0x81-0x84 and"
            " that many bytes)",
            offset=pos,
        )
    end = pos + 1 + count
    if end > len(buf):
        raise AxdrError(f"the data ends inside a {count}-byte length", offset=pos)
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


#: ``entry(buf, pos) -> ((alternative_name, value), next_pos)``: one alternative of a
#: CHOICE, called with ``pos`` after the tag byte; it builds the CHOICE's tuple itself.
_Entry = Callable[[bytes, int], tuple[tuple[str, Any], int]]


_Unpack = Callable[[bytes, int], tuple[Any, ...]]


def _fixed_integer(descriptor: Integer) -> tuple[int, _Unpack] | None:
    """Size and ``struct`` reader of an INTEGER whose range fits 1, 2, 4 or 8 bytes."""
    if descriptor.lower is None or descriptor.upper is None:
        return None
    fixed = _integer_size(descriptor.lower, descriptor.upper)
    if fixed is None:
        return None
    return fixed[0], _INTEGER_FORMATS[fixed].unpack_from


def _unknown_tag(tag: int, known: str, pos: int) -> AxdrError:
    return AxdrError(
        f"tag {tag} (0x{tag:02X}) is not an alternative of this CHOICE (known: {known}, …)",
        offset=pos,
    )


def _element_count(buf: bytes, pos: int, element_may_be_empty: bool) -> tuple[int, int]:
    """The element count of a SEQUENCE OF, checked against the bytes that follow."""
    # The one-byte length inline (the common case); decode_length for the rest,
    # including the error when the data ends here.
    if pos < len(buf) and buf[pos] < 0x80:
        count = buf[pos]
        pos += 1
    else:
        count, pos = decode_length(buf, pos)
    left = len(buf) - pos
    if count > left and not (element_may_be_empty and count <= _MAX_NULL_RUN):
        raise AxdrError(f"announces {count} elements but only {left} bytes follow", offset=pos)
    return count, pos


# -- CHOICE entries of the leaves ------------------------------------------------------


def _integer_entry(name: str, size: int, unpack_from: _Unpack) -> _Entry:
    def integer_entry(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        try:
            return (name, unpack_from(buf, pos)[0]), pos + size
        except struct.error:
            raise _truncated(pos, size, buf) from None

    return integer_entry


def _null_entry(name: str) -> _Entry:
    value = (name, None)

    def null_entry(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        return value, pos

    return null_entry


def _octet_string_entry(name: str) -> _Entry:
    def octet_string_entry(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        if pos < len(buf) and buf[pos] < 0x80:
            size = buf[pos]
            pos += 1
        else:
            size, pos = decode_length(buf, pos)
        end = pos + size
        if end > len(buf):
            raise _truncated(pos, size, buf)
        return (name, buf[pos:end]), end

    return octet_string_entry


def _fixed_octets_entry(name: str, size: int) -> _Entry:
    def fixed_octets_entry(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        end = pos + size
        if end > len(buf):
            raise _truncated(pos, size, buf)
        return (name, buf[pos:end]), end

    return fixed_octets_entry


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


def _text_encoding(kind: str) -> str:
    return "utf-8" if kind == "UTF8String" else "latin-1"


def _compile_character_string(kind: str) -> Decoder:
    encoding = _text_encoding(kind)

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


def _compile_integer(descriptor: Integer) -> Decoder:
    fixed = _fixed_integer(descriptor)
    if fixed is None:
        return _decode_variable_integer
    size, unpack_from = fixed

    def decode_integer(buf: bytes, pos: int) -> tuple[Any, int]:
        try:
            return unpack_from(buf, pos)[0], pos + size
        except struct.error:
            raise _truncated(pos, size, buf) from None

    return decode_integer
