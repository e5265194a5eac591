"""The APDU tags the lower layers look at come from the generated XDLMS-APDU CHOICE;
these are the values of the Green Book (DLMS UA 1000-2, the xDLMS APDU tags)."""

from __future__ import annotations

from cosem_reader.axdr import apdu_tags
from cosem_reader.security import ciphering


def test_the_tags_of_the_apdus_a_meter_pushes() -> None:
    assert apdu_tags.DATA_NOTIFICATION == 0x0F
    assert apdu_tags.EVENT_NOTIFICATION == 0xC2
    assert apdu_tags.GET_RESPONSE == 0xC4
    assert apdu_tags.GENERAL_GLO_CIPHERING == 0xDB
    assert apdu_tags.GENERAL_DED_CIPHERING == 0xDC
    assert apdu_tags.GENERAL_CIPHERING == 0xDD
    assert apdu_tags.GENERAL_BLOCK_TRANSFER == 0xE0


def test_the_ciphered_tags_are_the_glo_ded_and_general_ciphering_alternatives() -> None:
    tags = apdu_tags.CIPHERED_APDU_TAGS
    assert len(tags) == 35
    assert tags[0x21] == "glo-initiateRequest"
    assert tags[0xCC] == "glo-get-response"
    assert tags[0xD7] == "ded-action-response"
    assert tags[0xDB] == "general-glo-ciphering"
    assert tags[0xDD] == "general-ciphering"
    assert 0xDF not in tags  # general-signing is not ciphered
    assert ciphering.CIPHERED_APDU_TAGS is tags


def test_a_plaintext_starts_with_an_unciphered_apdu_tag() -> None:
    assert {
        0x01, 0x08, 0x0E, 0x0F, 0xC0, 0xC2, 0xC4, 0xC5, 0xC7, 0xD8, 0xE0
    } == apdu_tags.PLAIN_APDU_TAGS  # fmt: skip
    assert not apdu_tags.PLAIN_APDU_TAGS & set(apdu_tags.CIPHERED_APDU_TAGS)
