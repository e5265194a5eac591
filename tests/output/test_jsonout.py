"""The JSON writer: the C encoder and the per-register texts write what the old walk wrote.

Held to the old writer's text (tests/support/legacy_json.py) on every shared vector, on
the project's own captures and on what hypothesis makes, and to ``json.loads``.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.app.cli import main
from cosem_reader.axdr.schema import BitString
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import SCALE_FROM_PUSH, Notification, Reading
from cosem_reader.output import jsonout
from cosem_reader.output.jsonout import dumps, notification_json, notification_to_dict
from cosem_reader.pipeline.decoder import decode_capture
from tests.support.encoder import (
    cosem_date_time,
    data_notification,
    flat_body,
    kaifa_series,
)
from tests.support.legacy_json import legacy_dumps
from tests.support.strategies import READING_VALUES_BY_KIND, reading_values
from tests.support.vectors import decode_vector, vector_layer, vector_params


def _legacy(notification: Notification, language: str = "en", template: str | None = None) -> str:
    return legacy_dumps(notification_to_dict(notification, language, template))


@pytest.mark.parametrize("vector", vector_params())
def test_every_vector_is_written_as_before(vector: dict[str, Any]) -> None:
    notifications = [r for r in decode_vector(vector) if isinstance(r, Notification)]
    for notification in notifications:
        for language, template in (("en", None), ("de", "[measurement] [tariff]")):
            before = _legacy(notification, language, template)
            # Twice: the second time the texts around the values come from the cache.
            for _ in range(2):
                assert notification_json(notification, language, template) == before
            assert dumps(notification_to_dict(notification, language, template)) == before
            assert json.loads(notification_json(notification, language, template)) == json.loads(
                before
            )


@pytest.mark.parametrize("vector", vector_params())
def test_decode_prints_every_vector_as_before(
    vector: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printing of ``cosem-reader decode --format json``, line by line."""
    capture = tmp_path / "capture.bin"
    capture.write_bytes(bytes.fromhex(vector["hex"]))
    arguments = ["decode", str(capture), "--layer", vector_layer(vector)]
    arguments += ["--timezone", "Europe/Vienna"]
    for option in ("key", "auth_key"):
        if vector.get(option):
            arguments += [f"--{option.replace('_', '-')}", vector[option]]
    main(arguments)
    notifications = [r for r in decode_vector(vector) if isinstance(r, Notification)]
    lines = [line for line in capsys.readouterr().out.splitlines() if '"timestamp"' in line]
    assert lines == [_legacy(notification) for notification in notifications]


def test_a_series_of_pushes_is_written_as_before() -> None:
    """Pushes of one layout with new values each: the cached texts carry no old value."""
    start = datetime(2026, 3, 29, 1, 59, 58)
    for index, (moment, registers) in enumerate(kaifa_series(start, 6, timedelta(seconds=1))):
        body = flat_body(moment, registers, f"1KFM{index:010d}")
        apdu = data_notification(body, invoke_id=index, date_time=cosem_date_time(moment, -60))
        (notification,) = decode_capture(apdu, layer="raw")
        assert isinstance(notification, Notification)
        assert notification_json(notification) == _legacy(notification)


_KEYS = st.text(max_size=8)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(allow_nan=True),
    st.text(),
    st.binary(max_size=8),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=1))])),
    st.builds(BitString, st.binary(min_size=1, max_size=2), st.just(9)),
)
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
    ),
    max_leaves=12,
)


@given(_TREES)
def test_dumps_writes_what_the_walk_wrote(value: Any) -> None:
    assert dumps(value) == legacy_dumps(value)


