"""HDLC link layer: CRC, frames, the stream reader and the APDU joiner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.errors import CosemReaderError, FrameError, SegmentError
from cosem_reader.link.hdlc import (
    MAX_FRAME_LENGTH,
    HdlcFrame,
    HdlcFrameReader,
    crc16_x25,
    llc_header_length,
    parse_hdlc_frame,
)
from cosem_reader.transport.block_transfer import BlockTransferJoiner
from tests.support.hdlc_frames import (
    build_hdlc_frame,
    join_apdus,
    join_frames,
    split_into_information_fields,
)
from tests.support.vectors import vector_params

FRAMING = re.compile(
    r"(?P<frames>\d+) HDLC frame\(s\), HCS/FCS OK"
    r"(?:, (?:(?P<segmented>segmented)|general-block-transfer (?P<blocks>\d+) blocks))?$"
)


def is_hdlc(vector: dict[str, Any]) -> bool:
    return bool(vector["link_layer"] == "hdlc")


def crc16_x25_bitwise(data: bytes) -> int:
    """The CRC written out bit by bit from its definition, to check the fast one against."""
    register = 0xFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ 0x8408 if register & 1 else register >> 1
    return register ^ 0xFFFF


def read_frames(
    wire: bytes, chunk_sizes: list[int] | None = None
) -> tuple[list[HdlcFrame | FrameError], int]:
    """Everything the reader reports for ``wire`` fed in chunks, and its largest buffer."""
    reader = HdlcFrameReader()
    items: list[HdlcFrame | FrameError] = []
    largest = 0
    pos = 0
    sizes = iter(chunk_sizes or [len(wire) or 1])
    while pos < len(wire):
        size = next(sizes, len(wire))
        items += reader.feed(wire[pos : pos + size])
        largest = max(largest, reader.buffered)
        pos += size
    items += reader.flush()
    assert reader.buffered == 0
    return items, largest


def comparable(items: list[Any]) -> list[Any]:
    """Errors compare by class, offset and text; frames and bytes by value."""
    return [
        (type(i).__name__, i.offset, str(i)) if isinstance(i, CosemReaderError) else i
        for i in items
    ]


@dataclass
class Decoded:
    frames: list[HdlcFrame]
    frame_errors: list[FrameError]
    apdus: list[bytes]
    segment_errors: list[SegmentError]


def decode(wire: bytes, chunk_sizes: list[int] | None = None) -> Decoded:
    """Wire bytes through reader, HDLC joiner and block-transfer joiner."""
    items, _ = read_frames(wire, chunk_sizes)
    blocks = BlockTransferJoiner()
    out: list[bytes | SegmentError] = []
    for item in join_apdus(items):
        out += blocks.push(item) if isinstance(item, bytes) else [item]
    out += blocks.flush()
    return Decoded(
        frames=[i for i in items if isinstance(i, HdlcFrame)],
        frame_errors=[i for i in items if isinstance(i, FrameError)],
        apdus=[i for i in out if isinstance(i, bytes)],
        segment_errors=[i for i in out if isinstance(i, SegmentError)],
    )


# --- real meter vectors -------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(is_hdlc))
def test_vector_frames_and_apdu(vector: dict[str, Any]) -> None:
    """Each HDLC capture gives the frames its check names, all intact, and one whole APDU."""
    wire = bytes.fromhex(vector["hex"])
    check = vector["check"]
    framing = FRAMING.match(check["framing"])
    assert framing, f"unknown framing text {check['framing']!r}"
    decoded = decode(wire)

    assert decoded.frame_errors == []
    assert len(decoded.frames) == int(framing["frames"])
    segmented = [frame.segmented for frame in decoded.frames]
    if framing["segmented"]:
        assert segmented[0]
        assert not segmented[-1]
    else:
        assert not any(segmented)
    blocks = framing["blocks"]
    if blocks is None:
        assert decoded.segment_errors == []
    else:
        # More frames than blocks: an interrupted transfer came first and must be dropped.
        interrupted = len(decoded.frames) > int(blocks)
        assert len(decoded.segment_errors) == int(interrupted)
    assert len(decoded.apdus) == 1
    apdu = decoded.apdus[0]
    assert apdu.startswith(bytes.fromhex(check["apdu_first_bytes"]))
    if check.get("ciphertext_complete"):
        # general-glo-ciphering: DB 08 <system title> <A-XDR length> covers the rest exactly.
        assert apdu[:2] == b"\xdb\x08"
        length, start = apdu[10], 11
        if length & 0x80:
            size = length & 0x7F
            length, start = int.from_bytes(apdu[11 : 11 + size], "big"), 11 + size
        assert len(apdu) == start + length


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(is_hdlc))
def test_vector_any_chunking_same_result(vector: dict[str, Any]) -> None:
    """Fed byte by byte, in odd chunks or whole, the reader reports the same things."""
    wire = bytes.fromhex(vector["hex"])
    whole, _ = read_frames(wire)
    assert comparable(read_frames(wire, [1] * len(wire))[0]) == comparable(whole)
    assert comparable(read_frames(wire, [7, 1, 130, 3] * len(wire))[0]) == comparable(whole)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(is_hdlc))
def test_vector_frames_parse_alone(vector: dict[str, Any]) -> None:
    """Each frame the reader found parses alone, with and without its flags, to the same frame."""
    wire = bytes.fromhex(vector["hex"])
    items, _ = read_frames(wire)
    frames = [i for i in items if isinstance(i, HdlcFrame)]
    assert frames
    for frame in frames:
        assert frame.offset is not None
        assert wire[frame.offset] == 0x7E
        length = ((wire[frame.offset + 1] & 0x07) << 8) | wire[frame.offset + 2]
        body = wire[frame.offset + 1 : frame.offset + 1 + length]
        assert parse_hdlc_frame(body) == frame
        assert parse_hdlc_frame(b"\x7e" + body + b"\x7e") == frame
        assert frame.is_unnumbered_information or frame.is_information_frame


# --- CRC ----------------------------------------------------------------------------------


def test_crc16_x25_check_value() -> None:
    """The catalogue check value of CRC-16/X.25 over "123456789" is 0x906E."""
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(memoryview(b"123456789")) == 0x906E
    assert crc16_x25(b"") == 0x0000


@given(st.binary(max_size=300))
def test_crc16_x25_matches_bitwise_definition(data: bytes) -> None:
    """The fast CRC agrees with the bit-by-bit definition on any bytes."""
    assert crc16_x25(data) == crc16_x25_bitwise(data)


@given(
    information=st.binary(min_size=1, max_size=300),
    dst=st.sampled_from([b"\x03", b"\xce\xff", b"\x00\x02\x00\x23"]),
    src=st.sampled_from([b"\x03", b"\x41"]),
    flip=st.one_of(st.none(), st.tuples(st.integers(0), st.integers(1, 255))),
    chunk=st.integers(1, 400),
)
def test_fcs_from_the_remembered_header_is_the_crc_of_the_frame(
    information: bytes, dst: bytes, src: bytes, flip: tuple[int, int] | None, chunk: int
) -> None:
    """The reader runs only the information field through the CRC, from the register its
    header left; a frame passes exactly when the bitwise CRC of all of it is its FCS."""
    frame = bytearray(build_hdlc_frame(information, dst=dst, src=src))
    header_size = len(frame) - len(information) - 2
    if flip is not None:
        # Past the header (a changed header fails its HCS before any FCS is computed).
        frame[header_size + flip[0] % (len(frame) - header_size)] ^= flip[1]
    intact = crc16_x25_bitwise(bytes(frame[:-2])) == int.from_bytes(frame[-2:], "little")
    wire = b"\x7e" + bytes(build_hdlc_frame(b"\x01", dst=dst, src=src)) + b"\x7e"
    wire += bytes(frame) + b"\x7e"
    items, _ = read_frames(wire, [chunk] * (len(wire) // chunk + 1))
    frames = [item for item in items if isinstance(item, HdlcFrame)]
    assert [f.information for f in frames] == [b"\x01"] + ([bytes(frame[header_size:-2])]
                                                            if intact else [])
    errors = [str(item) for item in items if isinstance(item, FrameError)]
    assert bool(errors) != intact
    if not intact:
        assert "frame check sequence is" in errors[0]


# --- one frame ----------------------------------------------------------------------------


def address_bytes(size: int, value: int) -> bytes:
    """An HDLC address as sent: 7 bits per byte, LSB 1 only on the last byte."""
    groups = [(value >> (7 * (size - 1 - i))) & 0x7F for i in range(size)]
    return bytes((g << 1) | (1 if i == size - 1 else 0) for i, g in enumerate(groups))


addresses = st.builds(
    address_bytes, st.sampled_from([1, 2, 4]), st.integers(min_value=0, max_value=(1 << 28) - 1)
)
controls = st.sampled_from([0x03, 0x13, 0x10, 0x32, 0x54, 0xFE, 0x93, 0x73])


@given(
    information=st.binary(max_size=400),
    segmented=st.booleans(),
    dst=addresses,
    src=addresses,
    control=controls,
    flags=st.booleans(),
)
def test_parse_round_trip(
    information: bytes, segmented: bool, dst: bytes, src: bytes, control: int, flags: bool
) -> None:
    """A frame built from any fields parses back to the same fields."""
    raw = build_hdlc_frame(information, segmented=segmented, dst=dst, src=src, control=control)
    if flags:
        raw = b"\x7e" + raw + b"\x7e"
    frame = parse_hdlc_frame(raw)
    assert frame == HdlcFrame(segmented, dst, src, control, information)


@given(
    information=st.binary(min_size=1, max_size=200),
    dst=addresses,
    src=addresses,
    data=st.data(),
)
def test_any_changed_byte_is_caught(
    information: bytes, dst: bytes, src: bytes, data: st.DataObject
) -> None:
    """Changing any one byte of a frame makes parsing fail with a FrameError."""
    raw = bytearray(build_hdlc_frame(information, dst=dst, src=src))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(FrameError):
        parse_hdlc_frame(bytes(raw))


def test_frame_without_information() -> None:
    """A frame without information ends with its HCS and has empty information."""
    raw = build_hdlc_frame(b"", dst=b"\x03", src=b"\x21", control=0x93)
    assert len(raw) == 7
    frame = parse_hdlc_frame(raw)
    assert frame.information == b""
    assert frame.control == 0x93
    assert not frame.is_information_frame
    assert frame.receive_sequence is None


def test_control_field_meaning() -> None:
    """UI frames, I-frames with N(S)/N(R) and the poll/final bit decode from the control byte."""
    ui = HdlcFrame(False, b"\x03", b"\x21", 0x13, b"x")
    assert ui.is_unnumbered_information
    assert ui.poll_final
    assert ui.send_sequence is None
    i_frame = HdlcFrame(False, b"\x03", b"\x21", 0b1011_0100, b"x")
    assert i_frame.is_information_frame
    assert not i_frame.is_unnumbered_information
    assert i_frame.send_sequence == 2
    assert i_frame.receive_sequence == 5
    assert i_frame.poll_final


GOOD = build_hdlc_frame(b"\xe6\xe7\x00\x0f\x01\x02", dst=b"\x02\x23", src=b"\x41")


def with_length(frame: bytes, length: int) -> bytes:
    """``frame`` with another length in its format field and the HCS made to match."""
    head = bytes([frame[0] & 0xF8 | length >> 8, length & 0xFF]) + frame[2:6]
    return head + crc16_x25(head).to_bytes(2, "little") + frame[8:]


@pytest.mark.parametrize(
    ("raw", "words", "offset"),
    [
        pytest.param(b"\x50" + GOOD[1:], "format type is 0x5", 0, id="format-type"),
        pytest.param(b"\xa0\x05" + GOOD[2:], "length 5 is shorter", 1, id="length-too-small"),
        pytest.param(
            with_length(GOOD, len(GOOD) - 1), "1 bytes follow", len(GOOD) - 1, id="length-short"
        ),
        pytest.param(
            with_length(GOOD, len(GOOD) + 1), "length says 17", len(GOOD), id="length-long"
        ),
        pytest.param(with_length(GOOD, 9), "does not fit its 8-byte header", 1, id="length-no-fcs"),
        pytest.param(GOOD[:6] + b"\x00" + GOOD[7:], "header check sequence", 6, id="hcs"),
        pytest.param(
            GOOD[:-1] + bytes([GOOD[-1] ^ 1]), "frame check sequence", len(GOOD) - 2, id="fcs"
        ),
        pytest.param(GOOD + b"\x00", "1 bytes follow", len(GOOD), id="trailing"),
        pytest.param(GOOD[:2], "cut short", 2, id="header-cut"),
        pytest.param(GOOD[:-3], "cut short", len(GOOD) - 3, id="body-cut"),
    ],
)
def test_parse_errors_name_the_problem(raw: bytes, words: str, offset: int | None) -> None:
    """Each kind of damage raises a FrameError that says what is wrong and where."""
    with pytest.raises(FrameError, match=words) as caught:
        parse_hdlc_frame(raw)
    if offset is not None:
        assert caught.value.offset == offset


def frame_with_raw_addresses(address_part: bytes) -> bytes:
    """A frame with arbitrary address bytes (for address errors) and a correct HCS."""
    length = 2 + len(address_part) + 1 + 2
    head = bytes([0xA0, length]) + address_part + b"\x13"
    return head + crc16_x25(head).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("address_part", "words"),
    [
        pytest.param(b"\x02\x04\x06\x08\x0a\x21", "does not end within 4 bytes", id="five-bytes"),
        pytest.param(b"\x02\x04\x07\x21", "has 3 bytes", id="three-bytes"),
        pytest.param(b"\x03\x02\x04\x07", "source address has 3 bytes", id="source-three"),
    ],
)
def test_parse_address_errors(address_part: bytes, words: str) -> None:
    """Addresses must end (LSB 1) after 1, 2 or 4 bytes."""
    with pytest.raises(FrameError, match=words):
        parse_hdlc_frame(frame_with_raw_addresses(address_part))


def test_address_running_past_length() -> None:
    """An address that never ends inside the claimed length is a length/address error."""
    with pytest.raises(FrameError, match="source address runs past the frame length 7"):
        parse_hdlc_frame(b"\xa0\x07\x02\x04\x06\x09\x02\x04\x13\x00\x00")


# --- the stream reader --------------------------------------------------------------------


def test_reader_shared_and_separate_flags() -> None:
    """Frames come out whether they share a flag (7E f 7E f 7E) or not (7E f 7E 7E f 7E)."""
    frames = [build_hdlc_frame(bytes([n]) * 5) for n in range(3)]
    for shared in (False, True):
        items, _ = read_frames(join_frames(frames, shared_flags=shared))
        assert [i.information for i in items if isinstance(i, HdlcFrame)] == [
            bytes([n]) * 5 for n in range(3)
        ]
        assert not any(isinstance(i, FrameError) for i in items)


def test_reader_emits_frame_on_its_last_byte() -> None:
    """A frame comes out with its last FCS byte, before its closing flag arrives."""
    raw = b"\x7e" + build_hdlc_frame(b"\xe6\xe7\x00\x0f")
    reader = HdlcFrameReader()
    assert reader.feed(raw[:-1]) == []
    (frame,) = reader.feed(raw[-1:])
    assert isinstance(frame, HdlcFrame)
    assert frame.offset == 0
    assert reader.feed(b"\x7e") == []
    assert reader.flush() == []


def test_reader_reports_garbage_once_with_stream_offset() -> None:
    """Garbage before a frame is one FrameError at the garbage's first byte, however fed."""
    wire = (
        b"\x7e"
        + build_hdlc_frame(b"a" * 10)
        + b"\x7e"
        + b"\x01\x02\x03\x04"
        + (b"\x7e" + build_hdlc_frame(b"b" * 10) + b"\x7e")
    )
    for chunks in (None, [1] * len(wire), [3, 20, 2] * 10):
        items, _ = read_frames(wire, chunks)
        assert [type(i) for i in items] == [HdlcFrame, FrameError, HdlcFrame]
        error = items[1]
        assert isinstance(error, FrameError)
        assert error.offset == len(build_hdlc_frame(b"a" * 10)) + 2
        assert "skipped 4 stray bytes" in str(error)


