"""The tags of the xDLMS APDUs, read from the generated module (one declaration: the
``XDLMS-APDU`` CHOICE of ``asn1/COSEMpdu_GB83.asn``), never kept by hand.

The layers below A-XDR look at an APDU's first byte before any walk (is it ciphered,
is it a block of a general-block-transfer, could a meter have pushed it); they take
the tags from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cosem_reader.axdr.descriptors import Choice
from cosem_reader.axdr.generated.cosem_pdu import TYPES

__all__ = [
    "APDU_TAGS",
    "CIPHERED_APDU_TAGS",
    "DATA_NOTIFICATION",
    "EVENT_NOTIFICATION",
    "GENERAL_BLOCK_TRANSFER",
    "GENERAL_CIPHERING",
    "GENERAL_DED_CIPHERING",
    "GENERAL_GLO_CIPHERING",
    "GET_RESPONSE",
    "PLAIN_APDU_TAGS",
    "apdu_tag",
]


def _alternatives() -> Mapping[str, int]:
    choice = TYPES["XDLMS-APDU"]
    assert isinstance(choice, Choice)
    return {alternative.name: alternative.tag for alternative in choice.alternatives}


#: Every alternative of XDLMS-APDU: name → tag.
APDU_TAGS: Final[Mapping[str, int]] = _alternatives()


def apdu_tag(name: str) -> int:
    """The tag of the XDLMS-APDU alternative ``name`` (KeyError for a name not in it)."""
    return APDU_TAGS[name]


DATA_NOTIFICATION: Final = apdu_tag("data-notification")
EVENT_NOTIFICATION: Final = apdu_tag("event-notification-request")
GET_RESPONSE: Final = apdu_tag("get-response")
GENERAL_BLOCK_TRANSFER: Final = apdu_tag("general-block-transfer")
GENERAL_GLO_CIPHERING: Final = apdu_tag("general-glo-ciphering")
GENERAL_DED_CIPHERING: Final = apdu_tag("general-ded-ciphering")
GENERAL_CIPHERING: Final = apdu_tag("general-ciphering")

#: The ciphered alternatives, tag → name: the glo-/ded- forms (an OCTET STRING of
#: ciphered content in the module) and the three general-*-ciphering APDUs.
CIPHERED_APDU_TAGS: Final[Mapping[int, str]] = {
    tag: name
    for name, tag in APDU_TAGS.items()
    if name.startswith(("glo-", "ded-"))
    or tag in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING, GENERAL_CIPHERING)
}

#: The unciphered APDUs a deciphered plaintext is expected to start with.
PLAIN_APDU_TAGS: Final[frozenset[int]] = frozenset(
    apdu_tag(name)
    for name in (
        "initiateRequest",
        "initiateResponse",
        "confirmedServiceError",
        "data-notification",
        "get-request",
        "event-notification-request",
        "get-response",
        "set-response",
        "action-response",
        "exception-response",
        "general-block-transfer",
    )
)
