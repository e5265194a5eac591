"""Learned readings plans: a layout the walk has met twice, read again without deciding.

A meter sends the same layout push after push.  The second time the walk
(:mod:`cosem_reader.cosem.walk`) meets a layout, its decisions become a :class:`Plan`,
kept in the :class:`ReadingsPlans` of the decoder that met it.  The plans only save
time: the differential tests (tests/cosem/test_readings_plans.py) hold them to the
walk's readings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from cosem_reader._learning import Learner, Study
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.profiles import Scales, signature_indices
from cosem_reader.cosem.walk import (
    CONTAINERS,
    NUMBER_TYPES,
    UNIT_SYMBOLS,
    Step,
    Walk,
    scaled_reading,
)

__all__ = ["Plan", "ReadingsPlans"]


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
    """

    __slots__ = ("replay", "scales", "signature_at")

    def __init__(self, source: str, namespace: dict[str, Any]) -> None:
        # The source holds indices, lengths and the names k<n> bound in the namespace:
        # nothing of the decoded values is ever code.
        exec(source, namespace)  # noqa: S102
        self.replay: Callable[[list[tuple[str, Any]], Walk], bool] = namespace["replay"]
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


class PlanWriter:
    """Writes the plan of one walk: its guard, then its steps."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.namespace: dict[str, Any] = {"scaled": scaled_reading}
        self.constants: list[Any] = []
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
        self.paths: dict[int, str] = {}

    def bind(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants.append(value)
        self.namespace[name] = value
        return name

    def guard(self, expression: str, items: list[tuple[str, Any]], depth: int) -> None:
        if (
            depth > _MAX_PLAN_DEPTH
            or len(self.terms) > _MAX_PLAN_TERMS
            or not isinstance(items, list)
        ):
            raise _PlanUnfitError
        self.paths[id(items)] = expression
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
            elif role == "value":
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                if name == "octet-string":
                    self.terms.append(f"len({item}[1]) == {len(value)}")
            elif name in CONTAINERS:
                self.terms.append(f"{item}[0] == {self.bind(name)}")
                self.guard(f"{item}[1]", value, depth + 1)
            else:
                raise _PlanUnfitError

    def source(self, elements: list[tuple[str, Any]]) -> str:
        self.guard("e", elements, 0)
        lines = [
            "def replay(e, walk):",
            "    if not (",
            *(f"        {term} and" for term in self.terms),
            "        True",
            "    ):",
            "        return False",
            "    add = walk.readings.append",
        ]
        for kind, items, index, scaler_unit, position in self.steps:
            where = self.paths[id(items)]
            at = self.bind(position)
            if kind == "loose":
                lines.append(f"    walk.loose({where}[{index}], {at})")
                continue
            obis = self.bind(ObisCode.from_bytes(items[index][1]))
            value = f"{where}[{index + 1}]"
            if scaler_unit is not None and items[index + 1][0] in NUMBER_TYPES:
                scaler, unit_code = scaler_unit
                unit = self.bind(UNIT_SYMBOLS.get(unit_code))
                lines.append(f"    add(scaled({obis}, {at}, {value}, {self.bind(scaler)}, {unit}))")
            else:
                lines.append(f"    walk.register({obis}, {value}, {self.bind(scaler_unit)}, {at})")
        lines.append("    return True")
        return "\n".join(lines) + "\n"


def _plan_study(elements: list[tuple[str, Any]], steps: list[Step]) -> Study[Plan]:
    writer = PlanWriter(steps)
    try:
        source = writer.source(elements)
    except _PlanUnfitError:
        return None
    # Equal layouts give equal sources and constants (reprs: scaler-units hold lists).
    return (source, repr(writer.constants)), lambda: Plan(source, writer.namespace)


class ReadingsPlans:
    """The plans one decoder has learned, most recent first, and when to learn another.

    Each :class:`~cosem_reader.pipeline.decoder.StreamDecoder` owns one, and a decoder
    is fed by one thread at a time (one per meter), so it holds no lock.  Disabled,
    nothing is learned and every body takes the walk (tests, benchmarks).
    """

    __slots__ = ("_learner",)

    def __init__(self, *, enabled: bool = True) -> None:
        self._learner: Learner[Plan] = Learner(_MAX_PLANS, enabled=enabled)

    @property
    def items(self) -> tuple[Plan, ...]:
        """The plans learned, the latest first."""
        return self._learner.items

    def replay(self, elements: list[tuple[str, Any]], walk: Walk) -> Plan | None:
        """The plan that read ``elements`` into ``walk``, if one fits them."""
        for plan in self._learner.items:
            if plan.replay(elements, walk):
                return plan
        return None

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
