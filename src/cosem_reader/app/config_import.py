"""``cosem-reader config import``: a smart-meter-mbus-dlms ``default.json5`` as our TOML.

smart-meter-mbus-dlms (the Node.js reader, github.com/nooxnet/smart-meter-mbus-dlms,
read at commit 64a69c7b) keeps its settings in ``config/default.json5`` with the
sections ``serialPort``, ``decryption``, ``decoding``, ``mqtt`` and ``debug``.
:data:`ORIGINAL_OPTIONS` is the one table of its options: each with our name, how its
value converts, and what differs.  The config loader asks :func:`new_name` for the
"did you mean" hint when a file still uses a camelCase name.

The file is read with :mod:`json` when it is plain JSON, else with the ``json5``
package (pure Python, no dependencies; the optional extra ``cosem-reader[migrate]``),
because the original's template has comments and unquoted keys.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cosem_reader.app.exit_codes import EX_CONFIG, EX_NOINPUT, EX_OK
from cosem_reader.errors import ConfigError
from cosem_reader.output.mqtt.compat import COMPAT_NAME

__all__ = [
    "COMPAT_NAME",
    "ORIGINAL_OPTIONS",
    "ORIGINAL_SECTIONS",
    "ImportResult",
    "OriginalOption",
    "add_import_command",
    "import_config",
    "new_name",
    "parse_original",
    "run_config_import",
]

#: The original's section names → ours.
ORIGINAL_SECTIONS: Final = {
    "serialPort": "serial",
    "decryption": "decryption",
    "decoding": "decoding",
    "mqtt": "mqtt",
    "debug": "debug",
}


class _NoValueError(Exception):
    """A value that has no place in the TOML; its message becomes the comment."""


@dataclass(frozen=True)
class OriginalOption:
    """One option of the original's template and where it went."""

    original: str
    ours: str
    #: What differs for the user, written as a comment beside the value.
    note: str = ""
    convert: Callable[[Any], Any] | None = None


def _interval_list(value: Any) -> list[int]:
    # The original splits on commas after removing white space, and ignores the whole
    # setting when a piece is not a number (setting-classes.ts stringToNumberArray).
    text = re.sub(r"\s", "", str(value or ""))
    if not text:
        return []
    if not re.fullmatch(r"\d+(,\d+)*", text):
        raise _NoValueError(
            f"{value!r} is not a comma-separated list of numbers; the original "
            "ignored it, so it is left out"
        )
    return [int(piece) for piece in text.split(",")]


def _topic_base(value: Any) -> str:
    text = str(value)
    if not text.endswith("/"):
        # setting-classes.ts replaces a base without a trailing '/' by '/' itself.
        raise _NoValueError(
            f"{text!r} has no trailing '/', so the original published under '/' "
            "instead; set topic_base to the first level your subscribers use"
        )
    stripped = text.rstrip("/")
    if not stripped:
        raise _NoValueError(
            "the original published at the top level ('/…'); set topic_base to "
            "the first level your subscribers use"
        )
    return stripped


def _key(value: Any) -> str:
    text = re.sub(r"\s", "", str(value or ""))
    if not re.fullmatch(r"[0-9A-Fa-f]{32}", text):
        # Never echo the value: it may be a real key with a typo.
        raise _NoValueError("the file's key is not 32 hex digits; write your key here")
    return text.upper()


def _regex(value: Any) -> str:
    try:
        re.compile(str(value))
    except re.error as error:
        raise _NoValueError(f"{value!r} is not a Python regular expression ({error})") from None
    return str(value)


def _optional(value: Any) -> Any:
    if value in ("", None):
        raise _NoValueError("empty in the file")
    return value


def _identifier(_value: Any) -> str:
    return "name"


_DATE_NOTE = (
    "with compat set, as the original; without it epoch is seconds, js milliseconds, "
    "iso and iso-local carry the offset"
)

# The template stops after one APDU; a user running 24/7 has set these to 0.
_STOP_NOTE = "stops reading after this many, as the original did; 0 runs 24/7"