@pytest.mark.parametrize("closing_flag", [b"\x7e", b""])
def test_reader_names_stray_bytes_after_a_frame(closing_flag: bytes) -> None:
    """A few bytes after the last frame (some adapters add them): one error that says the
    frame before them is intact, not that the meter may not speak HDLC, however fed."""
    frame = b"\x7e" + build_hdlc_frame(b"a" * 10) + closing_flag
    for chunks in (None, [1] * 40, [len(frame) - 1, 2, 1]):
        items, _ = read_frames(frame + b"\x00\x12\x34", chunks)
        assert [type(i) for i in items] == [HdlcFrame, FrameError]
        assert str(items[1]) == (
            f"skipped 3 stray bytes after an HDLC frame (at byte {len(frame)});"
            " the frame before them is intact"
        )
    # Noise that does not follow a frame keeps the hint about the serial settings.
    items, _ = read_frames(b"\x00\x12\x34" + frame)
    assert "check that the meter speaks HDLC" in str(items[0])


def test_llc_header_length() -> None:
    """The LLC header of a push or a command, and nothing that merely starts like one."""
    assert llc_header_length(b"\xe6\xe7\x00\x0f") == 3
    assert llc_header_length(bytearray(b"\xe6\xe6\x00")) == 3
    assert llc_header_length(b"\xe6\xe7\x01\x0f") == 0
    assert llc_header_length(b"\xe6\xe7") == 0


