"""Settings of ``cosem-reader read``: built-in defaults < TOML file < environment < flags.

The TOML file has the sections of smart-meter-mbus-dlms, in TOML spelling::

    [serial]       port, baudrate, bytesize, parity, stopbits, stall_timeout, exclusive
    [decryption]   key, key_file, auth_key, auth_key_file
    [decoding]     layer, language, name_format, name_delimiters, timezone
    [mqtt]         the fields of cosem_reader.output.mqtt.MqttSettings, plus url and password_file
    [debug]        stop_after_* and the per-layer log_* switches
    [daemon]       log_level, once, record, replay, replay_hex, realtime, console, ...
    [[meter]]      one table per meter: name, port, key, topic_base, record, ...

Every option is also an environment variable ``COSEM_READER_<SECTION>_<KEY>``
(``COSEM_READER_MQTT_PORT``); an option with a flag also answers to the flag's
name (``COSEM_READER_PORT``, ``COSEM_READER_KEY``, ``COSEM_READER_MQTT_URL``).

Without ``--config`` the file is the first of ``$COSEM_READER_CONFIG``,
``./cosem-reader.toml``, ``~/.config/cosem-reader/config.toml`` (or under
``$XDG_CONFIG_HOME``) and ``/etc/cosem-reader/config.toml`` that exists; no file
at all is fine.

A problem is a :class:`~cosem_reader.errors.ConfigError` whose message names the
option and where its value came from:
``mqtt.port: expected an integer, got 'abc' (in /etc/cosem-reader/config.toml)``.
:func:`load_settings` reports every problem it finds at once
(:attr:`ConfigProblems.problems`).  Secrets (the keys, the MQTT password) are
never part of a message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from cosem_reader.app.config_check import render_settings, show_meter, show_shared
from cosem_reader.app.config_layers import (
    Collector,
    check_permissions,
    read_env_layer,
    read_file_layer,
    read_flag_layer,
    read_toml,
    where,
)
from cosem_reader.app.options import (
    BY_NAME,
    DEFAULT_ORIGIN,
    ENV_PREFIX,
    METER_KEYS,
    OPTIONS,
    Layer,
    Option,
    Origin,
    Sourced,
    default_search_path,
)
from cosem_reader.app.settings import (
    DebugSettings,
    DecodingSettings,
    MeterSettings,
    SerialSettings,
    Settings,
)
from cosem_reader.errors import ConfigError
from cosem_reader.output.mqtt import MqttSettings
from cosem_reader.security.ciphering import parse_key

__all__ = [
    "CONFIG_SEARCH_PATH",
    "OPTIONS",
    "ConfigProblems",
    "DebugSettings",
    "DecodingSettings",
    "MeterSettings",
    "Option",
    "SerialSettings",
    "Settings",
    "find_config_file",
    "load_settings",
    "render_settings",
]

#: File names under ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
CREDENTIALS = {
    "key": "cosem-reader-key",
    "auth_key": "cosem-reader-auth-key",
    "password": "cosem-reader-mqtt-password",
}
CONFIG_SEARCH_PATH: Final = default_search_path()


class ConfigProblems(ConfigError):  # noqa: N818 - a ConfigError, named for what it holds
    """Several configuration problems at once; ``str()`` is the first one."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.message, hint=first.hint)
        self.problems = list(problems)


