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

import difflib
import logging
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from cosem_reader.app.config_import import COMPAT_NAME, ORIGINAL_SECTIONS, new_name
from cosem_reader.cosem.layouts import ListLayout, layout_from_config
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.profiles import KNOWN_PROFILES, profiles_overridden
from cosem_reader.errors import ConfigError, CosemError
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

log = logging.getLogger(__name__)

ENV_PREFIX: Final = "COSEM_READER_"
REDACTED: Final = "***"
#: File names under ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
CREDENTIALS = {
    "key": "cosem-reader-key",
    "auth_key": "cosem-reader-auth-key",
    "password": "cosem-reader-mqtt-password",
}


def _default_search_path() -> tuple[Path, ...]:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    user = Path(xdg) if xdg else Path.home() / ".config"
    return (
        Path("cosem-reader.toml"),
        user / "cosem-reader" / "config.toml",
        Path("/etc/cosem-reader/config.toml"),
    )


CONFIG_SEARCH_PATH: Final = _default_search_path()


# -- the schema ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting: where it lives, its type and default, its flag, whether it is secret.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``choice``, ``ints``
    (a list of integers, also written ``"0, 15, 30, 45"``), ``key`` (hex key,
    secret), ``secret`` (a secret string) and ``url`` (a URL that may carry a
    password).
    """

    section: str
    key: str
    kind: str
    default: Any = None
    help: str = ""
    flag: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: May be set per ``[[meter]]``.
    per_meter: bool = False

    @property
    def name(self) -> str:
        """``section.key``, as messages name it."""
        return f"{self.section}.{self.key}"

    @property
    def secret(self) -> bool:
        """Whether the value is redacted wherever it is shown."""
        return self.kind in ("key", "secret")

    @property
    def env_names(self) -> tuple[str, ...]:
        """The environment variables that set it, the flag's name first."""
        names = [f"{ENV_PREFIX}{self.section}_{self.key}".upper()]
        if self.flag:
            names.insert(0, ENV_PREFIX + self.flag.lstrip("-").replace("-", "_").upper())
        return tuple(dict.fromkeys(names))


_PARITIES = ("none", "even", "odd", "mark", "space")
_LEVELS = ("debug", "info", "warning", "error", "critical")

