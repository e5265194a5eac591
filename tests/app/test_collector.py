"""decode and read settle the garbage collector once start-up is done (issue 14)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cosem_reader.app.cli import main
from cosem_reader.app.collector import (
    DECODE_YOUNG_THRESHOLD,
    YOUNG_THRESHOLD,
    settle_after_start_up,
)


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test process had it, afterwards."""
    before = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_settling_freezes_start_up_and_collects_less_often() -> None:
    settle_after_start_up()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


@pytest.mark.usefixtures("collector")
def test_decode_settles_the_collector(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--demo"]) == 0
    assert capsys.readouterr().out.startswith("{")
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == DECODE_YOUNG_THRESHOLD
