"""The layers of the settings, each read into one :class:`Collector`: file, environment, flags.

Every value is converted to its option's type as it is read (:func:`~.option_values.convert`)
and kept with its :class:`~.options.Origin`; every problem is collected, none raised, so
``load_settings`` can report them all at once.
"""

from __future__ import annotations

import difflib
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosem_reader.app.config_import import ORIGINAL_SECTIONS, new_name
from cosem_reader.app.option_values import convert
from cosem_reader.app.options import (
    BY_NAME,
    METER_KEYS,
    OPTIONS,
    SECTIONS,
    Layer,
    Option,
    Origin,
    Sourced,
)
from cosem_reader.cosem.layouts import ListLayout, layout_from_config
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.errors import ConfigError, CosemError
from cosem_reader.output.mqtt import parse_mqtt_url

__all__ = [
    "Collector",
    "check_permissions",
    "read_env_layer",
    "read_file_layer",
    "read_flag_layer",
    "read_toml",
    "url_password",
    "where",
]


def where(origin: str) -> str:
    """`` (in /etc/...)`` for a problem's line, or nothing."""
    return f" ({origin})" if origin else ""


@dataclass
class Collector:
    """Raw values of every layer with their origin, and the problems found so far."""

    problems: list[ConfigError] = field(default_factory=list)
    values: dict[str, Sourced] = field(default_factory=dict)
    meters: list[dict[str, Sourced]] = field(default_factory=list)
    layouts: list[ListLayout] = field(default_factory=list)
    scalers: dict[ObisCode, int] = field(default_factory=dict)

    def problem(self, name: str, text: str, origin: Origin, hint: str | None = None) -> None:
        """One line naming the option, what is wrong and where the value came from."""
        self.problems.append(ConfigError(f"{name}: {text}{where(origin.where)}", hint=hint))

    def convert(self, option: Option, value: Any, origin: Origin, label: str | None = None) -> Any:
        """``value`` as the option's type, or None after noting the problem."""
        try:
            return convert(option, value)
        except ValueError as error:
            self.problem(label or option.name, str(error), origin, getattr(error, "hint", None))
            return None


def read_toml(path: Path) -> dict[str, Any]:
    """The config file's tables; a syntax error names the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None


def _unknown(collector: Collector, name: str, known: Iterable[str], origin: Origin) -> None:
    bare = name.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(bare, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else None
    renamed = new_name(bare if name.startswith("meter[") else name)
    if renamed:
        hint = (f"did you mean {renamed!r}? (smart-meter-mbus-dlms' name; "
                "`cosem-reader config import` converts its default.json5)")
    collector.problem(name, "unknown key", origin, hint)


def read_file_layer(collector: Collector, data: Mapping[str, Any], path: Path) -> None:
    """The TOML file's sections, ``[[meter]]``, ``[[layout]]`` and ``[scalers]``."""
    origin = Origin(Layer.FILE, str(path))
    for section, table in data.items():
        if section == "layout":
            _read_layouts(collector, table, origin)
        elif section == "scalers":
            _read_scalers(collector, table, origin)
        elif section == "meter":
            _read_meters(collector, table, origin)
        elif section in ORIGINAL_SECTIONS and section not in SECTIONS and isinstance(table, dict):
            for key in table:  # each of the original's keys answered with its new name
                _unknown(collector, f"{section}.{key}", (), origin)
        elif section not in SECTIONS:
            _unknown(collector, section, [*SECTIONS, "meter"], origin)
        elif not isinstance(table, dict):
            collector.problem(section, f"expected a [{section}] table, got {table!r}", origin)
        else:
            _read_section(collector, section, table, origin)


def _read_section(
    collector: Collector, section: str, table: Mapping[str, Any], origin: Origin
) -> None:
    for key, value in table.items():
        option = BY_NAME.get(f"{section}.{key}")
        if option is None:
            known = [o.key for o in OPTIONS if o.section == section]
            _unknown(collector, f"{section}.{key}", known, origin)
            continue
        converted = collector.convert(option, value, origin)
        if converted is not None:
            collector.values[option.name] = (converted, origin)


def _read_meters(collector: Collector, table: Any, origin: Origin) -> None:
    tables = [table] if isinstance(table, dict) else table
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        collector.problem("meter", "expected [[meter]] tables", origin)
        return
    for index, meter in enumerate(tables):
        values: dict[str, Sourced] = {}
        for key, value in meter.items():
            label = f"meter[{index}].{key}"
            option = METER_KEYS.get(key)
            if option is None:
                _unknown(collector, label, METER_KEYS, origin)
                continue
            converted = collector.convert(option, value, origin, label)
            if converted is not None:
                values[key] = (converted, origin)
        collector.meters.append(values)


def _read_layouts(collector: Collector, tables: Any, origin: Origin) -> None:
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
                ConfigError(f"{error.message}{where(origin.where)}", hint=error.hint)
            )


def _read_scalers(collector: Collector, table: Any, origin: Origin) -> None:
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


def read_env_layer(collector: Collector, env: Mapping[str, str]) -> None:
    """``COSEM_READER_*``: the flag's name first, then ``<SECTION>_<KEY>``."""
    for option in OPTIONS:
        for name in option.env_names:
            if name in env:
                origin = Origin(Layer.ENV, name)
                converted = collector.convert(option, env[name], origin)
                if converted is not None:
                    collector.values[option.name] = (converted, origin)
                break


def read_flag_layer(collector: Collector, flags: Mapping[str, Any]) -> None:
    """The command line's flags, by their argparse destination."""
    for option in OPTIONS:
        if option.flag is None or option.dest is None:
            continue
        value = flags.get(option.dest)
        if value is None:
            continue
        origin = Origin(Layer.FLAG, option.flag)
        converted = collector.convert(option, value, origin, option.flag)
        if converted is not None:
            collector.values[option.name] = (converted, origin)


def url_password(url: str) -> str | None:
    """The password a URL carries, read by the publisher's own URL parser, if any."""
    try:
        return parse_mqtt_url(url)[4]
    except ConfigError:
        return None


def _holds_secret(data: Mapping[str, Any]) -> bool:
    for section, table in data.items():
        tables = table if isinstance(table, list) else [table]
        for item in tables:
            if not isinstance(item, dict):
                continue
            for key, value in item.items():
                option = BY_NAME.get(f"{section}.{key}") or (
                    METER_KEYS.get(key) if section == "meter" else None
                )
                if option is not None and value and (
                    option.secret or (option.kind == "url" and url_password(str(value)))
                ):
                    return True
    return False


def check_permissions(path: Path, data: Mapping[str, Any]) -> str | None:
    """A warning when a file holding secrets can be read by group or others."""
    if not _holds_secret(data):
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
