"""Decipherer (the reader's keyed decipher) gives exactly what decipher() gives."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import SecurityError
from cosem_reader.security.ciphering import (
    CipheredApdu,
    Decipherer,
    decipher,
    encipher,
    parse_ciphered_apdu,
)

_TITLE = bytes.fromhex("4B464D1020000001")


@given(
    key=st.binary(min_size=16, max_size=16),
    frame_counters=st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=4),
    plaintexts=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
    control=st.sampled_from([0x20, 0x21, 0x30]),
)
def test_the_same_plaintext_as_decipher_push_after_push(
    key: bytes, frame_counters: list[int], plaintexts: list[bytes], control: int
) -> None:
    auth_key = bytes(range(16))
    decipherer = Decipherer(key, auth_key)
    for frame_counter, plaintext in zip(frame_counters, plaintexts, strict=False):
        ciphered = parse_ciphered_apdu(
            encipher(plaintext, key, _TITLE, frame_counter, control, auth_key)
        )
        expected = decipher(ciphered, key, auth_key)
        assert decipherer.decipher(ciphered) == expected
        assert expected.plaintext == plaintext


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024 * 16, 1024 * 16 + 1, 40_000])
def test_lengths_around_the_block_and_the_counter_table(size: int) -> None:
    key = bytes(range(16, 32))
    plaintext = bytes(index % 251 for index in range(size))
    ciphered = parse_ciphered_apdu(encipher(plaintext, key, _TITLE, 7))
    decipherer = Decipherer(key)
    # Twice: the kept context must not carry anything from one APDU to the next.
    for _ in range(2):
        assert decipherer.decipher(ciphered).plaintext == plaintext
    # GCM itself agrees (the tag-less push is GCM's ciphertext without the tag).
    gcm = AESGCM(key).encrypt(_TITLE + (7).to_bytes(4, "big"), plaintext, None)
    assert ciphered.ciphertext == gcm[:size]


def test_aes_256_and_an_odd_system_title() -> None:
    key = bytes(range(32))
    ciphered = parse_ciphered_apdu(encipher(b"\x0f" * 40, key, _TITLE, 1, 0x22))
    assert Decipherer(key).decipher(ciphered) == decipher(ciphered, key)
    # A hand-made header with a system title of the wrong length still deciphers the
    # way decipher() does (whatever that is), never with a misaligned key stream.
    odd = CipheredApdu(0xDB, _TITLE[:7], 0x20, 1, ciphered.ciphertext, None)
    try:
        expected = decipher(odd, key)
    except (SecurityError, ValueError) as error:
        with pytest.raises(type(error)):
            Decipherer(key).decipher(odd)
    else:
        assert Decipherer(key).decipher(odd) == expected


def test_wrong_key_length_and_wrong_tag_raise_as_decipher_does() -> None:
    key, auth_key = bytes(16), bytes(range(16))
    ciphered = parse_ciphered_apdu(encipher(b"\x0f\x00", key, _TITLE, 1, 0x30, auth_key))
    with pytest.raises(SecurityError, match="must be 16 bytes"):
        Decipherer(bytes(15), auth_key).decipher(ciphered)
    with pytest.raises(SecurityError, match="tag does not match"):
        Decipherer(key, bytes(16)).decipher(ciphered)
    assert Decipherer(key, auth_key).decipher(ciphered).tag_verified is True


def test_repr_shows_no_key() -> None:
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    assert key.hex() not in repr(Decipherer(key, key)).lower()
