"""Learned readings plans: a layout the walk has met twice, read again without deciding.

A meter sends the same layout push after push.  The second time the walk
(:mod:`cosem_reader.cosem.walk`) meets a layout, its decisions become a :class:`Plan`,
kept in the :class:`ReadingsPlans` of the decoder that met it.  The plans only save
time: the differential tests (tests/cosem/test_readings_plans.py) hold them to the
walk's readings.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from cosem_reader._learning import Learner, Study
from cosem_reader.axdr.shapes import Path, Shape, ShapeBook
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.profiles import Scales, signature_indices
from cosem_reader.cosem.walk import (
    CONTAINERS,
    NUMBER_TYPES,
    UNIT_SYMBOLS,
    Step,
    Walk,
    scaled_number,
    scaled_reading,
)

__all__ = ["Plan", "ReadingsPlans", "fused"]

log = logging.getLogger(__name__)


#: What a plan does with one element, in the walk's order: ``("loose", path, position)``,
#: ``("scaled", path, position, obis, scaler, unit)`` (a number with its scaler-unit) or
#: ``("register", path, position, obis, scaler_unit)``; ``path`` leads to the element.
Action = tuple[Any, ...]


class Plan:
    """What the walk did with one layout of a body, done again without deciding anything.

    A meter sends the same layout push after push.  The second time the walk meets a
    layout, its decisions (which element is an OBIS code, which a value, which a
    scaler-unit) become a function generated for that layout.  It first checks
    everything those decisions rested on: the length of every list, the kind of
    every element, every OBIS code and scaler-unit, the length of every octet-string
    value (and its bytes where, at six bytes, it could pass for an OBIS code); then it
    makes the readings through the walk's own functions.  A body that differs in any
    of these goes the walk's way.

    Where the body came through a learned A-XDR shape, which fixes every length and
    kind already, what is left to check are the elements compared whole (``constants``,
    by path): :func:`fused` writes that plan, reading straight from the shape's fields.
    """

    __slots__ = ("actions", "constants", "replay", "scales", "signature_at")

    def __init__(
        self,
        source: str,
        namespace: dict[str, Any],
        actions: tuple[Action, ...] = (),
        constants: tuple[Path, ...] = (),
    ) -> None:
        # The source holds indices, lengths and the names k<n> bound in the namespace:
        # nothing of the decoded values is ever code.
        exec(source, namespace)  # noqa: S102
        self.replay: Callable[[Any, Walk], bool] = namespace["replay"]
        self.actions = actions
        self.constants = constants
        #: Where the readings that name the meter stand (fixed by the layout the plan checks).
        self.signature_at: tuple[int, ...] | None = None
        #: What the known profiles made of the bare numbers, by what named the meter.
        self.scales: dict[tuple[Any, ...], Scales] = {}

    def profile_scales(self, walk: Walk, find: Callable[[], Scales]) -> Scales:
        """The known profiles' scales as the first push of this layout and meter found them.

        ``find()`` looks them up the long way, once per meter (by what names it).
        """
        readings = walk.readings
        at = self.signature_at
        if at is None:
            at = self.signature_at = signature_indices(readings)
        key = (tuple(walk.unscaled), *(readings[index].value for index in at))
        scales = self.scales.get(key)
        if scales is None:
            if len(self.scales) >= _MAX_PLAN_SCALES:
                self.scales.clear()
            scales = self.scales[key] = find()
        return scales


#: A plan remembers the profiles of this many meters (list identifiers, device names).
_MAX_PLAN_SCALES = 16

#: A decoder keeps the plans of this many layouts (a meter sends one or two).
_MAX_PLANS = 8
#: Lists nested deeper than this, or bodies needing more checks, are not worth a plan.
_MAX_PLAN_DEPTH = 16
_MAX_PLAN_TERMS = 4096


class _PlanUnfitError(Exception):
    """The walk's decisions cannot be written down as a plan."""


