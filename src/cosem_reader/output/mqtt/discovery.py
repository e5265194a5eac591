"""The publisher's Home Assistant discovery: what was announced, and sending it again.

An OBIS code is announced once two consecutive pushes of one layout carry it
(:class:`~cosem_reader.output.homeassistant.DiscoveryGate`): noise on the line never makes
a Home Assistant entity.  What was announced is sent again after every (re)connect and
whenever Home Assistant announces ``online`` on ``<discovery_prefix>/status``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from cosem_reader.cosem.obis_code import ObisCode
from cosem_reader.cosem.readings import Notification
from cosem_reader.output.homeassistant import (
    MAX_ENTITIES,
    DiscoveryGate,
    device_info,
    discovery_messages,
    renamed_config,
)
from cosem_reader.output.jsonout import dumps
from cosem_reader.output.mqtt.payloads import control_message
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.output.outbox import Message

__all__ = ["DiscoveryBook", "is_birth"]

logger = logging.getLogger(__name__)


def is_birth(retain: bool, payload: bytes | bytearray) -> bool:
    """Whether a message on ``<discovery_prefix>/status`` says Home Assistant just started."""
    # Retained births are replays, not a Home Assistant that just started.
    return not retain and payload.strip() == b"online"


class DiscoveryBook:
    """The discovery configs of one meter, by topic, and its last state message.

    Not thread-safe: the publisher calls it under its lock.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        #: The payload of every config announced, by topic.
        self.configs: dict[str, bytes] = {}
        #: The OBIS codes whose configs are among them: a push's confirmed codes are
        #: mostly these, and making their configs again only to drop them is costly.
        self._announced: set[ObisCode] = set()
        self._gate = DiscoveryGate()
        self._device: dict[str, Any] | None = None
        self._meter_id: str | None = None
        self._last_state: Message | None = None

    def new_messages(self, notification: Notification, meter_id: str, prefix: str) -> list[Message]:
        """Discovery configs of the OBIS codes confirmed and not announced before."""
        if self._device is None:
            self._device = device_info(meter_id, notification)
            self._meter_id = meter_id
        full = self._gate.is_full
        codes = self._gate.confirm(notification)
        if self._gate.is_full and not full:
            logger.warning(
                "meter %s: %d OBIS codes announced to Home Assistant, the most one meter"
                " gets; codes seen later get no entity (they are still in the state message)",
                meter_id,
                MAX_ENTITIES,
            )
        codes = codes - self._announced
        if not codes:
            return []
        self._announced |= codes
        confirmed = replace(
            notification, readings=tuple(r for r in notification.readings if r.obis in codes)
        )
        settings = self.settings
        configs = discovery_messages(
            confirmed,
            meter_id=meter_id,
            state_topic=f"{prefix}/state",
            availability_topic=f"{prefix}/availability",
            discovery_prefix=settings.discovery_prefix,
            language=settings.language,
            name_template=settings.name_template,
            name_delimiters=settings.name_delimiters,
            date_time_format=settings.date_time_format,
            expire_after=settings.expire_after,
            qos=settings.qos,
            device=self._device,
        )
        messages: list[Message] = []
        for topic, payload in configs:
            if topic in self.configs:
                continue
            data = dumps(payload).encode("utf-8")
            self.configs[topic] = data
            messages.append(control_message(topic, data, settings, "discovery"))
        return messages

    def announced(self) -> list[Message]:
        """Every config announced so far, to send again."""
        return [
            control_message(topic, data, self.settings, "discovery")
            for topic, data in self.configs.items()
        ]

    def queued(self, messages: list[Message]) -> None:
        """Note the state message among ``messages``, for :meth:`for_birth`."""
        for message in messages:
            if self.settings.publish_json and message.topic.endswith("/state"):
                self._last_state = message

    def for_birth(self) -> list[Message]:
        """What a Home Assistant that just started needs: the configs and the last state."""
        again = self.announced()
        last = self._last_state
        if last is not None and not self.settings.retain:
            # Entities are unknown after discovery until the next state arrives.
            again.append(replace(last, kind="resend"))
        return again

    def clearing(self, topic: str, payload: bytes | bytearray) -> Message | None:
        """The empty retained message that removes a config this meter published under
        another name before a rename; None for any other retained config."""
        if not renamed_config(topic, payload, self._meter_id, self._device):
            return None
        logger.info("MQTT: clearing %s, this meter's config before a rename", topic)
        return control_message(topic, b"", self.settings, "discovery")
