"""Running the readings walk without learned plans."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from cosem_reader._learning import Learner
from cosem_reader.cosem import readings as readings_module
from cosem_reader.cosem.readings import Reading, readings_from_data


@contextlib.contextmanager
def no_plans() -> Iterator[None]:
    """The walk deciding everything afresh: no plan is learned or used."""
    saved = readings_module._PLANS
    readings_module._PLANS = Learner(1, enabled=False)
    try:
        yield
    finally:
        readings_module._PLANS = saved


def walk_only(data: tuple[str, Any], **options: Any) -> list[Reading]:
    """The readings as the walk makes them, with no plan learned or used."""
    with no_plans():
        return readings_from_data(data, **options)


