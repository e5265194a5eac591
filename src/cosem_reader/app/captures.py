"""Captures: recorded meter bytes in a file, raw or as hex text.

``cosem-reader decode`` and ``cosem-reader read --replay`` read them the same way.
Kept free of serial and MQTT imports so that ``decode`` starts quickly.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from cosem_reader.errors import CaptureError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CHUNK_SIZE",
    "HexTextReader",
    "capture_chunks",
    "looks_like_hex_text",
    "parse_hex_text",
    "read_capture_file",
]

_HEX_IGNORED = re.compile(r"[\s:,]+|0x", re.IGNORECASE)


def parse_hex_text(text: str, source: str) -> bytes:
    """Hex text (whitespace, ``:``/``,`` separators and ``0x`` prefixes allowed) to bytes."""
    digits = _HEX_IGNORED.sub("", text)
    bad = re.search(r"[^0-9A-Fa-f]", digits)
    if bad:
        raise CaptureError(
            f"{source} is not hex: character {bad.group()!r} at digit {bad.start() + 1}",
            hint="drop --hex for a binary capture",
        )
    if len(digits) % 2:
        raise CaptureError(
            f"{source} has an odd number of hex digits ({len(digits)})",
            hint="a byte is two hex digits; the capture may be cut off",
        )
    return bytes.fromhex(digits)


def read_capture_file(path: str | Path, *, as_hex: bool = False, flag: str = "the path") -> bytes:
    """A capture file's bytes; one-line :class:`CaptureError` when it cannot be read."""
    from pathlib import Path  # noqa: PLC0415 - decode streams its file without it

    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise CaptureError(f"capture file {file} does not exist", hint=f"check {flag}") from None
    except IsADirectoryError:
        raise CaptureError(f"{file} is a directory, not a capture file") from None
    except OSError as error:
        raise CaptureError(f"cannot read capture file {file}: {error.strerror}") from None
    if as_hex:
        return parse_hex_text(data.decode("ascii", errors="replace"), str(file))
    return data


# -- streaming ---------------------------------------------------------------------------

#: How much ``decode`` reads at a time: large enough that the per-call cost vanishes,
#: small enough that memory stays flat on a capture of any size.
CHUNK_SIZE = 1 << 16

_HEX_TEXT_BYTES = frozenset(b"0123456789abcdefABCDEF \t\r\n:,xX")
_HEX_SEPARATORS = " \t\r\n:,"
#: Bytes looked at before deciding whether a capture is hex text.
_SNIFF_SIZE = 64
#: Kept back from a hex text without separators, so that a ``0x`` cut in two still goes.
_HEX_HOLD = 4096


def looks_like_hex_text(start: bytes) -> bool:
    """Whether the first bytes of a capture are hex text rather than meter bytes.

    Meter bytes never are: every frame or APDU starts with a byte that is no hex
    digit (``68``, ``7E``, ``0F``, ``DB``, ``E6``, …).
    """
    digits = sum(byte in b"0123456789abcdefABCDEF" for byte in start)
    return digits >= 8 and all(byte in _HEX_TEXT_BYTES for byte in start)


class HexTextReader:
    """Hex text in chunks of any size (a line may be cut anywhere) to bytes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._pending = ""
        self._odd = ""
        self._digits = 0

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of the hex text completed by ``chunk``."""
        text = self._pending + chunk.decode("ascii", errors="replace")
        cut = max(text.rfind(separator) for separator in _HEX_SEPARATORS) + 1
        if cut == 0 and len(text) > _HEX_HOLD:
            cut = len(text) - 1
        self._pending = text[cut:]
        return self._convert(text[:cut])

    def flush(self) -> bytes:
        """The end of the text: its last bytes; :class:`CaptureError` if a digit is left over."""
        data = self._convert(self._pending)
        self._pending = ""
        if self._odd:
            raise CaptureError(
                f"{self.source} has an odd number of hex digits ({self._digits})",
                hint="a byte is two hex digits; the capture may be cut off",
            )
        return data

    def _convert(self, text: str) -> bytes:
        digits = _HEX_IGNORED.sub("", text)
        bad = re.search(r"[^0-9A-Fa-f]", digits)
        if bad:
            raise CaptureError(
                f"{self.source} is not hex: character {bad.group()!r}"
                f" at digit {self._digits + bad.start() + 1}",
                hint="drop --hex for a binary capture",
            )
        self._digits += len(digits)
        digits = self._odd + digits
        even = len(digits) - len(digits) % 2
        self._odd = digits[even:]
        return bytes.fromhex(digits[:even])


def capture_chunks(
    path: str, *, as_hex: bool = False, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """The bytes of a capture file, or of standard input for ``-``, as they arrive.

    Standard input yields whatever has arrived (a live port piped in comes out push
    by push); a file comes in ``chunk_size`` pieces.  Hex text without ``as_hex`` is
    a :class:`CaptureError` that says to add ``--hex``.
    """
    source = "standard input" if path == "-" else path
    raw = _raw_chunks(path, chunk_size)
    hex_text = HexTextReader(source) if as_hex else None
    start: bytes | None = b""
    for chunk in raw:
        data = chunk
        if hex_text is not None:
            data = hex_text.feed(chunk)
        elif start is not None:
            start += chunk
            # Meter bytes show at once (a 7E or 68 is no hex text); only text is held.
            if len(start) < _SNIFF_SIZE and _HEX_TEXT_BYTES.issuperset(start):
                continue
            _refuse_hex_text(start, source)
            data, start = start, None
        if data:
            yield data
    if hex_text is not None:
        yield hex_text.flush()
    elif start:
        _refuse_hex_text(start, source)
        yield start


def _refuse_hex_text(start: bytes, source: str) -> None:
    if looks_like_hex_text(start[:_SNIFF_SIZE]):
        raise CaptureError(f"{source} is hex text, not the meter's bytes", hint="add --hex")


def _raw_chunks(path: str, chunk_size: int) -> Iterator[bytes]:
    if path == "-":
        stdin = sys.stdin.buffer
        # read1: whatever has arrived, so that a live port piped in is printed as it goes.
        read = stdin.read1 if isinstance(stdin, io.BufferedIOBase) else stdin.read
        while chunk := read(chunk_size):
            yield chunk
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise CaptureError(
            f"capture file {_shown(path)} does not exist", hint="check the path"
        ) from None
    except IsADirectoryError:
        raise CaptureError(f"{_shown(path)} is a directory, not a capture file") from None
    except OSError as error:
        raise CaptureError(f"cannot read capture file {_shown(path)}: {error.strerror}") from None
    with stream:
        while True:
            try:
                chunk = stream.read(chunk_size)
            except OSError as error:
                raise CaptureError(
                    f"cannot read capture file {_shown(path)}: {error.strerror}"
                ) from None
            if not chunk:
                return
            yield chunk


def _shown(path: str) -> str:
    """A path as messages show it: as pathlib writes it (imported only for a message)."""
    from pathlib import Path  # noqa: PLC0415

    return str(Path(path))
