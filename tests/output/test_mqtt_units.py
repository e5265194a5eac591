"""The MQTT output's units without a broker: their size, and what each decides alone."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cosem_reader.output.mqtt as mqtt_package
from cosem_reader.cosem.readings import Notification
from cosem_reader.output.homeassistant import DiscoveryGate, device_info, discovery_messages
from cosem_reader.output.jsonout import dumps
from cosem_reader.output.mqtt import discovery
from cosem_reader.output.mqtt.delivery import WINDOW, Delivery
from cosem_reader.output.mqtt.discovery import DiscoveryBook, is_birth
from cosem_reader.output.mqtt.payloads import reading_messages
from cosem_reader.output.mqtt.settings import MqttSettings
from tests.support.publishing import push

# The limits of issue 11: no module over ~500 lines, no class over ~250, no function over ~60.
_LIMITS = {ast.Module: 500, ast.ClassDef: 250, ast.FunctionDef: 60}


def _sizes() -> list[tuple[str, str, int, int]]:
    root = Path(mqtt_package.__file__)
    files = sorted(root.parent.glob("*.py")) if root.name == "__init__.py" else [root]
    sizes = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        sizes.append((path.name, "module", lines, _LIMITS[ast.Module]))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef):
                assert node.end_lineno is not None
                limit = _LIMITS[type(node)]
                sizes.append((path.name, node.name, node.end_lineno - node.lineno + 1, limit))
    return sizes


def test_every_unit_is_small() -> None:
    too_large = [size for size in _sizes() if size[2] > size[3]]
    assert too_large == []


def test_discovery_is_sent_again_with_the_last_state_unless_retained() -> None:
    settings = MqttSettings(enabled=True)
    book = DiscoveryBook(settings)
    prefix = "cosem-reader/m"
    assert book.new_messages(push(1), "m", prefix) == []
    announced = book.new_messages(push(2), "m", prefix)
    assert announced
    assert {m.kind for m in announced} == {"discovery"}
    assert [(m.topic, m.payload) for m in book.announced()] == [
        (m.topic, m.payload) for m in announced
    ]
    messages = reading_messages(push(3), settings, prefix)
    book.queued(messages)
    again = book.for_birth()
    assert [m.topic for m in again[:-1]] == [m.topic for m in announced]
    assert again[-1].topic == f"{prefix}/state"
    assert again[-1].kind == "resend"
    retained = DiscoveryBook(MqttSettings(enabled=True, retain=True))
    retained.queued(messages)
    assert retained.for_birth() == []


@pytest.mark.parametrize(
    ("retain", "payload", "birth"),
    [(False, b"online", True), (False, b" online\n", True), (True, b"online", False),
     (False, b"offline", False)],
)  # fmt: skip
def test_only_a_live_online_is_a_birth(retain: bool, payload: bytes, birth: bool) -> None:
    assert is_birth(retain, payload) is birth


@pytest.mark.parametrize(("receive_maximum", "window"), [(None, WINDOW), (10, 10), (1000, WINDOW)])
def test_a_reconnect_takes_the_brokers_receive_maximum(
    receive_maximum: int | None, window: int
) -> None:
    delivery = Delivery(MqttSettings(enabled=True))
    delivery.reconnected(receive_maximum, [])
    assert delivery.outbox.window == window


def test_a_batch_handed_over_in_part_goes_on_in_order() -> None:
    """paho took two messages, never can send one, refused the rest: those go first again."""
    delivery = Delivery(MqttSettings(enabled=True))
    messages = reading_messages(push(), MqttSettings(enabled=True), "cosem-reader/m")[:6]
    delivery.enqueue(messages, connected=True)
    batch = list(iter(delivery.outbox.take, None))
    assert batch == messages
    taken, never, refused = batch[:2], batch[2], batch[3:]
    assert delivery.handed_over([(taken[0], 1), (taken[1], 2), (never, None)], refused) == []
    assert list(delivery.outbox.unsent()) == refused
    assert delivery.outbox.in_flight == 2
    assert delivery.outbox.acknowledged(1) == []
    assert delivery.outbox.acknowledged(2) == []
    again = list(iter(delivery.outbox.take, None))
    assert again == refused
    done = delivery.handed_over([(message, 3 + n) for n, message in enumerate(again)], [])
    assert done == []
    assert [delivery.outbox.acknowledged(3 + n) for n in range(len(again))][-1] == [1]


@settings(max_examples=40, deadline=None)
@given(layouts=st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_discovery_makes_the_configs_of_new_codes_only(layouts: list[int]) -> None:
    """The configs of making every confirmed code's config and dropping the topics known,
    each code's config made once."""
    made: list[int] = []

    def counting(notification: Notification, **options: Any) -> list[tuple[str, dict[str, Any]]]:
        made.append(len(notification.readings))
        return discovery_messages(notification, **options)

    pushes = [
        replace(push(energy), readings=push(energy).readings[layout:])
        for energy, layout in enumerate(layouts)
    ]
    book, gate = DiscoveryBook(MqttSettings(enabled=True)), DiscoveryGate()
    expected: dict[str, bytes] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(discovery, "discovery_messages", counting)
        for notification in pushes:
            confirmed = gate.confirm(notification)
            for topic, payload in discovery_messages(
                replace(
                    notification,
                    readings=tuple(r for r in notification.readings if r.obis in confirmed),
                ),
                meter_id="m",
                state_topic="cosem-reader/m/state",
                availability_topic="cosem-reader/m/availability",
                device=device_info("m", pushes[0]),
            ):
                expected.setdefault(topic, dumps(payload).encode())
            book.new_messages(notification, "m", "cosem-reader/m")
            assert book.configs == expected
    assert sum(made) == len(book.configs)
