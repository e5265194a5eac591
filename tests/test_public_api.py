"""The public API: what someone embedding the decoder imports from ``cosem_reader`` alone."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import cosem_reader
from cosem_reader import (
    CipheredApdu,
    CosemReaderError,
    FrameError,
    Notification,
    ObisCode,
    Reading,
    SecurityError,
    StreamDecoder,
    decode,
)
from tests.support.daemon import KEY, WRONG_KEY, push

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_and_is_declared_once() -> None:
    assert set(cosem_reader.__all__) == {"__version__", *cosem_reader._PUBLIC}
    for name in cosem_reader.__all__:
        assert getattr(cosem_reader, name) is not None
    assert dir(cosem_reader) == sorted(cosem_reader.__all__)
    with pytest.raises(AttributeError, match="no attribute 'decipher'"):
        _ = cosem_reader.decipher


def test_decode_yields_each_notification_with_its_readings() -> None:
    capture = push(0) + push(1)
    notifications = list(decode(capture, key=KEY))
    assert [n.frame_counter for n in notifications] == [1000, 1001]
    first = notifications[0]
    assert isinstance(first, Notification)
    energy = first.reading(ObisCode.parse("1-0:1.8.0"))
    assert isinstance(energy, Reading)
    assert isinstance(energy.value, Decimal)
    assert energy.unit == "Wh"


def test_decode_takes_the_capture_in_pieces() -> None:
    capture = push(0) + push(1) + push(2)
    pieces = [capture[start : start + 7] for start in range(0, len(capture), 7)]
    assert [n.frame_counter for n in decode(iter(pieces), key=KEY)] == [1000, 1001, 1002]


def test_decode_skips_bytes_that_are_no_push_and_raises_for_a_push_that_failed() -> None:
    cut = push(0)[40:]  # a capture that starts in the middle of a push
    assert [n.frame_counter for n in decode(cut + push(1), key=KEY)] == [1001]
    with pytest.raises(SecurityError, match="wrong key"):
        list(decode(push(0), key=WRONG_KEY))
    assert list(decode(push(0), key=WRONG_KEY, errors="skip")) == []
    with pytest.raises(SecurityError, match="no key was given"):
        list(decode(push(0)))


def test_the_stream_decoder_returns_every_result_in_order() -> None:
    decoder = StreamDecoder(key=None)
    results = decoder.feed(b"\x68\x00" + push(0)) + decoder.flush()
    assert isinstance(results[-1], CipheredApdu)
    assert all(isinstance(r, CipheredApdu | FrameError) for r in results)
    assert issubclass(SecurityError, CosemReaderError)


def test_importing_the_package_loads_no_layer() -> None:
    """`import cosem_reader` (and `cosem-reader --version`) stays light: the names load on use."""
    code = (
        "import sys, cosem_reader; "
        "print(sorted(m for m in sys.modules if m.startswith('cosem_reader.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
