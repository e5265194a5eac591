"""The daemon's MQTT payloads through decode's fast JSON path (issue 14).

The state message is decode's JSON (the same schema, the same text) with its date-times
in the user's format; it, the per-value payloads and the per-value topic levels are held
to the functions as they were (tests/support/legacy_payloads.py) on every shared vector
and on notifications hypothesis makes, in every date-time format.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import SCALE_FROM_PUSH, Notification, Reading
from cosem_reader.output import jsonout
from cosem_reader.output.jsonout import notification_json
from cosem_reader.output.mqtt import payloads
from cosem_reader.output.mqtt.payloads import reading_identifier, state_payload, value_payload
from cosem_reader.output.mqtt.settings import MqttSettings, topic_level
from cosem_reader.pipeline.decoder import decode_capture
from tests.support import legacy_payloads as legacy
from tests.support.encoder import cosem_date_time, data_notification, flat_body, kaifa_series
from tests.support.publishing import push
from tests.support.strategies import reading_values
from tests.support.vectors import decode_vector, vector_params

_FORMATS = ("iso", "iso-local", "epoch", "js")


def _all_settings() -> list[MqttSettings]:
    base = MqttSettings()
    return [
        replace(base, date_time_format=form, include_unit=unit, topic_identifier=identifier)
        for form in _FORMATS
        for unit, identifier in ((False, "code"), (True, "name"))
    ] + [replace(base, language="de", name_template="[measurement]", topic_identifier="name")]


def _assert_as_before(notification: Notification, settings: MqttSettings) -> None:
    assert state_payload(notification, settings) == legacy.state_payload(notification, settings)
    for reading in notification.readings:
        assert value_payload(reading, settings) == legacy.value_payload(reading, settings)
        assert reading_identifier(reading, settings) == legacy.reading_identifier(reading, settings)


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params())
def test_every_vector_is_published_as_before(vector: dict[str, Any]) -> None:
    notifications = [r for r in decode_vector(vector) if isinstance(r, Notification)]
    if not notifications:
        pytest.skip("the vector has no notification to publish")
    for settings in _all_settings():
        for notification in notifications:
            _assert_as_before(notification, settings)


def _series(count: int) -> list[Notification]:
    """Pushes of one layout, a date-time among the values, new values each."""
    found = []
    start = datetime(2026, 3, 29, 1, 59, 58)
    for index, (moment, registers) in enumerate(kaifa_series(start, count)):
        body = flat_body(moment, registers, f"1KFM{index:010d}")
        apdu = data_notification(body, invoke_id=index, date_time=cosem_date_time(moment, -60))
        (notification,) = decode_capture(apdu, layer="raw")
        assert isinstance(notification, Notification)
        found.append(notification)
    return found


def test_the_state_message_is_decode_s_json() -> None:
    """Same schema, same text: a subscriber parses the state as it parses ``decode``'s lines."""
    for notification in _series(3):
        assert state_payload(notification, MqttSettings()) == notification_json(notification)


_CODES = st.sampled_from(
    [ObisCode.parse(code) for code in ("1-0:1.8.0", "0-0:1.0.0", "0-0:96.1.0", "1-0:1.8.0*3")]
)
_INSTANTS = st.datetimes(
    datetime(1971, 1, 1),
    datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
    ),
)
_VALUES = st.one_of(
    reading_values(_INSTANTS),
    st.text(alphabet="0123456789T:+.-", max_size=26),
    _INSTANTS.map(datetime.isoformat),  # a text that spells a date-time is rewritten as one
)


@st.composite
def _notifications(draw: st.DrawFn) -> Notification:
    moment = draw(st.one_of(st.none(), _INSTANTS))
    readings = [
        Reading(
            obis=draw(st.one_of(st.none(), _CODES)),
            position=draw(st.sampled_from(["0", "1", "2.1"])),
            value=draw(st.one_of(_VALUES, st.just(moment.isoformat() if moment else None))),
            unit=draw(st.sampled_from([None, "V", "Wh"])),
            scaler=draw(st.one_of(st.none(), st.integers(-4, 3))),
            data_type=draw(st.sampled_from(["double-long-unsigned", "enum", "octet-string"])),
            scale_origin=draw(st.sampled_from([None, SCALE_FROM_PUSH])),
        )
        for _ in range(draw(st.integers(0, 6)))
    ]
    return Notification(
        apdu_type="data-notification",
        invoke_id=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
        timestamp=moment,
        readings=tuple(readings),
        system_title=draw(st.one_of(st.none(), st.binary(min_size=8, max_size=8))),
        frame_counter=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
    )


