"""The A-XDR reader: every Data alternative, any xDLMS APDU, errors with path and offset."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.axdr.apdu import decode_apdu, decode_data, schema
from cosem_reader.axdr.generated.cosem_pdu import TYPES
from cosem_reader.axdr.schema import BitString, decode_length
from cosem_reader.errors import AxdrError
from tests.support.encoder import encode_data, encode_length
from tests.support.strategies import data_values


def _normalise(value: tuple[str, Any]) -> tuple[str, Any]:
    name, item = value
    if name in ("structure", "array"):
        return name, [_normalise(v) for v in item]
    if name == "bit-string":
        return name, (bytes(item.data), item.length)
    if isinstance(item, bytes | bytearray):
        return name, bytes(item)
    return name, item


@given(data_values())
def test_data_round_trips_through_the_test_encoder(value: tuple[str, Any]) -> None:
    """Whatever Data the encoder writes, the reader reads back, to the last byte."""
    encoded = encode_data(value)
    decoded, end = decode_data(encoded)
    assert end == len(encoded)
    assert _normalise(decoded) == _normalise(value)


@given(data_values(), st.data())
def test_truncated_data_raises_axdr_error_with_offset(
    value: tuple[str, Any], data: st.DataObject
) -> None:
    """A Data value cut anywhere raises AxdrError (never IndexError), offset inside the input."""
    encoded = encode_data(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(AxdrError) as caught:
        decode_data(encoded[:cut])
    assert caught.value.offset is None or 0 <= caught.value.offset <= cut
    assert caught.value.path[0] == "Data"


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_axdr_error(data: bytes) -> None:
    """Random bytes decode as an APDU or raise AxdrError; nothing else escapes."""
    with contextlib.suppress(AxdrError):
        decode_apdu(data)


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 65535, 65536, 2**24])
def test_lengths_round_trip(length: int) -> None:
    """The A-XDR length forms: one byte below 128, else 0x8N and N bytes."""
    encoded = encode_length(length)
    assert decode_length(encoded, 0) == (length, len(encoded))


def test_error_names_the_asn1_path_and_offset() -> None:
    """A wrong tag deep in a notification is reported with its ASN.1 path and byte offset."""
    body = encode_data(("structure", [("long-unsigned", 5), ("unsigned", 1)]))
    apdu = b"\x0f" + struct.pack(">I", 7) + b"\x00" + body
    broken = apdu[:-2] + b"\x07" + apdu[-1:]
    with pytest.raises(AxdrError) as caught:
        decode_apdu(broken)
    error = caught.value
    assert error.offset == len(apdu) - 2
    assert error.path == (
        "XDLMS-APDU",
        "data-notification",
        "notification-body",
        "data-value",
        "structure",
        "[1]",
    )
    assert "XDLMS-APDU.data-notification.notification-body.data-value.structure[1]" in str(error)
    assert "tag 7" in str(error)


def test_leftover_bytes_after_an_apdu_are_an_error() -> None:
    """An APDU followed by stray bytes is not taken as decoded."""
    apdu = b"\x0f" + struct.pack(">I", 7) + b"\x00" + encode_data(("unsigned", 3))
    with pytest.raises(AxdrError, match="1 bytes left over"):
        decode_apdu(apdu + b"\x00")


def test_any_xdlms_apdu_decodes_not_only_notifications() -> None:
    """A get-response-normal carrying Data decodes through the same descriptors."""
    apdu = bytes.fromhex("C401C1") + b"\x00" + encode_data(("double-long-unsigned", 12937))
    assert decode_apdu(apdu) == (
        "get-response",
        (
            "get-response-normal",
            {"invoke-id-and-priority": 0xC1, "result": ("data", ("double-long-unsigned", 12937))},
        ),
    )


def test_get_request_with_optional_access_selection() -> None:
    """OPTIONAL components read their presence byte (get-request-normal without selection)."""
    apdu = bytes.fromhex("C001C100030100010800FF0200")
    kind, (variant, request) = decode_apdu(apdu)
    assert (kind, variant) == ("get-request", "get-request-normal")
    assert request["cosem-attribute-descriptor"] == {
        "class-id": 3,
        "instance-id": bytes.fromhex("0100010800FF"),
        "attribute-id": 2,
    }
    assert "access-selection" not in request


def test_compact_array_decodes_its_type_description() -> None:
    """compact-array: a TypeDescription, then the contents as an octet string."""
    value = bytes([19, 1, 0, 2, 18]) + encode_length(4) + b"\x00\x01\x00\x02"
    decoded, end = decode_data(value)
    assert end == len(value)
    assert decoded == (
        "compact-array",
        {
            "contents-description": (
                "array",
                {"number-of-elements": 2, "type-description": ("long-unsigned", None)},
            ),
            "array-contents": b"\x00\x01\x00\x02",
        },
    )


def test_data_has_every_alternative_of_the_module() -> None:
    """The Data CHOICE the reader walks has all 25 alternatives of Green Book 8.3."""
    data = TYPES["Data"]
    assert len(data.alternatives) == 25  # type: ignore[union-attr]
    assert schema().decoder("Data") is schema().decoder("Data")


def test_initiate_response_with_ber_conformance() -> None:
    """The Conformance block inside an InitiateResponse is BER, the rest A-XDR."""
    apdu = bytes.fromhex("0800065F1F040000101D04000007")
    kind, response = decode_apdu(apdu)
    assert kind == "initiateResponse"
    assert response["negotiated-dlms-version-number"] == 6
    assert response["negotiated-conformance"] == BitString(bytes.fromhex("00101D"), 24)
    assert response["server-max-receive-pdu-size"] == 0x0400
    assert response["vaa-name"] == 7
