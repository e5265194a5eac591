"""The one schema of ``cosem-reader read``'s settings: each option declared once.

An :class:`Option` row holds everything about a setting: its ``[section]`` and key,
type, default, range, flag, help and whether it is secret.  TOML parsing, the
environment variables, the flags, validation, ``config check`` and the option table
of docs/daemon.md are all derived from :data:`OPTIONS` (:func:`option_table`).
Where a value came from is an :class:`Origin`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Final

from cosem_reader.app.config_import import COMPAT_NAME
from cosem_reader.output.mqtt import DATE_TIME_FORMATS, sanitize_level

__all__ = [
    "BY_NAME",
    "DEFAULT_ORIGIN",
    "ENV_PREFIX",
    "METER_KEYS",
    "OPTIONS",
    "SECTIONS",
    "BadValueError",
    "Layer",
    "Option",
    "Origin",
    "Sourced",
    "default_search_path",
]

ENV_PREFIX: Final = "COSEM_READER_"


class Layer(IntEnum):
    """Where a value came from; a higher layer wins."""

    DEFAULT = 0
    FILE = 1
    ENV = 2
    FLAG = 3


@dataclass(frozen=True)
class Origin:
    """A value's layer and, within it, its source: the file, the variable or the flag."""

    layer: Layer
    source: str = ""

    def __str__(self) -> str:
        """``default``, ``file /etc/...``, ``env COSEM_READER_PORT``, ``flag --port``."""
        if self.layer is Layer.DEFAULT:
            return "default"
        return f"{self.layer.name.lower()} {self.source}"

    @property
    def where(self) -> str:
        """How a problem's line names it: ``in /etc/...``, ``from --port``, or nothing."""
        if self.layer is Layer.DEFAULT:
            return ""
        return f"{'in' if self.layer is Layer.FILE else 'from'} {self.source}"


DEFAULT_ORIGIN: Final = Origin(Layer.DEFAULT)
#: A converted value and where it came from.
Sourced = tuple[Any, Origin]


def default_search_path() -> tuple[Path, ...]:
    """Where the config file is looked for without ``--config``, first found wins."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    user = Path(xdg) if xdg else Path.home() / ".config"
    return (
        Path("cosem-reader.toml"),
        user / "cosem-reader" / "config.toml",
        Path("/etc/cosem-reader/config.toml"),
    )


class BadValueError(ValueError):
    """A value that does not fit its option (the text after ``<option>: ``), with a fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Option:
    """One setting: where it lives, its type and default, its flag, whether it is secret.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``choice``, ``ints``
    (a list of integers, also written ``"0, 15, 30, 45"``), ``key`` (hex key,
    secret), ``secret`` (a secret string) and ``url`` (a URL that may carry a
    password).  ``check`` raises :class:`BadValueError` for a converted value that
    the type and range let through.
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
    #: Names one meter's own thing (its port, key, name): a flag or variable cannot set it
    #: for several meters.
    own: bool = False
    check: Callable[[Any], None] | None = None

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

    @property
    def dest(self) -> str | None:
        """The flag's argparse destination (``--stall-timeout``: ``stall_timeout``)."""
        return self.flag.lstrip("-").replace("-", "_") if self.flag else None


# -- checks beyond type and range ---------------------------------------------------------


def _not_empty(value: str) -> None:
    if not value:
        raise BadValueError("is empty", "name the broker, e.g. localhost")


def _regular_expression(value: str) -> None:
    try:
        re.compile(value)
    except re.error as error:
        raise BadValueError(f"not a regular expression ({error})") from None


def _topic(value: str) -> None:
    # A level is valid when the publisher's own sanitising would leave it as it is.
    levels = value.split("/")
    if not value or any(sanitize_level(level, "", "_", False) != level for level in levels):
        raise BadValueError(
            f"{value!r} is not a valid topic", "no empty level, no +, #, NUL or control characters"
        )


def _stopbits(value: float) -> None:
    if value not in (1.0, 1.5, 2.0):
        raise BadValueError(f"expected 1, 1.5 or 2, got {value!r}")


# -- the schema ---------------------------------------------------------------------------


_PARITIES = ("none", "even", "odd", "mark", "space")
_LEVELS = ("debug", "info", "warning", "error", "critical")