def find_config_file(explicit: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read: ``explicit``, ``$COSEM_READER_CONFIG``, or the first found.

    Raises :class:`ConfigError` when a named file does not exist.
    """
    env = os.environ if env is None else env
    named = explicit or env.get(ENV_PREFIX + "CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            where = "--config" if explicit else ENV_PREFIX + "CONFIG"
            raise ConfigError(
                f"config file {path} does not exist ({where})",
                hint="check the path, or run without --config to use the defaults",
            )
        return path
    for candidate in default_search_path():
        if candidate.is_file():
            return candidate
    return None


def _system_title(text: str | None, label: str, problems: list[ConfigError]) -> bytes | None:
    if text is None:
        return None
    try:
        title = bytes.fromhex(text.replace(":", "").replace(" ", ""))
    except ValueError:
        title = b""
    if len(title) != 8:
        problems.append(ConfigError(
            f"{label}system_title: {text!r} is not 8 bytes in hex",
            hint="give 16 hex digits, e.g. 4B464D6750000009 (the log shows the meter's)",
        ))
        return None
    return title


def _read_secret_file(path_text: str, what: str, origin: str,
                      warnings: list[str] | None = None) -> str:
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
        if warnings is not None and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"{what}: {path} holds a secret and is readable by group or others"
                f" (mode {stat.S_IMODE(mode):03o}); run: chmod 600 {path}"
            )
        return text
    except FileNotFoundError:
        raise ConfigError(f"{what}: file {path} does not exist{where(origin)}") from None
    except PermissionError:
        raise ConfigError(
            f"{what}: no permission to read {path}{where(origin)}",
            hint="make it readable by the user cosem-reader runs as",
        ) from None
    except OSError as error:
        raise ConfigError(f"{what}: cannot read {path}: {error.strerror}{where(origin)}") from None


def _resolve_key(
    values: Mapping[str, Sourced], key_name: str, file_name: str,
    *, credential: str, env: Mapping[str, str], label: str, warnings: list[str] | None = None,
) -> bytes | None:
    """The key from the option or its file, the one from the higher layer winning."""
    direct = values.get(key_name)
    from_file = values.get(file_name)
    if direct is not None and from_file is not None:
        rank_direct, rank_file = direct[1].layer, from_file[1].layer
        if rank_direct == rank_file:
            raise ConfigError(
                f"{label}{key_name} and {label}{file_name} are both set ({direct[1]})",
                hint="give the key or the file, not both",
            )
        if rank_file < rank_direct:
            from_file = None
        else:
            direct = None
    if direct is not None:
        key: bytes = direct[0]
        return key
    if from_file is not None:
        origin = str(from_file[1])
        text = _read_secret_file(from_file[0], f"{label}{file_name}", origin, warnings)
        return _parse_key_text(text, f"{label}{file_name}", origin)
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / credential
        if path.is_file():
            text = _read_secret_file(str(path), f"{label}{key_name}", f"systemd credential {path}")
            return _parse_key_text(text, f"systemd credential {path}", "")
    return None


def _parse_key_text(text: str, what: str, origin: str) -> bytes:
    try:
        return parse_key(text, what)
    except ConfigError as error:
        raise ConfigError(f"{error.message}{where(origin)}", hint=error.hint) from None


def load_settings(
    config: str | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate the settings.

    ``flags`` maps a flag's dest (``port``, ``mqtt_url``) to the string given on
    the command line, or None when it was not given.  Raises
    :class:`ConfigProblems` listing every problem.
    """
    env = os.environ if env is None else env
    collector = Collector()
    path = find_config_file(config, env)
    warnings: list[str] = []
    if path is not None:
        data = read_toml(path)
        warning = check_permissions(path, data)
        if warning:
            warnings.append(warning)
        read_file_layer(collector, data, path)
    read_env_layer(collector, env)
    read_flag_layer(collector, flags or {})
    if collector.problems:
        raise ConfigProblems(collector.problems)
    build = _Build(env=env, warnings=warnings)
    try:
        return _build(collector, path, build)
    except ConfigError as error:
        raise ConfigProblems([error]) from None


def _value(values: Mapping[str, Sourced], name: str) -> Any:
    if name in values:
        return values[name][0]
    return BY_NAME[name].default


@dataclass
class _Build:
    """What building the settings gathers besides them: problems, secrets, the check's view."""

    env: Mapping[str, str]
    warnings: list[str]
    problems: list[ConfigError] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)


def _build(collector: Collector, path: Path | None, build: _Build) -> Settings:
    values = collector.values
    meters = _meters(collector, build)
    mqtt = _mqtt_settings(values, build)
    decoding = DecodingSettings(
        language=_value(values, "decoding.language"),
        name_format=_value(values, "decoding.name_format"),
        name_delimiters=_value(values, "decoding.name_delimiters"),
        layouts=tuple(collector.layouts),
        scalers=dict(collector.scalers),
    )
    _check_name_format(decoding, build.problems)
    for meter in meters:
        _check_timezone(meter, build.problems)
    debug = DebugSettings(**{
        option.key: _value(values, option.name) for option in OPTIONS if option.section == "debug"
    })
    if build.problems or mqtt is None:
        raise ConfigProblems(build.problems)
    show_shared(build.shown, build.origins, values, per_meter_tables=bool(collector.meters),
                mqtt=mqtt)
    return Settings(
        meters=tuple(meters),
        decoding=decoding,
        debug=debug,
        mqtt=mqtt,
        log_level=_value(values, "daemon.log_level"),
        once=_value(values, "daemon.once"),
        realtime=_value(values, "daemon.realtime"),
        realtime_interval=_value(values, "daemon.realtime_interval"),
        console=_value(values, "daemon.console"),
        error_log_interval=_value(values, "daemon.error_log_interval"),
        config_file=path,
        shown=build.shown,
        origins=build.origins,
        secrets=tuple(dict.fromkeys(build.secrets)),
        warnings=tuple(build.warnings),
    )


