"""The project's ASN.1 module against the DLMS UA's published text, and facts of the result.

``asn1/COSEMpdu_GB83.asn`` is the project's own text of the COSEM PDU module of
Green Book 8.3.  It must define the same types as the published module in
``../shared/asn1`` (read in place, never copied): same names, and for each type
the same structure all the way down — kinds, member names in order, tag numbers,
classes and IMPLICIT/EXPLICIT, OPTIONAL/DEFAULT, ranges, named values and bits,
sizes.  The second half checks what the generated ``TYPES`` says about the APDUs
the reader depends on.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asn1tools  # type: ignore[import-untyped]
import pytest

from cosem_reader.axdr.descriptors import (
    Alternative,
    BitString,
    Boolean,
    Choice,
    Component,
    Descriptor,
    Enumerated,
    Integer,
    OctetString,
    Reference,
    Sequence,
    SequenceOf,
    Tagged,
)

# cosem_reader.axdr.generated is mapped to generated/ by the installed package only, which
# mypy cannot follow; the import is typed by hand instead.
_generated = importlib.import_module("cosem_reader.axdr.generated.cosem_pdu")
MODULE_NAME: str = _generated.MODULE_NAME
TYPES: Mapping[str, Descriptor] = _generated.TYPES
ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "asn1" / "COSEMpdu_GB83.asn"
REFERENCE = ROOT.parent / "shared" / "asn1" / "COSEMpdu_GB83.asn"
NO_REFERENCE = f"the DLMS UA module is not at {REFERENCE}"

#: Keys of the asn1tools dict IR that this comparison understands; anything else fails.
KNOWN_KEYS = frozenset(
    {
        "type",
        "name",
        "tag",
        "optional",
        "default",
        "members",
        "element",
        "restricted-to",
        "named-numbers",
        "named-bits",
        "values",
        "size",
    }
)


def parse(path: Path) -> dict[str, Any]:
    types: dict[str, Any] = asn1tools.parse_files([str(path)])["COSEMpdu"]["types"]
    return types


def shape(node: Any) -> tuple[Any, ...]:
    """Every structural fact of one type (or member) as a comparable, printable tuple."""
    unknown = set(node) - KNOWN_KEYS
    assert not unknown, f"the comparison does not know the IR keys {sorted(unknown)}"
    tag = node.get("tag")
    return (
        ("name", node.get("name")),
        ("type", node["type"]),
        ("tag", None if tag is None else (tag.get("class"), tag["number"], tag.get("kind"))),
        ("optional", node.get("optional", False)),
        ("default", node.get("default", "<none>")),
        ("range", node.get("restricted-to")),
        ("named-numbers", tuple(node.get("named-numbers", {}).items())),
        ("named-bits", tuple(node.get("named-bits", ()))),
        ("values", tuple(node.get("values", ()))),
        ("size", node.get("size")),
        ("element", None if "element" not in node else shape(node["element"])),
        ("members", tuple(shape(m) for m in node.get("members", ()))),
    )


OUR_TYPES = parse(OURS)
REFERENCE_TYPES = parse(REFERENCE) if REFERENCE.is_file() else None
needs_reference = pytest.mark.skipif(REFERENCE_TYPES is None, reason=NO_REFERENCE)


def test_module_parses_with_its_name() -> None:
    assert "COSEMpdu" in asn1tools.parse_files([str(OURS)])
    assert MODULE_NAME == "COSEMpdu"


@needs_reference
def test_same_type_names_as_the_published_module() -> None:
    assert REFERENCE_TYPES is not None
    assert set(OUR_TYPES) - set(REFERENCE_TYPES) == set(), "types the published module lacks"
    assert set(REFERENCE_TYPES) - set(OUR_TYPES) == set(), "types missing from asn1/"


@needs_reference
@pytest.mark.parametrize("name", sorted(REFERENCE_TYPES or ()) or ["(none)"])
def test_same_structure_as_the_published_module(name: str) -> None:
    assert REFERENCE_TYPES is not None
    assert name in OUR_TYPES, f"{name} is missing from {OURS.name}"
    assert shape(OUR_TYPES[name]) == shape(REFERENCE_TYPES[name])


def test_shape_sees_a_changed_tag_kind() -> None:
    changed = dict(OUR_TYPES["Get-Data-Result"])
    members = [dict(m) for m in changed["members"]]
    members[0]["tag"] = {"number": 0, "kind": "IMPLICIT"}
    changed["members"] = members
    assert shape(changed) != shape(OUR_TYPES["Get-Data-Result"])


# --- facts of the generated TYPES ----------------------------------------------------------


def alternatives(descriptor: Descriptor) -> dict[str, Alternative]:
    assert isinstance(descriptor, Choice)
    return {a.name: a for a in descriptor.alternatives}


def components(descriptor: Descriptor) -> dict[str, Component]:
    if isinstance(descriptor, Tagged):
        descriptor = descriptor.type
    assert isinstance(descriptor, Sequence)
    return {c.name: c for c in descriptor.components}


def test_types_has_every_assignment_sorted() -> None:
    assert list(TYPES) == sorted(OUR_TYPES)


def test_data_has_25_alternatives_from_null_data_to_dont_care() -> None:
    data = TYPES["Data"]
    assert isinstance(data, Choice)
    tags = [a.tag for a in data.alternatives]
    assert tags == [0, 1, 2, 3, 4, 5, 6, *range(9, 11), 12, 13, *range(15, 28), 255]
    assert len(tags) == 25
    by_name = alternatives(data)
    assert by_name["null-data"].tag == 0
    assert by_name["dont-care"].tag == 255
    assert by_name["structure"].type == SequenceOf(Reference("Data"))
    assert by_name["double-long-unsigned"].type == Reference("Unsigned32")
    assert by_name["float32"].type == OctetString(size=4)
    assert by_name["date-time"].type == OctetString(size=12)
    assert by_name["octet-string"].type == OctetString()
    compact = by_name["compact-array"].type
    assert isinstance(compact, Sequence)
    assert [(c.name, c.tag) for c in compact.components] == [
        ("contents-description", 0),
        ("array-contents", 1),
    ]


def test_xdlms_apdu_tags_of_push_and_ciphering() -> None:
    by_name = alternatives(TYPES["XDLMS-APDU"])
    assert by_name["data-notification"].tag == 15
    assert by_name["data-notification"].type == Reference("Data-Notification")
    assert by_name["general-glo-ciphering"].tag == 219
    assert by_name["general-ded-ciphering"].tag == 220
    assert by_name["general-block-transfer"].tag == 224
    assert by_name["glo-get-request"].type == OctetString()
    assert len({a.tag for a in by_name.values()}) == len(by_name)


def test_data_notification_and_general_glo_ciphering_components() -> None:
    assert list(components(TYPES["Data-Notification"])) == [
        "long-invoke-id-and-priority",
        "date-time",
        "notification-body",
    ]
    assert components(TYPES["General-Glo-Ciphering"]) == {
        "system-title": Component("system-title", OctetString()),
        "ciphered-content": Component("ciphered-content", OctetString()),
    }
    assert TYPES["Long-Invoke-Id-And-Priority"] == Reference("Unsigned32")


def test_fixed_width_integers() -> None:
    assert TYPES["Integer8"] == Integer(-128, 127)
    assert TYPES["Unsigned16"] == Integer(0, 65535)
    assert TYPES["Integer64"] == Integer(-(2**63), 2**63 - 1)
    assert TYPES["Unsigned64"] == Integer(0, 2**64 - 1)
    assert TYPES["AP-invocation-identifier"] == Integer()


def test_application_tagged_types() -> None:
    aarq = TYPES["AARQ-apdu"]
    assert isinstance(aarq, Tagged)
    assert (aarq.tag_class, aarq.number, aarq.implicit) == ("APPLICATION", 0, True)
    conformance = TYPES["Conformance"]
    assert isinstance(conformance, Tagged)
    assert (conformance.tag_class, conformance.number) == ("APPLICATION", 31)
    assert isinstance(conformance.type, BitString)
    bits = dict(conformance.type.named_bits)
    assert len(bits) == 24
    assert bits["general-block-transfer"] == 2
    assert bits["data-notification"] == 16
    assert bits["action"] == 23
    # ACSE-APDU alternatives are untagged in the module and carry their types' tags.
    assert [a.tag for a in alternatives(TYPES["ACSE-APDU"]).values()] == [0, 1, 2, 3]


def test_defaults_optionals_and_component_tags() -> None:
    protocol_version = components(TYPES["AARQ-apdu"])["protocol-version"]
    assert protocol_version.has_default
    assert protocol_version.default == ("version1",)
    assert protocol_version.tag == 0
    assert protocol_version.type == BitString((("version1", 0),))
    initiate = components(TYPES["InitiateRequest"])
    assert initiate["response-allowed"] == Component(
        "response-allowed", Boolean(), has_default=True, default=True
    )
    assert initiate["proposed-quality-of-service"] == Component(
        "proposed-quality-of-service", Reference("Integer8"), optional=True, tag=0
    )
    assert initiate["dedicated-key"].optional
    assert not initiate["proposed-conformance"].optional


def test_inline_types_stay_inline() -> None:
    service_error = alternatives(TYPES["ServiceError"])
    assert [a.tag for a in service_error.values()] == [0, 1, 2, 3, 4, 5, 6, 7, 9]
    initiate = service_error["initiate"].type
    assert isinstance(initiate, Enumerated)
    assert dict(initiate.values)["pdu-size-too-short"] == 3
    result = components(TYPES["DataBlock-G"])["result"].type
    assert isinstance(result, Choice)
    assert [(a.tag, a.name) for a in result.alternatives] == [
        (0, "raw-data"),
        (1, "data-access-result"),
    ]
    provider = alternatives(TYPES["Associate-source-diagnostic"])["acse-service-provider"].type
    assert isinstance(provider, Integer)
    assert (provider.lower, provider.upper) == (None, None)
    assert dict(provider.named_numbers)["no-common-acse-version"] == 2


def walk(descriptor: Descriptor) -> list[Descriptor]:
    """``descriptor`` and everything inside it, without following references."""
    found = [descriptor]
    if isinstance(descriptor, Choice):
        for alternative in descriptor.alternatives:
            found += walk(alternative.type)
    elif isinstance(descriptor, Sequence):
        for component in descriptor.components:
            found += walk(component.type)
    elif isinstance(descriptor, SequenceOf):
        found += walk(descriptor.element)
    elif isinstance(descriptor, Tagged):
        found += walk(descriptor.type)
    return found


def test_every_reference_resolves_and_every_choice_tag_fits_one_byte() -> None:
    for name, descriptor in TYPES.items():
        for inner in walk(descriptor):
            if isinstance(inner, Reference):
                assert inner.name in TYPES, f"{name} refers to unknown {inner.name}"
            if isinstance(inner, Choice):
                tags = [a.tag for a in inner.alternatives]
                assert len(set(tags)) == len(tags), f"{name}: duplicate CHOICE tags"
                assert all(0 <= t <= 255 for t in tags), f"{name}: tag outside one byte"
