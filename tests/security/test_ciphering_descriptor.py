"""The ciphering header read by hand is the one the generated module describes: the
system title and the ciphered content of general-glo/ded-ciphering, the ciphered
content alone of the glo-/ded- forms; inside the content the security header
(security control, frame counter), the ciphertext and the tag (Green Book 9.2.7.2)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.axdr.apdu_tags import CIPHERED_APDU_TAGS, GENERAL_CIPHERING
from cosem_reader.security.ciphering import encipher, parse_ciphered_apdu

KEY = bytes(range(16))
TITLE = bytes.fromhex("4B464D1020000001")


@given(
    tag=st.sampled_from(sorted(t for t in CIPHERED_APDU_TAGS if t != GENERAL_CIPHERING)),
    plaintext=st.binary(max_size=300),
    frame_counter=st.integers(0, 0xFFFFFFFF),
    security_control=st.sampled_from([0x20, 0x21, 0x30, 0x10]),
)
def test_the_hand_read_header_is_the_descriptors(
    tag: int, plaintext: bytes, frame_counter: int, security_control: int
) -> None:
    apdu = encipher(plaintext, KEY, TITLE, frame_counter, security_control, KEY, tag)
    ciphered = parse_ciphered_apdu(apdu, TITLE)
    name, value = decode_apdu(apdu)
    assert name == CIPHERED_APDU_TAGS[tag] == ciphered.kind
    if isinstance(value, dict):
        assert value["system-title"] == ciphered.system_title
        content = value["ciphered-content"]
    else:
        content = value
    assert content == (
        bytes([ciphered.security_control])
        + ciphered.frame_counter.to_bytes(4)
        + ciphered.ciphertext
        + (ciphered.auth_tag or b"")
    )