ORIGINAL_OPTIONS: Final[tuple[OriginalOption, ...]] = (
    OriginalOption("serialPort.port", "serial.port"),
    OriginalOption("serialPort.baudRate", "serial.baudrate"),
    OriginalOption("serialPort.dataBits", "serial.bytesize"),
    OriginalOption("serialPort.parity", "serial.parity"),
    OriginalOption("serialPort.stopBits", "serial.stopbits", convert=float),
    OriginalOption("decryption.key", "decryption.key", convert=_key),
    OriginalOption("decoding.obisLanguage", "decoding.language"),
    OriginalOption("decoding.obisNameFormat", "decoding.name_format"),
    OriginalOption(
        "decoding.obisNameDelimiterCharacters",
        "decoding.name_delimiters",
        "the original trims them at the end only; we also merge the runs that an empty part leaves",
    ),
    OriginalOption("mqtt.enabled", "mqtt.enabled"),
    OriginalOption("mqtt.testMode", "mqtt.test_mode"),
    OriginalOption("mqtt.host", "mqtt.host"),
    OriginalOption("mqtt.port", "mqtt.port"),
    OriginalOption("mqtt.rejectUnauthorized", "mqtt.reject_unauthorized"),
    OriginalOption("mqtt.clientId", "mqtt.client_id", convert=_optional),
    OriginalOption("mqtt.username", "mqtt.username", convert=_optional),
    OriginalOption("mqtt.password", "mqtt.password", convert=_optional),
    OriginalOption(
        "mqtt.topicBase", "mqtt.topic_base", "without its trailing '/'", convert=_topic_base
    ),
    OriginalOption(
        "mqtt.topicObisIdentifier",
        "mqtt.topic_identifier",
        "the original published names whatever this said (mqtt-publisher.ts getTopic)",
        convert=_identifier,
    ),
    OriginalOption(
        "mqtt.topicIdentifierInvalidCharsRegex", "mqtt.invalid_characters", convert=_regex
    ),
    OriginalOption(
        "mqtt.topicIdentifierInvalidCharsReplacement", "mqtt.invalid_character_replacement"
    ),
    OriginalOption("mqtt.topicIdentifierReplaceUmlauts", "mqtt.replace_umlauts"),
    OriginalOption(
        "mqtt.publishSingleJson",
        "mqtt.publish_json",
        "topic …/json with compat set, else …/<meter>/state",
    ),
    OriginalOption("mqtt.publishIndividualValues", "mqtt.publish_values"),
    OriginalOption("mqtt.includeUnitInIndividualValues", "mqtt.include_unit"),
    OriginalOption("mqtt.valueDateTimeFormat", "mqtt.date_time_format", _DATE_NOTE),
    OriginalOption("mqtt.minSecondsBetweenMessages", "mqtt.min_interval", convert=float),
    OriginalOption(
        "mqtt.publishIntervalSeconds", "mqtt.publish_at_seconds", convert=_interval_list
    ),
    OriginalOption(
        "mqtt.publishIntervalMinutes", "mqtt.publish_at_minutes", convert=_interval_list
    ),
    OriginalOption("debug.maxBytes", "debug.stop_after_bytes", _STOP_NOTE),
    OriginalOption("debug.maxTelegrams", "debug.stop_after_telegrams", _STOP_NOTE),
    OriginalOption("debug.maxApplicationDataUnits", "debug.stop_after_apdus", _STOP_NOTE),
    OriginalOption("debug.logSerialPort", "debug.log_serial"),
    OriginalOption("debug.logSerialPortMinBytes", "debug.log_serial_min_bytes"),
    OriginalOption("debug.logTelegramRaw", "debug.log_telegram_raw"),
    OriginalOption("debug.logTelegramJson", "debug.log_telegram_json"),
    OriginalOption("debug.logApduRaw", "debug.log_apdu_raw"),
    OriginalOption("debug.logApduJson", "debug.log_apdu_json"),
    OriginalOption("debug.logApduEncryptedRaw", "debug.log_apdu_encrypted_hex"),
    OriginalOption("debug.logApduDecryptedRaw", "debug.log_apdu_decrypted_hex"),
    OriginalOption("debug.logApduCosemJson", "debug.log_cosem_json"),
    OriginalOption("debug.logApduCosemXml", "debug.log_cosem_xml"),
    OriginalOption("debug.logObisValuesJson", "debug.log_obis_json"),
    OriginalOption("debug.logObisValuesPlain", "debug.log_obis_plain"),
    OriginalOption("debug.logTimes", "debug.log_timings"),
)

_BY_ORIGINAL: Final = {option.original: option for option in ORIGINAL_OPTIONS}
_BY_KEY: Final = {option.original.split(".", 1)[1]: option for option in ORIGINAL_OPTIONS}

#: What the original did without being asked, written so the import keeps it.
_IMPLIED: Final = (
    ("mqtt.compat", COMPAT_NAME, "the original's topics, names and payloads"),
    ("mqtt.qos", 0, "the original published with QoS 0"),
    ("mqtt.retain", False, "and without retain"),
    ("mqtt.homeassistant_discovery", False, "the original sent no Home Assistant discovery"),
)


def new_name(name: str) -> str | None:
    """Our ``section.key`` for one of the original's names, or None.

    ``name`` is ``section.key`` (``mqtt.minSecondsBetweenMessages``,
    ``serialPort.baudRate``), a bare key, or a section name (``serialPort``).
    """
    if name in _BY_ORIGINAL:
        ours = _BY_ORIGINAL[name].ours
        return None if ours == name else ours
    bare = name.rsplit(".", 1)[-1]
    if "." not in name and bare in ORIGINAL_SECTIONS and bare != ORIGINAL_SECTIONS[bare]:
        return ORIGINAL_SECTIONS[bare]
    option = _BY_KEY.get(bare)
    # Keys such as host or port are ours too: only a camelCase key is the original's.
    if option is None or bare == option.ours.split(".", 1)[1]:
        return None
    return option.ours


