"""Learned plans of the readings walk give exactly the walk's readings, or step aside.

The reference is the walk with learning switched off: for any body, the readings a
process that has learned plans returns must equal (value, type, unit, position …)
those of a walk that decides everything afresh.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import new_schema
from cosem_reader.axdr.schema import Schema
from cosem_reader.cosem import plans as plans_module
from cosem_reader.cosem.date_time import load_timezone
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Reading, ReadingsPlans, readings_from_data
from cosem_reader.cosem.walk import Walk
from tests.support.encoder import (
    encode_data,
    flat_body,
    kaifa_ma309m_body,
    kaifa_series,
    obis,
    scaler_unit,
)
from tests.support.plans import walk_only
from tests.support.strategies import data_values

START = datetime(2026, 10, 25, 1, 59, 50, tzinfo=UTC)


def same(found: list[Reading], expected: list[Reading]) -> None:
    assert found == expected
    # Equal is not enough where Decimal('1.0') == Decimal('1.00'): the digits count too.
    assert [(type(r.value), str(r.value)) for r in found] == [
        (type(r.value), str(r.value)) for r in expected
    ]


@pytest.fixture
def fresh_plans() -> ReadingsPlans:
    return ReadingsPlans()


def learned(plans: ReadingsPlans, data: tuple[str, Any], **options: Any) -> list[Reading]:
    """The readings through ``plans``: a learned plan's, once it has learned the layout."""
    return readings_from_data(data, plans=plans, **options)


def kaifa_bodies(count: int, nested: bool = True) -> list[tuple[str, Any]]:
    bodies = []
    for moment, registers in kaifa_series(START, count, timedelta(seconds=5)):
        if nested:
            bodies.append(
                kaifa_ma309m_body(moment, registers, "1KFM0200012345", "KFM1200200012345")
            )
        else:
            bodies.append(flat_body(moment, registers, "181220000009"))
    return bodies


@pytest.mark.parametrize("nested", [True, False], ids=["ksm-west", "netz-noe"])
def test_a_layout_met_twice_gets_a_plan_that_gives_the_walks_readings(
    nested: bool, fresh_plans: ReadingsPlans
) -> None:
    bodies = kaifa_bodies(8, nested)
    for body in bodies:
        same(learned(fresh_plans, body), walk_only(body))
    assert len(fresh_plans.items) == 1
    (plan,) = fresh_plans.items
    walk = Walk(None, {})
    assert plan.replay(bodies[-1][1], walk)
    same(walk.readings, walk_only(bodies[-1]))


def test_options_still_apply_through_a_plan(fresh_plans: ReadingsPlans) -> None:
    """Time zone and user scalers are applied when the plan runs, not when it was learned."""
    body = (
        "structure",
        [
            obis("0.0.1.0.0.255"),
            ("octet-string", bytes.fromhex("07EA0A19FF0238320000800000")[:12]),
            obis("1.0.31.7.0.255"),
            ("long-unsigned", 512),
            obis("1.0.1.8.0.255"),
            ("double-long-unsigned", 4711),
            scaler_unit(0, 30),
        ],
    )
    for _ in range(3):
        learned(fresh_plans, body)
    assert fresh_plans.items
    from cosem_reader.cosem.obis import ObisCode  # noqa: PLC0415

    vienna = load_timezone("Europe/Vienna")
    options: dict[str, Any] = {"local_zone": vienna, "scalers": {ObisCode.parse("1-0:31.7.0"): -2}}
    same(learned(fresh_plans, body, **options), walk_only(body, **options))
    assert str(learned(fresh_plans, body, **options)[1].value) == "5.12"


