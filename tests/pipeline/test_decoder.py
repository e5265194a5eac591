"""The whole stream: bytes in any chunking to notifications, nothing decodable lost."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError, SecurityError
from cosem_reader.pipeline.decoder import StreamDecoder, decode_capture
from cosem_reader.pipeline.probe import guess_layer
from cosem_reader.security.ciphering import CipheredApdu
from tests.support.encoder import (
    Register,
    ciphered_push,
    data_notification,
    kaifa_ma309m_body,
    mbus_push,
)
from tests.support.hdlc_frames import build_general_block_transfer, build_hdlc_frames
from tests.support.mbus_telegrams import split_into_telegrams

KEY = bytes.fromhex("36C66639E48A8CA4D6BC8B282A793BBB")
AUTH_KEY = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
TITLE = b"KFM\x67\x50\x00\x00\x09"


def plaintext(counter: int) -> bytes:
    moment = datetime(2025, 5, 1, 12, 0, 0) + timedelta(seconds=5 * counter)
    registers = [Register("1.0.1.8.0.255", 1000 + counter, "double-long-unsigned", 0, 30)]
    body = kaifa_ma309m_body(moment, registers, "1KFM0000000001", "KFM1000000000001")
    return data_notification(body, invoke_id=counter)


def push(counter: int, security_control: int = 0x21) -> bytes:
    auth = AUTH_KEY if security_control & 0x10 else None
    apdu = ciphered_push(plaintext(counter), KEY, TITLE, counter, security_control, auth)
    return mbus_push(apdu)


def counters(results: Sequence[object]) -> list[int]:
    return [r.frame_counter for r in results if isinstance(r, Notification) and r.frame_counter]


def feed_in_chunks(decoder: StreamDecoder, data: bytes, sizes: list[int]) -> list[object]:
    results: list[object] = []
    position = 0
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)] if sizes else len(data)
        results += decoder.feed(data[position : position + size])
        position += size
        index += 1
    return results + decoder.flush()


def test_a_push_is_handed_on_when_its_last_byte_arrives() -> None:
    """No idle timeout: the notification comes out of the very feed that completes it."""
    decoder = StreamDecoder(key=KEY)
    wire = push(1)
    assert decoder.feed(wire[:-1]) == []
    (result,) = decoder.feed(wire[-1:])
    assert isinstance(result, Notification)
    assert result.frame_counter == 1


def test_starting_mid_push_loses_only_the_cut_push() -> None:
    """Started at any byte inside a push, the reader decodes every push after it.

    Regression: ciphertext that happened to start with an APDU tag made the
    auto-detection settle on bare APDUs and decode nothing.
    """
    wire = push(1) + push(2) + push(3)
    first = len(push(1))
    for start in range(1, first):
        decoder = StreamDecoder(key=KEY)
        results = feed_in_chunks(decoder, wire[start:], [64])
        assert counters(results) == [2, 3], f"started at byte {start}"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 10_000), min_size=1, max_size=6, unique=True),
    st.lists(st.binary(max_size=40), min_size=7, max_size=7),
    st.lists(st.integers(1, 300), min_size=1, max_size=8),
)
def test_garbage_between_pushes_any_chunking(
    numbers: list[int], garbage: list[bytes], sizes: list[int]
) -> None:
    """Pushes with line noise between them, fed in any chunk sizes: all of them, in order, once."""
    wire = b"".join(garbage[i] + push(n) for i, n in enumerate(numbers)) + garbage[-1]
    results = feed_in_chunks(StreamDecoder(key=KEY, layer="mbus"), wire, sizes)
    assert counters(results) == numbers


def test_gcm_tag_verified_with_authentication_key() -> None:
    """Security control 0x30: the tag is verified when the authentication key is given."""
    (result,) = decode_capture(push(5, 0x30), key=KEY, auth_key=AUTH_KEY)
    assert isinstance(result, Notification)
    assert result.tag_verified is True


def test_gcm_tag_without_authentication_key_still_decodes(caplog: pytest.LogCaptureFixture) -> None:
    """Without the authentication key the push decodes, warning that the tag was not checked."""
    (result,) = decode_capture(push(5, 0x30), key=KEY)
    assert isinstance(result, Notification)
    assert result.tag_verified is False
    assert "not verified" in caplog.text


def test_wrong_authentication_key_is_named() -> None:
    """A tag that does not match is reported as an authentication failure, never as readings."""
    (result,) = decode_capture(push(5, 0x30), key=KEY, auth_key=bytes(16))
    assert isinstance(result, SecurityError)
    assert "authentication tag" in str(result)


def test_wrong_key_then_right_pushes_keep_coming() -> None:
    """A wrong key yields one error per push and never a notification; the stream goes on."""
    decoder = StreamDecoder(key=bytes(16))
    results = decoder.feed(push(1) + push(2))
    assert len(results) == 2
    assert all(isinstance(r, SecurityError) for r in results)
    assert "wrong key" in str(results[0])


def test_without_key_the_security_header_comes_out() -> None:
    """No key: each APDU's ciphered header, with system title and frame counter."""
    (result,) = decode_capture(push(9))
    assert isinstance(result, CipheredApdu)
    assert result.system_title == TITLE
    assert result.frame_counter == 9