def test_reader_recovers_the_frame_after_a_truncated_one() -> None:
    """A frame cut short does not take the next frame with it."""
    first = build_hdlc_frame(b"\xe6\xe7\x00" + bytes(range(100)))
    second = build_hdlc_frame(b"\xe6\xe7\x00" + b"second")
    wire = b"\x7e" + first[:40] + b"\x7e" + second + b"\x7e"
    items, _ = read_frames(wire)
    assert isinstance(items[0], FrameError)
    assert items[0].offset == 0
    frames = [i for i in items if isinstance(i, HdlcFrame)]
    assert [f.information for f in frames] == [b"\xe6\xe7\x00second"]
    assert frames[0].offset == 41


def test_reader_searches_inside_a_start_that_passed_its_hcs() -> None:
    """A false start whose header checks out claims 2047 bytes; frames inside are still found."""
    head = b"\xa7\xff\x03\x21\x13"
    false_start = b"\x7e" + head + crc16_x25(head).to_bytes(2, "little")
    frames = [build_hdlc_frame(bytes([n]) * 50) for n in range(5)]
    wire = false_start + join_frames(frames) + bytes(2100)
    items, largest = read_frames(wire, [1] * len(wire))
    assert isinstance(items[0], FrameError)
    assert "frame check sequence" in str(items[0])
    assert [i.information for i in items if isinstance(i, HdlcFrame)] == [
        bytes([n]) * 50 for n in range(5)
    ]
    assert largest <= 1 + MAX_FRAME_LENGTH
    # The same at the end of the stream: flush reports the cut-short start, then the frames.
    items, _ = read_frames(false_start + join_frames(frames))
    assert "cut short" in str(items[0])
    assert len([i for i in items if isinstance(i, HdlcFrame)]) == 5


