"""Running the readings walk without learned plans."""

from __future__ import annotations

from typing import Any

from cosem_reader.cosem.readings import Reading, readings_from_data


def walk_only(data: tuple[str, Any], **options: Any) -> list[Reading]:
    """The readings as the walk makes them, with no plan learned or used."""
    return readings_from_data(data, plans=None, **options)