def parse_original(text: str, source: str = "the file") -> dict[str, Any]:
    """The original's settings: plain JSON with the standard library, else JSON5."""
    try:
        data = json.loads(text)
    except ValueError:
        data = _parse_json5(text, source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} holds no settings object", hint="give the original's config/default.json5"
        )
    return data


def _parse_json5(text: str, source: str) -> Any:
    try:
        import json5  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            f"{source} is JSON5 (comments or unquoted keys), which needs the json5 package",
            hint="pip install 'cosem-reader[migrate]' (or: pip install json5)",
        ) from None
    try:
        return json5.loads(text)
    except ValueError as error:
        raise ConfigError(
            f"{source} is not valid JSON5: {error}",
            hint="fix the line it names, or copy the original's file again",
        ) from None


@dataclass(frozen=True)
class ImportResult:
    """The TOML text, and the notes a user should read (one line each)."""

    toml: str
    notes: tuple[str, ...]


def import_config(data: Mapping[str, Any], source: str = "default.json5") -> ImportResult:
    """The TOML equivalent of the original's settings ``data``, with ``mqtt.compat`` set."""
    lines = [
        f"# Converted from {source} (smart-meter-mbus-dlms) by `cosem-reader config import`.",
        "# Check it: cosem-reader config check --config <this file>",
    ]
    notes: list[str] = []
    sections: dict[str, list[str]] = {}
    for option in ORIGINAL_OPTIONS:
        section, key = option.original.split(".", 1)
        table = data.get(section)
        ours_section, ours_key = option.ours.split(".", 1)
        out = sections.setdefault(ours_section, [])
        if not isinstance(table, Mapping) or key not in table:
            out.append(f"# {ours_key}: {option.original} is not in the file; the default applies")
            continue
        out.extend(_convert_line(option, table[key], notes))
    for name, value, why in _IMPLIED:
        ours_section, ours_key = name.split(".", 1)
        sections.setdefault(ours_section, []).append(f"{ours_key} = {_toml(value)}  # {why}")
    _note_unknown(data, notes, lines)
    for section, body in sections.items():
        lines += ["", f"[{section}]", *body]
    return ImportResult("\n".join(lines) + "\n", tuple(notes))


def _convert_line(option: OriginalOption, value: Any, notes: list[str]) -> list[str]:
    key = option.ours.split(".", 1)[1]
    try:
        converted = option.convert(value) if option.convert else value
    except _NoValueError as skip:
        if str(skip) != "empty in the file":
            notes.append(f"{option.original}: {skip}")
        return [f"# {key}: {option.original}: {skip}"]
    line = f"{key} = {_toml(converted)}"
    if option.note:
        line += f"  # {option.note}"
    return [line]


def _note_unknown(data: Mapping[str, Any], notes: list[str], lines: list[str]) -> None:
    for section, table in data.items():
        keys = list(table) if isinstance(table, Mapping) else [None]
        for key in keys:
            name = section if key is None else f"{section}.{key}"
            if name not in _BY_ORIGINAL:
                notes.append(f"{name}: not an option of smart-meter-mbus-dlms; left out")
                lines.append(f"# {name}: not an option of smart-meter-mbus-dlms; left out")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    # json.dumps escapes quotes, backslashes and the C0 controls as TOML wants them;
    # TOML also refuses a raw DEL, which JSON allows.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


# -- the subcommand -------------------------------------------------------------------------


def run_config_import(args: argparse.Namespace) -> int:
    """``cosem-reader config import FILE [-o OUT]``; exit 78 on a problem, 66 without FILE."""
    source = Path(args.file)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        print(
            f"cosem-reader: error: cannot read {source}: {error.strerror}; give the "
            "original's config/default.json5",
            file=sys.stderr,
        )
        return EX_NOINPUT
    try:
        result = import_config(parse_original(text, str(source)), source.name)
        if args.output:
            _write(Path(args.output), result.toml, args.force)
        else:
            sys.stdout.write(result.toml)
    except ConfigError as error:
        print(f"cosem-reader: config error: {error}", file=sys.stderr)
        return EX_CONFIG
    for note in result.notes:
        print(f"cosem-reader: note: {note}", file=sys.stderr)
    return EX_OK


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} exists", hint="choose another -o, or add --force")
    try:
        # The file may hold the key and the broker password: readable by the owner only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise ConfigError(
            f"cannot write {path}: {error.strerror}", hint="choose a writable -o"
        ) from None


def add_import_command(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``import`` to the ``cosem-reader config`` actions."""
    command = actions.add_parser(
        "import",
        help="convert a smart-meter-mbus-dlms default.json5 into a config.toml",
        description="Read smart-meter-mbus-dlms' config/default.json5 and write the "
        "equivalent TOML, with mqtt.compat set so subscribers see the same topics.",
    )
    command.add_argument("file", metavar="FILE", help="the original's default.json5")
    command.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    command.add_argument("--force", action="store_true", help="overwrite OUT")
    command.set_defaults(handler=run_config_import)