def test_reader_buffer_stays_bounded_on_endless_garbage() -> None:
    """Endless garbage, even full of false frame starts, keeps at most one frame's bytes."""
    reader = HdlcFrameReader()
    errors = 0
    for n in range(3000):
        chunk = b"\x7e\xa7\xff" + bytes([n % 256]) * 29 if n % 3 else bytes([n % 256]) * 64
        items = reader.feed(chunk)
        assert all(isinstance(i, FrameError) for i in items)
        errors += len(items)
        assert reader.buffered <= 1 + MAX_FRAME_LENGTH
    assert errors > 0


def test_reader_frame_errors_name_hcs_and_fcs() -> None:
    """A damaged header or body is reported as such, at the damaged frame's offset."""
    good = build_hdlc_frame(b"\xe6\xe7\x00payload")
    bad_hcs = bytearray(good)
    bad_hcs[6] ^= 0xFF
    bad_fcs = bytearray(good)
    bad_fcs[-4] ^= 0x01
    wire = join_frames([bytes(bad_hcs), bytes(bad_fcs), good], shared_flags=True)
    items, _ = read_frames(wire)
    assert [type(i) for i in items] == [FrameError, FrameError, HdlcFrame]
    assert "header check sequence" in str(items[0])
    assert "frame check sequence" in str(items[1])
    assert items[1].offset == len(good) + 1
    assert items[2].offset == 2 * (len(good) + 1)


