"""Test-only encoder: cut an APDU into M-Bus long frames as a meter sends them.

Each telegram is ``68 L L 68 C A CI 01 67 <piece of the APDU> CS 16``: CI numbers
the segments (bits 0–3) and sets FIN (bit 4) on the last one, so one telegram
has ``CI = 0x10`` and two have ``CI = 0x00``, ``0x11``.  ``max_user_data`` counts
the bytes after CI (STSAP, DTSAP and the piece); a Kaifa MA309M sends at most
247 (``L = 0xFA``).  Above 252 the L byte overflows and is written modulo 256,
the way a Sagemcom T210-D does.
"""

from __future__ import annotations

_STSAP_DTSAP = b"\x01\x67"
_MAX_SEGMENTS = 16
#: The L byte wraps above this; the reader accepts L + 256 (T210-D quirk).
_MAX_OVERFLOWING_USER_DATA = 255 + 256 - 3


def long_frame(control: int, address: int, control_information: int, user_data: bytes) -> bytes:
    """The wire bytes of one long frame; L is written modulo 256."""
    body = bytes((control, address, control_information)) + user_data
    length = len(body) & 0xFF
    return bytes((0x68, length, length, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def split_into_telegrams(
    apdu: bytes, max_user_data: int = 250, control: int = 0x53, address: int = 0xFF
) -> list[bytes]:
    """The APDU as M-Bus telegrams (wire bytes), segments 0, 1, … with FIN on the last."""
    if not 3 <= max_user_data <= _MAX_OVERFLOWING_USER_DATA:
        raise ValueError(
            f"max_user_data must be 3..{_MAX_OVERFLOWING_USER_DATA}, not {max_user_data}"
        )
    if not apdu:
        raise ValueError("an empty APDU cannot be sent")
    piece = max_user_data - len(_STSAP_DTSAP)
    pieces = [apdu[index : index + piece] for index in range(0, len(apdu), piece)]
    if len(pieces) > _MAX_SEGMENTS:
        raise ValueError(f"{len(pieces)} segments needed, CI numbers at most {_MAX_SEGMENTS}")
    telegrams = []
    for number, chunk in enumerate(pieces):
        fin = 0x10 if number == len(pieces) - 1 else 0x00
        telegrams.append(long_frame(control, address, fin | number, _STSAP_DTSAP + chunk))
    return telegrams
