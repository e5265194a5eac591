"""A-XDR decoding (IEC 61334-6) driven by the generated ASN.1 type descriptors.

A :class:`Schema` compiles each descriptor of ``cosem_reader.axdr.generated.cosem_pdu``
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

from cosem_reader.axdr.descriptors import (
    BitString as BitStringType,
)
from cosem_reader.axdr.descriptors import (
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
from cosem_reader.axdr.primitives import (
    _INTEGER_FORMATS,
    BitString,
    Decoder,
    _compile_character_string,
    _compile_enumerated,
    _compile_fixed_octets,
    _compile_integer,
    _compile_tagged,
    _compile_unsupported,
    _decode_bit_string,
    _decode_boolean,
    _decode_null,
    _decode_octet_string,
    _element_count,
    _Entry,
    _fixed_integer,
    _fixed_octets_entry,
    _integer_entry,
    _integer_size,
    _null_entry,
    _octet_string_entry,
    _text_encoding,
    _truncated,
    _unknown_tag,
    _with_path,
    decode_length,
)
from cosem_reader.axdr.shapes import AlternativeLayout, ShapeBook
from cosem_reader.errors import AxdrError

__all__ = ["BitString", "Decoder", "Schema", "decode_length"]


class _ChoiceTable(NamedTuple):
    """The dispatch table of a CHOICE: by tag byte, the alternative's entry and name."""

    entries: list[_Entry | None]
    names: list[str | None]
    #: The first tags, for the message on an unknown tag.
    known: str


#: Descriptors whose values an entry can decode without a call of its own.
_LEAVES = (Integer, Enumerated, Boolean, Null, OctetString, BitStringType, CharacterString)


