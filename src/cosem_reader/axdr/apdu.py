"""xDLMS APDUs: decode any APDU of the COSEM PDU module into an A-XDR tree.

The module's ``XDLMS-APDU`` CHOICE is the entry point: the first byte of an
APDU is its tag (``0x0F`` data-notification, ``0xC4`` get-response, ``0xDB``
general-glo-ciphering, ``0xE0`` general-block-transfer, …).

One quirk is handled here, in :func:`untagged_date_time`, because it would derail
the generic walk: Kaifa MA304 (Norway) and early Kamstrup firmware write the
data-notification's date-time as a tagged ``Data`` octet-string (``09 0C`` + 12
bytes) instead of the plain A-XDR ``OCTET STRING`` (``0C`` + 12 bytes) the module
defines.

Learning is state, so it belongs to whoever decodes a stream: :func:`new_schema`
makes a schema of one's own (a :class:`~cosem_reader.pipeline.decoder.StreamDecoder`
owns one); the shared :func:`schema` learns nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cosem_reader.axdr.apdu_tags import DATA_NOTIFICATION
from cosem_reader.axdr.schema import Schema
from cosem_reader.errors import AxdrError

__all__ = [
    "DATA_NOTIFICATION",
    "decode_apdu",
    "decode_apdu_at_start",
    "decode_data",
    "new_schema",
    "schema",
    "untagged_date_time",
]

_OCTET_STRING_TAG = 0x09
_DATE_TIME_LENGTH = 12


def new_schema(*, learn: bool = True) -> Schema:
    """A schema of the generated COSEM PDU module of one's own; ``learn``: whether its
    ``Data`` learns the layouts it decodes (:mod:`cosem_reader.axdr.shapes`)."""
    from cosem_reader.axdr.generated.cosem_pdu import MODULE_NAME, TYPES  # noqa: PLC0415

    return Schema(TYPES, MODULE_NAME, learn_shapes=learn)


@cache
def schema() -> Schema:
    """The shared schema of the module: compiled once, it learns no layout (no state
    shared between meters or threads beyond the compiled decoders)."""
    return new_schema(learn=False)


def untagged_date_time(apdu: bytes) -> bytes:
    """The APDU as the module defines it: a data-notification's tagged date-time
    (``09 0C``, Kaifa MA304, early Kamstrup) without its ``09``; other APDUs as they are."""
    if (
        len(apdu) > 7
        and apdu[0] == DATA_NOTIFICATION
        and apdu[5] == _OCTET_STRING_TAG
        and apdu[6] == _DATE_TIME_LENGTH
    ):
        return apdu[:5] + apdu[6:]
    return apdu


def decode_apdu_at_start(data: bytes, using: Schema | None = None) -> tuple[tuple[str, Any], int]:
    """The APDU ``data`` begins with, and where it ends in ``data``: what says where
    one of several bare APDUs back to back ends.  Raises :class:`AxdrError`."""
    view = untagged_date_time(data)
    tree, end = (using or schema()).decode("XDLMS-APDU", view)
    return tree, end + len(data) - len(view)


def decode_apdu(apdu: bytes, using: Schema | None = None) -> tuple[str, Any]:
    """Decode one whole xDLMS APDU into ``(alternative_name, value)``.

    Raises :class:`AxdrError` with the ASN.1 path and offset when the bytes do not
    form an APDU of the module, or when bytes are left over after it.
    """
    data = bytes(apdu)
    tree, end = decode_apdu_at_start(data, using)
    if end != len(data):
        raise AxdrError(
            f"{len(data) - end} bytes left over after the {tree[0]} APDU",
            offset=end,
            path=("XDLMS-APDU", tree[0]),
        )
    return tree


def decode_data(data: bytes, offset: int = 0) -> tuple[Any, int]:
    """Decode one ``Data`` value (the A-XDR of a COSEM attribute) at ``offset``."""
    return schema().decode("Data", data, offset)
