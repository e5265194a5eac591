"""Fuzz targets, one per reader: whatever the line delivers, only the layer's own error comes out.

Each target feeds hypothesis-made input (random bytes, valid pushes from the project's
encoder with bytes changed, cut or interleaved with garbage, in random chunks) to one
layer and checks:

* nothing escapes but the layer's own error class (returned by the incremental readers,
  raised by the pure functions);
* no hang: every input is bounded in time (the ``deadline`` below; every loop of the
  readers is bounded by the input length);
* buffers stay bounded: a reader holds at most one frame of the largest size, and endless
  garbage does not grow it.

In CI the examples per target come from the hypothesis profile (``ci``: 300).  A long run
sets ``COSEM_READER_FUZZ_EXAMPLES`` (``make fuzz``: 100,000 per target, 1.4 million inputs
in all).
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import tracemalloc
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu
from cosem_reader.axdr.generated.cosem_pdu import MODULE_NAME, TYPES
from cosem_reader.axdr.schema import Schema
from cosem_reader.cosem.readings import Notification, ReadingsPlans, notification_from_apdu
from cosem_reader.errors import (
    AxdrError,
    CosemError,
    CosemReaderError,
    FrameError,
    SecurityError,
    SegmentError,
)
from cosem_reader.link import hdlc, mbus
from cosem_reader.pipeline.decoder import StreamDecoder
from cosem_reader.security.ciphering import CipheredApdu, Deciphered, decipher, parse_ciphered_apdu
from cosem_reader.transport.block_transfer import BlockTransferJoiner
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from cosem_reader.transport.mbus_segments import SegmentJoiner
from tests.support.encoder import (
    ciphered_push,
    cosem_date_time,
    data_notification,
    flat_body,
    kaifa_ma309m_body,
    kaifa_series,
    mbus_push,
)
from tests.support.hdlc_frames import build_general_block_transfer, build_hdlc_frames
from tests.support.strategies import data_values

_EXAMPLES = int(os.environ.get("COSEM_READER_FUZZ_EXAMPLES", "0"))
#: Per input; generous for a loaded CI machine, yet far below what a hang would take.
_DEADLINE = timedelta(seconds=2)
fuzz = (
    settings(
        max_examples=_EXAMPLES,
        deadline=_DEADLINE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    if _EXAMPLES
    else settings(deadline=_DEADLINE, suppress_health_check=[HealthCheck.too_slow])
)

KEY = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
AUTH_KEY = bytes.fromhex("F0E1D2C3B4A5968778695A4B3C2D1E0F")
TITLE = b"FUZZ\x00\x00\x00\x01"
START = datetime(2026, 6, 1, 12, 0, 0)


def _push_apdu(index: int, security_control: int = 0x20) -> bytes:
    moment, registers = kaifa_series(START + timedelta(seconds=index), 1)[0]
    if index % 2:
        body = kaifa_ma309m_body(moment, registers, "1KFMFUZZ000001", "KFMFUZZ000000001")
        plaintext = data_notification(body, invoke_id=index)
    else:
        body = flat_body(moment, registers, "1KFMFUZZ000002")
        plaintext = data_notification(body, invoke_id=index, date_time=cosem_date_time(moment))
    auth_key = AUTH_KEY if security_control & 0x10 else None
    return ciphered_push(plaintext, KEY, TITLE, 100 + index, security_control, auth_key)


#: A few valid pushes to damage: M-Bus (two telegrams), HDLC with and without block transfer.
_APDUS = [_push_apdu(index, sc) for index, sc in enumerate((0x20, 0x21, 0x30, 0x20))]
_MBUS = [mbus_push(apdu) for apdu in _APDUS]
_HDLC = [
    build_hdlc_frames(_APDUS[0]),
    build_hdlc_frames(_APDUS[2], max_information=100),
    b"".join(
        build_hdlc_frames(block, llc=b"\xe6\xe7\x00" if number == 0 else b"")
        for number, block in enumerate(build_general_block_transfer(_APDUS[1], 120))
    ),
]


@st.composite
def damaged(draw: st.DrawFn, valid: list[bytes]) -> bytes:
    """Valid wire bytes with changes: bytes flipped, cut, inserted, garbage between pushes."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            parts.append(draw(st.binary(max_size=300)))
            continue
        wire = bytearray(draw(st.sampled_from(valid)))
        for _ in range(draw(st.integers(0, 3))):
            where = draw(st.integers(0, len(wire) - 1))
            action = draw(st.integers(0, 2))
            if action == 0:
                wire[where] ^= draw(st.integers(1, 255))
            elif action == 1:
                del wire[where : where + draw(st.integers(1, 40))]
                if not wire:
                    break
            else:
                wire[where:where] = draw(st.binary(min_size=1, max_size=8))
        parts.append(bytes(wire))
    return b"".join(parts)


