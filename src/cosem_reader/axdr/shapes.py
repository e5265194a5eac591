"""Learned layouts: a value laid out as before, decoded with one ``struct`` call.

A meter pushes the same layout every few seconds for years: the same tags, the same
list lengths, the same OBIS codes and scaler-units; only the values change.  Once the
walk of :mod:`cosem_reader.axdr.schema` has decoded a value of a recursive CHOICE (``Data``)
with the same layout twice, that layout becomes a :class:`Shape`:

* one ``struct`` format over every byte of the value: tag and length bytes as ``B``,
  each integer in its fixed size, each string as its bytes;
* which of the unpacked fields are tags and lengths, and the values they must have;
* a function, generated once, that builds from the fields the tree the walk builds
  (the same tuples, lists, alternative names and value types).

A value goes through a shape only when every tag and length byte is the one the
shape expects.  Those bytes fix every step the walk would take, so the shape gives
what the walk would give; anything else is left to the walk, which also reports the
errors.  A shape holds the alternatives of fixed size or with a one-byte length
(integers, BOOLEAN, NULL, octet and character strings, lists of up to 127 elements);
a layout with any other (bit strings, compact arrays, longer lengths) stays with the
walk.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, NamedTuple

from cosem_reader._learning import Learner, Study

__all__ = ["AlternativeLayout", "Node", "Path", "Shape", "ShapeBook"]

#: ``decode(buf, pos) -> (value, next_pos)``, as in :mod:`cosem_reader.axdr.schema`.
_Decoder = Callable[[bytes, int], tuple[Any, int]]

#: Layouts kept per type: one per meter model read by the process, with room to spare.
MAX_SHAPES = 8
#: Fields of one layout; beyond this a value is not a push worth a shape of its own.
_MAX_FIELDS = 4096
#: The builder is one expression, and Python's parser bounds how deep brackets nest.
_MAX_DEPTH = 32
#: A layout needs this many fields before a shape beats the walk.
_MIN_FIELDS = 8


class AlternativeLayout(NamedTuple):
    """How one alternative of the CHOICE lies in the bytes after its tag."""

    name: str
    #: ``integer``, ``boolean``, ``null``, ``octets`` (one-byte length), ``fixed``
    #: (``size`` octets), ``text`` (one-byte length, decoded with ``encoding``) or
    #: ``list`` (one-byte count, then values of the CHOICE itself).
    kind: str
    #: The ``struct`` code of an integer.
    code: str = ""
    size: int = 0
    encoding: str = ""


#: Where an element stands in a value: the indices of the lists that lead to it, from
#: the value's own list (``()`` is the value itself).
Path = tuple[int, ...]


class Node(NamedTuple):
    """One element of a learned layout, for whoever reads its values straight from the
    unpacked fields (:mod:`cosem_reader.cosem.plans`)."""

    #: The alternative (``double-long-unsigned``, ``structure`` …): fixed by the layout.
    name: str
    #: What builds the element from the fields ``v`` (names bound in ``Shape.namespace``).
    expression: str
    #: The fields holding its values (its tags and lengths aside), in order.
    values: tuple[int, ...]


class Shape:
    """One learned layout: decodes a value laid out exactly so, or says it is not."""

    __slots__ = ("build", "expected", "guard", "namespace", "nodes", "size", "unpack_from")

    def __init__(
        self,
        fields: str,
        guard: tuple[int, ...],
        expected: tuple[int, ...],
        build: Any,
        *,
        nodes: Mapping[Path, Node] | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> None:
        compiled = struct.Struct(">" + fields)
        self.unpack_from = compiled.unpack_from
        self.size = compiled.size
        self.guard = itemgetter(*guard)
        self.expected = expected
        self.build: Callable[[tuple[Any, ...]], Any] = build
        #: Every element of the layout by its path, and the names its expressions use.
        self.nodes: Mapping[Path, Node] = nodes or {}
        self.namespace: Mapping[str, Any] = namespace or {}


class _Layout(NamedTuple):
    fields: str
    guard: tuple[int, ...]
    expected: tuple[int, ...]
    expression: str
    nodes: dict[Path, Node]


class _Describer:
    """Reads the layout of one decoded value off the value and the bytes it came from."""

    def __init__(self, alternatives: Mapping[int, AlternativeLayout], buf: bytes) -> None:
        self.alternatives = alternatives
        self.buf = buf
        self.fields: list[str] = []
        self.guard: list[int] = []
        self.expected: list[int] = []
        self.values: list[int] = []
        self.nodes: dict[Path, Node] = {}

    def field(self, code: str) -> int:
        if len(self.fields) >= _MAX_FIELDS:
            raise _LayoutUnfitError
        self.fields.append(code)
        return len(self.fields) - 1

    def fixed(self, value: int) -> None:
        """A tag or length byte: part of the layout, checked before a shape is used."""
        self.guard.append(self.field("B"))
        self.expected.append(value)

    def length(self, pos: int) -> int:
        length = self.buf[pos]
        if length >= 0x80:
            raise _LayoutUnfitError
        self.fixed(length)
        return length

    def value_field(self, code: str) -> int:
        index = self.field(code)
        self.values.append(index)
        return index

    def describe(self, value: tuple[str, Any], pos: int, path: Path) -> tuple[str, int]:
        """The builder expression of ``value`` (decoded from ``pos``), and where it ends."""
        first = len(self.values)
        expression, end = self._describe(value, pos, path)
        self.nodes[path] = Node(value[0], expression, tuple(self.values[first:]))
        return expression, end

    def _describe(self, value: tuple[str, Any], pos: int, path: Path) -> tuple[str, int]:
        name, item = value
        tag = self.buf[pos]
        alternative = self.alternatives.get(tag)
        if alternative is None or alternative.name != name or len(path) > _MAX_DEPTH:
            raise _LayoutUnfitError
        self.fixed(tag)
        pos += 1
        kind = alternative.kind
        if kind == "null":
            return f"c{tag}", pos
        if kind == "integer":
            return f"(n{tag}, v[{self.value_field(alternative.code)}])", pos + alternative.size
        if kind == "boolean":
            return f"(n{tag}, v[{self.value_field('B')}] != 0)", pos + 1
        if kind == "fixed":
            index = self.value_field(f"{alternative.size}s")
            return f"(n{tag}, v[{index}])", pos + alternative.size
        if kind in ("octets", "text"):
            length = self.length(pos)
            index = self.value_field(f"{length}s")
            text = f"v[{index}]" if kind == "octets" else f"t{tag}(v[{index}])"
            return f"(n{tag}, {text})", pos + 1 + length
        # A list: its count, then its elements, each a value of the CHOICE.
        count = self.length(pos)
        if count != len(item):
            raise _LayoutUnfitError
        pos += 1
        elements = []
        for index, element in enumerate(item):
            expression, pos = self.describe(element, pos, (*path, index))
            elements.append(expression)
        return f"(n{tag}, [{', '.join(elements)}])", pos


class _LayoutUnfitError(Exception):
    """The value's layout cannot be a shape."""


