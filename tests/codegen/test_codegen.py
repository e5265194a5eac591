"""The code generator: ASN.1 to descriptors, descriptors to source, and its command line.

No vector covers the generator, so its pieces are checked on their own: small
ASN.1 modules for what it must accept and refuse, hypothesis for the source
layout (any descriptor comes back equal from the source it is written as, in
lines of at most 100 characters), and ``--check`` against a file on disk.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import asn1tools  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr import descriptors
from cosem_reader.axdr.descriptors import (
    Alternative,
    BitString,
    Boolean,
    CharacterString,
    Choice,
    Component,
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

ROOT = Path(__file__).resolve().parents[2]
# codegen/ is a build tool at the top of the tree, not part of the installed package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from codegen.generate import (  # noqa: E402
    LINE_LENGTH,
    ModuleError,
    build_types,
    expression,
    flat,
    layout,
    main,
    render,
)


def build(text: str) -> dict[str, Descriptor]:
    module = asn1tools.parse_string(f"M DEFINITIONS ::= BEGIN\n{text}\nEND\n")["M"]
    return build_types(module)


# --- ASN.1 -> descriptors ------------------------------------------------------------------


def test_builds_references_ranges_sizes_and_defaults() -> None:
    types = build(
        """
        Small ::= INTEGER (0..255)
        Top ::= CHOICE {
            a [1] IMPLICIT Small,
            b [7] IMPLICIT OCTET STRING (SIZE (6)),
            c [9] SEQUENCE {
                flag BOOLEAN DEFAULT TRUE,
                qos [0] IMPLICIT Small OPTIONAL,
                bits [1] IMPLICIT BIT STRING { one(1) } DEFAULT { one },
                text GraphicString
            }
        }
        """
    )
    assert list(types) == ["Small", "Top"]
    assert types["Small"] == Integer(0, 255)
    assert types["Top"] == Choice(
        (
            Alternative(1, "a", Reference("Small")),
            Alternative(7, "b", OctetString(6)),
            Alternative(
                9,
                "c",
                Sequence(
                    (
                        Component("flag", Boolean(), has_default=True, default=True),
                        Component("qos", Reference("Small"), optional=True, tag=0),
                        Component(
                            "bits",
                            BitString((("one", 1),)),
                            has_default=True,
                            default=("one",),
                            tag=1,
                        ),
                        Component("text", CharacterString("GraphicString")),
                    )
                ),
            ),
        )
    )


def test_untagged_alternative_takes_the_tag_of_its_application_tagged_type() -> None:
    types = build(
        """
        Apdu ::= [APPLICATION 3] IMPLICIT SEQUENCE { x OBJECT IDENTIFIER }
        Pick ::= CHOICE { apdu Apdu }
        """
    )
    assert types["Apdu"] == Tagged(
        "APPLICATION", 3, True, Sequence((Component("x", ObjectIdentifier()),))
    )
    assert types["Pick"] == Choice((Alternative(3, "apdu", Reference("Apdu")),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A ::= CHOICE { x [0] NULL, y NULL }", "A.y: CHOICE alternative has no tag number"),
        ("B ::= INTEGER\nA ::= CHOICE { x [0] NULL, y B }", "A.y: CHOICE alternative has no"),
        ("A ::= OCTET STRING (SIZE (1..4))", "is not one fixed size"),
        ("A ::= INTEGER (1..4 | 7)", "is not one lower..upper interval"),
        ("A ::= CHOICE { x [0] NULL, ... }", "extension marker"),
        ("A ::= ENUMERATED { x(0), ... }", "extension marker"),
        ("A ::= SEQUENCE { x Unknown }", "A.x: unknown or unsupported type 'Unknown'"),
        ("A ::= SEQUENCE { x [PRIVATE 1] NULL }", "must be context-specific"),
        ("A ::= SEQUENCE OF [0] NULL", "a tag on NULL"),
        ("B ::= INTEGER\nA ::= B (1..4)", "with restricted-to is not supported"),
    ],
)
def test_refuses_what_the_descriptors_cannot_carry(text: str, message: str) -> None:
    with pytest.raises(ModuleError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(text)


def test_refuses_automatic_tags() -> None:
    module = asn1tools.parse_string(
        "M DEFINITIONS AUTOMATIC TAGS ::= BEGIN A ::= CHOICE { x NULL } END"
    )["M"]
    with pytest.raises(ModuleError, match="AUTOMATIC TAGS"):
        build_types(module)


def test_implicit_tags_module_default() -> None:
    module = asn1tools.parse_string(
        "M DEFINITIONS IMPLICIT TAGS ::= BEGIN A ::= [APPLICATION 5] NULL END"
    )["M"]
    assert build_types(module) == {"A": Tagged("APPLICATION", 5, True, Null())}
    assert build("A ::= [APPLICATION 5] NULL") == {"A": Tagged("APPLICATION", 5, False, Null())}


# --- descriptors -> source -----------------------------------------------------------------

names = st.text(alphabet="abcdefgh-XYZ019", min_size=1, max_size=40)
named_values = st.lists(st.tuples(names, st.integers(0, 2**40)), max_size=5).map(tuple)
leaves: st.SearchStrategy[Descriptor] = st.one_of(
    st.builds(
        Integer,
        st.none() | st.integers(-(2**64), 0),
        st.none() | st.integers(0, 2**64),
        named_values,
    ),
    st.builds(Enumerated, named_values),
    st.just(Boolean()),
    st.just(Null()),
    st.builds(OctetString, st.none() | st.integers(0, 64)),
    st.builds(BitString, named_values),
    st.builds(CharacterString, st.sampled_from(["VisibleString", "UTF8String", "GraphicString"])),
    st.just(ObjectIdentifier()),
    st.builds(Reference, names),
)


def extend(children: st.SearchStrategy[Descriptor]) -> st.SearchStrategy[Descriptor]:
    component = st.builds(
        Component,
        names,
        children,
        st.booleans(),
        st.booleans(),
        st.none() | st.booleans() | st.integers() | st.lists(names, max_size=3).map(tuple),
        st.none() | st.integers(0, 30),
    )
    alternative = st.builds(Alternative, st.integers(0, 255), names, children)
    return st.one_of(
        st.builds(Choice, st.lists(alternative, max_size=4).map(tuple)),
        st.builds(Sequence, st.lists(component, max_size=4).map(tuple)),
        st.builds(SequenceOf, children),
        st.builds(
            Tagged,
            st.sampled_from(["APPLICATION", "CONTEXT"]),
            st.integers(0, 31),
            st.booleans(),
            children,
        ),
    )


any_descriptor = st.recursive(leaves, extend, max_leaves=12)
NAMESPACE = vars(descriptors)


@given(any_descriptor, st.integers(0, 6))
def test_layout_rebuilds_any_descriptor_within_the_line_length(
    descriptor: Descriptor, depth: int
) -> None:
    indent = "    " * depth
    lines = layout(expression(descriptor), indent, '"Name": ', ",")
    source = "\n".join(lines)
    assert lines[0].startswith(indent + '"Name": ')
    for line in lines:
        # Only what cannot be broken runs long: one atom, or the opening of a call or tuple.
        if len(line) > LINE_LENGTH:
            assert "(" not in line or line.endswith("("), line
    value = source.strip()[len('"Name": ') : -1]
    assert eval(value, dict(NAMESPACE)) == descriptor
    ast.parse(f"x = {{\n{source}\n}}")


@given(any_descriptor)
def test_flat_form_is_the_one_line_layout(descriptor: Descriptor) -> None:
    expr = expression(descriptor)
    assert eval(flat(expr), dict(NAMESPACE)) == descriptor


def test_layout_breaks_only_what_does_not_fit() -> None:
    short = expression(Alternative(1, "x", Null()))
    assert layout(short, "    ", "", ",") == ['    Alternative(tag=1, name="x", type=Null()),']
    long = expression(Sequence(tuple(Component(f"component-{i}", Null()) for i in range(4))))
    assert layout(long) == [
        "Sequence(",
        "    components=(",
        '        Component(name="component-0", type=Null()),',
        '        Component(name="component-1", type=Null()),',
        '        Component(name="component-2", type=Null()),',
        '        Component(name="component-3", type=Null()),',
        "    ),",
        ")",
    ]


# --- command line --------------------------------------------------------------------------


def test_check_reports_a_stale_file_with_a_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cosem_pdu.py"
    output.write_text(render().replace('"Data": Choice(', '"Data": Sequence('), encoding="utf-8")
    assert main(["--check", "--output", str(output)]) == 1
    captured = capsys.readouterr()
    assert '-    "Data": Sequence(' in captured.out
    assert '+    "Data": Choice(' in captured.out
    assert "run `make generate`" in captured.err


def test_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "cosem_pdu.py"
    assert main(["--check", "--output", str(output)]) == 1
    assert main(["--output", str(output)]) == 0
    assert output.read_bytes().decode("utf-8") == render()
    assert main(["--check", "--output", str(output)]) == 0
    capsys.readouterr()


def test_bad_module_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "bad.asn"
    source.write_text("COSEMpdu DEFINITIONS ::= BEGIN A ::= CHOICE { x NULL } END\n")
    assert main(["--check", "--source", str(source), "--output", str(tmp_path / "out.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: A.x: CHOICE alternative has no tag number")
    assert err.count("\n") == 1