def _chunked(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at random places (1 to 300 bytes), the way a serial port may deliver it."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(data):
        size = rng.choice((1, 2, 7, 64, rng.randrange(1, 300)))
        pieces.append(data[at : at + size])
        at += size
    return pieces


def _streams(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2000), damaged(valid))


# -- M-Bus -----------------------------------------------------------------------------


@fuzz
@given(_streams(_MBUS), st.integers(0, 2**32))
def test_mbus_reader_returns_frames_and_frame_errors_only(data: bytes, seed: int) -> None:
    reader = mbus.LongFrameReader()
    bound = mbus.MAX_FRAME_LENGTH + 4096
    for piece in _chunked(data, seed):
        for item in reader.feed(piece):
            assert isinstance(item, mbus.LongFrame | FrameError)
        assert reader.buffered <= bound
    for item in reader.flush():
        assert isinstance(item, mbus.LongFrame | FrameError)
    assert reader.buffered == 0


@fuzz
@given(_streams(_MBUS))
def test_parse_long_frame_raises_frame_error_only(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        mbus.parse_long_frame(data)


def test_mbus_reader_memory_stays_flat_on_endless_garbage() -> None:
    """Four megabytes of start bytes, headers leading nowhere and noise: the buffer stays small."""
    rng = random.Random(1)
    reader = mbus.LongFrameReader()
    patterns = [b"\x68", b"\x68\xff\xff\x68", b"\x68\x10\x10\x68\x53", bytes(range(256))]
    errors = 0
    for _ in range(4096):
        chunk = b"".join(rng.choice(patterns) for _ in range(64))[:1024]
        errors += len(reader.feed(chunk))
        assert reader.buffered <= mbus.MAX_FRAME_LENGTH + 4096
    assert errors > 0


# -- HDLC ------------------------------------------------------------------------------


@fuzz
@given(_streams(_HDLC), st.integers(0, 2**32))
def test_hdlc_reader_returns_frames_and_frame_errors_only(data: bytes, seed: int) -> None:
    reader = hdlc.HdlcFrameReader()
    joiner = HdlcApduJoiner()
    for piece in _chunked(data, seed):
        for item in reader.feed(piece):
            assert isinstance(item, hdlc.HdlcFrame | FrameError)
            for joined in joiner.push(item):
                assert isinstance(joined, bytes | SegmentError)
        assert reader.buffered <= hdlc.MAX_FRAME_LENGTH + 1 + len(piece)
    for item in reader.flush():
        assert isinstance(item, hdlc.HdlcFrame | FrameError)
    for joined in joiner.flush():
        assert isinstance(joined, bytes | SegmentError)


@fuzz
@given(_streams(_HDLC))
def test_parse_hdlc_frame_raises_frame_error_only(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        hdlc.parse_hdlc_frame(data)


def test_hdlc_reader_memory_stays_flat_on_endless_garbage() -> None:
    """Flags and format bytes that start frames which never end: the buffer stays small."""
    rng = random.Random(2)
    reader = hdlc.HdlcFrameReader()
    patterns = [b"\x7e", b"\x7e\xa7\xff", b"\x7e\xa0\x20\x03\x21\x13", bytes(range(256))]
    for _ in range(4096):
        chunk = b"".join(rng.choice(patterns) for _ in range(64))[:1024]
        reader.feed(chunk)
        assert reader.buffered <= hdlc.MAX_FRAME_LENGTH + 1 + len(chunk)


# -- transport -------------------------------------------------------------------------


_long_frames = st.builds(
    mbus.LongFrame,
    st.sampled_from([0x53, 0x73]),
    st.just(0xFF),
    st.integers(0, 0x1F),
    st.one_of(st.binary(max_size=60), st.binary(max_size=60).map(lambda data: b"\x01\x67" + data)),
)


@fuzz
@given(st.lists(_long_frames, max_size=40))
def test_segment_joiner_returns_apdus_and_segment_errors_only(frames: list[mbus.LongFrame]) -> None:
    joiner = SegmentJoiner()
    total = 0
    for frame in frames:
        total += len(frame.user_data)
        for item in joiner.push(frame):
            assert isinstance(item, bytes | SegmentError)
            if isinstance(item, bytes):
                # An APDU is made of at most 16 segments of what came in.
                assert len(item) <= total
    for error in joiner.flush():
        assert isinstance(error, SegmentError)


_hdlc_frames = st.builds(
    hdlc.HdlcFrame,
    st.booleans(),
    st.just(b"\x03"),
    st.just(b"\x21"),
    st.sampled_from([0x03, 0x13, 0x10, 0x32]),
    st.one_of(
        st.binary(max_size=80),
        st.binary(max_size=80).map(lambda data: b"\xe6\xe7\x00" + data),
        st.binary(max_size=80).map(lambda data: b"\xe0" + data),
    ),
)


@fuzz
@given(st.lists(st.one_of(_hdlc_frames, st.just(FrameError("lost"))), max_size=40))
def test_hdlc_apdu_joiner_returns_apdus_and_segment_errors_only(frames: list[Any]) -> None:
    joiner = HdlcApduJoiner(max_apdu_size=1000)
    for frame in frames:
        for item in joiner.push(frame):
            assert isinstance(item, bytes | SegmentError)
            if isinstance(item, bytes):
                assert len(item) <= 1000
    for item in joiner.flush():
        assert isinstance(item, bytes | SegmentError)


def _block(last: bool, number: int, data: bytes) -> bytes:
    control = (0x80 if last else 0) | 0x40
    length = bytes([len(data)]) if len(data) < 0x80 else b"\x81" + bytes([len(data)])
    return bytes([0xE0, control]) + number.to_bytes(2, "big") + b"\x00\x00" + length + data


_apdus = st.one_of(
    st.binary(max_size=60),
    st.builds(_block, st.booleans(), st.integers(0, 5), st.binary(max_size=200)),
    st.binary(max_size=12).map(lambda data: b"\xe0" + data),
)


@fuzz
@given(st.lists(_apdus, max_size=40))
def test_block_transfer_joiner_returns_apdus_and_segment_errors_only(apdus: list[bytes]) -> None:
    joiner = BlockTransferJoiner(max_apdu_size=1000)
    for apdu in apdus:
        for item in joiner.push(apdu):
            assert isinstance(item, bytes | SegmentError)
    for item in joiner.flush():
        assert isinstance(item, bytes | SegmentError)


# -- security --------------------------------------------------------------------------


def _ciphered_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda data: b"\xdb\x08" + data),
        damaged(_APDUS),
    )


