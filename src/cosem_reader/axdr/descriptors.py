"""Type descriptors: the ASN.1 types of the COSEM PDU module as Python values.

``make generate`` turns ``asn1/COSEMpdu_GB83.asn`` into ``generated/cosem_pdu.py``,
a mapping from each ASN.1 type name to one of these descriptors.  The A-XDR
reader (:mod:`cosem_reader.axdr.schema`) walks them; nothing here knows about bytes.

A-XDR (IEC 61334-6) encodes only what the descriptors say:

* a CHOICE writes the tag number of the alternative as one byte, then the value;
* a SEQUENCE writes its components in order; an OPTIONAL or DEFAULT component is
  preceded by a presence byte (0 = absent / default);
* a SEQUENCE OF, an OCTET STRING without a fixed size and the character strings
  write an A-XDR length first; a BIT STRING writes its length in bits;
* an INTEGER with a range that fits 1, 2, 4 or 8 bytes is written in that many
  bytes, big-endian; an INTEGER without a range uses the variable-length form;
* tags of SEQUENCE components are not written at all.

Types with an APPLICATION tag (the ACSE APDUs and ``Conformance``) are BER
encoded on the wire; they are kept here as :class:`Tagged` so the module is
complete, and the A-XDR reader treats them accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Integer:
    """INTEGER, with its value range where the module gives one."""

    lower: int | None = None
    upper: int | None = None
    named_numbers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Enumerated:
    """ENUMERATED: one byte on the wire."""

    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Boolean:
    """BOOLEAN: one byte, zero is false."""


@dataclass(frozen=True, slots=True)
class Null:
    """NULL: nothing on the wire."""


@dataclass(frozen=True, slots=True)
class OctetString:
    """OCTET STRING; ``size`` set when the module fixes it (then no length is written)."""

    size: int | None = None


@dataclass(frozen=True, slots=True)
class BitString:
    """BIT STRING with its named bits."""

    named_bits: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CharacterString:
    """VisibleString, UTF8String, GraphicString or GeneralizedTime: a length, then the bytes."""

    kind: str


@dataclass(frozen=True, slots=True)
class ObjectIdentifier:
    """OBJECT IDENTIFIER (only in the BER-encoded ACSE APDUs)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A use of another type assignment of the module, by name."""

    name: str


@dataclass(frozen=True, slots=True)
class Alternative:
    """One alternative of a CHOICE: its tag number (the byte on the wire), name and type."""

    tag: int
    name: str
    type: Descriptor


@dataclass(frozen=True, slots=True)
class Choice:
    """CHOICE: a tag byte selects the alternative."""

    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True, slots=True)
class Component:
    """One component of a SEQUENCE.

    ``tag`` is the context tag the module gives the component; A-XDR does not
    write it, but it is part of the module and checked against the reference text.
    """

    name: str
    type: Descriptor
    optional: bool = False
    has_default: bool = False
    default: object = None
    tag: int | None = None


@dataclass(frozen=True, slots=True)
class Sequence:
    """SEQUENCE: its components in order."""

    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class SequenceOf:
    """SEQUENCE OF: an A-XDR length, then that many elements."""

    element: Descriptor


@dataclass(frozen=True, slots=True)
class Tagged:
    """A type with its own APPLICATION tag, BER encoded on the wire."""

    tag_class: str
    number: int
    implicit: bool
    type: Descriptor


Descriptor = (
    Integer
    | Enumerated
    | Boolean
    | Null
    | OctetString
    | BitString
    | CharacterString
    | ObjectIdentifier
    | Reference
    | Choice
    | Sequence
    | SequenceOf
    | Tagged
)
