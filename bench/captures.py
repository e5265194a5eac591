"""Captures for the benchmark, made with the project's own test encoder.

A *capture* is the bytes a meter sends on its customer interface: here Kaifa
MA309M-style pushes in the flat Netz NÖ layout (date-time, then OBIS code, value and
scaler-unit side by side, the meter number last), ciphered with AES-GCM without tag
(security control 0x20, like Netz NÖ) and cut into M-Bus long frames of 247 user-data
bytes (two telegrams per push).  Every push has its own values, time stamp, invoke id
and frame counter, so nothing can be cached across pushes.
"""

# ruff: noqa: S311 - the random numbers only pick which test pushes to damage

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.encoder import (  # noqa: E402 - needs the repository root on sys.path
    Register,
    ciphered_push,
    cosem_date_time,
    data_notification,
    flat_body,
    kaifa_series,
    mbus_push,
)

#: Made up for the benchmark; never a meter's key.
KEY = bytes.fromhex("B3A5C0FFEE0123456789ABCDEF012345")
SYSTEM_TITLE = b"KFMBENCH"
START = datetime(2026, 1, 1, 0, 0, 0)
FIRST_FRAME_COUNTER = 1
#: Encryption without authentication, as Netz NÖ sends (GCM without tag).
SECURITY_CONTROL = 0x20
#: UTC minus local time in minutes, in every time stamp of the capture.
DEVIATION = -60


@dataclass(frozen=True)
class Capture:
    """The wire bytes of ``len(pushes)`` pushes; ``pushes[i]`` are the bytes of push i."""

    pushes: tuple[bytes, ...]

    @property
    def wire(self) -> bytes:
        return b"".join(self.pushes)

    def frame_counter(self, index: int) -> int:
        return frame_counter(index)


def frame_counter(index: int) -> int:
    return FIRST_FRAME_COUNTER + index


def invoke_id(index: int) -> int:
    return 0x80000000 | index


def meter_number(index: int) -> bytes:
    return f"1KFM{index % 10**10:010d}".encode()


def plaintext(index: int, moment: datetime, registers: list[Register]) -> bytes:
    """Push ``index``'s data-notification: its invoke id, time and meter number, ``registers``."""
    body = flat_body(moment, registers, meter_number(index).decode(), DEVIATION)
    return data_notification(
        body, invoke_id=invoke_id(index), date_time=cosem_date_time(moment, DEVIATION)
    )


def ciphered(plaintext: bytes, index: int) -> bytes:
    """Push ``index``'s general-glo-ciphering APDU around ``plaintext``."""
    return ciphered_push(
        plaintext, KEY, SYSTEM_TITLE, frame_counter(index), security_control=SECURITY_CONTROL
    )


def make_capture(count: int, interval: timedelta = timedelta(seconds=1)) -> Capture:
    """``count`` distinct pushes, one per ``interval``, frame counters 1, 2, 3, …"""
    pushes = []
    for index, (moment, registers) in enumerate(kaifa_series(START, count, interval)):
        pushes.append(mbus_push(ciphered(plaintext(index, moment, registers), index)))
    return Capture(tuple(pushes))


def corrupt(push: bytes, rng: random.Random) -> bytes:
    """The push with one byte of its first telegram changed (header, data or checksum)."""
    damaged = bytearray(push)
    first_telegram = damaged[1] + 6
    where = rng.randrange(first_telegram)
    damaged[where] ^= rng.randrange(1, 256)
    return bytes(damaged)


def corrupted_indices(count: int, share: float, seed: int = 5) -> frozenset[int]:
    """Which of ``count`` pushes get corrupted: ``share`` of them, spread at random."""
    rng = random.Random(seed)
    return frozenset(rng.sample(range(count), round(count * share)))