def test_hdlc_with_block_transfer_and_auto_detection() -> None:
    """HDLC frames carrying general-block-transfer blocks of a ciphered push are recognised."""
    apdu = ciphered_push(plaintext(3), KEY, TITLE, 3, 0x30, AUTH_KEY)
    blocks = build_general_block_transfer(apdu, 90)
    wire = b"".join(build_hdlc_frames(block) for block in blocks)
    assert guess_layer(wire) == "hdlc"
    results = decode_capture(wire, key=KEY, auth_key=AUTH_KEY)
    assert counters(results) == [3]


def test_bare_apdus_back_to_back() -> None:
    """Bare APDUs one after the other (a raw capture) are cut where A-XDR says they end."""
    apdus = [ciphered_push(plaintext(n), KEY, TITLE, n) for n in (1, 2)] + [plaintext(3)]
    results = decode_capture(b"".join(apdus), key=KEY)
    assert [r.invoke_id for r in results if isinstance(r, Notification)] == [1, 2, 3]


def test_truncated_bare_apdu_is_reported_at_the_end() -> None:
    """A bare APDU cut short is an error once the stream has ended, not before."""
    decoder = StreamDecoder(key=KEY, layer="raw")
    apdu = plaintext(1)
    assert decoder.feed(apdu[:-3]) == []
    (error,) = decoder.flush()
    assert isinstance(error, CosemReaderError)


def test_a_lost_tail_and_the_next_lost_head_make_no_reading_and_no_key_error() -> None:
    """Line noise took the last telegram of one push and the first of the next.

    The two telegrams left (segment 0 of one push, segment 1 of the next) would join
    like one push, decipher to garbage and read as a wrong key; the M-Bus reader's
    report of the damaged telegrams keeps them apart.
    """
    apdus = [ciphered_push(plaintext(n), KEY, TITLE, n, 0x20) for n in (1, 2, 3)]
    size = (len(apdus[0]) + 1) // 2 + 2
    pushes = [split_into_telegrams(apdu, size) for apdu in apdus]
    assert [len(telegrams) for telegrams in pushes] == [2, 2, 2]

    def damaged(telegram: bytes) -> bytes:
        return telegram[:-2] + bytes([telegram[-2] ^ 0xFF]) + telegram[-1:]

    wire = (
        pushes[0][0] + damaged(pushes[0][1]) + damaged(pushes[1][0]) + pushes[1][1]
        + b"".join(pushes[2])
    )
    results = StreamDecoder(key=KEY, layer="mbus").feed(wire)
    assert counters(results) == [3]
    assert not any(isinstance(result, SecurityError) for result in results)
    assert any("a telegram was lost" in str(result) for result in results)


def random_noise(size: int, seed: int = 10) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_a_mebibyte_of_noise_the_next_pushes_decode(seed: int) -> None:
    """Noise can make the probe settle for a guessed layer: it must not stay there (issue 10.2)."""
    decoder = StreamDecoder(key=KEY)
    noise = random_noise(1 << 20, seed)
    for start in range(0, len(noise), 4096):
        decoder.feed(noise[start : start + 4096])
    results: list[object] = []
    for counter in (1, 2, 3):
        results += decoder.feed(push(counter))
    assert counters(results) == [1, 2, 3]
    assert decoder.active_layer == "mbus"


def test_a_restarted_link_detects_the_layer_again() -> None:
    """A reopened port may carry another link layer (another adapter): detection starts over."""
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY)
    assert counters(decoder.feed(push(1, 0x30))) == [1]
    decoder.restart_link()
    assert decoder.active_layer is None
    frames = build_hdlc_frames(ciphered_push(plaintext(2), KEY, TITLE, 2, 0x31, AUTH_KEY))
    assert counters(decoder.feed(frames)) == [2]
    assert decoder.active_layer == "hdlc"


@settings(max_examples=10)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=64 * 1024, max_value=512 * 1024),
    st.sampled_from([64, 1000, 4096]),
)
# Noise that ends just after the probe guessed HDLC: the watch waited for 1 KiB of quiet
# bytes, and the first eight pushes after it were lost.
@example(seed=1069659, size=65536, chunk=64)
def test_any_noise_then_the_pushes_decode(seed: int, size: int, chunk: int) -> None:
    """Whatever noise comes first, and however the port cuts it, the pushes after it decode."""
    decoder = StreamDecoder(key=KEY)
    noise = random_noise(size, seed)
    noisy: list[object] = []
    for start in range(0, len(noise), chunk):
        noisy += decoder.feed(noise[start : start + chunk])
    assert counters(noisy) == []
    results: list[object] = []
    for counter in (1, 2):
        wire = push(counter)
        for start in range(0, len(wire), chunk):
            results += decoder.feed(wire[start : start + chunk])
    assert counters(results) == [1, 2]
