"""The big capture of ``make bench`` (bench/big_capture.py): its cheap pushes are the encoder's.

The bench repeats a block of plaintexts with new fields and its own CTR; these tests
hold each push to what the test encoder makes from the same values, check the pushes
decode as distinct, plausible readings, and that the watch of the decoding process
fails when a push does not come out.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cosem_reader.cosem.plausibility import PlausibilityChecker
from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import StreamDecoder
from tests.support.daemon import daemon_environment
from tests.support.encoder import (
    ciphered_push,
    cosem_date_time,
    data_notification,
    flat_body,
    kaifa_series,
    mbus_push,
)

BENCH = Path(__file__).resolve().parents[1] / "bench"
BLOCK = 40
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def bench() -> Any:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    modules: dict[str, ModuleType] = {
        name: importlib.import_module(name) for name in ("captures", "big_capture")
    }
    return type("Bench", (), modules)


def _expected_push(bench: Any, index: int) -> bytes:
    """Push ``index`` by the test encoder alone: the block's values, the energies of the series."""
    moment = bench.captures.START + index * SECOND
    _, registers = kaifa_series(bench.captures.START, BLOCK, SECOND)[index % BLOCK]
    # kaifa_series' energy registers rise by the same step every push, so the series
    # itself, run up to ``index``, says what a repeated block must carry on with.
    _, straight = kaifa_series(bench.captures.START, index + 1, SECOND)[index]
    energies = {register.code: register.raw for register in straight}
    registers = [
        dataclasses.replace(register, raw=energies[register.code])
        if bench.big_capture.is_energy(register.code) else register
        for register in registers
    ]
    body = flat_body(moment, registers, f"1KFM{index:010d}", -60)
    plaintext = data_notification(body, 0x80000000 | index, cosem_date_time(moment, -60))
    apdu = ciphered_push(plaintext, bench.captures.KEY, b"KFMBENCH", index + 1, 0x20)
    return mbus_push(apdu)


def test_the_first_block_is_make_capture(bench: Any) -> None:
    pushes = bench.big_capture.distinct_pushes(bench.big_capture.Block(BLOCK))
    assert list(itertools.islice(pushes, BLOCK)) == list(bench.captures.make_capture(BLOCK).pushes)


def test_each_repeated_push_is_the_test_encoders(bench: Any) -> None:
    pushes = bench.big_capture.distinct_pushes(bench.big_capture.Block(BLOCK))
    for index, push in enumerate(itertools.islice(pushes, 3 * BLOCK)):
        assert push == _expected_push(bench, index), f"push {index}"


def test_the_pushes_decode_distinct_and_plausible(bench: Any) -> None:
    pushes = bench.big_capture.distinct_pushes(bench.big_capture.Block(BLOCK))
    wire = b"".join(itertools.islice(pushes, 4 * BLOCK))
    results = list(StreamDecoder(key=bench.captures.KEY).feed(wire))
    notifications = [found for found in results if isinstance(found, Notification)]
    assert notifications == results
    assert [found.frame_counter for found in notifications] == list(range(1, 4 * BLOCK + 1))
    times = [found.timestamp for found in notifications]
    assert times == sorted({time for time in times if time is not None})
    checker = PlausibilityChecker()
    assert [checker.check(found, None)[1] for found in notifications] == [[]] * (4 * BLOCK)


def test_the_capture_is_written_in_pieces(bench: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    block = bench.big_capture.Block(BLOCK)
    push_size = len(next(bench.big_capture.distinct_pushes(block)))
    written = bench.big_capture.write_capture(
        path, 2500 * push_size, bench.big_capture.distinct_pushes(block)
    )
    assert written.pieces == [(1000, 1000 * push_size), (2000, 2000 * push_size),
                              (3000, 3000 * push_size)]
    assert path.stat().st_size == written.size
    assert written.first(1500 * push_size) == (2000, 2000 * push_size)


def _follow(bench: Any, tmp_path: Path, wire: bytes, pushes: int) -> dict[str, Any]:
    path = tmp_path / "capture.bin"
    path.write_bytes(wire)
    command = [sys.executable, "-m", "cosem_reader", "decode", str(path),
               "--key", bench.captures.KEY.hex(), "--format", "json"]
    rss = importlib.import_module("run").rss_kib
    result: dict[str, Any] = bench.big_capture.follow(
        command, None, pushes, env=daemon_environment(tmp_path / "xdg"), cwd=tmp_path, rss=rss
    )
    return result


def test_the_watch_counts_every_push_and_samples_memory(bench: Any, tmp_path: Path) -> None:
    pushes = list(itertools.islice(bench.big_capture.distinct_pushes(), 30))
    found = _follow(bench, tmp_path, b"".join(pushes), 30)
    assert found["pushes"] == 30
    assert len(found["slices_pushes_per_s"]) == 10
    assert found["rss_samples"] >= 1
    assert found["peak_rss_kib"] > 0


def test_the_watch_fails_when_a_push_is_missing(bench: Any, tmp_path: Path) -> None:
    pushes = list(itertools.islice(bench.big_capture.distinct_pushes(), 30))
    del pushes[17]
    with pytest.raises(RuntimeError, match="frame counters"):
        _follow(bench, tmp_path, b"".join(pushes), 30)