OPTIONS: Final[tuple[Option, ...]] = (
    # serial: the names of smart-meter-mbus-dlms' serialPort section
    Option("serial", "port", "str", None, "serial device or pyserial URL (socket://host:port, "
           "rfc2217://host:port); prefer /dev/serial/by-id/... paths", "--port", per_meter=True),
    Option("serial", "baudrate", "int", 2400, "baud rate", "--baudrate", minimum=50,
           maximum=4_000_000, per_meter=True),
    Option("serial", "bytesize", "int", 8, "data bits", "--bytesize", minimum=5, maximum=8,
           per_meter=True),
    Option("serial", "parity", "choice", "none", "parity (the TINETZ specification says even;"
           " most adapters work with none)", "--parity", choices=_PARITIES, per_meter=True),
    Option("serial", "stopbits", "float", 1.0, "stop bits: 1, 1.5 or 2", "--stopbits",
           per_meter=True),
    Option("serial", "stall_timeout", "float", 60.0, "seconds without a byte before the port "
           "counts as stalled and is reopened", "--stall-timeout", minimum=1, per_meter=True),
    Option("serial", "exclusive", "bool", True, "lock the port so no second reader shares it",
           per_meter=True),
    Option("serial", "reopen_max_delay", "float", 30.0, "longest wait between two attempts to "
           "reopen a lost port (the wait starts at 1 s and doubles)", minimum=1, per_meter=True),
    # decryption
    Option("decryption", "key", "key", None, "encryption key (GUEK), 32 hex digits", "--key",
           per_meter=True),
    Option("decryption", "key_file", "str", None, "file holding the key (default: "
           "$CREDENTIALS_DIRECTORY/cosem-reader-key)", "--key-file", per_meter=True),
    Option("decryption", "auth_key", "key", None, "authentication key (GAK), 32 hex digits",
           "--auth-key", per_meter=True),
    Option("decryption", "auth_key_file", "str", None, "file holding the authentication key",
           "--auth-key-file", per_meter=True),
    Option("decryption", "require_authentication", "bool", None, "only pushes with a verified"
           " tag and a rising frame counter count (default: on when an authentication key is"
           " given)", "--require-authentication", per_meter=True),
    Option("decryption", "system_title", "str", None, "this meter's system title (16 hex"
           " digits); pushes of other meters are ignored (default: the first one read)",
           "--system-title", per_meter=True),
    # decoding
    Option("decoding", "layer", "choice", "auto", "link layer: recognise it, M-Bus, HDLC, P1",
           "--layer", choices=("auto", "mbus", "hdlc", "raw", "dsmr"), per_meter=True),
    Option("decoding", "language", "choice", "en", "OBIS name language", "--language",
           choices=("en", "de")),
    Option("decoding", "name_format", "str", None, "OBIS name template, e.g. "
           "'[measurement], [measurementType]'", "--name-format"),
    Option("decoding", "name_delimiters", "str", " -,", "delimiter characters trimmed from names"
           " where a placeholder is empty"),
    Option("decoding", "timezone", "str", None, "time zone of meter times without UTC deviation"
           " (default: the system's)", "--timezone", per_meter=True),
    # mqtt: the fields of cosem_reader.output.mqtt.MqttSettings
    Option("mqtt", "enabled", "bool", None, "publish to MQTT (default: on when a URL or host is "
           "set)"),
    Option("mqtt", "url", "url", None, "mqtt[s]://[user:password@]host[:port]", "--mqtt-url"),
    Option("mqtt", "host", "str", "localhost", "broker host"),
    Option("mqtt", "port", "int", None, "broker port (default 1883, 8883 with TLS)",
           minimum=1, maximum=65535),
    Option("mqtt", "tls", "bool", False, "connect with TLS"),
    Option("mqtt", "reject_unauthorized", "bool", True, "verify the broker's TLS certificate"),
    Option("mqtt", "ca_file", "str", None, "CA certificate file for TLS"),
    Option("mqtt", "client_id", "str", None,
           "MQTT client id (default cosem-reader-<host>-<meter>)"),
    Option("mqtt", "username", "str", None, "broker user name"),
    Option("mqtt", "password", "secret", None, "broker password"),
    Option("mqtt", "password_file", "str", None, "file holding the broker password (default: "
           "$CREDENTIALS_DIRECTORY/cosem-reader-mqtt-password)"),
    Option("mqtt", "protocol", "choice", "3.1.1", "MQTT protocol version",
           choices=("3.1.1", "5")),
    Option("mqtt", "qos", "int", 1, "quality of service of state messages", minimum=0, maximum=2),
    Option("mqtt", "topic_base", "str", "cosem-reader", "first topic level", "--topic-base",
           per_meter=True),
    Option("mqtt", "topic_identifier", "choice", "code", "per-value topics by OBIS code or name",
           choices=("code", "name")),
    Option("mqtt", "invalid_characters", "str", r"[^A-Za-z0-9_\-]",
           "regular expression of characters replaced in topic levels"),
    Option("mqtt", "invalid_character_replacement", "str", "_", "replacement of those"),
    Option("mqtt", "replace_umlauts", "bool", True, "ä→ae, ö→oe, ü→ue, ß→ss in topic levels"),
    Option("mqtt", "publish_json", "bool", True, "one JSON state message per reading"),
    Option("mqtt", "publish_values", "bool", True, "one topic per value"),
    Option("mqtt", "include_unit", "bool", False, "per-value payload '12937 Wh'"),
    Option("mqtt", "date_time_format", "choice", "iso", "format of date-times",
           choices=("epoch", "iso", "js", "iso-local")),
    Option("mqtt", "min_interval", "float", 0.0, "minimum seconds between messages", minimum=0),
    Option("mqtt", "publish_at_seconds", "ints", (), "publish at these seconds of the minute",
           minimum=0, maximum=59),
    Option("mqtt", "publish_at_minutes", "ints", (), "publish at these minutes of the hour",
           minimum=0, maximum=59),
    Option("mqtt", "retain", "bool", False, "retain state and value messages"),
    Option("mqtt", "queue_size", "int", 10000, "readings kept while the broker is unreachable",
           minimum=1),
    Option("mqtt", "test_mode", "bool", False, "log what would be published, publish nothing",
           "--mqtt-test"),
    Option("mqtt", "homeassistant_discovery", "bool", True, "Home Assistant MQTT discovery"),
    Option("mqtt", "discovery_prefix", "str", "homeassistant", "discovery topic prefix"),
    Option("mqtt", "keepalive", "int", 60, "MQTT keep-alive in seconds", minimum=5),
    Option("mqtt", "expire_after", "int", None, "seconds after which Home Assistant shows a"
           " value as unavailable (discovery expire_after)", minimum=1),
    Option("mqtt", "reconnect_min_delay", "int", 1, "first wait before reconnecting", minimum=1),
    Option("mqtt", "reconnect_max_delay", "int", 30, "longest wait between reconnects",
           minimum=1),
    Option("mqtt", "compat", "choice", "none", "publish the topics and payloads of another "
           "reader (smart-meter-mbus-dlms: not yet acted on)", "--compat",
           choices=("none", COMPAT_NAME)),
    Option("mqtt", "spool", "str", None, "SQLite file that keeps unsent readings across"
           " restarts and power cuts, e.g. /var/lib/cosem-reader/spool.db (default: off)"),
    Option("mqtt", "spool_max_mb", "int", 50, "largest size of the readings in the spool, MB",
           minimum=1),
    # debug: smart-meter-mbus-dlms' debug section
    Option("debug", "stop_after_bytes", "int", 0, "stop after this many bytes (0: never)",
           minimum=0),
    Option("debug", "stop_after_telegrams", "int", 0, "stop after this many telegrams",
           minimum=0),
    Option("debug", "stop_after_apdus", "int", 0, "stop after this many APDUs", minimum=0),
    Option("debug", "log_serial", "bool", False, "log the bytes from the port (hex)"),
    Option("debug", "log_serial_min_bytes", "int", 0, "log them in runs of at least this many",
           minimum=0),
    Option("debug", "log_telegram_raw", "bool", False, "log each telegram (hex)"),
    Option("debug", "log_telegram_json", "bool", False, "log each telegram's fields (JSON)"),
    Option("debug", "log_apdu_raw", "bool", False, "log each APDU as received (hex)"),
    Option("debug", "log_apdu_json", "bool", False, "log each APDU's security header (JSON)"),
    Option("debug", "log_apdu_encrypted_hex", "bool", False, "log each ciphertext (hex)"),
    Option("debug", "log_apdu_decrypted_hex", "bool", False, "log each plaintext APDU (hex)"),
    Option("debug", "log_cosem_json", "bool", False, "log the decoded A-XDR tree (JSON)"),
    Option("debug", "log_cosem_xml", "bool", False, "log the APDU as Gurux-style XML"),
    Option("debug", "log_obis_json", "bool", False, "log the readings (JSON)"),
    Option("debug", "log_obis_plain", "bool", False, "log the readings (one line each)"),
    Option("debug", "log_timings", "bool", False, "log the time spent in each stage"),
    # daemon
    Option("daemon", "log_level", "choice", "info", "log level", "--log-level", choices=_LEVELS),
    Option("daemon", "name", "str", None, "meter name (its MQTT topic level)", "--name",
           per_meter=True),
    Option("daemon", "once", "bool", False, "stop after the first reading", "--once"),
    Option("daemon", "record", "str", None, "append the raw bytes received to this file",
           "--record", per_meter=True),
    Option("daemon", "replay", "str", None, "read a capture file (- for stdin) instead of a port",
           "--replay", per_meter=True),
    Option("daemon", "replay_hex", "bool", False, "the capture is hex text", "--hex",
           per_meter=True),
    Option("daemon", "realtime", "bool", False, "replay at the meter's pace", "--realtime"),
    Option("daemon", "realtime_interval", "float", 5.0, "seconds between replayed pushes that "
           "carry no time stamp", minimum=0),
    Option("daemon", "console", "choice", "auto", "console output without MQTT: a line per "
           "reading on a terminal, JSON when piped", "--format", choices=("auto", "json", "line")),
    Option("daemon", "silence_timeout", "float", 60.0, "seconds without a valid reading before"
           " the meter is shown offline", "--silence-timeout", minimum=1, per_meter=True),
    Option("daemon", "max_power", "float", 69000.0, "watts the connection can draw at most"
           " (3 × 100 A × 230 V); a faster rising energy register is withheld", "--max-power",
           minimum=1, per_meter=True),
    Option("daemon", "error_log_interval", "float", 600.0, "seconds between two log lines about"
           " the same recurring error (wrong key, bad frames)", minimum=0),
)

