"""Compile the COSEM PDU module (``asn1/COSEMpdu_GB83.asn``) into ``generated/cosem_pdu.py``.

The module is the ASN.1 text of the COSEM APDUs of DLMS Green Book 8.3.
asn1tools parses it into a dict per type assignment; :func:`build_types` turns
each into a descriptor of :mod:`cosem_reader.axdr.descriptors`, and :func:`render`
lays the descriptors out as Python source through the jinja2 templates in
``codegen/templates``.  Every decision (which descriptor, which arguments, where
a line breaks) is taken here; the templates only place the prepared lines.

What the A-XDR reader needs from the module, and what is therefore checked:

* every CHOICE alternative has a tag number, because A-XDR writes that number as
  the selector byte.  An untagged alternative is accepted only when its type is
  an assignment with its own tag (the ACSE-APDU alternatives, whose types carry
  ``[APPLICATION n]``); the alternative then has that tag, as in ASN.1;
* an INTEGER range is one ``lower..upper`` interval, an OCTET STRING size one
  fixed number: the byte count on the wire depends on them;
* a use of another assignment stays a :class:`~cosem_reader.axdr.descriptors.Reference`
  (``Integer8``, ``Unsigned32``, ``Data``), so the generated table keeps the
  assignment structure of the module and recursive types stay finite;
* extension markers (``...``), automatic tagging and constraints the descriptors
  cannot carry are errors rather than silently dropped.

Run ``python -m codegen.generate`` to write the file, ``--check`` to compare it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asn1tools  # type: ignore[import-untyped]
import jinja2

from cosem_reader.axdr import descriptors as d
from cosem_reader.errors import CosemReaderError

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "asn1" / "COSEMpdu_GB83.asn"
OUTPUT = ROOT / "generated" / "cosem_pdu.py"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "cosem_pdu.py.jinja2"

#: The ASN.1 module name the source must define.
MODULE_NAME = "COSEMpdu"
#: Longest line of the generated source (the project's ruff line length).
LINE_LENGTH = 100
INDENT = "    "

#: ASN.1 string and time types; A-XDR writes each as a length and the bytes.
CHARACTER_STRINGS = frozenset({"VisibleString", "UTF8String", "GraphicString", "GeneralizedTime"})

#: Descriptor classes whose only field reads best as a positional argument.
POSITIONAL = frozenset({"Reference"})

Path_ = tuple[str, ...]


class ModuleError(CosemReaderError, ValueError):
    """The ASN.1 module cannot be turned into descriptors."""

    layer = "codegen"

    def __init__(self, path: Path_, message: str, *, hint: str | None = None) -> None:
        where = ".".join(path)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path


# --- ASN.1 (asn1tools dict IR) -> descriptors ---------------------------------------------


def build_types(module: Mapping[str, Any]) -> dict[str, d.Descriptor]:
    """Descriptors of every type assignment of one parsed module, sorted by name.

    ``module`` is one value of ``asn1tools.parse_files(...)``: a dict with
    ``types`` (name -> type dict) and ``tags`` (the module's tagging default).
    """
    tagging = module.get("tags", "EXPLICIT")
    if tagging == "AUTOMATIC":
        raise ModuleError(
            (),
            "AUTOMATIC TAGS is not supported",
            hint="A-XDR needs the tag numbers written out; give every alternative [n]",
        )
    return _Builder(module["types"], implicit_default=tagging == "IMPLICIT").build()


class _Builder:
    def __init__(self, types: Mapping[str, Any], *, implicit_default: bool) -> None:
        self.types = types
        self.implicit_default = implicit_default

    def build(self) -> dict[str, d.Descriptor]:
        return {name: self.assignment(name) for name in sorted(self.types)}

    def assignment(self, name: str) -> d.Descriptor:
        node = self.types[name]
        path = (name,)
        descriptor = self.type_of(_without(node, "tag"), path)
        tag = node.get("tag")
        if tag is None:
            return descriptor
        return d.Tagged(
            tag_class=tag.get("class", "CONTEXT"),
            number=tag["number"],
            implicit=self.is_implicit(tag),
            type=descriptor,
        )

    def is_implicit(self, tag: Mapping[str, Any]) -> bool:
        kind = tag.get("kind")
        return self.implicit_default if kind is None else bool(kind == "IMPLICIT")

    def type_of(self, node: Mapping[str, Any], path: Path_) -> d.Descriptor:
        """The descriptor of one type (no tag, no member attributes left in ``node``)."""
        kind: str = node["type"]
        if "tag" in node:
            raise ModuleError(path, f"a tag on {kind} is only supported on an assignment or member")
        if kind == "INTEGER":
            _only(node, {"restricted-to", "named-numbers"}, path)
            lower, upper = _range(node.get("restricted-to"), path)
            named = tuple((str(k), int(v)) for k, v in node.get("named-numbers", {}).items())
            return d.Integer(lower=lower, upper=upper, named_numbers=named)
        if kind == "ENUMERATED":
            _only(node, {"values"}, path)
            return d.Enumerated(values=_named_values(node["values"], path))
        if kind == "BOOLEAN":
            _only(node, set(), path)
            return d.Boolean()
        if kind == "NULL":
            _only(node, set(), path)
            return d.Null()
        if kind == "OCTET STRING":
            _only(node, {"size"}, path)
            return d.OctetString(size=_fixed_size(node.get("size"), path))
        if kind == "BIT STRING":
            _only(node, {"named-bits"}, path)
            return d.BitString(named_bits=_named_values(node.get("named-bits", []), path))
        if kind in CHARACTER_STRINGS:
            _only(node, set(), path)
            return d.CharacterString(kind=kind)
        if kind == "OBJECT IDENTIFIER":
            _only(node, set(), path)
            return d.ObjectIdentifier()
        if kind == "SEQUENCE":
            _only(node, {"members"}, path)
            members = _members(node["members"], path)
            return d.Sequence(components=tuple(self.component(m, path) for m in members))
        if kind == "CHOICE":
            _only(node, {"members"}, path)
            members = _members(node["members"], path)
            return d.Choice(alternatives=tuple(self.alternative(m, path) for m in members))
        if kind == "SEQUENCE OF":
            _only(node, {"element"}, path)
            return d.SequenceOf(element=self.type_of(node["element"], (*path, "element")))
        if kind in self.types:
            _only(node, set(), path)
            return d.Reference(kind)
        raise ModuleError(path, f"unknown or unsupported type {kind!r}")

    def component(self, member: Mapping[str, Any], path: Path_) -> d.Component:
        name: str = member["name"]
        here = (*path, name)
        tag = member.get("tag")
        if tag is not None and "class" in tag:
            raise ModuleError(here, f"a component tag must be context-specific, not {tag['class']}")
        has_default = "default" in member
        return d.Component(
            name=name,
            type=self.type_of(_without(member, "name", "tag", "optional", "default"), here),
            optional=bool(member.get("optional", False)),
            has_default=has_default,
            default=_default(member["default"], here) if has_default else None,
            tag=None if tag is None else int(tag["number"]),
        )

    def alternative(self, member: Mapping[str, Any], path: Path_) -> d.Alternative:
        name: str = member["name"]
        here = (*path, name)
        if "optional" in member or "default" in member:
            raise ModuleError(here, "a CHOICE alternative cannot be OPTIONAL or have a DEFAULT")
        tag = member.get("tag")
        if tag is None:
            # ASN.1: an untagged alternative carries the tag of its type.
            referenced = self.types.get(member["type"], {})
            tag = referenced.get("tag")
            if tag is None:
                raise ModuleError(
                    here,
                    "CHOICE alternative has no tag number",
                    hint="A-XDR writes its tag number as the selector byte; add [n] to it",
                )
        elif "class" in tag:
            raise ModuleError(
                here, f"an alternative tag must be context-specific, not {tag['class']}"
            )
        return d.Alternative(
            tag=int(tag["number"]),
            name=name,
            type=self.type_of(_without(member, "name", "tag"), here),
        )


def _without(node: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in keys}


def _only(node: Mapping[str, Any], allowed: set[str], path: Path_) -> None:
    extra = sorted(set(node) - allowed - {"type"})
    if extra:
        raise ModuleError(
            path,
            f"{node['type']} with {', '.join(extra)} is not supported by the descriptors",
        )


def _members(members: Sequence[Any], path: Path_) -> list[Mapping[str, Any]]:
    if any(m is None for m in members):
        raise ModuleError(path, "extension marker '...' is not supported", hint="remove it")
    return list(members)


def _named_values(pairs: Iterable[Any], path: Path_) -> tuple[tuple[str, int], ...]:
    if any(p is None for p in pairs):
        raise ModuleError(path, "extension marker '...' is not supported", hint="remove it")
    return tuple((str(name), int(value)) for name, value in pairs)


def _range(restricted: Sequence[Any] | None, path: Path_) -> tuple[int | None, int | None]:
    if restricted is None:
        return None, None
    if len(restricted) == 1 and isinstance(restricted[0], tuple):
        lower, upper = restricted[0]
        if isinstance(lower, int) and isinstance(upper, int):
            return lower, upper
    raise ModuleError(path, f"INTEGER range {restricted!r} is not one lower..upper interval")


def _fixed_size(size: Sequence[Any] | None, path: Path_) -> int | None:
    if size is None:
        return None
    if len(size) == 1 and isinstance(size[0], int):
        return size[0]
    raise ModuleError(
        path,
        f"OCTET STRING SIZE {size!r} is not one fixed size",
        hint="A-XDR only omits the length for a fixed size; drop the constraint otherwise",
    )


def _default(value: Any, path: Path_) -> object:
    """The Python value of a DEFAULT: TRUE -> True, 5 -> 5, {version1} -> ("version1",)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ModuleError(path, f"DEFAULT value {value!r} is not supported")


# --- descriptors -> Python source ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """A constructor call in the generated source."""

    function: str
    arguments: tuple[tuple[str | None, Expression], ...]


@dataclass(frozen=True, slots=True)
class TupleDisplay:
    """A tuple display in the generated source."""

    items: tuple[Expression, ...]


Expression = Call | TupleDisplay | str
"""A Python expression: a call, a tuple, or an atom already written as source text."""


def expression(value: object) -> Expression:
    """The Python expression that rebuilds ``value`` (a descriptor, tuple, str, int, bool, None).

    Descriptor fields equal to their dataclass default are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        arguments: list[tuple[str | None, Expression]] = []
        for field in dataclasses.fields(value):
            field_value = getattr(value, field.name)
            if field.default is not dataclasses.MISSING and field_value == field.default:
                continue
            keyword = None if name in POSITIONAL else field.name
            arguments.append((keyword, expression(field_value)))
        return Call(name, tuple(arguments))
    if isinstance(value, tuple):
        return TupleDisplay(tuple(expression(item) for item in value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if value is None or isinstance(value, bool | int):
        return repr(value)
    raise TypeError(f"no source form for {type(value).__name__}")


def flat(expr: Expression) -> str:
    """``expr`` on one line."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, Call):
        parts = [f"{k}={flat(v)}" if k else flat(v) for k, v in expr.arguments]
        return f"{expr.function}({', '.join(parts)})"
    if len(expr.items) == 1:
        return f"({flat(expr.items[0])},)"
    return f"({', '.join(flat(item) for item in expr.items)})"


def layout(expr: Expression, indent: str = "", prefix: str = "", suffix: str = "") -> list[str]:
    """``expr`` as source lines of at most :data:`LINE_LENGTH` characters.

    A call or tuple that fits stays on one line; otherwise it opens on the first
    line, puts each argument or item on its own lines one level deeper with a
    trailing comma, and closes on a line of its own.  Atoms are never broken.
    """
    one_line = f"{indent}{prefix}{flat(expr)}{suffix}"
    if isinstance(expr, str) or len(one_line) <= LINE_LENGTH:
        return [one_line]
    inner = indent + INDENT
    if isinstance(expr, Call):
        opening = f"{indent}{prefix}{expr.function}("
        body = [
            line
            for keyword, value in expr.arguments
            for line in layout(value, inner, f"{keyword}=" if keyword else "", ",")
        ]
    else:
        opening = f"{indent}{prefix}("
        body = [line for item in expr.items for line in layout(item, inner, "", ",")]
    return [opening, *body, f"{indent}){suffix}"]


def used_classes(expr: Expression) -> set[str]:
    """Names of the descriptor classes an expression calls."""
    if isinstance(expr, str):
        return set()
    if isinstance(expr, Call):
        names = {expr.function}
        for _, value in expr.arguments:
            names |= used_classes(value)
        return names
    names = set()
    for item in expr.items:
        names |= used_classes(item)
    return names


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``"name": descriptor,`` entry of the generated ``TYPES`` table."""

    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GeneratedModule:
    """Everything the template places, prepared."""

    source: str
    sha256: str
    module_name: str
    imports: tuple[str, ...]
    entries: tuple[Entry, ...]


def model(source: Path = SOURCE) -> GeneratedModule:
    """Parse ``source`` and prepare the generated module."""
    parsed = asn1tools.parse_files([str(source)])
    if MODULE_NAME not in parsed:
        raise ModuleError((), f"{source} does not define the ASN.1 module {MODULE_NAME}")
    types = build_types(parsed[MODULE_NAME])
    entries: list[Entry] = []
    classes: set[str] = set()
    for name, descriptor in types.items():
        expr = expression(descriptor)
        classes |= used_classes(expr)
        lines = layout(expr, INDENT, f"{expression(name)}: ", ",")
        entries.append(Entry(name=name, lines=tuple(lines)))
    return GeneratedModule(
        source=_display_path(source),
        sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        module_name=MODULE_NAME,
        imports=tuple(sorted(classes | {"Descriptor"})),
        entries=tuple(entries),
    )


def _display_path(source: Path) -> str:
    resolved = source.resolve()
    if resolved.is_relative_to(ROOT):
        return resolved.relative_to(ROOT).as_posix()
    return source.name


def environment() -> jinja2.Environment:
    """The jinja2 environment of the templates: strict, no HTML escaping, whitespace as written."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - the output is Python source, not HTML
    )


def render(source: Path = SOURCE) -> str:
    """The text of ``generated/cosem_pdu.py`` for ``source``."""
    return environment().get_template(TEMPLATE).render(module=model(source))


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated module, or with ``--check`` report whether it is stale (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m codegen.generate",
        description=f"Generate {_display_path(OUTPUT)} from {_display_path(SOURCE)}.",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff when the file is stale"
    )
    parser.add_argument("--source", type=Path, default=SOURCE, help="the ASN.1 module")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the generated Python module")
    args = parser.parse_args(argv)
    source: Path = args.source
    output: Path = args.output

    try:
        text = render(source)
    except (ModuleError, asn1tools.ParseError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    current = output.read_text(encoding="utf-8") if output.is_file() else ""
    if args.check:
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{output} (on disk)",
            tofile=f"{output} (from {_display_path(source)})",
        )
        sys.stdout.writelines(diff)
        print(f"{output} is stale; run `make generate`", file=sys.stderr)
        return 1
    if current != text:
        output.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