def _plain(value: Any) -> Any:
    """A tree of JSON's own types, as json.loads reads dumps()'s text back."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))  # what parse_float reads back from the shortest repr
    return value


_JSON_TREES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=12,
)


@given(_JSON_TREES)
def test_dumps_reads_back_as_the_value(value: Any) -> None:
    """Exact decimals: json.loads with Decimal for numbers with a point gets the value back."""
    back = json.loads(dumps(value), parse_float=Decimal)
    assert back == _plain(value)


_CODES = st.sampled_from(
    [ObisCode.parse(code) for code in ("1-0:1.8.0", "1-0:32.7.0", "0-0:96.1.0", "1-0:1.8.0*3")]
)
_VALUES = reading_values()


@st.composite
def _readings(draw: st.DrawFn) -> Reading:
    scaler = draw(st.one_of(st.none(), st.integers(-4, 3)))
    return Reading(
        obis=draw(st.one_of(st.none(), _CODES)),
        position=draw(st.sampled_from(["0", "1", "2.1", "37"])),
        value=draw(_VALUES),
        unit=draw(st.sampled_from([None, "V", "Wh", "m³"])),
        scaler=scaler,
        data_type=draw(st.sampled_from(["double-long-unsigned", "enum", "octet-string"])),
        scale_origin=draw(st.sampled_from([None, SCALE_FROM_PUSH, "a profile"])),
    )


_NOTIFICATIONS = st.builds(
    Notification,
    apdu_type=st.just("data-notification"),
    invoke_id=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    timestamp=st.one_of(st.none(), st.datetimes(timezones=st.sampled_from([None, UTC]))),
    readings=st.lists(_readings(), max_size=6).map(tuple),
    system_title=st.one_of(st.none(), st.binary(min_size=8, max_size=8)),
    frame_counter=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)


@given(_NOTIFICATIONS, st.sampled_from([("en", None), ("de", None), ("en", "[measurement]")]))
def test_random_notifications_are_written_as_before(
    notification: Notification, naming: tuple[str, str | None]
) -> None:
    """Codes twice, readings without code, every kind of value, in any mix."""
    language, template = naming
    before = _legacy(notification, language, template)
    for _ in range(2):
        assert notification_json(notification, language, template) == before


@st.composite
def _pushes_of_one_layout(draw: st.DrawFn) -> list[Notification]:
    """Pushes whose readings keep code, unit, scaler and kind of value; the values change,
    and the last push may change one unit."""
    layout = draw(st.lists(_readings(), max_size=8).map(tuple))
    pushes = []
    for counter in range(draw(st.integers(3, 6))):
        readings = tuple(
            replace(reading, value=draw(READING_VALUES_BY_KIND[type(reading.value)]))
            for reading in layout
        )
        pushes.append(
            Notification("data-notification", counter, None, readings, frame_counter=counter)
        )
    if draw(st.booleans()) and layout:
        changed = (replace(pushes[-1].readings[0], unit="kW"), *pushes[-1].readings[1:])
        pushes.append(replace(pushes[-1], readings=changed))
    return pushes


@given(_pushes_of_one_layout(), st.sampled_from([("en", None), ("de", "[measurement] %")]))
def test_pushes_of_one_layout_are_written_as_before(
    pushes: list[Notification], naming: tuple[str, str | None]
) -> None:
    """Decimals by str(), checked once per push, and the time stamp formatted once, against
    notification_to_dict + the old writer: exponents, NaN, -0 and texts from the cache."""
    language, template = naming
    for notification in pushes:
        assert notification_json(notification, language, template) == _legacy(
            notification, language, template
        )
    moment = datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    for notification in pushes:
        stamped = replace(notification, timestamp=moment, readings=(
            replace(pushes[0].readings[0], value=moment), *notification.readings[1:]
        ) if notification.readings else ())
        assert notification_json(stamped, language, template) == _legacy(
            stamped, language, template
        )


@given(_NOTIFICATIONS, st.text(min_size=1, max_size=8))
def test_the_daemon_s_lines_name_the_meter_first(notification: Notification, meter: str) -> None:
    body = notification_to_dict(notification)
    assert notification_json(notification, meter=meter) == legacy_dumps({"meter": meter, **body})


def test_the_texts_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layouts that never repeat (a new code object each push) cannot grow the cache."""
    monkeypatch.setattr(jsonout, "_PARTS_LIMIT", 8)
    for index in range(50):
        reading = Reading(ObisCode(1, 0, 1, 8, index), "1", index, None, None, "long")
        notification = Notification("data-notification", None, None, (reading,))
        assert notification_json(notification) == _legacy(notification)
        assert len(jsonout._PARTS[("en", None, " -,")]) <= 9