_BY_NAME: Final = {option.name: option for option in OPTIONS}
_SECTIONS: Final = tuple(dict.fromkeys(option.section for option in OPTIONS))
#: Keys a ``[[meter]]`` table may set, by bare key name.
METER_KEYS: Final = {option.key: option for option in OPTIONS if option.per_meter}


# -- problems -----------------------------------------------------------------------------


class ConfigProblems(ConfigError):  # noqa: N818 - a ConfigError, named for what it holds
    """Several configuration problems at once; ``str()`` is the first one."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.message, hint=first.hint)
        self.problems = list(problems)


def _where(origin: str) -> str:
    return f" ({origin})" if origin else ""


# -- conversions --------------------------------------------------------------------------

class _BadValueError(ValueError):
    """A value that does not fit its option, with a hint how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _convert(option: Option, value: Any) -> Any:
    """``value`` from TOML, the environment or a flag as the option's type.

    Raises :class:`ValueError` with the text after ``<option>: ``; the text never
    contains a secret.
    """
    shown = "the given value" if option.secret else repr(value)
    kind = option.kind
    if kind in ("str", "url", "secret"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {shown}")
        result: Any = value
    elif kind == "key":
        if not isinstance(value, str):
            raise ValueError("expected 32 hex digits in a string")
        try:
            result = parse_key(value, "the key")
        except ConfigError as error:
            raise _BadValueError(error.message, error.hint) from None
    elif kind == "bool":
        if isinstance(value, bool):
            result = value
        elif isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            result = value.strip().lower() in _TRUE
        else:
            raise ValueError(f"expected true or false, got {shown}")
    elif kind == "int":
        result = _integer(value, shown)
    elif kind == "float":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {shown}")
        if isinstance(value, int | float):
            result = float(value)
        else:
            try:
                result = float(str(value).strip())
            except ValueError:
                raise ValueError(f"expected a number, got {shown}") from None
    elif kind == "ints":
        items: Iterable[Any]
        if isinstance(value, str):
            items = [part for part in re.split(r"[\s,;]+", value.strip()) if part]
        elif isinstance(value, list | tuple):
            items = value
        else:
            raise ValueError(f"expected a list of integers, got {shown}")
        result = tuple(_integer(item, repr(item)) for item in items)
        for item in result:
            _check_range(option, item)
        return result
    elif kind == "choice":
        text = str(value).strip().lower() if isinstance(value, str | int | float) else None
        if option.name == "mqtt.protocol" and text in ("311", "3", "4", "v311", "3.1.1"):
            text = "3.1.1"
        if option.name == "mqtt.protocol" and text in ("5.0", "v5"):
            text = "5"
        if isinstance(value, bool) or text not in option.choices:
            raise ValueError(f"expected one of {', '.join(option.choices)}, got {shown}")
        result = text
    else:  # pragma: no cover - the schema above names only these kinds
        raise AssertionError(kind)
    if kind in ("int", "float"):
        _check_range(option, result)
    if option.name == "serial.stopbits" and result not in (1.0, 1.5, 2.0):
        raise ValueError(f"expected 1, 1.5 or 2, got {shown}")
    return result


def _integer(value: Any, shown: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {shown}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise ValueError(f"expected an integer, got {shown}")


def _check_range(option: Option, value: float) -> None:
    low, high = option.minimum, option.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bounds = f"between {low:g} and {high:g}"
        elif low is not None:
            bounds = f"at least {low:g}"
        else:
            bounds = f"at most {high:g}"
        raise ValueError(f"expected a value {bounds}, got {value!r}")


# -- settings objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class SerialSettings:
    """How to open a serial port (or pyserial URL)."""

    port: str | None
    baudrate: int = 2400
    bytesize: int = 8
    parity: str = "none"
    stopbits: float = 1.0
    stall_timeout: float = 60.0
    exclusive: bool = True
    reopen_max_delay: float = 30.0


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
    #: Where each value came from: ``default``, ``file``, ``env NAME``, ``flag --x``.
    origins: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Secret strings (keys in hex, the password) for the log filter to redact.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Warnings found while loading (e.g. a config file readable by others).
    warnings: tuple[str, ...] = ()

    @property
    def mqtt_enabled(self) -> bool:
        """Whether readings go to an MQTT broker (else to the console)."""
        return self.mqtt.enabled


# -- loading ------------------------------------------------------------------------------


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
    for candidate in _default_search_path():
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None


@dataclass
class _Collector:
    """Raw values of every layer with their origin, and the problems found so far."""

    problems: list[ConfigError] = field(default_factory=list)
    values: dict[str, tuple[Any, str]] = field(default_factory=dict)
    meters: list[dict[str, tuple[Any, str]]] = field(default_factory=list)
    layouts: list[ListLayout] = field(default_factory=list)
    scalers: dict[ObisCode, int] = field(default_factory=dict)

    def problem(self, name: str, text: str, origin: str, hint: str | None = None) -> None:
        self.problems.append(ConfigError(f"{name}: {text}{_where(origin)}", hint=hint))

    def convert(self, option: Option, value: Any, origin: str, label: str | None = None) -> Any:
        try:
            return _convert(option, value)
        except ValueError as error:
            self.problem(label or option.name, str(error), origin, getattr(error, "hint", None))
            return None


def _unknown(collector: _Collector, name: str, known: Iterable[str], origin: str) -> None:
    bare = name.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(bare, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else None
    renamed = new_name(bare if name.startswith("meter[") else name)
    if renamed:
        hint = (f"did you mean {renamed!r}? (smart-meter-mbus-dlms' name; "
                "`cosem-reader config import` converts its default.json5)")
    collector.problem(name, "unknown key", origin, hint)


def _read_file_layer(collector: _Collector, data: Mapping[str, Any], path: Path) -> None:
    origin = f"in {path}"
    for section, table in data.items():
        if section == "layout":
            _read_layouts(collector, table, origin)
            continue
        if section == "scalers":
            _read_scalers(collector, table, origin)
            continue
        if section == "meter":
            tables = [table] if isinstance(table, dict) else table
            if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
                collector.problem("meter", "expected [[meter]] tables", origin)
                continue
            for index, meter in enumerate(tables):
                values: dict[str, tuple[Any, str]] = {}
                for key, value in meter.items():
                    label = f"meter[{index}].{key}"
                    option = METER_KEYS.get(key)
                    if option is None:
                        _unknown(collector, label, METER_KEYS, origin)
                        continue
                    converted = collector.convert(option, value, origin, label)
                    if converted is not None:
                        values[key] = (converted, f"file {path}")
                collector.meters.append(values)
            continue
        if section in ORIGINAL_SECTIONS and section not in _SECTIONS and isinstance(table, dict):
            for key in table:  # each of the original's keys answered with its new name
                _unknown(collector, f"{section}.{key}", (), origin)
            continue
        if section not in _SECTIONS:
            _unknown(collector, section, [*_SECTIONS, "meter"], origin)
            continue
        if not isinstance(table, dict):
            collector.problem(section, f"expected a [{section}] table, got {table!r}", origin)
            continue
        for key, value in table.items():
            option = _BY_NAME.get(f"{section}.{key}")
            if option is None:
                known = [o.key for o in OPTIONS if o.section == section]
                _unknown(collector, f"{section}.{key}", known, origin)
                continue
            converted = collector.convert(option, value, origin)
            if converted is not None:
                collector.values[option.name] = (converted, f"file {path}")


def _read_layouts(collector: _Collector, tables: Any, origin: str) -> None:
    """``[[layout]]``: lists without OBIS codes that the known-layout table lacks."""
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        collector.problem("layout", "expected [[layout]] tables", origin)
        return
    for index, table in enumerate(tables):
        try:
            collector.layouts.append(layout_from_config(table, f"layout[{index}]"))
        except ConfigError as error:
            collector.problems.append(
                ConfigError(f"{error.message}{_where(origin)}", hint=error.hint)
            )


def _read_scalers(collector: _Collector, table: Any, origin: str) -> None:
    """``[scalers]``: ``"1-0:31.7.0" = -2`` for registers a meter sends without scaler-unit."""
    if not isinstance(table, dict):
        collector.problem("scalers", "expected a [scalers] table of OBIS code = scaler", origin)
        return
    for code, scaler in table.items():
        name = f"scalers.{code}"
        try:
            obis = ObisCode.parse(code)
        except CosemError as error:
            collector.problem(name, f"not an OBIS code: {error.message}", origin)
            continue
        if isinstance(scaler, bool) or not isinstance(scaler, int) or not -20 <= scaler <= 20:
            collector.problem(name, f"expected an integer from -20 to 20, got {scaler!r}", origin)
            continue
        collector.scalers[obis] = scaler


def _read_env_layer(collector: _Collector, env: Mapping[str, str]) -> None:
    for option in OPTIONS:
        for name in option.env_names:
            if name in env:
                converted = collector.convert(option, env[name], f"from {name}")
                if converted is not None:
                    collector.values[option.name] = (converted, f"env {name}")
                break


def _read_flag_layer(collector: _Collector, flags: Mapping[str, Any]) -> None:
    for option in OPTIONS:
        if option.flag is None:
            continue
        value = flags.get(option.flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        converted = collector.convert(option, value, f"from {option.flag}", option.flag)
        if converted is not None:
            collector.values[option.name] = (converted, f"flag {option.flag}")


def _check_permissions(path: Path, data: Mapping[str, Any]) -> str | None:
    """A warning when a file holding secrets can be read by group or others."""
    holds_secret = False
    for section, table in data.items():
        tables = table if isinstance(table, list) else [table]
        for item in tables:
            if not isinstance(item, dict):
                continue
            for key, value in item.items():
                option = _BY_NAME.get(f"{section}.{key}") or (
                    METER_KEYS.get(key) if section == "meter" else None
                )
                if option is not None and value and (
                    option.secret or (option.kind == "url" and _url_password(str(value)))
                ):
                    holds_secret = True
    if not holds_secret:
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"config file {path} holds a key or password and is readable by group or others"
            f" (mode {stat.S_IMODE(mode):03o}); run: chmod 600 {path}"
            " (or move the secrets to key_file/password_file or systemd credentials)"
        )
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


def _url_password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return unquote(parts.password) if parts.password else None


def _redact_url(url: str) -> str:
    password = _url_password(url)
    if not password:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return parts._replace(netloc=netloc).geturl()


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
        raise ConfigError(f"{what}: file {path} does not exist{_where(origin)}") from None
    except PermissionError:
        raise ConfigError(
            f"{what}: no permission to read {path}{_where(origin)}",
            hint="make it readable by the user cosem-reader runs as",
        ) from None
    except OSError as error:
        raise ConfigError(f"{what}: cannot read {path}: {error.strerror}{_where(origin)}") from None


def _rank(origin: str) -> int:
    return {"default": 0, "file": 1, "credential": 1, "env": 2, "flag": 3}[origin.split(" ", 1)[0]]


def _resolve_key(
    values: Mapping[str, tuple[Any, str]], key_name: str, file_name: str,
    *, credential: str, env: Mapping[str, str], label: str, warnings: list[str] | None = None,
) -> bytes | None:
    """The key from the option or its file, the one from the higher layer winning."""
    direct = values.get(key_name)
    from_file = values.get(file_name)
    if direct is not None and from_file is not None:
        rank_direct, rank_file = _rank(direct[1]), _rank(from_file[1])
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
        text = _read_secret_file(from_file[0], f"{label}{file_name}", from_file[1], warnings)
        return _parse_key_text(text, f"{label}{file_name}", from_file[1])
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
        raise ConfigError(f"{error.message}{_where(origin)}", hint=error.hint) from None


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
    flags = flags or {}
    collector = _Collector()
    path = find_config_file(config, env)
    warnings: list[str] = []
    if path is not None:
        data = _read_toml(path)
        warning = _check_permissions(path, data)
        if warning:
            warnings.append(warning)
        _read_file_layer(collector, data, path)
    _read_env_layer(collector, env)
    _read_flag_layer(collector, flags)
    if _value(collector.values, "mqtt.compat") != "none":
        warnings.append(f"mqtt.compat = {COMPAT_NAME!r} is not acted on yet: topics and payloads"
                        " are cosem-reader's (see docs/migrating.md)")
    if collector.problems:
        raise ConfigProblems(collector.problems)
    try:
        settings = _build(collector, env, path, tuple(warnings))
    except ConfigError as error:
        raise ConfigProblems([error]) from None
    return settings


def _value(values: Mapping[str, tuple[Any, str]], name: str) -> Any:
    if name in values:
        return values[name][0]
    return _BY_NAME[name].default


def _build(
    collector: _Collector, env: Mapping[str, str], path: Path | None, warnings: tuple[str, ...]
) -> Settings:
    values = collector.values
    problems: list[ConfigError] = []

    # Per-meter values: flag/env > [[meter]] table > top-level section > default.
    meter_tables = collector.meters or [{}]
    for name, (_, origin) in values.items():
        option = _BY_NAME[name]
        layer = origin.split(" ", 1)[0]
        single = option.key in ("port", "key", "key_file", "auth_key", "auth_key_file",
                                "record", "replay", "name", "system_title")
        if len(meter_tables) > 1 and layer in ("flag", "env") and single:
            where = origin.split(" ", 1)[1]
            problems.append(ConfigError(
                f"{where} sets {name} for one meter, but the config has"
                f" {len(meter_tables)} [[meter]] sections",
                hint=f"set {option.key} in each [[meter]] section instead",
            ))
    meters: list[MeterSettings] = []
    file_warnings: list[str] = []
    secrets: list[str] = []
    shown: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for index, table in enumerate(meter_tables):
        merged: dict[str, tuple[Any, str]] = {}
        for key, option in METER_KEYS.items():
            top = values.get(option.name)
            if top is not None and _rank(top[1]) >= 2:
                merged[key] = top
            elif key in table:
                merged[key] = table[key]
            elif top is not None:
                merged[key] = top
        label = f"meter[{index}]." if collector.meters else ""
        try:
            cipher_key = _resolve_key(
                merged, "key", "key_file", credential=CREDENTIALS["key"], env=env, label=label,
                warnings=file_warnings,
            )
            auth_key = _resolve_key(
                merged, "auth_key", "auth_key_file", credential=CREDENTIALS["auth_key"], env=env,
                label=label, warnings=file_warnings,
            )
        except ConfigError as error:
            problems.append(error)
            continue
        for secret in (cipher_key, auth_key):
            if secret is not None:
                secrets.append(secret.hex())

        def get(key_name: str, merged: dict[str, tuple[Any, str]] = merged) -> Any:
            return merged[key_name][0] if key_name in merged else METER_KEYS[key_name].default

        serial = SerialSettings(
            port=get("port"),
            baudrate=get("baudrate"),
            bytesize=get("bytesize"),
            parity=get("parity"),
            stopbits=get("stopbits"),
            stall_timeout=get("stall_timeout"),
            exclusive=get("exclusive"),
            reopen_max_delay=get("reopen_max_delay"),
        )
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
            system_title=_system_title(get("system_title"), label, problems),
            silence_timeout=get("silence_timeout"),
            max_power=get("max_power"),
        )
        if meter.serial.port is None and meter.replay is None:
            problems.append(ConfigError(
                f"{label or 'serial.'}port: no serial port and no --replay file given",
                hint="pass --port /dev/serial/by-id/... (see `ls -l /dev/serial/by-id/`),"
                " set port in the config, or --replay a capture",
            ))
        meters.append(meter)
        prefix = f"meter[{index}]." if collector.meters else ""
        for key_name, option in METER_KEYS.items():
            target = f"{prefix}{key_name}" if prefix else option.name
            if option.secret:
                present = {"key": cipher_key, "auth_key": auth_key}.get(key_name)
                shown[target] = REDACTED if present is not None else None
            else:
                shown[target] = get(key_name)
            origins[target] = merged[key_name][1] if key_name in merged else "default"

    names = [meter.name for meter in meters]
    if len(meters) > 1:
        if any(not name for name in names):
            problems.append(ConfigError(
                "meter: every [[meter]] needs a name when there are several",
                hint="add name = \"main\" (or similar) to each [[meter]] section",
            ))
        elif len(set(names)) != len(names):
            problems.append(ConfigError("meter: two [[meter]] sections have the same name"))

    # Everything else, once.
    for option in OPTIONS:
        if option.per_meter and option.name in shown:
            continue
        if option.per_meter and collector.meters:
            continue
        value = _value(values, option.name)
        origin = values[option.name][1] if option.name in values else "default"
        if option.secret:
            shown[option.name] = REDACTED if value is not None else None
        elif option.kind == "url" and isinstance(value, str):
            shown[option.name] = _redact_url(value)
        else:
            shown[option.name] = value
        origins[option.name] = origin

    mqtt = _mqtt_settings(values, env, problems, secrets, file_warnings)
    decoding = DecodingSettings(
        language=_value(values, "decoding.language"),
        name_format=_value(values, "decoding.name_format"),
        name_delimiters=_value(values, "decoding.name_delimiters"),
        layouts=tuple(collector.layouts),
        scalers=dict(collector.scalers),
    )
    _check_name_format(decoding, problems)
    for meter in meters:
        _check_timezone(meter, problems)
    debug = DebugSettings(**{
        option.key: _value(values, option.name) for option in OPTIONS if option.section == "debug"
    })
    if problems or mqtt is None:
        raise ConfigProblems(problems)
    shown["mqtt.enabled"] = mqtt.enabled
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
        shown=shown,
        origins=origins,
        secrets=tuple(dict.fromkeys(secrets)),
        warnings=warnings + tuple(file_warnings),
    )


def _mqtt_settings(
    values: Mapping[str, tuple[Any, str]], env: Mapping[str, str],
    problems: list[ConfigError], secrets: list[str], warnings: list[str] | None = None,
) -> MqttSettings | None:
    kwargs: dict[str, Any] = {
        option.key: _value(values, option.name) for option in OPTIONS if option.section == "mqtt"
    }
    password_file = kwargs.pop("password_file")
    kwargs.pop("compat")  # for the compat publisher, which is not written yet
    if kwargs.get("password") is None:
        try:
            if password_file:
                origin = values["mqtt.password_file"][1]
                kwargs["password"] = _read_secret_file(password_file, "mqtt.password_file", origin,
                                                       warnings)
            elif env.get("CREDENTIALS_DIRECTORY"):
                path = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIALS["password"]
                if path.is_file():
                    kwargs["password"] = _read_secret_file(str(path), "mqtt.password", "")
        except ConfigError as error:
            problems.append(error)
    url = kwargs.get("url")
    if kwargs["enabled"] is None:
        kwargs["enabled"] = bool(url) or "mqtt.host" in values
    kwargs["language"] = _value(values, "decoding.language")
    kwargs["name_template"] = _value(values, "decoding.name_format")
    try:
        settings = MqttSettings(**kwargs)
    except ConfigError as error:
        key = error.message.split(":", 1)[0]
        origin = values[key][1] if key in values else ""
        problems.append(ConfigError(f"{error.message}{_where(origin)}", hint=error.hint))
        return None
    for secret in (settings.password, _url_password(url) if url else None):
        if secret:
            secrets.append(secret)
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


# -- showing ------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_settings(settings: Settings, *, as_json: bool = False) -> str:
    """The effective settings as TOML (unset options commented out) or JSON; secrets ``***``."""
    if as_json:
        import json  # noqa: PLC0415

        tree: dict[str, Any] = {}
        for name, value in settings.shown.items():
            head, _, key = name.partition(".")
            tree.setdefault(head, {})[key] = list(value) if isinstance(value, tuple) else value
        return json.dumps(tree, indent=2, default=str)
    lines: list[str] = []
    if settings.config_file is not None:
        lines.append(f"# config file: {settings.config_file}")
    else:
        tried = ", ".join(str(p) for p in _default_search_path())
        lines.append(f"# no config file found (tried {tried})")
    order = {option.name: index for index, option in enumerate(OPTIONS)}
    keys = {option.key: index for index, option in enumerate(OPTIONS)}

    def position(name: str) -> tuple[int, str, int]:
        head, _, key = name.partition(".")
        if head.startswith("meter["):
            return (len(OPTIONS), head, keys.get(key, 0))
        return (order.get(name, 0), "", 0)

    current = None
    for name in sorted(settings.shown, key=position):
        value = settings.shown[name]
        head, _, key = name.partition(".")
        if head != current:
            current = head
            if head.startswith("meter["):
                lines += ["", "[[meter]]" + f"  # {head}"]
            else:
                lines += ["", f"[{head}]"]
        origin = settings.origins.get(name, "default")
        note = "" if origin == "default" else f"  # from {origin}"
        if value is None:
            lines.append(f"# {key} = (not set)")
        else:
            lines.append(f"{key} = {_toml_value(value)}{note}")
    if settings.decoding.scalers:
        lines += ["", "[scalers]"]
        for code, scaler in settings.decoding.scalers.items():
            replaced = profiles_overridden(code)
            note = f"  # instead of the profile {', '.join(replaced)}" if replaced else ""
            lines.append(f'"{code}" = {scaler}{note}')
    lines += ["", "# meter profiles, chosen by what each push says ([scalers] win):"]
    lines += [f"#   {profile.name}" for profile in KNOWN_PROFILES]
    for layout in settings.decoding.layouts:
        lines += ["", "[[layout]]", f"name = {_toml_value(layout.name)}"]
        lines.append(f"# {len(layout.element_types)} positions")
    return "\n".join(lines)