def _meters(collector: Collector, build: _Build) -> list[MeterSettings]:
    """Per-meter values: flag/env > [[meter]] table > top-level section > default."""
    tables = collector.meters or [{}]
    if len(tables) > 1:
        _one_meter_flags(collector.values, len(tables), build.problems)
    meters: list[MeterSettings] = []
    for index, table in enumerate(tables):
        merged = _merge_meter(collector.values, table)
        label = f"meter[{index}]." if collector.meters else ""
        meter = _meter(merged, label, build)
        if meter is None:
            continue
        meters.append(meter)
        show_meter(build.shown, build.origins, label, merged, meter)
    names = [meter.name for meter in meters]
    if len(meters) > 1:
        if any(not name for name in names):
            build.problems.append(ConfigError(
                "meter: every [[meter]] needs a name when there are several",
                hint="add name = \"main\" (or similar) to each [[meter]] section",
            ))
        elif len(set(names)) != len(names):
            build.problems.append(ConfigError("meter: two [[meter]] sections have the same name"))
    return meters


def _one_meter_flags(
    values: Mapping[str, Sourced], meter_count: int, problems: list[ConfigError]
) -> None:
    for name, (_, origin) in values.items():
        option = BY_NAME[name]
        if origin.layer >= Layer.ENV and option.own:
            problems.append(ConfigError(
                f"{origin.source} sets {name} for one meter, but the config has"
                f" {meter_count} [[meter]] sections",
                hint=f"set {option.key} in each [[meter]] section instead",
            ))


def _merge_meter(values: Mapping[str, Sourced], table: Mapping[str, Sourced]) -> dict[str, Sourced]:
    merged: dict[str, Sourced] = {}
    for key, option in METER_KEYS.items():
        top = values.get(option.name)
        if top is not None and top[1].layer >= Layer.ENV:
            merged[key] = top
        elif key in table:
            merged[key] = table[key]
        elif top is not None:
            merged[key] = top
    return merged


def _meter(merged: Mapping[str, Sourced], label: str, build: _Build) -> MeterSettings | None:
    try:
        cipher_key = _resolve_key(
            merged, "key", "key_file", credential=CREDENTIALS["key"], env=build.env, label=label,
            warnings=build.warnings,
        )
        auth_key = _resolve_key(
            merged, "auth_key", "auth_key_file", credential=CREDENTIALS["auth_key"],
            env=build.env, label=label, warnings=build.warnings,
        )
    except ConfigError as error:
        build.problems.append(error)
        return None
    build.secrets += [secret.hex() for secret in (cipher_key, auth_key) if secret is not None]

    def get(key_name: str) -> Any:
        return merged[key_name][0] if key_name in merged else METER_KEYS[key_name].default

    serial = SerialSettings(**{item.name: get(item.name) for item in fields(SerialSettings)})
    meter = MeterSettings(
        name=get("name"),
        serial=serial,
        key=cipher_key,
        auth_key=auth_key,
        layer=get("layer"),
        timezone=get("timezone"),
        topic_base=get("topic_base") if "topic_base" in merged else None,
        record=Path(get("record")).expanduser() if get("record") else None,
        replay=get("replay"),
        replay_hex=get("replay_hex"),
        require_authentication=get("require_authentication"),
        system_title=_system_title(get("system_title"), label, build.problems),
        silence_timeout=get("silence_timeout"),
        max_power=get("max_power"),
    )
    if meter.serial.port is None and meter.replay is None:
        build.problems.append(ConfigError(
            f"{label or 'serial.'}port: no serial port and no --replay file given",
            hint="pass --port /dev/serial/by-id/... (see `ls -l /dev/serial/by-id/`),"
            " set port in the config, or --replay a capture",
        ))
    return meter