class _Namespace:
    """The names a generated plan uses: each constant bound once as k<n>."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = {"scaled": scaled_reading, "number": scaled_number, **names}
        self.constants: list[Any] = []

    def bind(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants.append(value)
        self.names[name] = value
        return name


def _action_lines(
    actions: tuple[Action, ...],
    where: Callable[[Path], str],
    space: _Namespace,
    number: Callable[[Path], tuple[str, str]] | None = None,
) -> list[str]:
    """The lines that make the readings of ``actions``, each element built by ``where``
    (a scaled number's name and value by ``number``, where the plan knows them apart)."""
    lines = ["    add = walk.readings.append"]
    for kind, path, position, *rest in actions:
        at = space.bind(position)
        if kind == "loose":
            lines.append(f"    walk.loose({where(path)}, {at})")
        elif kind == "scaled":
            obis, scaler, unit = (space.bind(value) for value in rest)
            if number is None:
                element = where(path)
                lines.append(f"    add(scaled({obis}, {at}, {element}, {scaler}, {unit}))")
            else:
                name, raw = number(path)
                lines.append(f"    add(number({obis}, {at}, {name}, {raw}, {scaler}, {unit}))")
        else:
            obis, scaler_unit = (space.bind(value) for value in rest)
            lines.append(f"    walk.register({obis}, {where(path)}, {scaler_unit}, {at})")
    lines.append("    return True")
    return lines


class PlanWriter:
    """Writes the plan of one walk: its guard, then its steps."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.space = _Namespace({})
        self.namespace = self.space.names
        #: What the walk made of (list, index): a label (OBIS code, scaler-unit) or a value.
        self.roles: dict[tuple[int, int], str] = {}
        for kind, items, index, scaler_unit, _ in steps:
            if kind == "register":
                self.roles[id(items), index] = "label"
                self.roles[id(items), index + 1] = "value"
                if scaler_unit is not None:
                    self.roles[id(items), index + 2] = "label"
            else:
                self.roles[id(items), index] = "value"
        self.terms: list[str] = []
        #: Each list met: where the walk found it (its path) and its expression.
        self.paths: dict[int, tuple[Path, str]] = {}
        #: The paths of the elements the guard compares whole.
        self.constants: list[Path] = []

    @property
    def constant_values(self) -> list[Any]:
        return self.space.constants

    def bind(self, value: Any) -> str:
        return self.space.bind(value)

    def guard(
        self, expression: str, items: list[tuple[str, Any]], depth: int, path: Path = ()
    ) -> None:
        if (
            depth > _MAX_PLAN_DEPTH
            or len(self.terms) > _MAX_PLAN_TERMS
            or not isinstance(items, list)
        ):
            raise _PlanUnfitError
        self.paths[id(items)] = (path, expression)
        self.terms.append(f"len({expression}) == {len(items)}")
        for index, element in enumerate(items):
            item = f"{expression}[{index}]"
            role = self.roles.get((id(items), index))
            name, value = element
            if role == "label" or (
                role == "value"
                and (name in CONTAINERS or (name == "octet-string" and len(value) == 6))
            ):
                # A copy: the learning push's tree went to the caller, who may change it.
                self.terms.append(f"{item} == {self.bind(copy.deepcopy(element))}")
                self.constants.append((*path, index))
            elif role == "value":
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                if name == "octet-string":
                    self.terms.append(f"len({item}[1]) == {len(value)}")
            elif name in CONTAINERS:
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                self.guard(f"{item}[1]", value, depth + 1, (*path, index))
            else:
                raise _PlanUnfitError

    def actions(self) -> tuple[Action, ...]:
        """The walk's steps as actions on the elements (after :meth:`guard`)."""
        actions: list[Action] = []
        for kind, items, index, scaler_unit, position in self.steps:
            path = self.paths[id(items)][0]
            if kind == "loose":
                actions.append(("loose", (*path, index), position))
                continue
            obis = ObisCode.from_bytes(items[index][1])
            value = (*path, index + 1)
            if scaler_unit is not None and items[index + 1][0] in NUMBER_TYPES:
                scaler, unit_code = scaler_unit
                unit = UNIT_SYMBOLS.get(unit_code)
                actions.append(("scaled", value, position, obis, scaler, unit))
            else:
                actions.append(("register", value, position, obis, scaler_unit))
        return tuple(actions)

    def source(self, elements: list[tuple[str, Any]]) -> str:
        self.guard("e", elements, 0)
        lines = [
            "def replay(e, walk):",
            "    if not (",
            *(f"        {term} and" for term in self.terms),
            "        True",
            "    ):",
            "        return False",
            *_action_lines(self.actions(), _tree_expression, self.space),
        ]
        return "\n".join(lines) + "\n"


def _tree_expression(path: Path) -> str:
    """The element at ``path`` of the body's elements ``e``."""
    steps = (f"[{index}]" if at == 0 else f"[1][{index}]" for at, index in enumerate(path))
    return "e" + "".join(steps)


def fused(
    plan: Plan, shape: Shape, fields: tuple[Any, ...]
) -> Callable[[Any, Walk], bool] | None:
    """``plan`` read straight from the fields of ``shape``, which decoded a body it fits.

    The shape's guard fixes every kind and length the plan checks; what is left are the
    elements it compares whole, checked here field by field against ``fields`` (the
    raw values, which is stricter than the plan's decoded ones).  None when the plan
    cannot be fused (it was not written down with its actions).
    """
    nodes = shape.nodes
    try:
        values = [index for path in plan.constants for index in nodes[path].values]
        elements = {action[1]: nodes[action[1]].expression for action in plan.actions}
    except KeyError:
        return None
    if not plan.actions:
        return None
    space = _Namespace(dict(shape.namespace))
    lines = ["def replay(v, walk):"]
    if values:
        checked = ", ".join(f"v[{index}]" for index in values)
        expected = space.bind(tuple(fields[index] for index in values))
        lines += [f"    if ({checked},) != {expected}:", "        return False"]

    def number(path: Path) -> tuple[str, str]:
        (raw,) = nodes[path].values
        return space.bind(nodes[path].name), f"v[{raw}]"

    lines += _action_lines(plan.actions, elements.__getitem__, space, number)
    # Like the plan: indices and bound names only, nothing decoded becomes code.
    exec("\n".join(lines) + "\n", space.names)  # noqa: S102
    replay: Callable[[Any, Walk], bool] = space.names["replay"]
    return replay


def _plan_study(elements: list[tuple[str, Any]], steps: list[Step]) -> Study[Plan]:
    writer = PlanWriter(steps)
    try:
        source = writer.source(elements)
        actions = writer.actions()
    except _PlanUnfitError:
        return None
    constants = tuple(writer.constants)
    # Equal layouts give equal sources and constants (reprs: scaler-units hold lists).
    return (source, repr(writer.constant_values)), lambda: Plan(
        source, writer.namespace, actions, constants
    )


#: Fused plans kept per shape, and shapes with fused plans per decoder.
_MAX_FUSED_PER_SHAPE = 8
_MAX_FUSED_SHAPES = 16

_Fused = tuple[Plan, Callable[[Any, Walk], bool] | None]


class ReadingsPlans:
    """The plans one decoder has learned, most recent first, and when to learn another.

    Each :class:`~cosem_reader.pipeline.decoder.StreamDecoder` owns one, and a decoder
    is fed by one thread at a time (one per meter), so it holds no lock.  Disabled,
    nothing is learned and every body takes the walk (tests, benchmarks).

    Given the shape books of the decoder's schema (``shape_books``), a body that the
    ``Data`` book's latest shape decoded is read by the plan fused with that shape,
    from the shape's fields: so the body must reach the plans as the shape built it
    (the decoder passes it on untouched).
    """

    __slots__ = ("_books", "_fused", "_learner")

    def __init__(
        self, *, enabled: bool = True, shape_books: Mapping[str, ShapeBook] | None = None
    ) -> None:
        self._learner: Learner[Plan] = Learner(_MAX_PLANS, enabled=enabled)
        self._books = shape_books if enabled else None
        self._fused: dict[Shape, tuple[_Fused, ...]] = {}

    @property
    def items(self) -> tuple[Plan, ...]:
        """The plans learned, the latest first."""
        return self._learner.items

    def replay(self, elements: list[tuple[str, Any]], walk: Walk) -> Plan | None:
        """The plan that read ``elements`` into ``walk``, if one fits them."""
        shaped = self._shaped(elements)
        if shaped is not None:
            shape, fields = shaped
            for plan, replay in self._fused.get(shape, ()):
                if replay is not None and replay(fields, walk):
                    return plan
        for plan in self._learner.items:
            if plan.replay(elements, walk):
                if shaped is not None:
                    self._fuse(plan, *shaped)
                return plan
        return None

    def _shaped(self, elements: list[tuple[str, Any]]) -> tuple[Shape, tuple[Any, ...]] | None:
        """The shape and fields ``elements`` were built from, when a shape built them."""
        if self._books is None:
            return None
        book = self._books.get("Data")
        latest = book.latest if book is not None else None
        # The book holds the value it built, so no other list can have its identity.
        if latest is None or latest[0][1] is not elements:
            return None
        return latest[1], latest[2]

    def _fuse(self, plan: Plan, shape: Shape, fields: tuple[Any, ...]) -> None:
        """Fuses ``plan`` with ``shape``, once (a plan that cannot be fused is noted too)."""
        known = self._fused.get(shape, ())
        if any(fused_plan is plan for fused_plan, _ in known):
            return
        if len(self._fused) >= _MAX_FUSED_SHAPES and shape not in self._fused:
            self._fused.clear()
        try:
            replay = fused(plan, shape, fields)
        except Exception:  # learning only saves time (see _learning.Learner.study)
            log.debug("a plan could not be fused with its shape", exc_info=True)
            replay = None
        self._fused[shape] = ((plan, replay), *known[: _MAX_FUSED_PER_SHAPE - 1])

    def watch(self, walk: Walk) -> None:
        """Has the walk note its decisions, when it is time to study a layout."""
        if self._learner.due():
            walk.steps = []

    def learn(self, elements: list[tuple[str, Any]], walk: Walk) -> None:
        """After a watched walk that found OBIS codes: its layout noted, or learned."""
        steps = walk.steps
        if steps is None:
            return
        if walk.unfit:
            self._learner.unfit()
        else:
            self._learner.study(lambda: _plan_study(elements, steps))

    def unfit(self, walk: Walk) -> None:
        """After a watched walk whose layout cannot be learned."""
        if walk.steps is not None:
            self._learner.unfit()
