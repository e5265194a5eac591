"""The security layer: real ciphered pushes first, then properties no vector covers."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import ConfigError, SecurityError
from cosem_reader.security.ciphering import (
    AUTH_TAG_LENGTH,
    CIPHERED_APDU_TAGS,
    CipheredApdu,
    Deciphered,
    Decipherer,
    SecurityControl,
    decipher,
    decode_ciphered_apdu,
    encipher,
    is_ciphered,
    looks_like_apdu,
    parse_ciphered_apdu,
    parse_key,
)
from tests.support.vectors import vector_params

# --------------------------------------------------------------------------- vectors


def _mbus_user_data(raw: bytes) -> bytes:
    """The APDU bytes of consecutive M-Bus long telegrams: user data after CI, STSAP, DTSAP."""
    pieces = []
    pos = 0
    while pos < len(raw):
        assert raw[pos] == 0x68, f"no long telegram at {pos}"
        assert raw[pos + 3] == 0x68, f"no long telegram at {pos}"
        length = raw[pos + 1]
        start = pos + 4
        pieces.append(raw[start + 5 : start + length])
        pos = start + length + 2
    return b"".join(pieces)


def _ciphered(vector: dict[str, Any]) -> bytes:
    """The general-glo-ciphering APDU of a vector, cut out without the link-layer modules."""
    raw = bytes.fromhex(vector["hex"])
    check = vector["check"]
    framing = check.get("framing", "")
    if "general-block-transfer" in framing:
        pytest.skip("needs block transfer, covered in pipeline tests")
    marker = bytes.fromhex("DB08" + check["system_title"])
    if vector["link_layer"] == "mbus":
        data = _mbus_user_data(raw)
        return data[data.index(marker) :]
    if vector["link_layer"] == "hdlc":
        assert framing.startswith("1 HDLC frame"), "only single-frame HDLC vectors are cut here"
        # The APDU runs up to FCS (2 bytes) and the closing flag 7E.
        return raw[raw.index(marker) : -3]
    return raw[raw.index(marker) :]


def _is_ciphered_vector(vector: dict[str, Any]) -> bool:
    return "system_title" in vector.get("check", {})


def _has_key(vector: dict[str, Any]) -> bool:
    return _is_ciphered_vector(vector) and bool(vector.get("key"))


def _has_verified_tag(vector: dict[str, Any]) -> bool:
    return _has_key(vector) and vector["check"].get("gcm_tag_verified") is True


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_ciphered_vector))
def test_vector_security_header(vector: dict[str, Any]) -> None:
    check = vector["check"]
    apdu = _ciphered(vector)
    assert is_ciphered(apdu)
    ciphered = parse_ciphered_apdu(apdu)
    assert ciphered.kind == "general-glo-ciphering"
    assert ciphered.system_title == bytes.fromhex(check["system_title"])
    assert ciphered.security_control == int(check["security_byte"], 16)
    assert ciphered.frame_counter == int(check["frame_counter"], 16)
    assert ciphered.security.suite in (0, 1)
    assert ciphered.security.encrypted
    assert (ciphered.auth_tag is not None) == ciphered.security.authenticated
    expected_plaintext = vector.get("expected", {}).get("plaintext_hex")
    if expected_plaintext:
        # GCM/CTR keep the length: the ciphertext is as long as the published plaintext.
        assert len(ciphered.ciphertext) == len(bytes.fromhex(expected_plaintext))


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_has_key))
def test_vector_deciphers(vector: dict[str, Any]) -> None:
    check = vector["check"]
    ciphered = parse_ciphered_apdu(_ciphered(vector))
    auth_key = parse_key(vector["auth_key"], "auth_key") if vector.get("auth_key") else None
    result = decipher(ciphered, parse_key(vector["key"]), auth_key)
    assert result.plaintext.startswith(bytes.fromhex(check["plaintext_first_bytes"]))
    assert looks_like_apdu(result.plaintext)
    expected_plaintext = vector.get("expected", {}).get("plaintext_hex")
    if expected_plaintext:
        assert result.plaintext == bytes.fromhex(expected_plaintext)
    if ciphered.auth_tag is None:
        assert result.tag_verified is None
    elif auth_key is not None and check.get("gcm_tag_verified") is True:
        assert result.tag_verified is True
    else:
        assert result.tag_verified is False


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_has_verified_tag))
def test_vector_tag_without_and_with_wrong_auth_key(vector: dict[str, Any]) -> None:
    ciphered = parse_ciphered_apdu(_ciphered(vector))
    key = parse_key(vector["key"])
    auth_key = parse_key(vector["auth_key"])
    verified = decipher(ciphered, key, auth_key)

    unverified = decipher(ciphered, key)
    assert unverified == Deciphered(verified.plaintext, False)

    wrong_auth_key = bytes([auth_key[0] ^ 0x01]) + auth_key[1:]
    with pytest.raises(SecurityError, match="authentication tag does not match") as caught:
        decipher(ciphered, key, wrong_auth_key)
    # The encryption key is right, so the error points at the authentication key.
    assert "so the authentication key is the likely culprit" in str(caught.value)
    assert auth_key.hex() not in str(caught.value).lower()
    assert wrong_auth_key.hex() not in str(caught.value).lower()

    wrong_key = bytes([key[0] ^ 0x01]) + key[1:]
    with pytest.raises(SecurityError, match="authentication tag does not match") as caught:
        decipher(ciphered, wrong_key, auth_key)
    assert "encryption key gives no plausible plaintext either" in str(caught.value)


def _first_keyed_mbus_vector(vector: dict[str, Any]) -> bool:
    return _has_key(vector) and vector["id"] == "at-netznoe-kaifa-ma309m-doc"


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_first_keyed_mbus_vector))
def test_vector_wrong_key_gives_no_apdu(vector: dict[str, Any]) -> None:
    ciphered = parse_ciphered_apdu(_ciphered(vector))
    key = parse_key(vector["key"])
    right = decipher(ciphered, key)
    wrong = decipher(ciphered, bytes(b ^ 0x5A for b in key))
    # Without a tag nothing fails: only the plaintext check can tell a wrong key.
    assert wrong.tag_verified is None
    assert looks_like_apdu(right.plaintext)
    assert not looks_like_apdu(wrong.plaintext)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(_is_ciphered_vector))
def test_vector_cut_short_and_overlong(vector: dict[str, Any]) -> None:
    apdu = _ciphered(vector)
    declared = len(apdu) - 10 - (apdu[10] - 0x80 + 1 if apdu[10] >= 0x80 else 1)
    with pytest.raises(SecurityError) as caught:
        parse_ciphered_apdu(apdu[:-1])
    assert f"ciphered content says {declared} bytes but only {declared - 1} follow" in str(
        caught.value
    )
    assert caught.value.offset == 10

    with pytest.raises(
        SecurityError,
        match="1 byte left over after the ciphered content of the general-glo-ciphering",
    ):
        parse_ciphered_apdu(apdu + b"\x00")
    ciphered, end = decode_ciphered_apdu(b"\x7e" + apdu + b"\x00", 1)
    assert end == 1 + len(apdu)
    assert ciphered == parse_ciphered_apdu(apdu)


# --------------------------------------------------------------------------- properties

SYSTEM_TITLE = bytes.fromhex("4B464D1020000001")
KEY = bytes(range(16))
AUTH_KEY = bytes(range(0x40, 0x50))

keys16 = st.binary(min_size=16, max_size=16)
system_titles = st.binary(min_size=8, max_size=8)
frame_counters = st.integers(0, 0xFFFFFFFF)
security_controls = st.sampled_from([0x20, 0x21, 0x30, 0x31, 0x10])
ciphered_tags = st.sampled_from(sorted(t for t in CIPHERED_APDU_TAGS if t != 0xDD))


@given(
    plaintext=st.binary(max_size=600),
    key=keys16,
    auth_key=keys16,
    system_title=system_titles,
    frame_counter=frame_counters,
    sc=security_controls,
    tag=ciphered_tags,
)
def test_round_trip(
    plaintext: bytes,
    key: bytes,
    auth_key: bytes,
    system_title: bytes,
    frame_counter: int,
    sc: int,
    tag: int,
) -> None:
    apdu = encipher(plaintext, key, system_title, frame_counter, sc, auth_key, tag)
    ciphered = parse_ciphered_apdu(apdu, system_title=system_title)
    assert ciphered.tag == tag
    assert ciphered.kind == CIPHERED_APDU_TAGS[tag]
    assert ciphered.system_title == system_title
    assert ciphered.security_control == sc
    assert ciphered.frame_counter == frame_counter
    authenticated = bool(sc & 0x10)
    assert (ciphered.auth_tag is not None) == authenticated
    result = decipher(ciphered, key, auth_key)
    assert result == Deciphered(plaintext, True if authenticated else None)
    assert decipher(ciphered, key).plaintext == plaintext
    # The decipherer's kept key schedule (AESGCM's key stream) gives the same.
    assert Decipherer(key, auth_key).decipher(ciphered) == result
    assert Decipherer(key).decipher(ciphered).plaintext == plaintext
    if not sc & 0x20:
        assert ciphered.ciphertext == plaintext


@given(
    plaintext=st.binary(min_size=1, max_size=300),
    key=keys16,
    auth_key=keys16,
    system_title=system_titles,
    frame_counter=frame_counters,
    sc=st.sampled_from([0x30, 0x31]),
    data=st.data(),
)
def test_flipped_ciphertext_byte_fails_the_tag(
    plaintext: bytes,
    key: bytes,
    auth_key: bytes,
    system_title: bytes,
    frame_counter: int,
    sc: int,
    data: st.DataObject,
) -> None:
    ciphered = parse_ciphered_apdu(
        encipher(plaintext, key, system_title, frame_counter, sc, auth_key)
    )
    index = data.draw(st.integers(0, len(ciphered.ciphertext) - 1))
    bit = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
    body = bytearray(ciphered.ciphertext)
    body[index] ^= bit
    tampered = CipheredApdu(
        ciphered.tag,
        ciphered.system_title,
        ciphered.security_control,
        ciphered.frame_counter,
        bytes(body),
        ciphered.auth_tag,
    )
    with pytest.raises(SecurityError, match="authentication tag does not match"):
        decipher(tampered, key, auth_key)


@given(
    plaintext=st.binary(max_size=200),
    frame_counter=frame_counters,
    sc=st.sampled_from([0x30, 0x10]),
)
def test_encipher_matches_standard_gcm(plaintext: bytes, frame_counter: int, sc: int) -> None:
    # An independent oracle: AES-GCM with the standard 16-byte tag, cut to DLMS's 12.
    apdu = encipher(plaintext, KEY, SYSTEM_TITLE, frame_counter, sc, AUTH_KEY)
    ciphered = parse_ciphered_apdu(apdu)
    iv = SYSTEM_TITLE + frame_counter.to_bytes(4, "big")
    if sc & 0x20:
        sealed = AESGCM(KEY).encrypt(iv, plaintext, bytes([sc]) + AUTH_KEY)
    else:
        sealed = plaintext + AESGCM(KEY).encrypt(iv, b"", bytes([sc]) + AUTH_KEY + plaintext)
    assert ciphered.ciphertext == sealed[:-16]
    assert ciphered.auth_tag == sealed[-16:-4]


@pytest.mark.parametrize(
    ("content_length", "length_bytes"),
    [
        (17, "11"),
        (127, "7F"),
        (128, "8180"),
        (255, "81FF"),
        (256, "820100"),
        (65535, "82FFFF"),
        (65536, "83010000"),
        (70005, "83011175"),
    ],
)
@pytest.mark.parametrize("sc", [0x20, 0x30])
def test_length_forms(content_length: int, length_bytes: str, sc: int) -> None:
    overhead = 5 + (AUTH_TAG_LENGTH if sc & 0x10 else 0)
    plaintext = bytes(i % 251 for i in range(content_length - overhead))
    apdu = encipher(plaintext, KEY, SYSTEM_TITLE, 7, sc, AUTH_KEY)
    assert apdu[10 : 10 + len(length_bytes) // 2] == bytes.fromhex(length_bytes)
    assert len(apdu) == 10 + len(length_bytes) // 2 + content_length
    ciphered = parse_ciphered_apdu(apdu)
    assert decipher(ciphered, KEY, AUTH_KEY).plaintext == plaintext


def test_long_length_forms_are_accepted() -> None:
    apdu = encipher(b"\x0f\x00", KEY, SYSTEM_TITLE, 1)
    content = apdu[11:]
    assert apdu[10] == len(content)
    for length in (b"\x81\x07", b"\x82\x00\x07", b"\x84\x00\x00\x00\x07"):
        ciphered = parse_ciphered_apdu(apdu[:10] + length + content)
        assert decipher(ciphered, KEY).plaintext == b"\x0f\x00"
    for bad in (b"\x80", b"\x85"):
        with pytest.raises(SecurityError, match="no A-XDR length") as caught:
            parse_ciphered_apdu(apdu[:10] + bad + content)
        assert caught.value.offset == 10


@given(
    plaintext=st.binary(max_size=40),
    sc=security_controls,
    tag=st.sampled_from([0xDB, 0xDC, 0xCC, 0x21]),
)
def test_every_prefix_is_a_security_error(plaintext: bytes, sc: int, tag: int) -> None:
    apdu = encipher(plaintext, KEY, SYSTEM_TITLE, 99, sc, AUTH_KEY, tag)
    for cut in range(len(apdu)):
        with pytest.raises(SecurityError) as caught:
            parse_ciphered_apdu(apdu[:cut], SYSTEM_TITLE)
        assert caught.value.offset is not None


def test_short_form_needs_the_system_title() -> None:
    apdu = encipher(b"\xc4\x01\x81\x00", KEY, SYSTEM_TITLE, 5, 0x20, tag=0xCC)
    assert apdu[0] == 0xCC
    assert apdu[1] == 5 + 4
    with pytest.raises(SecurityError, match="glo-get-response carries no system title") as caught:
        parse_ciphered_apdu(apdu)
    assert caught.value.offset == 0
    ciphered = parse_ciphered_apdu(apdu, SYSTEM_TITLE)
    assert ciphered.kind == "glo-get-response"
    assert decipher(ciphered, KEY).plaintext == b"\xc4\x01\x81\x00"
    with pytest.raises(SecurityError, match="is 7 bytes, expected 8"):
        parse_ciphered_apdu(apdu, SYSTEM_TITLE[:7])


def test_general_ded_ciphering() -> None:
    apdu = encipher(b"\x0f\x01", KEY, SYSTEM_TITLE, 5, 0x30, AUTH_KEY, tag=0xDC)
    ciphered = parse_ciphered_apdu(apdu, system_title=bytes(8))
    assert ciphered.kind == "general-ded-ciphering"
    # The APDU's own system title wins over one passed in.
    assert ciphered.system_title == SYSTEM_TITLE
    assert decipher(ciphered, KEY, AUTH_KEY) == Deciphered(b"\x0f\x01", True)


@pytest.mark.parametrize(
    ("sc", "message"),
    [
        (0xA0, "security control 0xA0 asks for compression"),
        (0x23, "names security suite 3"),
        (0x2F, "names security suite 15"),
    ],
)
def test_unsupported_security_control(sc: int, message: str) -> None:
    apdu = bytearray(encipher(b"\x0f" * 20, KEY, SYSTEM_TITLE, 3))
    apdu[11] = sc
    with pytest.raises(SecurityError, match=message) as caught:
        parse_ciphered_apdu(bytes(apdu))
    assert caught.value.offset == 11


def test_header_errors_name_what_is_wrong() -> None:
    with pytest.raises(SecurityError, match="the APDU is empty"):
        parse_ciphered_apdu(b"")
    with pytest.raises(SecurityError, match="tag 0x0F is not a ciphered"):
        parse_ciphered_apdu(b"\x0f\x00\x00\x00\x01\x00")
    with pytest.raises(SecurityError, match="general-ciphering APDUs"):
        parse_ciphered_apdu(b"\xdd\x01")
    with pytest.raises(SecurityError, match="system title is 6 bytes, expected 8") as caught:
        parse_ciphered_apdu(b"\xdb\x06" + bytes(6) + b"\x05\x20\x00\x00\x00\x01")
    assert caught.value.offset == 1
    with pytest.raises(SecurityError, match="ends inside the system title: 3 of 8"):
        parse_ciphered_apdu(b"\xdb\x08abc")
    with pytest.raises(SecurityError, match="too short for the security control byte"):
        parse_ciphered_apdu(b"\xdb\x08" + SYSTEM_TITLE + b"\x04\x20\x00\x00\x00")
    with pytest.raises(SecurityError, match="too short for the 12-byte authentication tag"):
        parse_ciphered_apdu(b"\xdb\x08" + SYSTEM_TITLE + b"\x10\x30" + bytes(15))


def test_key_length_errors_do_not_echo_the_key() -> None:
    ciphered = parse_ciphered_apdu(encipher(b"\x0f\x00", KEY, SYSTEM_TITLE, 1, 0x30, AUTH_KEY))
    with pytest.raises(SecurityError) as caught:
        decipher(ciphered, KEY[:15])
    assert str(caught.value) == "the key must be 16 bytes (32 hex digits), got 15"
    with pytest.raises(SecurityError, match=r"authentication key must be 16 bytes .*got 32"):
        decipher(ciphered, KEY, AUTH_KEY * 2)
    suite2 = parse_ciphered_apdu(encipher(b"\x0f\x00", KEY * 2, SYSTEM_TITLE, 1, 0x22))
    with pytest.raises(
        SecurityError, match=r"must be 32 bytes \(64 hex digits\) for security suite 2"
    ):
        decipher(suite2, KEY)
    assert decipher(suite2, KEY * 2).plaintext == b"\x0f\x00"


def test_authentication_only() -> None:
    apdu = encipher(b"\x0f\x00\x00\x00\x01\x00", KEY, SYSTEM_TITLE, 9, 0x10, AUTH_KEY)
    ciphered = parse_ciphered_apdu(apdu)
    assert ciphered.ciphertext == b"\x0f\x00\x00\x00\x01\x00"
    assert decipher(ciphered, KEY, AUTH_KEY).tag_verified is True
    assert decipher(ciphered, KEY).tag_verified is False
    with pytest.raises(SecurityError, match="authentication tag does not match"):
        decipher(ciphered, KEY, bytes(16))


def test_encipher_refuses_what_it_cannot_build() -> None:
    with pytest.raises(SecurityError, match="needs the authentication key"):
        encipher(b"", KEY, SYSTEM_TITLE, 1, 0x30)
    with pytest.raises(SecurityError, match="system title is 9 bytes"):
        encipher(b"", KEY, SYSTEM_TITLE + b"x", 1)
    with pytest.raises(SecurityError, match="frame counter must fit 4 bytes"):
        encipher(b"", KEY, SYSTEM_TITLE, 1 << 32)
    with pytest.raises(SecurityError, match="tag 0x0F is not a supported"):
        encipher(b"", KEY, SYSTEM_TITLE, 1, tag=0x0F)


@given(st.integers(0, 255))
def test_security_control_bits(byte: int) -> None:
    control = SecurityControl.from_byte(byte)
    assert control.to_byte() == byte
    assert control.suite == byte & 0x0F
    assert control.authenticated == bool(byte & 0x10)
    assert control.encrypted == bool(byte & 0x20)
    assert control.broadcast_key == bool(byte & 0x40)
    assert control.compressed == bool(byte & 0x80)


def test_security_control_seen_values() -> None:
    assert SecurityControl.from_byte(0x21) == SecurityControl(1, False, True, False, False)
    assert SecurityControl.from_byte(0x30) == SecurityControl(0, True, True, False, False)


def test_is_ciphered_and_looks_like_apdu() -> None:
    assert is_ciphered(b"\xdb\x08")
    assert is_ciphered(b"\xcc")
    assert not is_ciphered(b"\x0f\x00")
    assert not is_ciphered(b"")
    assert looks_like_apdu(b"\x0f\x00\x00\x00\x01")
    assert looks_like_apdu(b"\xe0\x40")
    assert not looks_like_apdu(b"\x9a\x13")
    assert not looks_like_apdu(b"")


# --------------------------------------------------------------------------- parse_key


@pytest.mark.parametrize(
    "text",
    [
        "000102030405060708090a0b0c0d0e0f",
        "00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F",
        "00:01:02:03:04:05:06:07:08:09:0a:0B:0c:0D:0e:0F",
        "  000102030405060708090A0B0C0D0E0F\n",
    ],
)
def test_parse_key_forms(text: str) -> None:
    assert parse_key(text) == KEY


def test_parse_key_aes256() -> None:
    assert parse_key("00" * 32) == bytes(32)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("36C66639E48A8CA4D6BC8B282A793B", "key must be 32 hex digits (64 for AES-256), got 30"),
        ("36C6G639E48A8CA4D6BC8B282A793BBB", "key contains a non-hex character at position 5"),
        ("  36C6G639E48A8CA4D6BC8B282A793BBB", "key contains a non-hex character at position 7"),
        ("0x36C66639E48A8CA4D6BC8B282A793BBB", "key contains a non-hex character at position 2"),
        ("   ", "key is empty"),
    ],
)
def test_parse_key_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_key(text)
    assert str(caught.value).startswith(message)
    assert "36C6" not in str(caught.value).upper()


def test_parse_key_names_what() -> None:
    with pytest.raises(ConfigError, match=r"^auth_key must be 32 hex digits"):
        parse_key("00" * 15, "auth_key")
