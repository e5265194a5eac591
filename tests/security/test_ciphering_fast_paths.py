"""A push ciphered and authenticated is deciphered and its tag checked by one GCM context:
the same plaintext, verdict and hint as CTR followed by a separate check of the tag."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import SecurityError
from cosem_reader.link.hdlc import HdlcFrameReader
from cosem_reader.security import ciphering as ciphering_module
from cosem_reader.security.ciphering import (
    CipheredApdu,
    Decipherer,
    decipher,
    encipher,
    looks_like_apdu,
    parse_ciphered_apdu,
)
from cosem_reader.transport.block_transfer import BlockTransferJoiner
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from tests.support.vectors import vector_params

_TITLE = bytes.fromhex("4B464D1020000001")


def _by_ctr_then_tag(ciphered: CipheredApdu, key: bytes, auth_key: bytes) -> Any:
    """The plain path: CTR from counter 2, then a GCM context of its own for the tag."""
    iv = ciphered.initialization_vector
    plaintext = ciphering_module._ctr(key, iv, ciphered.ciphertext)
    assert ciphered.auth_tag is not None
    aad = bytes([ciphered.security_control]) + auth_key
    context = Cipher(algorithms.AES(key), modes.GCM(iv, ciphered.auth_tag, 12)).decryptor()
    context.authenticate_additional_data(aad)
    context.update(ciphered.ciphertext)
    try:
        context.finalize()
    except InvalidTag:
        pass
    else:
        return plaintext
    return "plausible" if looks_like_apdu(plaintext) or plaintext[:1] == b"/" else "implausible"


def _outcome(run: Any) -> Any:
    try:
        return run().plaintext
    except SecurityError as error:
        return "implausible" if "no plausible plaintext" in str(error.hint) else "plausible"


@given(
    key=st.binary(min_size=16, max_size=16),
    auth_key=st.sampled_from([bytes(range(16)), bytes(16)]),
    plaintext=st.one_of(st.binary(max_size=300), st.just(b"\x0f\x00\x00\x00\x01\x00")),
    control=st.sampled_from([0x30, 0x31]),
    flip=st.one_of(st.none(), st.tuples(st.integers(0), st.integers(1, 255))),
)
def test_one_gcm_context_gives_what_ctr_and_the_tag_give(
    key: bytes, auth_key: bytes, plaintext: bytes, control: int, flip: tuple[int, int] | None
) -> None:
    wire = bytearray(encipher(plaintext, key, _TITLE, 9, control, bytes(range(16))))
    if flip is not None:
        # Somewhere in the ciphertext or the tag, past the header.
        where = len(wire) - 1 - flip[0] % min(len(wire) - 20, 40)
        wire[where] ^= flip[1]
    ciphered = parse_ciphered_apdu(bytes(wire))
    expected = _by_ctr_then_tag(ciphered, key, auth_key)
    assert _outcome(lambda: Decipherer(key, auth_key).decipher(ciphered)) == expected
    assert _outcome(lambda: decipher(ciphered, key, auth_key)) == expected


def _apdu_of(wire: bytes) -> bytes:
    """The one APDU of an HDLC vector: frames joined, then blocks joined."""
    joiner, blocks = HdlcApduJoiner(), BlockTransferJoiner()
    found = [
        apdu for frame in HdlcFrameReader().feed(wire) for item in joiner.push(frame)
        if isinstance(item, bytes) for apdu in blocks.push(item) if isinstance(apdu, bytes)
    ]
    (apdu,) = found
    return apdu


@pytest.mark.vectors
@pytest.mark.parametrize(
    "vector", vector_params(lambda v: bool(v.get("auth_key")) and v["link_layer"] == "hdlc")
)
def test_vectors_with_a_tag_as_by_ctr_then_tag(vector: dict[str, Any]) -> None:
    key, auth_key = bytes.fromhex(vector["key"]), bytes.fromhex(vector["auth_key"])
    ciphered = parse_ciphered_apdu(_apdu_of(bytes.fromhex(vector["hex"])))
    expected = _by_ctr_then_tag(ciphered, key, auth_key)
    assert isinstance(expected, bytes)
    assert Decipherer(key, auth_key).decipher(ciphered).plaintext == expected


def test_push_after_push_without_a_new_aes_key_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decipherer keeps its AES key for the GCM of every push, as it does for CTR."""
    made: list[bytes] = []

    def counting_aes(key: bytes) -> Any:
        made.append(key)
        return AESGCM(key)

    key, auth_key = bytes(range(16)), bytes(range(16, 32))
    pushes = [
        parse_ciphered_apdu(encipher(b"\x0f\x00\x00\x00\x01\x00", key, _TITLE, counter, 0x30,
                                     auth_key))
        for counter in range(1, 5)
    ]
    monkeypatch.setattr(ciphering_module, "AESGCM", counting_aes)
    decipherer = Decipherer(key, auth_key)
    for ciphered in pushes:
        assert decipherer.decipher(ciphered).tag_verified is True
    assert made == [key]


def _by_one_gcm_context(key: bytes, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes
                        ) -> tuple[bytes, bool]:
    """GCM as the standard streams it: one decryptor, the tag given before it starts."""
    context = Cipher(algorithms.AES(key), modes.GCM(iv, tag, 12)).decryptor()
    context.authenticate_additional_data(aad)
    plaintext = context.update(ciphertext)
    try:
        context.finalize()
    except InvalidTag:
        return plaintext, False
    return plaintext, True


@given(
    key=st.sampled_from([16, 32]).flatmap(lambda size: st.binary(min_size=size, max_size=size)),
    iv=st.binary(min_size=12, max_size=12),
    aad=st.binary(max_size=40),
    plaintext=st.binary(max_size=600),
    damage=st.one_of(st.none(), st.integers(0)),
)
def test_gcm_by_two_aead_calls_is_gcm(
    key: bytes, iv: bytes, aad: bytes, plaintext: bytes, damage: int | None
) -> None:
    """The tag check by re-enciphering agrees with a streaming GCM decryptor, 12-byte tags,
    right or damaged anywhere in ciphertext, tag or additional data."""
    sealed = bytearray(AESGCM(key).encrypt(iv, plaintext, aad))
    ciphertext, tag = bytes(sealed[: len(plaintext)]), bytes(sealed[len(plaintext) : -4])
    if damage is not None:
        parts = [bytearray(ciphertext), bytearray(tag), bytearray(aad)]
        part = parts[damage % 3] or parts[1]
        part[damage // 3 % len(part)] ^= 1 << damage % 8
        ciphertext, tag, aad = bytes(parts[0]), bytes(parts[1]), bytes(parts[2])
    expected = _by_one_gcm_context(key, iv, aad, ciphertext, tag)
    assert ciphering_module._gcm_open(AESGCM(key), iv, aad, ciphertext, tag) == expected
    assert ciphering_module._gcm_with_key(key, iv, aad, ciphertext, tag) == expected
    assert ciphering_module._gcm_tag_matches(key, iv, aad, ciphertext, tag) == expected[1]