@fuzz
@given(
    _ciphered_inputs(),
    st.sampled_from([KEY, AUTH_KEY, bytes(32), b"short"]),
    st.sampled_from([None, AUTH_KEY, bytes(16)]),
)
def test_security_raises_security_error_only(
    data: bytes, key: bytes, auth_key: bytes | None
) -> None:
    try:
        ciphered = parse_ciphered_apdu(data, TITLE)
    except SecurityError:
        return
    assert isinstance(ciphered, CipheredApdu)
    with contextlib.suppress(SecurityError):
        assert isinstance(decipher(ciphered, key, auth_key), Deciphered)


# -- A-XDR and readings ----------------------------------------------------------------


_PLAINTEXTS = [
    decipher(parse_ciphered_apdu(apdu), KEY, AUTH_KEY if apdu[11] & 0x10 else None).plaintext
    for apdu in _APDUS
]


@fuzz
@given(st.one_of(st.binary(max_size=400), damaged(_PLAINTEXTS)))
def test_decode_apdu_raises_axdr_error_only(data: bytes) -> None:
    with contextlib.suppress(AxdrError):
        decode_apdu(data)


_WALK = Schema(TYPES, MODULE_NAME, learn_shapes=False)
_LEARNED = Schema(TYPES, MODULE_NAME)
for _ in range(3):
    for _plaintext in _PLAINTEXTS:
        _LEARNED.decode("XDLMS-APDU", _plaintext)


def _answer(schema: Schema, data: bytes) -> tuple[str, Any]:
    try:
        return "value", schema.decode("XDLMS-APDU", data)
    except AxdrError as error:
        return "error", (str(error), error.offset, error.path)


