"""The shortcuts the decode path takes for speed behave exactly like the long way round.

Each test pins one of them: caches stay bounded and return equal objects, the
recursive A-XDR type is patched rather than trampolined, the notification copy in
the pipeline carries every field, the date-time memo never hides a time zone, and
the M-Bus reader's "rest of the frame" shortcut still lets a frame inside win.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu import decode_data, schema
from cosem_reader.axdr.descriptors import Alternative, Choice, Null, Reference, SequenceOf
from cosem_reader.axdr.schema import Schema
from cosem_reader.cosem import date_time as date_time_module
from cosem_reader.cosem import obis as obis_module
from cosem_reader.cosem import obis_code as obis_code_module
from cosem_reader.cosem import readings as readings_module
from cosem_reader.cosem import walk as walk_module
from cosem_reader.cosem.obis import ObisCode, describe
from cosem_reader.cosem.readings import Notification, Reading, decode_cosem_date_time
from cosem_reader.link.mbus import LongFrame, LongFrameReader
from cosem_reader.pipeline.decoder import decode_capture
from cosem_reader.security.ciphering import CipheredApdu, Deciphered
from tests.support.encoder import cosem_date_time, encode_data
from tests.support.mbus_telegrams import long_frame
from tests.support.vectors import vector_params

# -- frozen_constructor ----------------------------------------------------------------


@pytest.mark.parametrize("cls", [Reading, Notification, LongFrame, CipheredApdu, Deciphered])
def test_frozen_constructor_builds_the_same_object_as_the_class(cls: type[Any]) -> None:
    """Same fields, equal, same hash and repr, still frozen."""
    values = [f"value-{index}" for index, _ in enumerate(dataclasses.fields(cls))]
    fast = frozen_constructor(cls)(*values)
    slow = cls(*values)
    assert type(fast) is cls
    assert fast == slow
    assert repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__(dataclasses.fields(cls)[0].name, "changed")


@dataclasses.dataclass(frozen=True, slots=True)
class _Base:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Derived(_Base):
    b: int


def test_frozen_constructor_of_a_class_with_a_slotted_base_sets_the_slots_itself() -> None:
    """No twin has the layout of a class whose base has slots: the descriptors set them."""
    fast = frozen_constructor(_Derived)(1, 2)
    assert type(fast) is _Derived
    assert fast == _Derived(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__("b", 3)


def test_frozen_constructor_refuses_classes_it_would_get_wrong() -> None:
    """A class without slots, or with a __post_init__ (ObisCode validates), is refused."""

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int

    with pytest.raises(TypeError, match="slotted"):
        frozen_constructor(Unslotted)
    with pytest.raises(TypeError, match="__post_init__"):
        frozen_constructor(ObisCode)


def test_notification_fields_are_the_ones_the_pipeline_copies() -> None:
    """pipeline.StreamDecoder._decode lists Notification's fields in this order."""
    assert [field.name for field in dataclasses.fields(Notification)] == [
        "apdu_type",
        "invoke_id",
        "timestamp",
        "readings",
        "apdu",
        "tree",
        "system_title",
        "frame_counter",
        "security_control",
        "tag_verified",
    ]


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: v["verified"] is True))
def test_deciphered_notification_carries_the_security_header(vector: dict[str, Any]) -> None:
    """What the pipeline copies equals dataclasses.replace() of the inner notification."""
    key = bytes.fromhex(vector["key"])
    auth_key = bytes.fromhex(vector["auth_key"]) if vector["auth_key"] else None
    found = [
        result
        for result in decode_capture(bytes.fromhex(vector["hex"]), key=key, auth_key=auth_key)
        if isinstance(result, Notification)
    ]
    assert found
    for notification in found:
        assert notification.system_title is not None
        assert notification.frame_counter is not None
        assert notification.security_control is not None
        plain = dataclasses.replace(
            notification,
            system_title=None,
            frame_counter=None,
            security_control=None,
            tag_verified=None,
        )
        assert dataclasses.replace(
            plain,
            system_title=notification.system_title,
            frame_counter=notification.frame_counter,
            security_control=notification.security_control,
            tag_verified=notification.tag_verified,
        ) == notification


# -- OBIS caches -----------------------------------------------------------------------


@given(st.binary(min_size=6, max_size=6))
def test_obis_from_bytes_cached_or_not_is_the_same_code(raw: bytes) -> None:
    """Cached codes equal freshly built ones, whatever buffer type they come from."""
    fresh = ObisCode(*raw)
    assert ObisCode.from_bytes(raw) == fresh
    assert ObisCode.from_bytes(memoryview(raw)) == fresh
    assert ObisCode.from_bytes(bytearray(raw)) == fresh
    assert describe(ObisCode.from_bytes(raw)) == obis_module._describe(fresh)


def test_obis_caches_stay_bounded() -> None:
    """Garbage that looks like 70,000 different OBIS codes does not grow the caches."""
    for number in range(70_000):
        code = ObisCode.from_bytes(b"\x01\x00" + number.to_bytes(4, "big"))
        describe(code)
    assert len(obis_code_module._FROM_BYTES) <= obis_code_module._FROM_BYTES_LIMIT
    assert len(obis_module._DESCRIBED) <= obis_module._DESCRIBED_LIMIT
    assert ObisCode.from_bytes(b"\x01\x00\x00\x01\x11\x70") == ObisCode(1, 0, 0, 1, 17, 112)


def test_obis_validation_still_rejects_what_is_no_byte() -> None:
    """The fast path of __post_init__ leaves the errors to the full check."""
    with pytest.raises(ValueError, match="value group C"):
        ObisCode(1, 0, 256, 8, 0)
    with pytest.raises(ValueError, match="value group A"):
        ObisCode(True, 0, 1, 8, 0)


