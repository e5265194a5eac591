"""Shared test set-up: the real meter vectors and the hypothesis profiles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
#: The published vectors stay where the workplace keeps them; never copied in here.
VECTORS_FILE = Path(
    os.environ.get("COSEM_READER_VECTORS", ROOT.parent / "shared" / "vectors" / "vectors.json")
)


def load_vectors() -> list[dict[str, Any]]:
    """The real meter vectors, or an empty list when ../shared/vectors is absent."""
    if not VECTORS_FILE.is_file():
        return []
    data: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return data


VECTORS = load_vectors()
NO_VECTORS_REASON = f"real meter vectors not found at {VECTORS_FILE} (set COSEM_READER_VECTORS)"


def vector_params(predicate: Any = None) -> list[Any]:
    """pytest parameters, one id per vector; a single skipped parameter when there are none."""
    chosen = [v for v in VECTORS if predicate is None or predicate(v)]
    if not chosen:
        return [
            pytest.param(None, marks=pytest.mark.skip(reason=NO_VECTORS_REASON), id="no-vectors")
        ]
    return [pytest.param(v, id=v["id"]) for v in chosen]
