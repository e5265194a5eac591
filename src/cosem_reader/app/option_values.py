"""A value from TOML, the environment or a flag, as its :class:`~.options.Option`'s type."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from cosem_reader.app.options import BadValueError, Option
from cosem_reader.errors import ConfigError
from cosem_reader.security.ciphering import parse_key

__all__ = ["convert"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def convert(option: Option, value: Any) -> Any:
    """``value`` from TOML, the environment or a flag as the option's type.

    Raises :class:`ValueError` with the text after ``<option>: ``; the text never
    contains a secret.
    """
    shown = "the given value" if option.secret else repr(value)
    result = _CONVERSIONS[option.kind](option, value, shown)
    if option.kind in ("int", "float"):
        _check_range(option, result)
    if option.check is not None:
        option.check(result)
    return result


def _string(option: Option, value: Any, shown: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown}")
    return value


def _key(option: Option, value: Any, shown: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected 32 hex digits in a string")
    try:
        return parse_key(value, "the key")
    except ConfigError as error:
        raise BadValueError(error.message, error.hint) from None


def _bool(option: Option, value: Any, shown: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {shown}")


def _int(option: Option, value: Any, shown: str) -> int:
    return _integer(value, shown)


def _float(option: Option, value: Any, shown: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {shown}")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a number, got {shown}") from None


def _ints(option: Option, value: Any, shown: str) -> tuple[int, ...]:
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


def _choice(option: Option, value: Any, shown: str) -> str:
    text = str(value).strip().lower() if isinstance(value, str | int | float) else None
    # The spellings of the MQTT version that other tools' configs use.
    if option.name == "mqtt.protocol" and text in ("311", "3", "4", "v311", "3.1.1"):
        text = "3.1.1"
    if option.name == "mqtt.protocol" and text in ("5.0", "v5"):
        text = "5"
    if isinstance(value, bool) or text is None or text not in option.choices:
        raise ValueError(f"expected one of {', '.join(option.choices)}, got {shown}")
    return text


_CONVERSIONS: dict[str, Callable[[Option, Any, str], Any]] = {
    "str": _string, "url": _string, "secret": _string, "key": _key, "bool": _bool,
    "int": _int, "float": _float, "ints": _ints, "choice": _choice,
}


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

