"""Captures: recorded meter bytes in a file, raw or as hex text.

``cosem-reader decode`` and ``cosem-reader read --replay`` read them the same way.
Kept free of serial and MQTT imports so that ``decode`` starts quickly.
"""

from __future__ import annotations

import re
from pathlib import Path

from cosem_reader.errors import SourceError

__all__ = ["parse_hex_text", "read_capture_file"]

_HEX_IGNORED = re.compile(r"[\s:,]+|0x", re.IGNORECASE)


def parse_hex_text(text: str, source: str) -> bytes:
    """Hex text (whitespace, ``:``/``,`` separators and ``0x`` prefixes allowed) to bytes."""
    digits = _HEX_IGNORED.sub("", text)
    bad = re.search(r"[^0-9A-Fa-f]", digits)
    if bad:
        raise SourceError(
            f"{source} is not hex: character {bad.group()!r} at digit {bad.start() + 1}",
            hint="drop --hex for a binary capture",
        )
    if len(digits) % 2:
        raise SourceError(
            f"{source} has an odd number of hex digits ({len(digits)})",
            hint="a byte is two hex digits; the capture may be cut off",
        )
    return bytes.fromhex(digits)


def read_capture_file(path: str | Path, *, as_hex: bool = False, flag: str = "the path") -> bytes:
    """A capture file's bytes; one-line :class:`SourceError` when it cannot be read."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"capture file {file} does not exist", hint=f"check {flag}") from None
    except IsADirectoryError:
        raise SourceError(f"{file} is a directory, not a capture file") from None
    except OSError as error:
        raise SourceError(f"cannot read capture file {file}: {error.strerror}") from None
    if as_hex:
        return parse_hex_text(data.decode("ascii", errors="replace"), str(file))
    return data
