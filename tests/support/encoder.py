"""The project's own test encoder: data-notifications from values, ciphered, cut into telegrams.

It writes A-XDR the way the module says (the reverse of :mod:`cosem_reader.axdr.schema`
for ``Data``), so tests and the demo capture never depend on anyone's published
bytes.  Test-only: the package does not ship it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cosem_reader.security.ciphering import encipher

DATA_TAGS = {
    "null-data": 0,
    "array": 1,
    "structure": 2,
    "boolean": 3,
    "bit-string": 4,
    "double-long": 5,
    "double-long-unsigned": 6,
    "octet-string": 9,
    "visible-string": 10,
    "utf8-string": 12,
    "bcd": 13,
    "integer": 15,
    "long": 16,
    "unsigned": 17,
    "long-unsigned": 18,
    "compact-array": 19,
    "long64": 20,
    "long64-unsigned": 21,
    "enum": 22,
    "float32": 23,
    "float64": 24,
    "date-time": 25,
    "date": 26,
    "time": 27,
    "dont-care": 255,
}

INTEGER_FORMATS = {
    "double-long": ">i",
    "double-long-unsigned": ">I",
    "bcd": ">b",
    "integer": ">b",
    "long": ">h",
    "unsigned": ">B",
    "long-unsigned": ">H",
    "long64": ">q",
    "long64-unsigned": ">Q",
    "enum": ">B",
}


def encode_length(length: int) -> bytes:
    """A-XDR length: one byte below 0x80, else 0x81/0x82/0x84 and the bytes."""
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode_data(value: tuple[str, Any]) -> bytes:
    """One ``Data`` value, given as ``(alternative_name, value)`` like the decoder returns it."""
    name, item = value
    tag = bytes([DATA_TAGS[name]])
    if name in ("null-data", "dont-care"):
        return tag
    if name in ("array", "structure"):
        return tag + encode_length(len(item)) + b"".join(encode_data(v) for v in item)
    if name == "boolean":
        return tag + (b"\x01" if item else b"\x00")
    if name == "bit-string":
        data, length = item
        return tag + encode_length(length) + bytes(data)
    if name in INTEGER_FORMATS:
        return tag + struct.pack(INTEGER_FORMATS[name], item)
    if name == "octet-string":
        return tag + encode_length(len(item)) + bytes(item)
    if name in ("visible-string", "utf8-string"):
        raw: bytes = item.encode("latin-1" if name == "visible-string" else "utf-8")
        return tag + encode_length(len(raw)) + raw
    if name in ("float32", "float64", "date-time", "date", "time"):
        return tag + bytes(item)
    raise ValueError(f"cannot encode Data alternative {name}")


def cosem_date_time(
    moment: datetime | None, deviation: int | None = -60, daylight_saving: bool = False
) -> bytes:
    """A COSEM date-time; ``deviation`` is UTC minus local time in minutes, None = not specified."""
    if moment is None:
        return b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
    return struct.pack(
        ">HBBBBBBBhB",
        moment.year,
        moment.month,
        moment.day,
        moment.isoweekday(),
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 10_000,
        -0x8000 if deviation is None else deviation,
        0x80 if daylight_saving else 0x00,
    )


def data_notification(body: tuple[str, Any], invoke_id: int = 1, date_time: bytes = b"") -> bytes:
    """A plaintext data-notification APDU (tag 0x0F)."""
    return (
        b"\x0f"
        + struct.pack(">I", invoke_id)
        + encode_length(len(date_time))
        + date_time
        + encode_data(body)
    )


def obis(code: str) -> tuple[str, bytes]:
    """``"1.0.1.8.0.255"`` as the octet-string Data value of an OBIS code."""
    return ("octet-string", bytes(int(part) for part in code.split(".")))


def scaler_unit(scaler: int, unit: int) -> tuple[str, Any]:
    """The ``structure {integer scaler, enum unit}`` of a register."""
    return ("structure", [("integer", scaler), ("enum", unit)])


@dataclass(frozen=True)
class Register:
    """One register value for a push: OBIS code, raw value, its Data type, scaler, unit."""

    code: str
    raw: int
    data_type: str = "double-long-unsigned"
    scaler: int = 0
    unit: int = 30


def kaifa_ma309m_body(
    moment: datetime,
    registers: Sequence[Register],
    meter_number: str,
    device_name: str,
    deviation: int = -60,
    daylight_saving: bool = False,
) -> tuple[str, Any]:
    """A body in the Kaifa MA309M layout of the KSM-West operators: one structure per quantity."""
    elements: list[tuple[str, Any]] = [
        obis("0.0.1.0.0.255"),
        ("octet-string", cosem_date_time(moment, deviation, daylight_saving)),
        ("structure", [obis("0.0.96.1.0.255"), ("octet-string", meter_number.encode())]),
        ("structure", [obis("0.0.42.0.0.255"), ("octet-string", device_name.encode())]),
    ]
    for register in registers:
        elements.append(
            (
                "structure",
                [
                    obis(register.code),
                    (register.data_type, register.raw),
                    scaler_unit(register.scaler, register.unit),
                ],
            )
        )
    return ("structure", elements)


def flat_body(
    moment: datetime, registers: Iterable[Register], meter_number: str, deviation: int = -60
) -> tuple[str, Any]:
    """A body in the flat Netz NÖ layout: time, (OBIS, value, scaler-unit) runs, meter number."""
    elements: list[tuple[str, Any]] = [("octet-string", cosem_date_time(moment, deviation))]
    for register in registers:
        elements += [
            obis(register.code),
            (register.data_type, register.raw),
            scaler_unit(register.scaler, register.unit),
        ]
    elements.append(("octet-string", meter_number.encode()))
    return ("structure", elements)


def ciphered_push(
    plaintext: bytes,
    key: bytes,
    system_title: bytes,
    frame_counter: int,
    security_control: int = 0x21,
    auth_key: bytes | None = None,
) -> bytes:
    """A general-glo-ciphering APDU around a plaintext APDU."""
    return encipher(
        plaintext,
        key,
        system_title,
        frame_counter,
        security_control=security_control,
        auth_key=auth_key,
    )


def mbus_push(apdu: bytes, max_user_data: int = 247) -> bytes:
    """The wire bytes of one push: the APDU cut into M-Bus long frames (Kaifa fills 247 bytes)."""
    from .mbus_telegrams import split_into_telegrams  # noqa: PLC0415

    return b"".join(split_into_telegrams(apdu, max_user_data=max_user_data))


def kaifa_series(
    start: datetime, count: int, interval: timedelta = timedelta(seconds=5)
) -> list[tuple[datetime, list[Register]]]:
    """Plausible, rising register values of a three-phase household over ``count`` pushes."""
    pushes = []
    energy_import = 12_345_678
    energy_export = 2_345_678
    for index in range(count):
        moment = start + index * interval
        power_import = 1800 + 37 * (index % 11)
        power_export = 0 if index % 3 else 120
        energy_import += power_import * interval.seconds // 3600 + 1
        energy_export += power_export * interval.seconds // 3600
        registers = [
            Register("1.0.32.7.0.255", 2301 + index % 7, "long-unsigned", -1, 35),
            Register("1.0.52.7.0.255", 2298 + index % 5, "long-unsigned", -1, 35),
            Register("1.0.72.7.0.255", 2310 - index % 4, "long-unsigned", -1, 35),
            Register("1.0.31.7.0.255", 312 + index % 13, "long-unsigned", -2, 33),
            Register("1.0.51.7.0.255", 245 + index % 9, "long-unsigned", -2, 33),
            Register("1.0.71.7.0.255", 188 + index % 6, "long-unsigned", -2, 33),
            Register("1.0.1.7.0.255", power_import, "double-long-unsigned", 0, 27),
            Register("1.0.2.7.0.255", power_export, "double-long-unsigned", 0, 27),
            Register("1.0.1.8.0.255", energy_import, "double-long-unsigned", 0, 30),
            Register("1.0.2.8.0.255", energy_export, "double-long-unsigned", 0, 30),
            Register("1.0.3.8.0.255", 456_789 + index, "double-long-unsigned", 0, 32),
            Register("1.0.4.8.0.255", 1_234_567 + 2 * index, "double-long-unsigned", 0, 32),
        ]
        pushes.append((moment, registers))
    return pushes
