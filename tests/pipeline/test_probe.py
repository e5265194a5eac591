"""Telling the link layer from the bytes, wherever in a push the stream starts."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from cosem_reader.pipeline.probe import LinkProbe, guess_layer
from tests.support.encoder import (
    ciphered_push,
    data_notification,
    kaifa_ma309m_body,
    kaifa_series,
    mbus_push,
)
from tests.support.hdlc_frames import build_hdlc_frames
from tests.support.vectors import vector_params

KEY = bytes(range(16))
TITLE = b"KFM\x01\x02\x03\x04\x05"


def pushes(count: int) -> list[bytes]:
    result = []
    for index, (moment, registers) in enumerate(kaifa_series(datetime(2025, 1, 1), count)):
        body = kaifa_ma309m_body(moment, registers, "1KFM0000000001", "KFM1000000000001")
        result.append(ciphered_push(data_notification(body, index), KEY, TITLE, index))
    return result


def probe(data: bytes, chunk: int = 16) -> tuple[str, bytes]:
    prober = LinkProbe()
    for start in range(0, len(data), chunk):
        found = prober.feed(data[start : start + chunk])
        if found is not None:
            return found
    return prober.give_up()


@pytest.mark.parametrize("vector", vector_params())
def test_every_vector_is_recognised(vector: dict[str, Any]) -> None:
    """Each real capture is recognised as the link layer its source names, no byte lost."""
    data = bytes.fromhex(vector["hex"])
    layer, kept = probe(data, 7)
    assert layer == {"raw-apdu": "raw"}.get(vector["link_layer"], vector["link_layer"])
    assert data.startswith(kept)


@pytest.mark.parametrize("framing", ["mbus", "hdlc"])
def test_any_start_offset_inside_a_push(framing: str) -> None:
    """Started at any byte of a push, ciphertext that looks like an APDU tag never fools it."""
    apdus = pushes(3)
    if framing == "mbus":
        wire = b"".join(mbus_push(apdu) for apdu in apdus)
    else:
        wire = b"".join(build_hdlc_frames(apdu) for apdu in apdus)
    first_push = len(wire) // 3
    for start in range(first_push):
        layer, kept = probe(wire[start:])
        assert layer == framing, f"started at byte {start}"
        assert wire[start:].startswith(kept)


def test_bare_apdus() -> None:
    """Bare APDUs back to back are recognised from the first one."""
    assert probe(b"".join(pushes(2)))[0] == "raw"


def test_guess_without_proof() -> None:
    """Without a valid frame, the earliest plausible frame start is the guess."""
    assert guess_layer(b"\x00\x68\x05\x05\x68") == "mbus"
    assert guess_layer(b"\x7e\xa0\x01") == "hdlc"
    assert guess_layer(b"\x01\x02\x03") == "raw"
    # strictly, an HDLC start must end on a closing flag, and nothing fitting is None
    assert guess_layer(b"\x7e\xa0\x05\x00\x00\x00", strict=True) is None
    assert guess_layer(b"\x7e\xa0\x04\x00\x00\x7e", strict=True) == "hdlc"
    assert guess_layer(b"\x01\x02\x03", strict=True) is None


def test_line_noise_first_then_frames() -> None:
    """Noise without any frame start does not settle the question: later frames still win."""
    noise = bytes(
        random.Random(7).choice([b for b in range(256) if b not in (0x68, 0x7E)])
        for _ in range(40_000)
    )
    wire = b"".join(mbus_push(apdu) for apdu in pushes(2))
    prober = LinkProbe()
    found = None
    data = noise + wire
    for start in range(0, len(data), 64):
        found = prober.feed(data[start : start + 64])
        if found is not None:
            break
    assert found is not None
    assert found[0] == "mbus"
    assert len(prober._buffer) == 0


def test_bare_apdus_joined_in_the_middle() -> None:
    """A live stream of bare APDUs joined mid-APDU is recognised at the next two whole ones."""
    stream = b"".join(pushes(60))
    layer, kept = probe(stream[50:], 64)
    assert layer == "raw"
    assert stream.find(kept[:40]) > 50


@pytest.mark.parametrize(
    ("seed", "size"),
    # Line noise in which the old proof found two bare APDUs back to back: two
    # general-block-transfers (seed 5) and two data-notifications (seed 11).
    [(5, 64 * 1024), (11, 240 * 1024)],
)
def test_noise_is_no_proof_of_bare_apdus(seed: int, size: int) -> None:
    noise = random.Random(seed).randbytes(size)
    prober = LinkProbe()
    for start in range(0, len(noise), 4096):
        found = prober.feed(noise[start : start + 4096])
        if found is not None:
            assert not prober.proven, (found[0], found[1][:16].hex())


def test_a_watching_probe_takes_no_apdu_at_its_first_byte_for_proof() -> None:
    """Started mid-stream, a short APDU at the first byte is chance, not proof."""
    apdu = pushes(1)[0]
    assert LinkProbe().feed(apdu) is not None
    assert LinkProbe(at_stream_start=False).feed(apdu) is None
