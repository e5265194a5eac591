"""docs/daemon.md's option tables, rendered from :data:`~cosem_reader.app.options.OPTIONS`.

Each ``### [section]`` heading of the "All options" part is followed by the table
:func:`option_table` renders; :func:`with_option_tables` puts the current tables into
the document, so adding an option cannot forget the docs (a test compares them)::

    python -m cosem_reader.app.option_docs docs/daemon.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from cosem_reader.app.options import OPTIONS, SECTIONS, Option

__all__ = ["option_table", "with_option_tables"]

_HEADER = "| key | flag | environment | default | meaning |\n| --- | --- | --- | --- | --- |"
_TABLE = re.compile(r"^(### \[(\w+)\]\n\n)((?:\|.*\n)+)", re.MULTILINE)


def _default(value: Any) -> str:
    if value is None:
        return "`—`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(map(str, value)) + "]`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def _row(option: Option) -> str:
    flag = f"`{option.flag}`" if option.flag else ""
    meaning = option.help
    if option.choices:
        meaning += " (" + ", ".join(f"`{choice}`" for choice in option.choices) + ")"
    if option.per_meter:
        meaning += "; per meter"
    cells = (f"`{option.key}`", flag, f"`{option.env_names[0]}`", _default(option.default),
             meaning)
    return "| " + " | ".join(cells) + " |"


def option_table(section: str) -> str:
    """The markdown table of one ``[section]``'s options, one row per option."""
    rows = [_row(option) for option in OPTIONS if option.section == section]
    return "\n".join([_HEADER, *rows]) + "\n"


def with_option_tables(text: str) -> str:
    """``text`` with the table after each ``### [section]`` heading rendered anew."""

    def replace(match: re.Match[str]) -> str:
        section = match.group(2)
        if section not in SECTIONS:
            return match.group(0)
        return match.group(1) + option_table(section)

    return _TABLE.sub(replace, text)


if __name__ == "__main__":  # pragma: no cover - the maintainer's regeneration step
    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(with_option_tables(path.read_text("utf-8")), "utf-8")
