"""The Gurux XML writer of APDUs as it was before the fast writer (issue 14).

Kept unchanged, over :mod:`tests.support.legacy_gurux_data`, as the reference the
faster writer is held to.  (Was ``cosem_reader.output.gurux_xml``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cosem_reader.axdr.schema import BitString
from cosem_reader.security.ciphering import CipheredApdu
from tests.support.legacy_gurux_data import (
    DATA_ELEMENTS,
    DATE_TIME_LENGTH,
    Xml,
    bit_string,
    data_to_xml,
    date_time_text,
    hex_text,
    integer_hex,
    write_data,
)

__all__ = ["DATA_ELEMENTS", "apdu_to_xml", "ciphered_to_xml", "data_to_xml"]

#: Gurux's names of the Data-Access-Result values (its ``ErrorCode`` names).
_DATA_ACCESS_RESULTS: dict[str, str] = {
    "success": "Success",
    "hardware-fault": "HardwareFault",
    "temporary-failure": "TemporaryFailure",
    "read-write-denied": "ReadWriteDenied",
    "object-undefined": "UndefinedObject",
    "object-class-inconsistent": "InconsistentClass",
    "object-unavailable": "UnavailableObject",
    "type-unmatched": "UnmatchedType",
    "scope-of-access-violated": "AccessViolated",
    "data-block-unavailable": "DataBlockUnavailable",
    "long-get-aborted": "LongGetOrReadAborted",
    "no-long-get-in-progress": "NoLongGetOrReadInProgress",
    "long-set-aborted": "LongSetOrWriteAborted",
    "no-long-set-in-progress": "NoLongSetOrWriteInProgress",
    "data-block-number-invalid": "DataBlockNumberInvalid",
    "other-reason": "OtherReason",
}

#: Conformance bits in ASN.1 order (bit 0 first) with Gurux's names; bit 6,
#: reserved-six in Green Book 8.3, is delta-value-encoding in later editions.
_CONFORMANCE_BITS: tuple[str, ...] = (
    "ReservedZero",
    "GeneralProtection",
    "GeneralBlockTransfer",
    "Read",
    "Write",
    "UnconfirmedWrite",
    "DeltaValueEncoding",
    "ReservedSeven",
    "Attribute0SupportedWithSet",
    "PriorityMgmtSupported",
    "Attribute0SupportedWithGet",
    "BlockTransferWithGetOrRead",
    "BlockTransferWithSetOrWrite",
    "BlockTransferWithAction",
    "MultipleReferences",
    "InformationReport",
    "DataNotification",
    "Access",
    "ParameterizedAccess",
    "Get",
    "Set",
    "SelectiveAccess",
    "EventNotification",
    "Action",
)

#: Gurux's element names of the ciphered short forms it knows; the others are
#: named by the same pattern (``glo_`` or ``ded_`` and the service in CamelCase).
_CIPHERED_ELEMENTS: dict[str, str] = {
    "glo-initiateRequest": "glo_InitiateRequest",
    "glo-initiateResponse": "glo_InitiateResponse",
    "glo-readRequest": "glo_ReadRequest",
    "glo-readResponse": "glo_ReadResponse",
    "glo-writeRequest": "glo_WriteRequest",
    "glo-writeResponse": "glo_WriteResponse",
    "glo-confirmedServiceError": "glo_GloConfirmedServiceError",
    "glo-get-request": "glo_GetRequest",
    "glo-get-response": "glo_GetResponse",
    "glo-set-request": "glo_SetRequest",
    "glo-set-response": "glo_SetResponse",
    "glo-action-request": "glo_ActionRequest",
    "glo-action-response": "glo_ActionResponse",
    "ded-get-request": "ded_GetRequest",
    "ded-get-response": "ded_GetResponse",
    "ded-set-request": "ded_SetRequest",
    "ded-set-response": "ded_SetResponse",
    "ded-actionRequest": "ded_ActionRequest",
    "ded-action-response": "ded_ActionResponse",
    "ded-confirmedServiceError": "ded_GloConfirmedServiceError",
    "general-glo-ciphering": "GeneralGloCiphering",
    "general-ded-ciphering": "GeneralDedCiphering",
    "general-ciphering": "GeneralCiphering",
}


# -- the APDUs ----------------------------------------------------------------------------------


def _camel(name: str) -> str:
    """``get-request-normal`` → ``GetRequestNormal``, ``initiateRequest`` → ``InitiateRequest``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _access_result(value: Any) -> str:
    if isinstance(value, str):
        return _DATA_ACCESS_RESULTS.get(value, _camel(value))
    return str(value)


