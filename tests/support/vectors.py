"""The real meter vectors, read in place from ../shared/vectors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError
from cosem_reader.pipeline.decoder import Layer, decode_capture

ROOT = Path(__file__).resolve().parents[2]
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


VIENNA = ZoneInfo("Europe/Vienna")


def _key(vector: dict[str, Any], name: str) -> bytes | None:
    text = vector.get(name)
    return bytes.fromhex(text) if text else None


def decode_vector(vector: dict[str, Any]) -> list[Any]:
    """All results of a vector's bytes, decoded with its key (if any)."""
    layer = vector_layer(vector)
    return decode_capture(
        bytes.fromhex(vector["hex"]),
        key=_key(vector, "key"),
        auth_key=_key(vector, "auth_key"),
        layer=layer,
        local_zone=VIENNA,
    )


def the_notification(vector: dict[str, Any]) -> Notification:
    """The one notification a vector decodes to (plaintext_hex stands in where no key is known)."""
    results = decode_vector(vector)
    notifications = [r for r in results if isinstance(r, Notification)]
    if not notifications and vector.get("expected", {}).get("plaintext_hex"):
        plaintext = bytes.fromhex(vector["expected"]["plaintext_hex"])
        notifications = [
            r
            for r in decode_capture(plaintext, layer="raw", local_zone=VIENNA)
            if isinstance(r, Notification)
        ]
    errors = [r for r in results if isinstance(r, CosemReaderError)]
    assert len(notifications) == 1, f"expected one notification, got {results!r}"
    if vector["id"] != "ch-lg-e450-gbt-two-messages":
        assert not errors, errors
    return notifications[0]


def _has_expectations(vector: dict[str, Any]) -> bool:
    expected = vector.get("expected") or {}
    return any(
        expected.get(field)
        for field in ("values", "strings", "strings_by_position", "values_by_position", "timestamp")
    )


def vector_layer(vector: dict[str, Any]) -> Layer:
    """The --layer a vector's bytes are read with."""
    layers: dict[str, Layer] = {"raw-apdu": "raw", "mbus": "mbus", "hdlc": "hdlc"}
    return layers[vector["link_layer"]]