@given(_notifications(), st.sampled_from(_all_settings()))
def test_random_notifications_are_published_as_before(
    notification: Notification, settings: MqttSettings
) -> None:
    """Codes twice, readings without code, date-times and texts that spell one, any format."""
    for _ in range(2):
        _assert_as_before(notification, settings)


def test_the_state_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dict of the whole notification per push (it cost some 25 µs of every push)."""

    def refused(*_: object, **__: object) -> dict[str, Any]:
        raise AssertionError("the state message went through notification_to_dict")

    monkeypatch.setattr(jsonout, "notification_to_dict", refused)
    monkeypatch.setattr(payloads, "notification_to_dict", refused, raising=False)
    for settings in _all_settings():
        for notification in _series(2):
            assert state_payload(notification, settings).startswith('{"timestamp": ')


def test_a_code_s_topic_level_is_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second push of the same codes sanitises no topic level again."""
    made: list[str] = []
    level = topic_level

    def counted(text: str, settings: MqttSettings) -> str:
        made.append(text)
        return level(text, settings)

    monkeypatch.setattr(payloads, "topic_level", counted)
    first, second = _series(2)
    settings = MqttSettings(invalid_character_replacement="-")  # settings of its own
    levels = [reading_identifier(r, settings) for r in first.readings if r.obis is not None]
    assert made
    made.clear()
    assert [reading_identifier(r, settings) for r in second.readings if r.obis] == levels
    assert made == []


def test_the_topic_levels_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes that never repeat cannot grow the levels kept without end."""
    monkeypatch.setattr(payloads, "_LEVELS_LIMIT", 8)
    monkeypatch.setattr(payloads, "_LEVELS", {})
    settings = MqttSettings()
    for index in range(50):
        reading = Reading(ObisCode(1, 0, 1, 8, index), "1", index, None, None, "long")
        assert reading_identifier(reading, settings) == legacy.reading_identifier(reading, settings)
        assert len(payloads._LEVELS) <= 8


def test_readings_share_their_topic_strings() -> None:
    """A queue of readings holds each topic once (the same string object), not per message."""
    settings = MqttSettings(enabled=True)
    first = payloads.reading_messages(push(1), settings, "cosem-reader/m")
    second = payloads.reading_messages(push(2), settings, "cosem-reader/m")
    assert [m.topic for m in first] == [m.topic for m in second]
    assert all(a.topic is b.topic for a, b in zip(first, second, strict=True))


def _energy(code: ObisCode, value: int) -> Notification:
    reading = Reading(code, "0", Decimal(value), "Wh", 0, "long-unsigned", value)
    return Notification("data-notification", None, None, (reading,))


def test_a_code_object_at_a_freed_ones_address_keeps_its_own_name() -> None:
    """The state of the outage test that said energy 0: text cached for a freed code object.

    notification_json kept a register's text by id() of its OBIS code without holding
    the code; once the code was freed, a new one of another register with the same unit
    (1-0:2.8.0 after 1-0:1.8.0, as push() parses them anew) could take its address and
    got the freed one's name: the daemon published 2.8.0's value as 1.8.0's.
    """
    settings = MqttSettings(enabled=True)
    for code in ("1-0:1.8.0", "1-0:2.8.0"):
        # The OBIS table's memo keeps the first object of each code it describes.
        state_payload(_energy(ObisCode.parse(code), 1), settings)
    first = ObisCode.parse("1-0:1.8.0")
    freed = id(first)
    state_payload(_energy(first, 12937), settings)
    del first
    # The allocator hands a freed object's memory to the next object of its size.
    held = []
    for _ in range(10_000):
        held.append(ObisCode.parse("1-0:2.8.0"))
        if id(held[-1]) == freed:
            break
    state = json.loads(state_payload(_energy(held[-1], 0), settings))
    assert list(state["values"]) == ["1-0:2.8.0"]


def test_each_state_carries_its_own_readings() -> None:
    """Pushes whose OBIS code objects are freed after each: no state borrows another's text.

    The JSON writer cached a register's text by id() of its code object without holding
    the object; a new code (1-0:2.8.0) taking a freed one's address (1-0:1.8.0) swapped
    two values: the outage test's last state said energy 0.
    """
    settings = MqttSettings(enabled=True, homeassistant_discovery=False)
    for energy in range(1, 300):
        messages = payloads.reading_messages(push(energy), settings, "cosem-reader/m")
        (state,) = [m.payload for m in messages if m.topic == "cosem-reader/m/state"]
        values = json.loads(state)["values"]
        assert (values["1-0:1.8.0"]["value"], values["1-0:2.8.0"]["value"]) == (energy, 0)
