"""The JSON writer as it was before the C encoder and the per-register texts (issue 14).

Kept unchanged as the reference the faster writer is held to: the same text for
every value, every shared vector and every notification hypothesis makes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any


def legacy_dumps(value: Any) -> str:
    """Compact JSON with exact decimals, one Python call per key and leaf."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else ("true" if value else "false"))
    elif isinstance(value, Decimal):
        out.append(_decimal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(": ")
            _write(item, out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _write(item, out)
        out.append("]")
    elif isinstance(value, bytes | bytearray):
        out.append(json.dumps(bytes(value).hex().upper()))
    elif isinstance(value, datetime):
        out.append(json.dumps(value.isoformat()))
    else:
        out.append(json.dumps(str(value), ensure_ascii=False))


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        return "null"
    text = f"{value:f}"
    return "0" if text in ("-0", "0") else text