def test_reader_offsets_continue_across_flush() -> None:
    """Offsets count from the start of the whole stream, also after a flush."""
    frame = b"\x7e" + build_hdlc_frame(b"abc") + b"\x7e"
    reader = HdlcFrameReader()
    (first,) = reader.feed(frame)
    assert reader.flush() == []
    (second,) = reader.feed(frame)
    assert isinstance(first, HdlcFrame)
    assert isinstance(second, HdlcFrame)
    assert (first.offset, second.offset) == (0, len(frame))


# --- streams with damage ------------------------------------------------------------------

DISTURBANCES = ["none", "garbage-before", "corrupt", "truncate", "garbage-inside"]


@st.composite
def damaged_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes], list[int]]:
    """Wire bytes for a few APDUs, some disturbed; the intact APDUs; chunk sizes."""
    units: list[bytes] = []
    intact: list[bytes] = []
    garbage = st.binary(min_size=1, max_size=40).filter(lambda g: g.strip(b"\x7e") != b"")
    for _ in range(draw(st.integers(1, 5))):
        size = draw(st.integers(1, 600))
        apdu = draw(st.binary(min_size=size, max_size=size).filter(lambda a: a[0] != 0xE0))
        fields = split_into_information_fields(apdu, draw(st.sampled_from([8, 50, 128, 300])))
        dst, src, control = draw(addresses), draw(addresses), draw(controls)
        frames = [
            build_hdlc_frame(f, segmented=i < len(fields) - 1, dst=dst, src=src, control=control)
            for i, f in enumerate(fields)
        ]
        disturbance = draw(st.sampled_from(DISTURBANCES))
        if disturbance == "garbage-before":
            units.append(draw(garbage))
        elif disturbance in ("corrupt", "truncate"):
            k = draw(st.integers(0, len(frames) - 1))
            frame = bytearray(frames[k])
            if disturbance == "corrupt":
                frame[draw(st.integers(0, len(frame) - 1))] ^= draw(st.integers(1, 255))
            else:
                del frame[draw(st.integers(1, len(frame) - 1)) :]
            frames[k] = bytes(frame)
        elif disturbance == "garbage-inside" and len(frames) > 1:
            frames.insert(draw(st.integers(1, len(frames) - 1)), draw(garbage))
        else:
            disturbance = "none"
        units += frames
        if disturbance in ("none", "garbage-before"):
            intact.append(apdu)
    wire = join_frames(units, shared_flags=draw(st.booleans()))
    chunks = draw(st.lists(st.integers(1, 300), min_size=1, max_size=50))
    return wire, intact, chunks


@given(damaged_streams())
def test_damaged_stream_yields_every_intact_apdu_once(
    stream: tuple[bytes, list[bytes], list[int]],
) -> None:
    """Garbage, truncated and corrupted frames cost only their own APDU, whatever the chunking."""
    wire, intact, chunks = stream
    items, largest = read_frames(wire, chunks)
    assert largest <= 1 + MAX_FRAME_LENGTH
    out = join_apdus(items)
    assert [o for o in out if isinstance(o, bytes)] == intact
    whole, _ = read_frames(wire)
    assert comparable(items) == comparable(whole)
    offsets = [i.offset for i in items if i.offset is not None]
    assert offsets == sorted(offsets)
