"""With an authentication key, only authenticated pushes count (issue 10, point 4).

Every forgery is built with the project's encoder: a push without tag, a plaintext
data-notification, a tagged push with its tag stripped and a bit flipped, a repeated
and a decreasing frame counter.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.readings import Notification
from cosem_reader.pipeline.decoder import StreamDecoder, decode_capture
from cosem_reader.security.authentication import MemoryCounterStore, RejectedPushError
from tests.support.encoder import Register, ciphered_push, data_notification, kaifa_ma309m_body

KEY = bytes.fromhex("36C66639E48A8CA4D6BC8B282A793BBB")
AUTH_KEY = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
TITLE = b"KFM\x67\x50\x00\x00\x09"
ENERGY = 18_696_656


def plaintext(counter: int) -> bytes:
    moment = datetime(2025, 5, 1, 12, 0, 0) + timedelta(seconds=5 * counter)
    registers = [Register("1.0.1.8.0.255", ENERGY + counter, "double-long-unsigned", 0, 30)]
    body = kaifa_ma309m_body(moment, registers, "1KFM0000000001", "KFM1000000000001")
    return data_notification(body, invoke_id=counter)


def tagged(counter: int) -> bytes:
    """A push as an authenticating meter sends it: security control 0x30."""
    return ciphered_push(plaintext(counter), KEY, TITLE, counter, 0x30, AUTH_KEY)


def untagged(counter: int, flip_bit: int | None = None) -> bytes:
    """Security control 0x20 (no tag), optionally with one ciphertext bit flipped."""
    apdu = bytearray(ciphered_push(plaintext(counter), KEY, TITLE, counter, 0x20))
    if flip_bit is not None:
        apdu[len(apdu) - len(plaintext(counter)) + flip_bit // 8] ^= 1 << (flip_bit % 8)
    return bytes(apdu)


def energy_bit(counter: int) -> int:
    """The bit that turns the energy value into a far larger one (CTR: same place)."""
    value_at = plaintext(counter).index(b"\x06" + struct.pack(">I", ENERGY + counter)) + 1
    return value_at * 8 + 6


def decoder(**options: object) -> StreamDecoder:
    return StreamDecoder(key=KEY, auth_key=AUTH_KEY, layer="raw", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wire", "cause"),
    [
        pytest.param(untagged(1), "no-tag", id="no-tag-0x20"),
        pytest.param(plaintext(1), "plaintext", id="plaintext"),
        pytest.param(untagged(1, energy_bit(1)), "no-tag", id="stripped-tag-bit-flipped"),
    ],
)
def test_unauthenticated_push_is_rejected(wire: bytes, cause: str) -> None:
    (result,) = decoder().feed(wire)
    assert isinstance(result, RejectedPushError), result
    assert result.cause == cause
    assert "rejected" in str(result)
    assert "require_authentication" in str(result)


def test_the_stripped_forgery_would_have_changed_the_energy() -> None:
    """The forgery is a real one: without the requirement it decodes to a far larger value."""
    (result,) = decoder(require_authentication=False).feed(untagged(1, energy_bit(1)))
    assert isinstance(result, Notification)
    energy = result.readings[-1].value
    assert isinstance(energy, Decimal)
    assert energy > 1_000_000_000


@pytest.mark.parametrize("order", [[5, 5], [5, 3], [2, 7, 7, 6]])
def test_repeated_or_decreasing_frame_counter_is_rejected(order: list[int]) -> None:
    results = decoder().feed(b"".join(tagged(counter) for counter in order))
    highest = 0
    for counter, result in zip(order, results, strict=True):
        if counter > highest:
            assert isinstance(result, Notification)
            highest = counter
        else:
            assert isinstance(result, RejectedPushError)
            assert result.cause == "frame-counter"
            assert result.system_title == TITLE


def test_the_counter_store_outlives_the_decoder() -> None:
    """The store is the caller's: a new decoder (a restarted daemon) still refuses a replay."""
    store = MemoryCounterStore()
    assert isinstance(decoder(counter_store=store).feed(tagged(4))[0], Notification)
    assert store.load(TITLE) == 4
    (result,) = decoder(counter_store=store).feed(tagged(4))
    assert isinstance(result, RejectedPushError)


def test_the_library_decode_can_require_authentication_without_an_auth_key() -> None:
    (result,) = decode_capture(untagged(1), key=KEY, layer="raw", require_authentication=True)
    assert isinstance(result, RejectedPushError)
    (result,) = decode_capture(untagged(1), key=KEY, layer="raw")
    assert isinstance(result, Notification)


def test_the_requirement_can_be_switched_off() -> None:
    results = decoder(require_authentication=False).feed(plaintext(1) + untagged(2))
    assert all(isinstance(r, Notification) for r in results)


@given(st.integers(min_value=0, max_value=len(plaintext(1)) * 8 - 1))
def test_no_tag_stripped_forgery_counts(bit: int) -> None:
    """Whatever bit the forger flips, a push without tag never becomes a reading."""
    results = decoder().feed(untagged(1, bit))
    assert not any(isinstance(r, Notification) for r in results)
    assert results
