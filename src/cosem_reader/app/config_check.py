"""``cosem-reader config check``: the effective settings, each with where it came from.

:func:`show_meter` and :func:`show_shared` record what the check shows while app/config
builds the settings (secrets as ``***``, a URL's password too); :func:`render_settings`
prints it as TOML, unset options commented out, or as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cosem_reader.app.options import (
    DEFAULT_ORIGIN,
    METER_KEYS,
    OPTIONS,
    Layer,
    Origin,
    Sourced,
    default_search_path,
)
from cosem_reader.app.settings import MeterSettings, Settings
from cosem_reader.cosem.profiles import KNOWN_PROFILES, profiles_overridden
from cosem_reader.output.mqtt import MqttSettings

__all__ = ["REDACTED", "render_settings", "show_meter", "show_shared"]

REDACTED: Final = "***"


def show_meter(
    shown: dict[str, Any], origins: dict[str, Origin], prefix: str,
    merged: Mapping[str, Sourced], meter: MeterSettings,
) -> None:
    """One meter's options; ``prefix`` is ``meter[i].`` with ``[[meter]]`` tables, else empty."""
    keys = {"key": meter.key, "auth_key": meter.auth_key}
    for key_name, option in METER_KEYS.items():
        target = f"{prefix}{key_name}" if prefix else option.name
        if option.secret:
            shown[target] = REDACTED if keys.get(key_name) is not None else None
        else:
            shown[target] = merged[key_name][0] if key_name in merged else option.default
        origins[target] = merged[key_name][1] if key_name in merged else DEFAULT_ORIGIN


def show_shared(
    shown: dict[str, Any], origins: dict[str, Origin], values: Mapping[str, Sourced],
    *, per_meter_tables: bool, mqtt: MqttSettings,
) -> None:
    """The options all meters share (and the per-meter ones when there are no tables)."""
    for option in OPTIONS:
        if option.per_meter and (option.name in shown or per_meter_tables):
            continue
        value, origin = values.get(option.name, (option.default, DEFAULT_ORIGIN))
        if option.secret:
            shown[option.name] = REDACTED if value is not None else None
        elif option.kind == "url" and isinstance(value, str):
            shown[option.name] = mqtt.redacted()["url"]
        else:
            shown[option.name] = value
        origins[option.name] = origin
    shown["mqtt.enabled"] = mqtt.enabled


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
        tried = ", ".join(str(p) for p in default_search_path())
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
        origin = settings.origins.get(name, DEFAULT_ORIGIN)
        note = "" if origin.layer is Layer.DEFAULT else f"  # from {origin}"
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
