"""DSMR P1 telegrams for tests, written the way a meter writes them (CRC included)."""

from __future__ import annotations

from collections.abc import Sequence

from cosem_reader.link.dsmr import crc16

from .encoder import ciphered_push

#: Sagemcom's FLAG id and a serial, as the Steiermark T210-D-r frames carry them.
SAGEMCOM_SYSTEM_TITLE = b"SAG" + bytes.fromhex("1030012345")


def telegram(identification: str, lines: Sequence[str], *, crc: bool = True) -> bytes:
    """``/identification``, an empty line, the lines and ``!CRC`` (a bare ``!`` without ``crc``)."""
    text = "/" + identification + "\r\n\r\n" + "".join(line + "\r\n" for line in lines) + "!"
    body = text.encode("ascii")
    return body + (f"{crc16(body):04X}".encode() if crc else b"") + b"\r\n"


def ciphered_telegram(
    plaintext: bytes,
    key: bytes,
    auth_key: bytes,
    frame_counter: int = 1,
    system_title: bytes = SAGEMCOM_SYSTEM_TITLE,
) -> bytes:
    """A telegram as the T210-D-r and Smarty write it: general-glo-ciphering, SC 0x30, tag."""
    return ciphered_push(
        plaintext, key, system_title, frame_counter, security_control=0x30, auth_key=auth_key
    )