OPTIONS: Final[tuple[Option, ...]] = (
    # serial: the names of smart-meter-mbus-dlms' serialPort section
    Option("serial", "port", "str", None, "serial device or pyserial URL (socket://host:port, "
           "rfc2217://host:port); prefer /dev/serial/by-id/... paths", "--port", per_meter=True,
           own=True),
    Option("serial", "baudrate", "int", 2400, "baud rate", "--baudrate", minimum=50,
           maximum=4_000_000, per_meter=True),
    Option("serial", "bytesize", "int", 8, "data bits", "--bytesize", minimum=5, maximum=8,
           per_meter=True),
    Option("serial", "parity", "choice", "none", "parity (the TINETZ specification says even;"
           " most adapters work with none)", "--parity", choices=_PARITIES, per_meter=True),
    Option("serial", "stopbits", "float", 1.0, "stop bits: 1, 1.5 or 2", "--stopbits",
           per_meter=True, check=_stopbits),
    Option("serial", "stall_timeout", "float", 60.0, "seconds without a byte before the port "
           "counts as stalled and is reopened", "--stall-timeout", minimum=1, per_meter=True),
    Option("serial", "exclusive", "bool", True, "lock the port so no second reader shares it",
           per_meter=True),
    Option("serial", "reopen_max_delay", "float", 30.0, "longest wait between two attempts to "
           "reopen a lost port (the wait starts at 1 s and doubles)", minimum=1, per_meter=True),
    # decryption
    Option("decryption", "key", "key", None, "encryption key (GUEK), 32 hex digits", "--key",
           per_meter=True,
           own=True),
    Option("decryption", "key_file", "str", None, "file holding the key (default: "
           "$CREDENTIALS_DIRECTORY/cosem-reader-key)", "--key-file", per_meter=True,
           own=True),
    Option("decryption", "auth_key", "key", None, "authentication key (GAK), 32 hex digits",
           "--auth-key", per_meter=True,
           own=True),
    Option("decryption", "auth_key_file", "str", None, "file holding the authentication key",
           "--auth-key-file", per_meter=True,
           own=True),
    Option("decryption", "require_authentication", "bool", None, "only pushes with a verified"
           " tag and a rising frame counter count (default: on when an authentication key is"
           " given)", "--require-authentication", per_meter=True),
    Option("decryption", "system_title", "str", None, "this meter's system title (16 hex"
           " digits); pushes of other meters are ignored (default: the first one read)",
           "--system-title", per_meter=True,
           own=True),
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
    Option("mqtt", "host", "str", "localhost", "broker host", check=_not_empty),
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
           per_meter=True, check=_topic),
    Option("mqtt", "topic_identifier", "choice", "code", "per-value topics by OBIS code or name",
           choices=("code", "name")),
    Option("mqtt", "invalid_characters", "str", r"[^A-Za-z0-9_\-]",
           "regular expression of characters replaced in topic levels",
           check=_regular_expression),
    Option("mqtt", "invalid_character_replacement", "str", "_", "replacement of those"),
    Option("mqtt", "replace_umlauts", "bool", True, "ä→ae, ö→oe, ü→ue, ß→ss in topic levels"),
    Option("mqtt", "publish_json", "bool", True, "one JSON state message per reading"),
    Option("mqtt", "publish_values", "bool", True, "one topic per value"),
    Option("mqtt", "include_unit", "bool", False, "per-value payload '12937 Wh'"),
    Option("mqtt", "date_time_format", "choice", "iso", "format of date-times",
           choices=DATE_TIME_FORMATS),
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
    Option("mqtt", "discovery_prefix", "str", "homeassistant", "discovery topic prefix",
           check=_topic),
    Option("mqtt", "keepalive", "int", 60, "MQTT keep-alive in seconds", minimum=5),
    Option("mqtt", "expire_after", "int", None, "seconds after which Home Assistant shows a"
           " value as unavailable (discovery expire_after)", minimum=1),
    Option("mqtt", "reconnect_min_delay", "int", 1, "first wait before reconnecting", minimum=1),
    Option("mqtt", "reconnect_max_delay", "int", 30, "longest wait between reconnects",
           minimum=1),
    Option("mqtt", "compat", "choice", "none", "publish another reader's topics and payloads"
           " (see docs/migrating.md)", "--compat",
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
           per_meter=True,
           own=True),
    Option("daemon", "once", "bool", False, "stop after the first reading", "--once"),
    Option("daemon", "record", "str", None, "append the raw bytes received to this file",
           "--record", per_meter=True,
           own=True),
    Option("daemon", "replay", "str", None, "read a capture file (- for stdin) instead of a port",
           "--replay", per_meter=True,
           own=True),
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

BY_NAME: Final = {option.name: option for option in OPTIONS}
SECTIONS: Final = tuple(dict.fromkeys(option.section for option in OPTIONS))
#: Keys a ``[[meter]]`` table may set, by bare key name.
METER_KEYS: Final = {option.key: option for option in OPTIONS if option.per_meter}