# -- A-XDR recursion -------------------------------------------------------------------


def test_recursive_types_leave_no_trampoline_behind() -> None:
    """After compiling every type, no decoder waits for a patch."""
    compiled = Schema(schema().types, "COSEMpdu")
    for name in compiled.types:
        compiled.decoder(name)
    assert compiled._forwards == {}
    assert compiled._patches == {}


def test_a_type_that_contains_itself_decodes_at_any_depth() -> None:
    """A CHOICE whose alternative is a SEQUENCE OF itself, 200 levels deep."""
    tree = Schema(
        {
            "T": Choice(
                (
                    Alternative(0, "leaf", Null()),
                    Alternative(1, "list", SequenceOf(Reference("T"))),
                )
            )
        }
    )
    data = b"\x01\x01" * 200 + b"\x00"
    value, end = tree.decode("T", data)
    assert end == len(data)
    for _ in range(200):
        assert value[0] == "list"
        (value,) = value[1]
    assert value == ("leaf", None)


def test_deep_data_decodes_and_reports_its_path() -> None:
    """Nested structures of Data decode; an error deep inside names every level."""
    nested: tuple[str, Any] = ("long-unsigned", 7)
    for _ in range(50):
        nested = ("structure", [("unsigned", 1), nested])
    encoded = encode_data(nested)
    assert decode_data(encoded)[0] == nested
    with pytest.raises(ValueError, match=r"structure\[1\]\.structure\[1\]") as caught:
        decode_data(encoded[:-1])
    assert caught.value.args


# -- readings --------------------------------------------------------------------------


def test_date_time_memo_never_hides_the_time_zone() -> None:
    """A date-time without deviation decodes in each zone asked for, one after the other."""
    wall = datetime(2024, 7, 1, 12, 0, 0)
    unspecified = cosem_date_time(wall, deviation=None)
    vienna = decode_cosem_date_time(unspecified, ZoneInfo("Europe/Vienna"))
    new_york = decode_cosem_date_time(unspecified, ZoneInfo("America/New_York"))
    assert vienna is not None
    assert new_york is not None
    assert new_york - vienna == timedelta(hours=6)
    fixed = cosem_date_time(wall, deviation=-120)
    first = decode_cosem_date_time(fixed, ZoneInfo("America/New_York"))
    again = decode_cosem_date_time(bytes(bytearray(fixed)), None)
    assert first == again
    assert first is not None
    assert first.utcoffset() == timedelta(hours=2)


def test_date_time_memo_still_checks_the_length() -> None:
    """A wrong length raises even right after a good date-time was decoded."""
    decode_cosem_date_time(cosem_date_time(datetime(2024, 1, 1), deviation=-60))
    with pytest.raises(ValueError, match="12 bytes"):
        decode_cosem_date_time(b"\x07\xe8\x01")


@given(st.binary(max_size=20))
def test_printable_is_printable_ascii(data: bytes) -> None:
    """The translate() test is the byte-by-byte 0x20..0x7E test."""
    expected = data.decode("ascii") if data and all(0x20 <= b < 0x7F for b in data) else None
    assert walk_module._printable(data) == expected


# -- M-Bus -----------------------------------------------------------------------------


def test_frame_inside_a_frame_still_arriving_wins_in_any_chunking() -> None:
    """While the reader waits for the rest of a long frame, a valid frame inside it wins.

    The "rest of the frame" shortcut must not skip that check: the inner frame
    completes in a chunk without any new start byte.
    """
    inner = long_frame(0x53, 0xFF, 0x10, b"\x01\x67inner")
    # An outer header claiming 206 bytes, then the inner frame; the stream goes on later.
    outer_start = bytes((0x68, 200, 200, 0x68, 0x53, 0xFF, 0x00))
    arrived = outer_start + inner
    for size in (1, 3, 8, len(outer_start) + 1, 64):
        reader = LongFrameReader()
        out = []
        for at in range(0, len(arrived), size):
            out += reader.feed(arrived[at : at + size])
        frames = [item for item in out if isinstance(item, LongFrame)]
        # Out as soon as its stop byte is there, not only when the stream ends.
        assert [frame.user_data for frame in frames] == [b"\x01\x67inner"], size


def test_system_timezone_follows_tz_and_a_replaced_localtime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The zone file is read once, and again when it is replaced (a new time zone set)."""
    monkeypatch.delenv("TZ", raising=False)
    zoneinfo_dir = next(
        (path for path in ("/usr/share/zoneinfo", "/usr/lib/zoneinfo") if os.path.isdir(path)),
        None,
    )
    if zoneinfo_dir is None:
        pytest.skip("no system zoneinfo files to copy")
    localtime = tmp_path / "localtime"
    localtime.write_bytes(Path(zoneinfo_dir, "Europe", "Vienna").read_bytes())
    monkeypatch.setattr(date_time_module, "_LOCALTIME", str(localtime))
    monkeypatch.setattr(date_time_module, "_LOCALTIME_ZONE", [None])
    summer = datetime(2024, 7, 1, 12, 0)
    first = readings_module.system_timezone()
    assert first is readings_module.system_timezone()
    assert summer.replace(tzinfo=first).utcoffset() == timedelta(hours=2)
    replacement = tmp_path / "new"
    replacement.write_bytes(Path(zoneinfo_dir, "America", "New_York").read_bytes())
    replacement.replace(localtime)
    assert summer.replace(tzinfo=readings_module.system_timezone()).utcoffset() == timedelta(
        hours=-4
    )
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert summer.replace(tzinfo=readings_module.system_timezone()).utcoffset() == timedelta(
        hours=9
    )
