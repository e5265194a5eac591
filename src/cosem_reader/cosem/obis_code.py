"""The OBIS code itself and what is known about one: :class:`ObisCode`, :class:`ObisInfo`.

See :mod:`cosem_reader.cosem.obis` for what the value groups mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from cosem_reader.errors import ConfigError, CosemError

__all__ = [
    "LANGUAGES",
    "MEASUREMENT",
    "NAME_PLACEHOLDERS",
    "TOTAL",
    "TOTAL_INCREASING",
    "ObisCode",
    "ObisInfo",
    "check_language",
]

#: Languages the names exist in.
LANGUAGES: Final = ("en", "de")

#: Placeholders :func:`format_name` replaces.
NAME_PLACEHOLDERS: Final = (
    "medium",
    "channel",
    "measurement",
    "measurementType",
    "tariff",
    "previousMeasurement",
    "name",
    "code",
)

# Home Assistant state classes used by the table.
TOTAL_INCREASING: Final = "total_increasing"
MEASUREMENT: Final = "measurement"
TOTAL: Final = "total"


# --------------------------------------------------------------------------- the code


@dataclass(frozen=True, slots=True, order=True)
class ObisCode:
    """An OBIS code ``A-B:C.D.E*F``: six value groups of one byte each, ordered by group."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    def __post_init__(self) -> None:
        a, b, c, d, e, f = self.a, self.b, self.c, self.d, self.e, self.f
        # The common case in one expression: this runs for every register of every push.
        if (
            type(a) is type(b) is type(c) is type(d) is type(e) is type(f) is int
            and 0 <= a <= 255
            and 0 <= b <= 255
            and 0 <= c <= 255
            and 0 <= d <= 255
            and 0 <= e <= 255
            and 0 <= f <= 255
        ):
            return
        for group, value in zip(
            "abcdef", (self.a, self.b, self.c, self.d, self.e, self.f), strict=True
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
                raise CosemError(
                    f"OBIS value group {group.upper()} is {value!r}, not a byte",
                    hint="each of the six groups A-B:C.D.E*F is 0..255",
                )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> ObisCode:
        """The OBIS code in a 6-byte octet-string (the bytes after ``09 06`` in an APDU)."""
        raw = bytes(data)
        if cls is ObisCode:
            cached = _FROM_BYTES.get(raw)
            if cached is not None:
                return cached
        if len(raw) != 6:
            raise CosemError(
                f"an OBIS code is 6 bytes, got {len(raw)} ({raw.hex()})",
                hint="the octet-string at this position is not a logical name",
            )
        code = cls(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5])
        if cls is ObisCode and len(_FROM_BYTES) < _FROM_BYTES_LIMIT:
            _FROM_BYTES[raw] = code
        return code

    @classmethod
    def parse(cls, text: str) -> ObisCode:
        """Parse an OBIS code from the forms users and documents write.

        Accepted: ``1-0:1.8.0`` (F = 255), ``1-0:1.8.0.255``, ``1-0:1.8.0*255``,
        ``1-0:1.8.0&255``, the dotted ``1.0.1.8.0.255`` and ``1.0.1.8.0`` (F = 255),
        and the electricity short forms ``1.8.0`` and ``1.8.0*1`` which by
        the usual convention of meter displays mean A = 1 (electricity), B = 0.  Abstract
        objects need the full form (``0-0:96.1.0``): ``96.1.0`` would mean ``1-0:96.1.0``.
        """
        stripped = text.strip()
        match = (
            _FULL.fullmatch(stripped) or _DOTTED.fullmatch(stripped) or _SHORT.fullmatch(stripped)
        )
        if match is None:
            raise CosemError(
                f"{text!r} is not an OBIS code",
                hint="write it as A-B:C.D.E (e.g. 1-0:1.8.0), A-B:C.D.E*F or A.B.C.D.E.F",
            )
        groups = match.groupdict()
        a = groups.get("a")
        b = groups.get("b")
        f = groups.get("f")
        return cls(
            int(a) if a is not None else 1,
            int(b) if b is not None else 0,
            int(groups["c"]),
            int(groups["d"]),
            int(groups["e"]),
            int(f) if f is not None else 255,
        )

    def to_bytes(self) -> bytes:
        """The 6-byte logical name."""
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    @property
    def dotted(self) -> str:
        """All six groups with dots, ``1.0.1.8.0.255`` (the form the vectors and MQTT keys use)."""
        return f"{self.a}.{self.b}.{self.c}.{self.d}.{self.e}.{self.f}"

    def __str__(self) -> str:
        """``1-0:1.8.0`` when F is 255 (current value), else ``1-0:1.8.0*F``."""
        text = f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}"
        return text if self.f == 255 else f"{text}*{self.f}"


#: ObisCode.from_bytes by its 6 bytes: a push names the same dozen codes every second.
#: Bounded, so that a line delivering garbage cannot grow it without end.
_FROM_BYTES: dict[bytes, ObisCode] = {}
_FROM_BYTES_LIMIT: Final = 1024

_BYTE = r"\d{1,3}"
_FULL = re.compile(
    rf"(?P<a>{_BYTE})-(?P<b>{_BYTE}):(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})"
    rf"(?:[.*&](?P<f>{_BYTE}))?"
)
# Without A-B: a fourth dotted group would be ambiguous (C.D.E.F or an incomplete A.B.C.D).
_SHORT = re.compile(rf"(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})(?:[*&](?P<f>{_BYTE}))?")
_DOTTED = re.compile(
    rf"(?P<a>{_BYTE})\.(?P<b>{_BYTE})\.(?P<c>{_BYTE})\.(?P<d>{_BYTE})\.(?P<e>{_BYTE})"
    rf"(?:\.(?P<f>{_BYTE}))?"
)


# --------------------------------------------------------------------------- table rows


@dataclass(frozen=True, slots=True)
class ObisInfo:
    """What cosem-reader knows about one OBIS code.

    ``key`` is a slug naming the quantity (``active_energy_import``); it does not carry
    the channel B, so two objects differing only in B share it.  ``unit`` is the unit
    symbol the value is expected in (see :mod:`cosem_reader.cosem.units`), ``device_class``
    and ``state_class`` are Home Assistant's sensor classes (``None`` for identifiers,
    texts and times).
    """

    code: ObisCode
    key: str
    name_en: str
    name_de: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None

    def name(self, language: str = "en") -> str:
        """The name in ``"en"`` or ``"de"``."""
        check_language(language)
        return self.name_de if language == "de" else self.name_en


#: kind → (unit, Home Assistant device class, state class) of the table rows.


def check_language(language: str) -> None:
    """Raises :class:`ConfigError` for a language the names do not exist in."""
    if language not in LANGUAGES:
        raise ConfigError(
            f"unknown name language {language!r}",
            hint=f"use one of {', '.join(LANGUAGES)}",
        )
