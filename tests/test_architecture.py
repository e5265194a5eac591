"""docs/architecture.md names every module of the package, and every module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "cosem_reader"
LAYERS = ("link", "transport", "security", "axdr", "cosem", "pipeline", "output", "app")


def _table_rows() -> dict[str, str]:
    """The layer table of docs/architecture.md: layer folder -> the modules cell."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"\| `(\w+)/` \| (.*?) \|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def _named(cell: str) -> set[str]:
    names = set(re.findall(r"`(\w+)\.py`", cell))
    # output/mqtt/ lists its modules in parentheses: `settings`, `payloads`, …
    names |= {f"mqtt/{name}" for name in re.findall(r"`(\w+)`", cell.split("mqtt/", 1)[-1])}
    return names


def test_the_layer_table_names_every_module_and_only_modules_that_exist() -> None:
    rows = _table_rows()
    assert set(rows) == set(LAYERS)
    for layer in LAYERS:
        folder = PACKAGE / layer
        actual = {
            str(path.relative_to(folder).with_suffix(""))
            for path in folder.rglob("*.py")
            if path.name != "__init__.py" and "generated" not in path.parts
        }
        named = {name for name in _named(rows[layer]) if "/" not in name or layer == "output"}
        assert actual <= named, f"{layer}/: not in docs/architecture.md: {actual - named}"
        assert named <= actual, f"{layer}/: named in docs/architecture.md, absent: {named - actual}"