@fuzz
@given(damaged(_PLAINTEXTS))
def test_learned_layouts_answer_as_the_walk(data: bytes) -> None:
    """A schema that learned the pushes' layouts gives the walk's value or error."""
    assert _LEARNED.shape_books["Data"].shapes
    assert _answer(_LEARNED, data) == _answer(_WALK, data)


def _notification(tree: tuple[str, Any], plans: ReadingsPlans | None = None) -> tuple[str, Any]:
    try:
        found = notification_from_apdu(tree, plans=plans)
    except CosemError as error:
        return "error", str(error)
    return "notification", (found, [str(reading.value) for reading in found.readings])


@fuzz
@given(damaged(_PLAINTEXTS))
def test_learned_plans_read_as_the_walk(data: bytes) -> None:
    """Readings through the plans learned from the pushes equal the walk's, whatever the bytes."""
    plans = ReadingsPlans()
    # A learner that met a new layout skips the next push before it studies again.
    for _ in range(3):
        for plaintext in _PLAINTEXTS:
            notification_from_apdu(decode_apdu(plaintext), plans=plans)
    assert plans.items
    try:
        tree = decode_apdu(data)
    except AxdrError:
        return
    learned = _notification(tree, plans)
    assert _notification(tree) == learned


@fuzz
@given(data_values(), st.binary(max_size=13), st.sampled_from(["data-notification", "get"]))
def test_readings_from_any_data_raise_cosem_error_only(
    value: tuple[str, Any], date_time: bytes, kind: str
) -> None:
    if kind == "data-notification":
        tree: tuple[str, Any] = (
            "data-notification",
            {
                "long-invoke-id-and-priority": 1,
                "date-time": date_time,
                "notification-body": {"data-value": value},
            },
        )
    else:
        tree = (
            "get-response",
            ("get-response-normal", {"invoke-id-and-priority": 1, "result": ("data", value)}),
        )
    with contextlib.suppress(CosemError):
        assert isinstance(notification_from_apdu(tree), Notification)


@fuzz
@given(damaged(_PLAINTEXTS))
def test_readings_from_any_decodable_apdu_raise_cosem_error_only(data: bytes) -> None:
    try:
        tree = decode_apdu(data)
    except AxdrError:
        return
    with contextlib.suppress(CosemError):
        notification_from_apdu(tree, data)


# -- the whole pipeline ----------------------------------------------------------------


@fuzz
@given(
    _streams(_MBUS + _HDLC + _PLAINTEXTS),
    st.integers(0, 2**32),
    st.sampled_from(["auto", "mbus", "hdlc", "raw"]),
)
def test_stream_decoder_returns_results_and_errors_only(data: bytes, seed: int, layer: Any) -> None:
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY, layer=layer, system_title=TITLE)
    results: list[Any] = []
    for piece in _chunked(data, seed):
        results += decoder.feed(piece)
    results += decoder.flush()
    for result in results:
        assert isinstance(result, Notification | CipheredApdu | CosemReaderError)


def test_stream_decoder_memory_stays_flat_on_endless_garbage() -> None:
    """Half a megabyte of garbage per layer: what the decoder holds stops growing early on."""
    rng = random.Random(3)
    garbage = [bytes(rng.randrange(256) for _ in range(512)) for _ in range(64)]
    for layer in ("auto", "mbus", "hdlc", "raw"):
        decoder = StreamDecoder(key=KEY, layer=layer)
        tracemalloc.start()
        try:
            for round_ in range(16):
                for chunk in garbage:
                    decoder.feed(chunk)
                if round_ == 3:
                    gc.collect()
                    warm = tracemalloc.get_traced_memory()[0]
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - warm
        finally:
            tracemalloc.stop()
        assert grown < 64 * 1024, (layer, grown)


def test_stream_decoder_decodes_every_intact_push_among_garbage() -> None:
    """The fuzz inputs are not vacuous: intact pushes between garbage all come out."""
    rng = random.Random(4)
    wire = b""
    for push in _MBUS:
        wire += bytes(rng.randrange(256) for _ in range(100)).replace(b"\x68", b"\x00") + push
    # Pushes 100, 101 and 103 carry no tag: with the authentication key they count
    # only when authentication is not required.
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY, require_authentication=False)
    results: list[Any] = []
    for piece in _chunked(wire, 5):
        results += decoder.feed(piece)
    results += decoder.flush()
    notifications = [result for result in results if isinstance(result, Notification)]
    assert [n.frame_counter for n in notifications] == [100, 101, 102, 103]