def _write_data_notification(xml: Xml, body: Mapping[str, Any]) -> None:
    xml.start("DataNotification")
    xml.value("LongInvokeIdAndPriority", integer_hex(body["long-invoke-id-and-priority"], 8))
    date_time = bytes(body["date-time"])
    if len(date_time) == DATE_TIME_LENGTH:
        xml.comment(date_time_text(date_time))
    xml.value("DateTime", hex_text(date_time))
    xml.start("NotificationBody")
    xml.start("DataValue")
    write_data(xml, body["notification-body"]["data-value"])
    xml.end("DataValue")
    xml.end("NotificationBody")
    xml.end("DataNotification")


def _write_attribute_descriptor(xml: Xml, descriptor: Mapping[str, Any]) -> None:
    xml.start("AttributeDescriptor")
    xml.comment(str(descriptor["class-id"]))
    xml.value("ClassId", integer_hex(descriptor["class-id"], 4))
    instance = bytes(descriptor["instance-id"])
    xml.comment(".".join(str(byte) for byte in instance))
    xml.value("InstanceId", hex_text(instance))
    xml.value("AttributeId", integer_hex(descriptor["attribute-id"], 2))
    xml.end("AttributeDescriptor")


def _write_access_selection(xml: Xml, selection: Mapping[str, Any] | None) -> None:
    if selection is None:
        return
    xml.start("AccessSelection")
    xml.value("AccessSelector", integer_hex(selection["access-selector"], 2))
    xml.start("AccessParameters")
    write_data(xml, selection["access-parameters"])
    xml.end("AccessParameters")
    xml.end("AccessSelection")


def _write_get_request(xml: Xml, request: tuple[str, Any]) -> None:
    """get-request-normal, -next and -with-list; in a with-list request the access
    selection of each descriptor is written too (Gurux 1.0.203 leaves it out)."""
    kind, body = request
    tags = {
        "get-request-normal": "GetRequestNormal",
        "get-request-next": "GetRequestForNextDataBlock",
        "get-request-with-list": "GetRequestWithList",
    }
    tag = tags.get(kind, _camel(kind))
    xml.start("GetRequest")
    xml.start(tag)
    xml.value("InvokeIdAndPriority", integer_hex(body["invoke-id-and-priority"], 2))
    if kind == "get-request-normal":
        _write_attribute_descriptor(xml, body["cosem-attribute-descriptor"])
        _write_access_selection(xml, body.get("access-selection"))
    elif kind == "get-request-next":
        xml.value("BlockNumber", integer_hex(body["block-number"], 8))
    else:
        items = body["attribute-descriptor-list"]
        xml.start("AttributeDescriptorList", {"Qty": integer_hex(len(items), 2)})
        for item in items:
            xml.start("AttributeDescriptorWithSelection")
            _write_attribute_descriptor(xml, item["cosem-attribute-descriptor"])
            _write_access_selection(xml, item.get("access-selection"))
            xml.end("AttributeDescriptorWithSelection")
        xml.end("AttributeDescriptorList")
    xml.end(tag)
    xml.end("GetRequest")


def _write_get_data_result(xml: Xml, result: tuple[str, Any]) -> None:
    kind, value = result
    if kind == "data":
        xml.start("Data")
        write_data(xml, value)
        xml.end("Data")
    else:
        xml.value("DataAccessError", _access_result(value))


def _write_get_response(xml: Xml, response: tuple[str, Any]) -> None:
    """get-response-normal, -with-datablock (Gurux spells it ``GetResponsewithDataBlock``)
    and -with-list; errors in a list are written as ``DataAccessError`` (Gurux 1.0.203
    drops them)."""
    kind, body = response
    tags = {
        "get-response-normal": "GetResponseNormal",
        "get-response-with-datablock": "GetResponsewithDataBlock",
        "get-response-with-list": "GetResponseWithList",
    }
    tag = tags.get(kind, _camel(kind))
    xml.start("GetResponse")
    xml.start(tag)
    xml.value("InvokeIdAndPriority", integer_hex(body["invoke-id-and-priority"], 2))
    result = body["result"]
    if kind == "get-response-normal":
        xml.start("Result")
        _write_get_data_result(xml, result)
        xml.end("Result")
    elif kind == "get-response-with-datablock":
        xml.start("Result")
        xml.value("LastBlock", "01" if result["last-block"] else "00")
        xml.value("BlockNumber", integer_hex(result["block-number"], 8))
        xml.start("Result")
        block_kind, block = result["result"]
        if block_kind == "raw-data":
            xml.value("RawData", hex_text(block))
        else:
            xml.value("DataAccessResult", _access_result(block))
        xml.end("Result")
        xml.end("Result")
    else:
        xml.start("Result", {"Qty": integer_hex(len(result), 2)})
        for item in result:
            _write_get_data_result(xml, item)
        xml.end("Result")
    xml.end(tag)
    xml.end("GetResponse")


