"""Small units: no function over 60 lines, no class over 250, no module over 500.

Data tables (a top-level assignment of 20 lines or more: OBIS names, list layouts,
meter profiles) do not count towards a module's lines, nor does the generated module.
When a unit grows past its limit, it is two things: split it, do not raise the limit.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_LINES = 60
CLASS_LINES = 250
MODULE_LINES = 500
TABLE_LINES = 20


def _sources() -> list[Path]:
    found = sorted((ROOT / "src" / "cosem_reader").rglob("*.py")) + sorted(
        (ROOT / "codegen").glob("*.py")
    )
    return [path for path in found if "generated" not in path.relative_to(ROOT).parts]


def _span(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    start = min([node.lineno] + [d.lineno for d in decorators])
    return (node.end_lineno or start) - start + 1


def _oversized(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    name = path.relative_to(ROOT)
    tables = sum(
        _span(node)
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign) and _span(node) >= TABLE_LINES
    )
    lines = text.count("\n") - tables
    if lines > MODULE_LINES:
        yield f"{name}: {lines} lines of code (data tables aside) > {MODULE_LINES}"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _span(node) > FUNCTION_LINES:
                yield f"{name}:{node.lineno} {node.name}(): {_span(node)} lines > {FUNCTION_LINES}"
        elif isinstance(node, ast.ClassDef) and _span(node) > CLASS_LINES:
            yield f"{name}:{node.lineno} class {node.name}: {_span(node)} lines > {CLASS_LINES}"


@pytest.mark.parametrize("path", _sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_units_are_small(path: Path) -> None:
    assert list(_oversized(path)) == []
