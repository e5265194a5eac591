"""xDLMS APDUs: decode any APDU of the COSEM PDU module into an A-XDR tree.

The module's ``XDLMS-APDU`` CHOICE is the entry point: the first byte of an
APDU is its tag (``0x0F`` data-notification, ``0xC4`` get-response, ``0xDB``
general-glo-ciphering, ``0xE0`` general-block-transfer, …).

One quirk is handled here because it would derail the generic walk: Kaifa
MA304 (Norway) and early Kamstrup firmware write the data-notification's
date-time as a tagged ``Data`` octet-string (``09 0C`` + 12 bytes) instead of
the plain A-XDR ``OCTET STRING`` (``0C`` + 12 bytes) the module defines.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cosem_reader.axdr.schema import Schema
from cosem_reader.errors import AxdrError

__all__ = ["DATA_NOTIFICATION", "decode_apdu", "decode_data", "schema"]

DATA_NOTIFICATION = 0x0F
_OCTET_STRING_TAG = 0x09
_DATE_TIME_LENGTH = 12


@cache
def schema() -> Schema:
    """The compiled schema of the generated COSEM PDU module."""
    from cosem_reader.axdr.generated.cosem_pdu import MODULE_NAME, TYPES  # noqa: PLC0415

    return Schema(TYPES, MODULE_NAME)


def _normalise_tagged_date_time(apdu: bytes) -> bytes:
    if (
        len(apdu) > 7
        and apdu[0] == DATA_NOTIFICATION
        and apdu[5] == _OCTET_STRING_TAG
        and apdu[6] == _DATE_TIME_LENGTH
    ):
        return apdu[:5] + apdu[6:]
    return apdu


def decode_apdu(apdu: bytes) -> tuple[str, Any]:
    """Decode one whole xDLMS APDU into ``(alternative_name, value)``.

    Raises :class:`AxdrError` with the ASN.1 path and offset when the bytes do not
    form an APDU of the module, or when bytes are left over after it.
    """
    data = _normalise_tagged_date_time(bytes(apdu))
    tree, end = schema().decode("XDLMS-APDU", data)
    if end != len(data):
        raise AxdrError(
            f"{len(data) - end} bytes left over after the {tree[0]} APDU",
            offset=end,
            path=("XDLMS-APDU", tree[0]),
        )
    return tree  # type: ignore[no-any-return]


def decode_data(data: bytes, offset: int = 0) -> tuple[Any, int]:
    """Decode one ``Data`` value (the A-XDR of a COSEM attribute) at ``offset``."""
    return schema().decode("Data", data, offset)