class ShapeBook:
    """The learned layouts of one CHOICE type and the decoder that tries them first.

    Shared by every reader of a :class:`~cosem_reader.axdr.schema.Schema` (see
    :class:`~cosem_reader._learning.Learner` for threads).
    """

    def __init__(self, alternatives: Mapping[int, AlternativeLayout]) -> None:
        self.alternatives = dict(alternatives)
        self.learner: Learner[Shape] = Learner(MAX_SHAPES)
        self._namespace: dict[str, Any] = {}
        #: The last value a shape decoded, with the shape and its unpacked fields: what
        #: lets the readings of that value be read from the fields (cosem.plans).
        self.latest: tuple[Any, Shape, tuple[Any, ...]] | None = None
        for tag, alternative in self.alternatives.items():
            self._namespace[f"n{tag}"] = alternative.name
            self._namespace[f"c{tag}"] = (alternative.name, None)
            if alternative.kind == "text":
                self._namespace[f"t{tag}"] = _text_decoder(alternative.encoding)

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """The learned shapes, the latest first."""
        return self.learner.items

    def decoder(self, walk: _Decoder) -> _Decoder:
        """``walk`` with the learned shapes tried first, learning from what it decodes."""

        def decode_shaped(buf: bytes, pos: int) -> tuple[Any, int]:
            learner = self.learner
            if type(buf) is bytes:
                left = len(buf) - pos
                for shape in learner.items:
                    if shape.size <= left:
                        fields = shape.unpack_from(buf, pos)
                        if shape.guard(fields) == shape.expected:
                            value = shape.build(fields)
                            self.latest = (value, shape, fields)
                            return value, pos + shape.size
            value, end = walk(buf, pos)
            if type(buf) is bytes and learner.due():
                learner.study(lambda: self.study(value, buf, pos, end))
            return value, end

        return decode_shaped

    def study(self, value: Any, buf: bytes, pos: int, end: int) -> Study[Shape]:
        """The layout of ``value`` (the walk read it from ``buf[pos:end]``) for the learner."""
        layout = self.layout(value, buf, pos, end)
        if layout is None:
            return None
        return (
            (layout.fields, layout.expected),
            lambda: Shape(
                layout.fields,
                layout.guard,
                layout.expected,
                self._builder(layout),
                nodes=layout.nodes,
                namespace=self._namespace,
            ),
        )

    def layout(self, value: Any, buf: bytes, pos: int, end: int) -> _Layout | None:
        """The layout of ``value``, or None when it cannot be a shape."""
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list)):
            return None
        describer = _Describer(self.alternatives, buf)
        try:
            expression, stop = describer.describe(value, pos, ())
        except _LayoutUnfitError:
            return None
        if stop != end or len(describer.fields) < _MIN_FIELDS:
            return None
        return _Layout(
            "".join(describer.fields),
            tuple(describer.guard),
            tuple(describer.expected),
            expression,
            describer.nodes,
        )

    def _builder(self, layout: _Layout) -> Callable[[tuple[Any, ...]], Any]:
        # The source holds only field indices and the names n<tag>, c<tag>, t<tag>
        # bound in the namespace: nothing of the decoded bytes is ever code.
        namespace = dict(self._namespace)
        exec(f"def build(v):\n    return {layout.expression}\n", namespace)  # noqa: S102
        build: Callable[[tuple[Any, ...]], Any] = namespace["build"]
        return build


def _text_decoder(encoding: str) -> Callable[[bytes], str]:
    def decode_text(data: bytes) -> str:
        return data.decode(encoding, errors="replace")

    return decode_text