def _mqtt_password(values: Mapping[str, Sourced], build: _Build) -> str | None:
    """The broker password from ``password_file`` or the systemd credential."""
    password_file = _value(values, "mqtt.password_file")
    try:
        if password_file:
            origin = str(values["mqtt.password_file"][1])
            return _read_secret_file(password_file, "mqtt.password_file", origin, build.warnings)
        if build.env.get("CREDENTIALS_DIRECTORY"):
            path = Path(build.env["CREDENTIALS_DIRECTORY"]) / CREDENTIALS["password"]
            if path.is_file():
                return _read_secret_file(str(path), "mqtt.password", "")
    except ConfigError as error:
        build.problems.append(error)
    return None


def _compat_discovery(
    values: Mapping[str, Sourced], kwargs: dict[str, Any], build: _Build
) -> None:
    """The original announced nothing: with compat, no discovery unless asked, and asking
    is refused, since Home Assistant would read a ``…/<meter>/state`` nobody publishes."""
    if "mqtt.homeassistant_discovery" not in values:
        kwargs["homeassistant_discovery"] = False
    elif kwargs["homeassistant_discovery"]:
        origin = values["mqtt.homeassistant_discovery"][1]
        build.problems.append(ConfigError(
            f"mqtt.homeassistant_discovery: compat = {kwargs['compat']!r} publishes no"
            f" …/<meter>/state for Home Assistant to read{where(origin.where)}",
            hint='set homeassistant_discovery = false, or compat = "none" for discovery',
        ))


def _mqtt_settings(values: Mapping[str, Sourced], build: _Build) -> MqttSettings | None:
    kwargs: dict[str, Any] = {
        option.key: _value(values, option.name) for option in OPTIONS if option.section == "mqtt"
    }
    del kwargs["password_file"]
    if kwargs["password"] is None:
        kwargs["password"] = _mqtt_password(values, build)
    url = kwargs["url"]
    if kwargs["enabled"] is None:
        kwargs["enabled"] = bool(url) or "mqtt.host" in values
    kwargs["language"] = _value(values, "decoding.language")
    kwargs["name_template"] = _value(values, "decoding.name_format")
    kwargs["name_delimiters"] = _value(values, "decoding.name_delimiters")
    if kwargs["compat"] != "none":
        _compat_discovery(values, kwargs, build)
    if kwargs["reconnect_min_delay"] > kwargs["reconnect_max_delay"]:
        origin = values.get("mqtt.reconnect_min_delay", (None, DEFAULT_ORIGIN))[1]
        build.problems.append(ConfigError(
            f"mqtt.reconnect_min_delay: must be <= reconnect_max_delay{where(origin.where)}",
            hint="wait longer between the last reconnects than before the first",
        ))
    try:
        settings = MqttSettings(**kwargs)
    except ConfigError as error:  # the URL, read by the publisher's own parser
        origin = values.get("mqtt.url", (None, DEFAULT_ORIGIN))[1]
        build.problems.append(ConfigError(f"{error.message}{where(origin.where)}",
                                          hint=error.hint))
        return None
    # The URL's password, when it has one, replaced the configured one: both are secret.
    build.secrets += [secret for secret in (kwargs["password"], settings.password) if secret]
    return settings


def _check_name_format(decoding: DecodingSettings, problems: list[ConfigError]) -> None:
    if decoding.name_format is None:
        return
    from cosem_reader.cosem.obis import ObisCode, format_name  # noqa: PLC0415

    try:
        format_name(ObisCode.parse("1.0.1.8.0.255"), decoding.language, decoding.name_format)
    except ConfigError as error:
        problems.append(ConfigError(f"decoding.name_format: {error.message}", hint=error.hint))


def _check_timezone(meter: MeterSettings, problems: list[ConfigError]) -> None:
    from cosem_reader.cosem.readings import load_timezone  # noqa: PLC0415

    try:
        load_timezone(meter.timezone)
    except ConfigError as error:
        problems.append(ConfigError(f"decoding.timezone: {error.message}", hint=error.hint))


