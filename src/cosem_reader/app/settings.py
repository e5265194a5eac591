"""The validated settings, one dataclass per part: what app/config assembles from the options.

Each layer gets its own: the serial source :class:`~cosem_reader.app.sources.SerialSettings`,
the publisher :class:`~cosem_reader.output.mqtt.MqttSettings`, the decoder
:class:`DecodingSettings`; :class:`Settings` holds them all for ``cosem-reader read``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosem_reader.app.options import Origin
from cosem_reader.app.sources import SerialSettings
from cosem_reader.cosem.layouts import ListLayout
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.output.mqtt import MqttSettings

__all__ = ["DebugSettings", "DecodingSettings", "MeterSettings", "SerialSettings", "Settings"]



@dataclass(frozen=True)
class DecodingSettings:
    """How readings are named and placed in time."""

    language: str = "en"
    name_format: str | None = None
    name_delimiters: str = " -,"
    #: ``[[layout]]`` sections: the user's lists without OBIS codes, tried before the known ones.
    layouts: tuple[ListLayout, ...] = ()
    #: ``[scalers]``: scalers for registers sent without scaler-unit.
    scalers: Mapping[ObisCode, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DebugSettings:
    """The debug section of smart-meter-mbus-dlms: stop limits and per-layer logs."""

    stop_after_bytes: int = 0
    stop_after_telegrams: int = 0
    stop_after_apdus: int = 0
    log_serial: bool = False
    log_serial_min_bytes: int = 0
    log_telegram_raw: bool = False
    log_telegram_json: bool = False
    log_apdu_raw: bool = False
    log_apdu_json: bool = False
    log_apdu_encrypted_hex: bool = False
    log_apdu_decrypted_hex: bool = False
    log_cosem_json: bool = False
    log_cosem_xml: bool = False
    log_obis_json: bool = False
    log_obis_plain: bool = False
    log_timings: bool = False


@dataclass(frozen=True)
class MeterSettings:
    """One meter: its byte source, its keys, its name and topic base."""

    name: str | None
    serial: SerialSettings
    key: bytes | None = field(default=None, repr=False)
    auth_key: bytes | None = field(default=None, repr=False)
    layer: str = "auto"
    timezone: str | None = None
    topic_base: str | None = None
    record: Path | None = None
    replay: str | None = None
    replay_hex: bool = False
    require_authentication: bool | None = None
    system_title: bytes | None = None
    silence_timeout: float = 60.0
    max_power: float = 69000.0

    @property
    def label(self) -> str:
        """How log lines name this meter."""
        if self.name:
            return self.name
        if self.replay:
            return "stdin" if self.replay == "-" else self.replay
        return self.serial.port or "?"


@dataclass(frozen=True)
class Settings:
    """Everything ``cosem-reader read`` runs with, validated."""

    meters: tuple[MeterSettings, ...]
    decoding: DecodingSettings
    debug: DebugSettings
    #: The ``[mqtt]`` settings shared by all meters (a meter may change the topic base).
    mqtt: MqttSettings
    log_level: str = "info"
    once: bool = False
    realtime: bool = False
    realtime_interval: float = 5.0
    console: str = "auto"
    error_log_interval: float = 600.0
    config_file: Path | None = None
    #: Effective values by ``section.key``, for ``config check`` (secrets as ``***``).
    shown: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: Where each value came from.
    origins: Mapping[str, Origin] = field(default_factory=dict, repr=False)
    #: Secret strings (keys in hex, the password) for the log filter to redact.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Warnings found while loading (e.g. a config file readable by others).
    warnings: tuple[str, ...] = ()

    @property
    def mqtt_enabled(self) -> bool:
        """Whether readings go to an MQTT broker (else to the console)."""
        return self.mqtt.enabled
