"""Readings on the console: every one printed, handed on once per chunk of input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cosem_reader.app.config import load_settings
from cosem_reader.app.daemon import run_settings
from tests.support.daemon import KEY, push


class CountingStream(io.StringIO):
    """A piped stdout that counts how often its buffer is handed on."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.flushed = ""

    def flush(self) -> None:
        self.flushes += 1
        self.flushed = self.getvalue()
        super().flush()


def _replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture: bytes) -> CountingStream:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "capture.bin"
    path.write_bytes(capture)
    settings = load_settings(None, {"replay": str(path), "key": KEY.hex()}, env={})
    stream = CountingStream()
    assert run_settings(settings, stream) == 0
    return stream


def test_the_pushes_of_one_chunk_are_handed_on_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten pushes in one 4096-byte chunk of a capture: ten lines, not ten flushes."""
    stream = _replay(tmp_path, monkeypatch, b"".join(push(index) for index in range(10)))
    lines = stream.flushed.splitlines()
    assert [json.loads(line)["frame_counter"] for line in lines] == list(range(1000, 1010))
    assert stream.flushed == stream.getvalue()
    assert stream.flushes <= 2

