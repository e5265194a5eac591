"""The ``[mqtt]`` settings of one meter, and the topic levels made from meter data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from cosem_reader.errors import ConfigError

__all__ = [
    "DATE_TIME_FORMATS",
    "MqttSettings",
    "parse_mqtt_url",
    "sanitize_level",
    "topic_level",
]

#: ``epoch`` seconds, ``js`` milliseconds since the epoch, ``iso`` ISO 8601 with the
#: meter's UTC offset, ``iso-local`` ISO 8601 in this machine's time zone.
DATE_TIME_FORMATS = ("epoch", "iso", "js", "iso-local")
_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True, "tls": True}
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)
# MQTT wildcards, the level separator, NUL, control characters and lone surrogates
# (which UTF-8 cannot encode): never inside a level, whatever the user's regex allows.
_NEVER_IN_LEVEL = re.compile("[+#/\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REDACTED = "***"


@dataclass(frozen=True)
class MqttSettings:
    """The ``[mqtt]`` settings of one meter.

    ``url`` (``mqtt[s]://[user:pass@]host[:port]``), when given, sets ``host``,
    ``port``, ``tls`` and, where it names them, ``username`` and ``password``
    (a URL it cannot read is a :class:`ConfigError` naming ``mqtt.url``).  The ranges
    and choices are checked once, by the option declarations of
    :mod:`cosem_reader.app.options` when the daemon's config builds these settings; a
    library user building them directly gets the field types only.
    """

    enabled: bool = False
    url: str | None = field(default=None, repr=False)
    host: str = "localhost"
    port: int | None = None
    tls: bool = False
    reject_unauthorized: bool = True
    ca_file: str | None = None
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "3.1.1"
    qos: int = 1
    topic_base: str = "cosem-reader"
    topic_identifier: str = "code"
    invalid_characters: str = r"[^A-Za-z0-9_\-]"
    invalid_character_replacement: str = "_"
    replace_umlauts: bool = True
    publish_json: bool = True
    publish_values: bool = True
    include_unit: bool = False
    date_time_format: str = "iso"
    min_interval: float = 0.0
    publish_at_seconds: tuple[int, ...] = ()
    publish_at_minutes: tuple[int, ...] = ()
    retain: bool = False
    queue_size: int = 10000
    test_mode: bool = False
    homeassistant_discovery: bool = True
    discovery_prefix: str = "homeassistant"
    language: str = "en"
    name_template: str | None = None
    name_delimiters: str = " -,"
    #: ``smart-meter-mbus-dlms``: that program's topics and payloads (output/mqtt/compat.py).
    compat: str = "none"
    keepalive: int = 60
    expire_after: int | None = None
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 30
    spool: str | None = None
    spool_max_mb: int = 50

    def __post_init__(self) -> None:
        if self.url:
            tls, host, port, username, password = parse_mqtt_url(self.url)
            object.__setattr__(self, "tls", tls)
            object.__setattr__(self, "host", host)
            if port is not None:
                object.__setattr__(self, "port", port)
            if username is not None:
                object.__setattr__(self, "username", username)
            if password is not None:
                object.__setattr__(self, "password", password)

    @property
    def effective_port(self) -> int:
        """The port to connect to: the configured one, else 8883 with TLS, 1883 without."""
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with the password (also inside the URL) replaced by ``***``."""
        result = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.password is not None:
            result["password"] = _REDACTED
        if self.url:
            parts = urlsplit(self.url)
            if parts.password is not None:
                netloc = parts.netloc.replace(f":{parts.password}@", f":{_REDACTED}@", 1)
                result["url"] = parts._replace(netloc=netloc).geturl()
        return result


def parse_mqtt_url(url: str) -> tuple[bool, str, int | None, str | None, str | None]:
    """``mqtt[s]://[user:pass@]host[:port]`` → ``(tls, host, port, username, password)``.

    User name and password are percent-decoded (``p%40ss`` is ``p@ss``).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigError(
            f"mqtt.url: cannot read the URL ({error})",
            hint="write mqtt[s]://[user:pass@]host[:port]",
        ) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"mqtt.url: scheme {parts.scheme!r} is not supported",
            hint="use mqtt:// (plain, port 1883) or mqtts:// (TLS, port 8883)",
        )
    if not parts.hostname:
        raise ConfigError("mqtt.url: names no host", hint="write mqtt[s]://[user:pass@]host[:port]")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return _SCHEMES[parts.scheme], parts.hostname, port, username, password


def sanitize_level(
    text: str,
    invalid_characters: str = r"[^A-Za-z0-9_\-]",
    replacement: str = "_",
    replace_umlauts: bool = True,
) -> str:
    """One topic level from meter data or a name: never a wildcard, separator or empty.

    Umlauts become ``ae``/``oe``/``ue``/``ss`` first (when asked), then every match of
    ``invalid_characters`` becomes ``replacement``; ``+``, ``#``, ``/``, NUL and control
    characters are replaced by ``_`` whatever the pattern allowed, and an empty result
    is ``_``.
    """
    if replace_umlauts:
        text = text.translate(_UMLAUTS)
    if invalid_characters:
        text = re.sub(invalid_characters, lambda _match: replacement, text)
    text = _NEVER_IN_LEVEL.sub("_", text)
    return text or "_"


def topic_level(text: str, settings: MqttSettings) -> str:
    """:func:`sanitize_level` with the user's ``invalid_characters`` and umlaut choice."""
    return sanitize_level(
        text,
        settings.invalid_characters,
        settings.invalid_character_replacement,
        settings.replace_umlauts,
    )