def _write_event_notification(xml: Xml, body: Mapping[str, Any]) -> None:
    xml.start("EventNotificationRequest")
    if "time" in body:
        time = bytes(body["time"])
        if len(time) == DATE_TIME_LENGTH:
            xml.comment(date_time_text(time))
        xml.value("Time", hex_text(time))
    _write_attribute_descriptor(xml, body["cosem-attribute-descriptor"])
    xml.start("AttributeValue")
    write_data(xml, body["attribute-value"])
    xml.end("AttributeValue")
    xml.end("EventNotificationRequest")


def _write_general_block_transfer(xml: Xml, body: Mapping[str, Any]) -> None:
    """Block control: bit 7 last block, bit 6 streaming, bits 0–5 window size."""
    control = int(body["block-control"])
    xml.start("GeneralBlockTransfer")
    xml.comment(f"Last block: {bool(control & 0x80)}")
    xml.comment(f"Streaming: {bool(control & 0x40)}")
    xml.comment(f"Window size: {control & 0x3F}")
    xml.value("BlockControl", integer_hex(control, 2))
    xml.value("BlockNumber", integer_hex(body["block-number"], 4))
    xml.value("BlockNumberAck", integer_hex(body["block-number-ack"], 4))
    xml.value("BlockData", hex_text(body["block-data"]))
    xml.end("GeneralBlockTransfer")


def _write_conformance(xml: Xml, tag: str, conformance: Any) -> None:
    bits = bit_string(conformance)
    xml.start(tag)
    for index, flag in enumerate(bits.bits()):
        if flag == "1" and index < len(_CONFORMANCE_BITS):
            xml.empty("ConformanceBit", {"Name": _CONFORMANCE_BITS[index]})
    xml.end(tag)


def _write_initiate_request(xml: Xml, body: Mapping[str, Any]) -> None:
    """InitiateRequest; response-allowed is written only when FALSE (its default is TRUE)."""
    xml.start("InitiateRequest")
    if "dedicated-key" in body:
        xml.value("DedicatedKey", hex_text(body["dedicated-key"]))
    if body.get("response-allowed") is False:
        xml.value("ResponseAllowed", "false")
    if "proposed-quality-of-service" in body:
        xml.value("ProposedQualityOfService", integer_hex(body["proposed-quality-of-service"], 2))
    xml.value("ProposedDlmsVersionNumber", integer_hex(body["proposed-dlms-version-number"], 2))
    _write_conformance(xml, "ProposedConformance", body["proposed-conformance"])
    xml.value("ProposedMaxPduSize", integer_hex(body["client-max-receive-pdu-size"], 4))
    xml.end("InitiateRequest")


def _write_initiate_response(xml: Xml, body: Mapping[str, Any]) -> None:
    xml.start("InitiateResponse")
    if "negotiated-quality-of-service" in body:
        quality = body["negotiated-quality-of-service"]
        xml.value("NegotiatedQualityOfService", integer_hex(quality, 2))
    version = body["negotiated-dlms-version-number"]
    xml.value("NegotiatedDlmsVersionNumber", integer_hex(version, 2))
    _write_conformance(xml, "NegotiatedConformance", body["negotiated-conformance"])
    xml.value("NegotiatedMaxPduSize", integer_hex(body["server-max-receive-pdu-size"], 4))
    xml.value("VaaName", integer_hex(body["vaa-name"], 4))
    xml.end("InitiateResponse")


def _write_exception_response(xml: Xml, body: Mapping[str, Any]) -> None:
    """ExceptionResponse; the invocation counter of an invocation-counter-error (which
    Gurux 1.0.203 cannot show) goes into a comment."""
    xml.start("ExceptionResponse")
    state = body["state-error"]
    xml.value("StateError", _camel(state) if isinstance(state, str) else str(state))
    error, detail = body["service-error"]
    if detail is not None:
        xml.comment(f"invocation counter {detail}")
    xml.value("ServiceError", _camel(error))
    xml.end("ExceptionResponse")


def _write_general_ciphering_tree(xml: Xml, kind: str, body: Mapping[str, Any]) -> None:
    tag = _CIPHERED_ELEMENTS[kind]
    xml.start(tag)
    xml.value("SystemTitle", hex_text(body["system-title"]))
    xml.value("CipheredService", hex_text(body["ciphered-content"]))
    xml.end(tag)


def _ciphered_element(kind: str) -> str:
    known = _CIPHERED_ELEMENTS.get(kind)
    if known is not None:
        return known
    prefix, _, service = kind.partition("-")
    return f"{prefix}_{_camel(service)}"


