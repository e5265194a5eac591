"""The peers cosem-reader is measured against, each doing what it can of one push.

gurux-dlms (``GXDLMSTranslator`` with the keys set: pure-Python AES, the APDU to XML)
and dlms-cosem (its xDLMS classes, ``security.decrypt`` and its A-XDR ``Data``
parser).  Neither has a push reader for M-Bus long frames or HDLC streams with
general-block-transfer, so they get the APDU that cosem-reader's link and transport
layers joined, prepared outside the timing; the ``scope`` each function returns says
which layers a figure covers.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

#: ``(decode_one, scope)``: decode_one(apdu_or_plaintext) does the peer's work for one push.
Peer = tuple[Callable[[], Any], str]


class _Discard(io.TextIOBase):
    """Gurux prints "Encryption is applied." for every APDU; the bench does not show it."""

    def write(self, text: str) -> int:
        return len(text)


def gurux_available() -> str | None:
    """None when gurux-dlms imports, else why not."""
    try:
        import gurux_dlms  # noqa: F401, PLC0415
    except ImportError as error:
        return f"not installed ({error.name}); pip install -e '.[bench]'"
    return None


def dlms_cosem_available() -> str | None:
    """None when dlms-cosem imports, else why not."""
    try:
        import dlms_cosem  # noqa: F401, PLC0415
    except ImportError as error:
        return f"not installed ({error.name}); pip install -e '.[bench]'"
    return None


def gurux_apdu(apdu: bytes, key: bytes | None, auth_key: bytes | None) -> Callable[[], str]:
    """gurux-dlms: decipher (when ``key``) and decode one APDU to XML, as its translator does."""
    from gurux_dlms import GXByteBuffer, GXDLMSTranslator  # noqa: PLC0415
    from gurux_dlms.enums import Security  # noqa: PLC0415
    from gurux_dlms.enums.TranslatorOutputType import TranslatorOutputType  # noqa: PLC0415

    translator = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    if key is not None:
        translator.blockCipherKey = bytearray(key)
        translator.security = Security.ENCRYPTION
        if auth_key is not None:
            translator.authenticationKey = bytearray(auth_key)
            translator.security = Security.AUTHENTICATION_ENCRYPTION
        # The translator deciphers into its XML comments only.
        translator.comments = True
    sink = _Discard()

    def decode() -> str:
        with contextlib.redirect_stdout(sink):
            xml: str = translator.pduToXml(GXByteBuffer(apdu))
        return xml

    xml = decode()
    if key is not None and "Decrypt data" not in xml:
        raise RuntimeError("gurux-dlms did not decipher the APDU")
    return decode


def dlms_cosem_plaintext(plaintext: bytes) -> Callable[[], Any]:
    """dlms-cosem: a plaintext data-notification and its body as DLMS Data."""
    from dlms_cosem.protocol.xdlms import DataNotification  # noqa: PLC0415
    from dlms_cosem.utils import parse_as_dlms_data  # noqa: PLC0415

    def decode() -> Any:
        notification = DataNotification.from_bytes(plaintext)
        return parse_as_dlms_data(notification.body)

    decode()
    return decode


def dlms_cosem_ciphered(apdu: bytes, key: bytes, auth_key: bytes) -> Callable[[], Any]:
    """dlms-cosem: general-glo-ciphering with a GCM tag, deciphered, then as above."""
    from dlms_cosem import security  # noqa: PLC0415
    from dlms_cosem.protocol.xdlms import DataNotification  # noqa: PLC0415
    from dlms_cosem.protocol.xdlms.general_global_cipher import (  # noqa: PLC0415
        GeneralGlobalCipher,
    )
    from dlms_cosem.utils import parse_as_dlms_data  # noqa: PLC0415

    def decode() -> Any:
        ciphered = GeneralGlobalCipher.from_bytes(apdu)
        plaintext = security.decrypt(
            security_control=ciphered.security_control,
            system_title=ciphered.system_title,
            invocation_counter=ciphered.invocation_counter,
            key=key,
            auth_key=auth_key,
            cipher_text=ciphered.ciphered_text,
        )
        notification = DataNotification.from_bytes(plaintext)
        return parse_as_dlms_data(notification.body)

    decode()
    return decode