def _changes(body: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    """Bodies that differ from ``body`` in one thing the walk's decisions rest on."""
    name, elements = body
    for index, (kind, value) in enumerate(elements):

        def with_element(element: tuple[str, Any], index: int = index) -> tuple[str, Any]:
            copy = list(elements)
            copy[index] = element
            return (name, copy)

        if kind == "octet-string":
            yield with_element((kind, value + b"\x00"))
            yield with_element((kind, bytes([1, 0, 1, 8, 0, 255])))  # looks like an OBIS code
            yield with_element((kind, bytes([200, 0, 1, 8, 0, 255])))  # six bytes, no OBIS code
            yield with_element(("visible-string", "x"))
        elif kind in ("structure", "array"):
            yield with_element((kind, value[:-1]))
            yield with_element(("structure", [("integer", -1), ("enum", 33)]))
            yield with_element(("array", value))
            for changed in _changes((kind, value)):
                yield with_element(changed)
        else:
            yield with_element(("long64", 7))
            yield with_element(("octet-string", bytes([1, 0, 2, 8, 0, 255])))
            yield with_element(("structure", [("integer", -1), ("enum", 33)]))
    yield (name, elements[:-1])
    yield (name, [*elements, ("unsigned", 1)])
    yield ("array", elements)


@pytest.mark.parametrize("nested", [True, False], ids=["ksm-west", "netz-noe"])
def test_a_body_that_differs_in_any_decision_takes_the_walk(
    nested: bool, fresh_plans: ReadingsPlans
) -> None:
    body = kaifa_bodies(1, nested)[0]
    for _ in range(3):
        learned(fresh_plans, body)
    assert fresh_plans.items
    for changed in _changes(body):
        same(learned(fresh_plans, changed), walk_only(changed))
        same(learned(fresh_plans, body), walk_only(body))


def _register() -> st.SearchStrategy[list[tuple[str, Any]]]:
    codes = st.sampled_from(
        [
            "1.0.1.8.0.255",
            "1.0.32.7.0.255",
            "0.0.96.1.0.255",
            "1.0.13.7.0.255",
            "1.1.31.7.0.255",  # scaled by the Kamstrup profile when sent bare
            "1.1.1.8.0.255",
        ]
    )
    values = st.one_of(
        st.tuples(st.just("long-unsigned"), st.integers(0, 65535)),
        st.tuples(st.just("double-long"), st.integers(-(2**31), 2**31 - 1)),
        st.tuples(st.just("octet-string"), st.binary(max_size=14)),
        st.tuples(st.just("visible-string"), st.text("abc", max_size=5)),
    )
    units = st.tuples(st.integers(-3, 3), st.sampled_from([27, 30, 33, 35, 255]))
    return st.tuples(codes, values, st.one_of(st.none(), units)).map(
        lambda r: [obis(r[0]), r[1]] + ([scaler_unit(*r[2])] if r[2] else [])
    )


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """Bodies of registers, flat or one structure each, with loose values among them,
    some opened by a list identifier that selects a meter profile."""
    elements: list[tuple[str, Any]] = []
    head = draw(st.sampled_from(["", "Kamstrup_V0001", "Kamstrup_X0001"]))
    if head:
        elements.append(("visible-string", head))
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            elements += draw(_register())
        elif choice == 1:
            elements.append(("structure", draw(_register())))
        else:
            elements.append(draw(data_values()))
    return (draw(st.sampled_from(["structure", "array"])), elements)


#: A user's [scalers] entry for a register that the Kamstrup profile also scales.
USER = {ObisCode.parse("1-1:31.7.0"): -1}


def _other_identifiers(body: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    """The body with the other list identifier of the same length, where it has one."""
    name, elements = body
    if elements and elements[0][0] == "visible-string":
        other = {"Kamstrup_V0001": "Kamstrup_X0001", "Kamstrup_X0001": "Kamstrup_V0001"}
        if elements[0][1] in other:
            yield (name, [("visible-string", other[elements[0][1]]), *elements[1:]])


@given(st.lists(bodies(), min_size=1, max_size=3), st.lists(st.integers(0, 2), max_size=12))
def test_any_sequence_of_bodies_reads_as_the_walk_reads_it(
    layouts: list[tuple[str, Any]], order: list[int]
) -> None:
    """Bodies met in any order, each repeatedly: learned or not, the readings are the walk's."""
    fresh_plans = ReadingsPlans()
    for body in [*layouts, *layouts, *(layouts[i % len(layouts)] for i in order)]:
        same(learned(fresh_plans, body), walk_only(body))
        # Another meter's [scalers], or another list identifier, on the same layout.
        same(learned(fresh_plans, body, scalers=USER), walk_only(body, scalers=USER))
        for changed in [*list(_changes(body))[:20], *_other_identifiers(body)]:
            same(learned(fresh_plans, changed), walk_only(changed))
    event(f"plans learned: {min(len(fresh_plans.items), 1)}")


def _hostile_body() -> tuple[str, Any]:
    """A body whose text values would do harm if a plan's source ever held them."""
    return (
        "structure",
        [
            obis("1.0.1.8.0.255"),
            ("visible-string", "__import__('os').system('x')"),
            ("octet-string", b"'); exit(1) #"),
            obis("1.0.2.8.0.255"),
            ("double-long-unsigned", 5),
            scaler_unit(0, 30),
        ],
    )


def test_the_plan_source_holds_no_decoded_values() -> None:
    """Only indices, lengths and bound names reach exec, never a value from the wire."""
    body = _hostile_body()
    walk = Walk(None, {})
    walk.steps = []
    walk.elements(body[1], "")
    writer = plans_module.PlanWriter(walk.steps)
    source = writer.source(body[1])
    assert "import" not in source
    assert "exit" not in source
    # Past the def line: only indices, lengths, operators and the bound names k<n>.
    body_lines = source.splitlines()[1:]
    assert all(re.fullmatch(r"[\w\s\[\]\(\)=.,:<>!]*", line) for line in body_lines)
    assert not re.search(r"[(,]\s*-?\d+\s*[,)]", source)  # no number passed as a value


def test_a_body_without_obis_codes_learns_no_plan(fresh_plans: ReadingsPlans) -> None:
    """Lists without OBIS codes are named by layouts the caller chooses: no plan."""
    body = ("structure", [("double-long-unsigned", 1), ("long-unsigned", 2)] * 4)
    for _ in range(10):
        same(learned(fresh_plans, body), walk_only(body))
    assert fresh_plans.items == ()


def test_a_plan_scales_as_the_walk_does(fresh_plans: ReadingsPlans) -> None:
    body = (
        "structure",
        [obis("1.0.1.8.0.255"), ("double-long-unsigned", 12937), scaler_unit(-3, 30)] * 3,
    )
    for _ in range(3):
        found = learned(fresh_plans, body)
    assert fresh_plans.items
    assert found[0] == Reading(
        obis=ObisCode.parse("1-0:1.8.0"),
        position="0",
        value=found[0].value,
        unit="Wh",
        scaler=-3,
        data_type="double-long-unsigned",
        raw=12937,
        scale_origin="push",
    )
    assert str(found[0].value) == "12.937"


def test_a_body_too_big_for_a_plan_is_walked(fresh_plans: ReadingsPlans) -> None:
    body = (
        "array",
        [
            ("structure", [obis("1.0.1.8.0.255"), ("long-unsigned", n), scaler_unit(0, 30)])
            for n in range(1500)
        ],
    )
    for _ in range(4):
        same(learned(fresh_plans, body), walk_only(body))
    assert fresh_plans.items == ()


def test_a_failure_while_learning_costs_the_body_nothing(
    fresh_plans: ReadingsPlans, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Learning only saves time: a bug in it is logged and the walk's readings stand."""

    def broken(self: Any, elements: Any) -> str:
        raise RuntimeError("a bug in the plan writer")

    monkeypatch.setattr(plans_module.PlanWriter, "source", broken)
    body = kaifa_bodies(1)[0]
    with caplog.at_level("DEBUG", logger="cosem_reader._learning"):
        for _ in range(5):
            same(learned(fresh_plans, body), walk_only(body))
    assert fresh_plans.items == ()
    assert "a bug in the plan writer" in caplog.text


def test_changing_a_returned_tree_does_not_change_a_plan(fresh_plans: ReadingsPlans) -> None:
    body = kaifa_bodies(1, nested=False)[0]
    for _ in range(3):
        learned(fresh_plans, body)
    assert fresh_plans.items
    # The caller edits the scaler-unit of the body the plan was learned from ...
    body[1][3][1][0] = ("integer", -3)
    # ... and a push that really has that scaler-unit must not be read with the old one.
    same(learned(fresh_plans, body), walk_only(body))


def kamstrup_list(identifier: str, current: int) -> tuple[str, Any]:
    """Kamstrup's flat OBIS/value list: bare numbers that only a meter profile scales."""
    return (
        "array",
        [
            ("visible-string", identifier),
            obis("1.1.31.7.0.255"),
            ("double-long-unsigned", current),
            obis("1.1.1.8.0.255"),
            ("double-long-unsigned", 6307498),
        ],
    )


def test_a_plan_applies_the_meter_profile_as_the_walk_does(fresh_plans: ReadingsPlans) -> None:
    """The profile follows what each push says, not what the learning push said."""
    for current in range(4):  # walked, learned, then replayed by the plan
        found = learned(fresh_plans, kamstrup_list("Kamstrup_V0001", current))
    assert fresh_plans.items
    same(found, walk_only(kamstrup_list("Kamstrup_V0001", 3)))
    assert found[1].scale_origin == "Kamstrup Omnipower (NO/SE/DK)"
    # Same layout, same length of identifier, another list: the plan runs, no profile fits.
    other = learned(fresh_plans, kamstrup_list("Kamstrup_X0001", 287))
    same(other, walk_only(kamstrup_list("Kamstrup_X0001", 287)))
    assert (other[1].value, other[1].unit, other[1].scale_origin) == (287, None, None)


def test_plans_belong_to_whoever_passes_them() -> None:
    """No plan is shared: each ReadingsPlans learns only the bodies read through it."""
    body = kaifa_bodies(1)[0]
    mine, other, disabled = ReadingsPlans(), ReadingsPlans(), ReadingsPlans(enabled=False)
    for _ in range(3):
        same(learned(mine, body), walk_only(body))
        same(learned(disabled, body), walk_only(body))
    assert len(mine.items) == 1
    assert other.items == ()
    assert disabled.items == ()
    same(learned(other, body), walk_only(body))
    assert other.items == ()


# -- plans fused with the learned A-XDR shapes ---------------------------------------


class Shaped:
    """A decoder's pair: a schema that learns shapes, and plans that fuse with them."""

    def __init__(self) -> None:
        self.schema: Schema = new_schema()
        self.plans = ReadingsPlans(shape_books=self.schema.shape_books)

    def readings(self, body: tuple[str, Any], **options: Any) -> list[Reading]:
        """The readings of ``body`` decoded from its bytes: through a shape and the plan
        fused with it, once both are learned."""
        value, _ = self.schema.decode("Data", encode_data(body))
        return readings_from_data(value, plans=self.plans, **options)

    def fused(self) -> int:
        return sum(
            replay is not None for known in self.plans._fused.values() for _, replay in known
        )


@pytest.mark.parametrize("nested", [True, False], ids=["ksm-west", "netz-noe"])
def test_a_fused_plan_reads_as_the_walk_and_steps_aside_for_any_change(nested: bool) -> None:
    shaped = Shaped()
    bodies = kaifa_bodies(6, nested)
    for body in bodies:
        same(shaped.readings(body), walk_only(body))
    assert shaped.fused() == 1
    for changed in _changes(bodies[0]):
        same(shaped.readings(changed), walk_only(changed))
        same(shaped.readings(bodies[1]), walk_only(bodies[1]))


def test_another_meter_with_the_same_shape_gets_its_own_fused_plan() -> None:
    """Same tags and lengths, other OBIS codes: the fused check tells them apart."""
    shaped = Shaped()
    first = kaifa_bodies(4, nested=False)
    second = [
        ("structure", [obis("1.0.2.8.0.255") if e == obis("1.0.1.8.0.255") else e for e in b[1]])
        for b in first
    ]
    for one, other in zip(first * 2, second * 2, strict=True):
        same(shaped.readings(one), walk_only(one))
        same(shaped.readings(other), walk_only(other))
    assert shaped.fused() == 2


def test_a_fused_plan_holds_no_decoded_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a plan's, the fused source is indices and bound names only."""
    sources: list[str] = []
    real_exec = exec

    def recording(source: str, namespace: dict[str, Any]) -> None:
        sources.append(source)
        real_exec(source, namespace)

    monkeypatch.setattr(plans_module, "exec", recording, raising=False)
    body = _hostile_body()
    shaped = Shaped()
    for _ in range(4):
        same(shaped.readings(body), walk_only(body))
    assert shaped.fused() == 1
    fused_source = sources[-1]
    assert fused_source.startswith("def replay(v, walk):")
    assert "import" not in fused_source
    assert "exit" not in fused_source
    assert not re.search(r"[(,]\s*-?\d+\s*[,)]", fused_source)


@given(st.lists(bodies(), min_size=1, max_size=3), st.lists(st.integers(0, 2), max_size=12))
def test_any_sequence_of_shaped_bodies_reads_as_the_walk_reads_it(
    layouts: list[tuple[str, Any]], order: list[int]
) -> None:
    """Bodies decoded from their bytes, in any order, each repeatedly, with every change
    of one tag, length, OBIS code, scaler-unit or octet string: the walk's readings."""
    shaped = Shaped()
    for body in [*layouts, *layouts, *layouts, *(layouts[i % len(layouts)] for i in order)]:
        same(shaped.readings(body), walk_only(body))
        same(shaped.readings(body, scalers=USER), walk_only(body, scalers=USER))
        for changed in [*list(_changes(body))[:20], *_other_identifiers(body)]:
            same(shaped.readings(changed), walk_only(changed))
    event(f"fused plans: {min(shaped.fused(), 1)}")