_WRITERS: dict[str, Callable[[Xml, Any], None]] = {
    "data-notification": _write_data_notification,
    "get-request": _write_get_request,
    "get-response": _write_get_response,
    "event-notification-request": _write_event_notification,
    "general-block-transfer": _write_general_block_transfer,
    "initiateRequest": _write_initiate_request,
    "initiateResponse": _write_initiate_response,
    "exception-response": _write_exception_response,
}


def _write_generic(xml: Xml, name: str, value: Any) -> None:
    """Any other part of the tree: one element per component, named in CamelCase
    after the ASN.1 module (not Gurux's names; Gurux is not compared here)."""
    tag = _camel(name)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        if value[0] in DATA_ELEMENTS and name in ("data", "list-of-data", "value"):
            xml.start(tag)
            write_data(xml, value)
            xml.end(tag)
            return
        xml.start(tag)
        _write_generic(xml, value[0], value[1])
        xml.end(tag)
    elif isinstance(value, Mapping):
        xml.start(tag)
        for key, item in value.items():
            _write_generic(xml, key, item)
        xml.end(tag)
    elif isinstance(value, list):
        xml.start(tag, {"Qty": integer_hex(len(value), 2)})
        for item in value:
            _write_generic(xml, name if name != "list-of-data" else "data", item)
        xml.end(tag)
    elif value is None:
        xml.empty(tag)
    elif isinstance(value, bool):
        xml.value(tag, "True" if value else "False")
    elif isinstance(value, int):
        xml.value(tag, f"{value:X}" if value >= 0 else str(value))
    elif isinstance(value, bytes | bytearray):
        xml.value(tag, hex_text(value))
    elif isinstance(value, BitString):
        xml.value(tag, value.bits())
    else:
        xml.value(tag, str(value))


def apdu_to_xml(tree: tuple[str, Any], *, comments: bool = True) -> str:
    """The Gurux translator's simple XML for a decoded xDLMS APDU.

    ``tree`` is what :func:`cosem_reader.axdr.apdu.decode_apdu` returns, e.g.
    ``("data-notification", {...})``.  Gurux's element names and nesting are
    written for data-notification, get-request, get-response,
    event-notification-request, general-block-transfer, initiateRequest,
    initiateResponse, exception-response, general-glo/ded-ciphering and the
    ciphered short forms; any other APDU is written generically (element names
    from the ASN.1 module).  ``comments=False`` leaves out the ``<!--…-->`` notes.
    Raises ValueError for a tree that is not a decoded APDU.
    """
    if not (isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[0], str)):
        raise ValueError("expected an APDU tree (alternative_name, value) from decode_apdu")
    kind, body = tree
    xml = Xml(comments)
    writer = _WRITERS.get(kind)
    if writer is not None:
        writer(xml, body)
    elif kind in ("general-glo-ciphering", "general-ded-ciphering"):
        _write_general_ciphering_tree(xml, kind, body)
    elif isinstance(body, bytes | bytearray) and kind.startswith(("glo-", "ded-")):
        # Gurux shows what follows the length: SC, frame counter, ciphertext, tag.
        xml.value(_ciphered_element(kind), hex_text(body))
    else:
        _write_generic(xml, kind, body)
    return xml.text()


def ciphered_to_xml(ciphered: CipheredApdu, *, comments: bool = True) -> str:
    """What the Gurux translator prints for a ciphered APDU it cannot decipher.

    general-glo-ciphering: ``<GeneralGloCiphering><SystemTitle Value="…" />
    <CipheredService Value="…" /></GeneralGloCiphering>``, the ciphered service
    being security control byte ‖ frame counter ‖ ciphertext ‖ authentication tag.
    general-ded-ciphering is ``GeneralDedCiphering`` (Gurux 1.0.203 prints
    ``GeneralGloCiphering`` for it too); the short forms are one element such as
    ``<glo_GetResponse Value="…" />``.  The comment spells out the security header.
    """
    service = (
        bytes([ciphered.security_control])
        + ciphered.frame_counter.to_bytes(4, "big")
        + ciphered.ciphertext
        + (ciphered.auth_tag or b"")
    )
    security = ciphered.security
    note = (
        f"Security control 0x{ciphered.security_control:02X}: suite {security.suite}"
        f"{', authenticated' if security.authenticated else ''}"
        f"{', encrypted' if security.encrypted else ''}"
        f"; frame counter {ciphered.frame_counter}; a key is needed to decipher it"
    )
    xml = Xml(comments)
    tag = _ciphered_element(ciphered.kind)
    if ciphered.kind in ("general-glo-ciphering", "general-ded-ciphering"):
        xml.start(tag)
        xml.comment(note)
        xml.value("SystemTitle", hex_text(ciphered.system_title or b""))
        xml.value("CipheredService", hex_text(service))
        xml.end(tag)
    else:
        xml.comment(note)
        xml.value(tag, hex_text(service))
    return xml.text()