class Schema:
    """Decoders for the type assignments of one ASN.1 module, compiled on first use.

    A CHOICE compiles to a table of 256 entries indexed by the tag byte; each entry
    returns the finished ``(alternative_name, value)`` tuple.  A SEQUENCE OF whose
    element is a CHOICE (``array``/``structure`` of ``Data``) dispatches on that
    table itself, so decoding one element of a structure costs one call.  A type
    that refers to itself (``Data``) is compiled once: the references made while
    it is compiled are patched to the finished decoder, never left on a trampoline.
    """

    def __init__(
        self, types: Mapping[str, Descriptor], module_name: str = "", *, learn_shapes: bool = True
    ) -> None:
        self.types = types
        self.module_name = module_name
        #: Whether a recursive CHOICE (``Data``) learns the layouts it decodes
        #: (:mod:`cosem_reader.axdr.shapes`); off, every value takes the walk.
        self.learn_shapes = learn_shapes
        #: The learned layouts, by type name.
        self.shape_books: dict[str, ShapeBook] = {}
        self._compiled: dict[str, Decoder] = {}
        self._tables: dict[str, _ChoiceTable] = {}
        #: Trampolines of the types being compiled, and who waits for their decoder.
        self._forwards: dict[Decoder, str] = {}
        self._patches: dict[str, list[Callable[[Decoder], None]]] = {}

    def decoder(self, type_name: str) -> Decoder:
        """The decoding function of a type assignment; errors carry the type name in the path."""
        compiled = self._compiled.get(type_name)
        if compiled is not None:
            return compiled
        if type_name not in self.types:
            raise KeyError(f"{type_name} is not a type of the module {self.module_name}")
        # A recursive type (Data is a SEQUENCE OF Data) sees this trampoline while it
        # is being compiled; whoever captured it is patched to the real decoder below.
        cell: list[Decoder] = []

        def forward(buf: bytes, pos: int) -> tuple[Any, int]:
            return cell[0](buf, pos)

        self._compiled[type_name] = forward
        self._forwards[forward] = type_name
        real = self._compile(self.types[type_name], type_name)
        cell.append(real)
        self._compiled[type_name] = real
        del self._forwards[forward]
        for patch in self._patches.pop(type_name, ()):
            patch(real)
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

    def _when_resolved(self, decode: Decoder, patch: Callable[[Decoder], None]) -> None:
        """Call ``patch`` with the real decoder once ``decode``, a trampoline, has one."""
        type_name = self._forwards.get(decode)
        if type_name is not None:
            self._patches.setdefault(type_name, []).append(patch)

    def _compile(self, descriptor: Descriptor, type_name: str | None = None) -> Decoder:
        match descriptor:
            case Reference(name=name):
                return self.decoder(name)
            case Integer():
                return _compile_integer(descriptor)
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
                return self._compile_choice(descriptor, type_name)
            case Sequence():
                return self._compile_sequence(descriptor)
            case SequenceOf(element=element):
                return self._compile_sequence_of(element)
            case Tagged():
                return _compile_tagged(descriptor)
            case ObjectIdentifier():
                return _compile_unsupported("OBJECT IDENTIFIER is BER encoded, not A-XDR")
        raise TypeError(f"unknown descriptor {descriptor!r}")  # pragma: no cover

    def _compile_entry(self, descriptor: Descriptor, name: str) -> _Entry:
        """The entry of one CHOICE alternative: decodes the value, returns ``(name, value)``."""
        if isinstance(descriptor, Reference):
            target = self.types.get(descriptor.name)
            if isinstance(target, _LEAVES):
                return self._compile_entry(target, name)
        match descriptor:
            case Integer():
                fixed = _fixed_integer(descriptor)
                if fixed is not None:
                    return _integer_entry(name, *fixed)
            case Null():
                return _null_entry(name)
            case OctetString(size=None):
                return _octet_string_entry(name)
            case OctetString(size=int(size)):
                return _fixed_octets_entry(name, size)
            case SequenceOf(element=element):
                return self._compile_sequence_of(element, name)
        return self._wrap(self._compile(descriptor), name)

    def _wrap(self, decode: Decoder, name: str) -> _Entry:
        def patch(real: Decoder) -> None:
            nonlocal decode
            decode = real

        self._when_resolved(decode, patch)

        def entry(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
            value, end = decode(buf, pos)
            return (name, value), end

        return entry

    def _choice_table(self, descriptor: Choice, type_name: str | None) -> _ChoiceTable:
        known = ", ".join(str(a.tag) for a in descriptor.alternatives[:8])
        table = _ChoiceTable([None] * 256, [None] * 256, known)
        if type_name is not None:
            # Registered before the alternatives compile, so that a SEQUENCE OF this
            # very type among them dispatches on the table that is being filled.
            self._tables[type_name] = table
        for alternative in descriptor.alternatives:
            table.names[alternative.tag] = alternative.name
            table.entries[alternative.tag] = self._compile_entry(alternative.type, alternative.name)
        return table

    def _compile_choice(self, descriptor: Choice, type_name: str | None) -> Decoder:
        entries, names, known = self._choice_table(descriptor, type_name)

        def decode_choice(buf: bytes, pos: int) -> tuple[Any, int]:
            try:
                tag = buf[pos]
            except IndexError:
                raise _truncated(pos, 1, buf) from None
            entry = entries[tag]
            if entry is None:
                raise _unknown_tag(tag, known, pos)
            try:
                return entry(buf, pos + 1)
            except AxdrError as error:
                raise _with_path(error, names[tag]) from None  # type: ignore[arg-type]

        if type_name is None or not self.learn_shapes:
            return decode_choice
        alternatives = _shape_alternatives(self.types, descriptor, type_name)
        if alternatives is None:
            return decode_choice
        # Only where the type is used as a whole (a notification body, an attribute
        # value): its nested lists dispatch on the table and never come through here.
        book = self.shape_books[type_name] = ShapeBook(alternatives)
        return book.decoder(decode_choice)

    def _element_table(self, element: Descriptor) -> _ChoiceTable | None:
        """The dispatch table of a SEQUENCE OF's element when the element is a CHOICE."""
        if isinstance(element, Choice):
            return self._choice_table(element, None)
        if isinstance(element, Reference) and isinstance(self.types.get(element.name), Choice):
            self.decoder(element.name)
            return self._tables[element.name]
        return None

    def _compile_sequence(self, descriptor: Sequence) -> Decoder:
        fields: list[tuple[str, Decoder, bool, bool, object]] = []
        for index, c in enumerate(descriptor.components):
            decode = self._compile(c.type)
            fields.append((c.name, decode, c.optional or c.has_default, c.has_default, c.default))

            def patch(real: Decoder, index: int = index) -> None:
                name, _, flagged, has_default, default = fields[index]
                fields[index] = (name, real, flagged, has_default, default)

            self._when_resolved(decode, patch)

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

    def _compile_sequence_of(self, element: Descriptor, name: str | None = None) -> Decoder:
        """A SEQUENCE OF decoder, or with ``name`` the CHOICE entry returning ``(name, list)``."""
        table = self._element_table(element)
        if table is not None:
            return _sequence_of_choice(table, name)
        decode_element = self._compile(element)

        def patch(real: Decoder) -> None:
            nonlocal decode_element
            decode_element = real

        self._when_resolved(decode_element, patch)
        element_may_be_empty = isinstance(element, Null)

        def decode_sequence_of(buf: bytes, pos: int) -> tuple[Any, int]:
            count, pos = _element_count(buf, pos, element_may_be_empty)
            items: list[Any] = []
            append = items.append
            index = 0
            try:
                for index in range(count):  # noqa: B007 - used in the error path
                    value, pos = decode_element(buf, pos)
                    append(value)
            except AxdrError as error:
                raise _with_path(error, f"[{index}]") from None
            return (items if name is None else (name, items)), pos

        return decode_sequence_of


def _sequence_of_choice(table: _ChoiceTable, name: str | None) -> Decoder:
    """SEQUENCE OF a CHOICE: the tag of each element picks its entry straight from the table."""
    entries, names, known = table

    def decode_sequence_of_choice(buf: bytes, pos: int) -> tuple[Any, int]:
        count, pos = _element_count(buf, pos, False)
        items: list[Any] = []
        append = items.append
        for index in range(count):
            try:
                tag = buf[pos]
            except IndexError:
                raise _with_path(_truncated(pos, 1, buf), f"[{index}]") from None
            entry = entries[tag]
            if entry is None:
                raise _with_path(_unknown_tag(tag, known, pos), f"[{index}]")
            try:
                value, pos = entry(buf, pos + 1)
            except AxdrError as error:
                inner = _with_path(error, names[tag])  # type: ignore[arg-type]
                raise _with_path(inner, f"[{index}]") from None
            append(value)
        return (items if name is None else (name, items)), pos

    return decode_sequence_of_choice


def _shape_alternatives(
    types: Mapping[str, Descriptor], descriptor: Choice, type_name: str
) -> dict[int, AlternativeLayout] | None:
    """How each alternative of a recursive CHOICE lies in a learned layout.

    None for a CHOICE that contains no list of itself: it has no layouts to learn.
    Alternatives a layout cannot hold are left out, so a value with one is walked.
    """
    alternatives: dict[int, AlternativeLayout] = {}
    recursive = False
    for alternative in descriptor.alternatives:
        target = alternative.type
        if isinstance(target, Reference) and isinstance(types.get(target.name), _LEAVES):
            target = types[target.name]
        name = alternative.name
        found: AlternativeLayout | None = None
        match target:
            case Integer(lower=int(lower), upper=int(upper)):
                fixed = _integer_size(lower, upper)
                if fixed is not None:
                    code = _INTEGER_FORMATS[fixed].format[-1]
                    found = AlternativeLayout(name, "integer", code, fixed[0])
            case Boolean():
                found = AlternativeLayout(name, "boolean")
            case Null():
                found = AlternativeLayout(name, "null")
            case OctetString(size=None):
                found = AlternativeLayout(name, "octets")
            case OctetString(size=int(size)):
                found = AlternativeLayout(name, "fixed", size=size)
            case CharacterString(kind=kind):
                found = AlternativeLayout(name, "text", encoding=_text_encoding(kind))
            case SequenceOf(element=Reference(name=element)) if element == type_name:
                found = AlternativeLayout(name, "list")
                recursive = True
        if found is not None:
            alternatives[alternative.tag] = found
    return alternatives if recursive else None
