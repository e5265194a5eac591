"""The APDU half of :class:`~cosem_reader.pipeline.decoder.StreamDecoder`: one complete
APDU, ciphered or not, to its notification, its security header (no key) or the error
that stopped it.

The link-layer half finds the APDUs in the stream; this half deciphers them with the
decoder's keys, lets :class:`~cosem_reader.security.authentication.Authentication`
decide whether they count, and decodes them with the decoder's own schema and readings
plans (what it learned of its meter's layouts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu import decode_apdu, new_schema
from cosem_reader.cosem import dsmr_readings
from cosem_reader.cosem.layouts import ListLayout
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, ReadingsPlans, notification_from_apdu
from cosem_reader.errors import AxdrError, CosemReaderError, FrameError, SecurityError
from cosem_reader.link import dsmr
from cosem_reader.security.authentication import (
    Authentication,
    FrameCounterStore,
    RejectedPushError,
)
from cosem_reader.security.ciphering import (
    CipheredApdu,
    Deciphered,
    Decipherer,
    is_ciphered,
    looks_like_apdu,
    parse_ciphered_apdu,
)

__all__ = ["ApduDecoding", "Counters", "Decoded"]

log = logging.getLogger("cosem_reader.pipeline.decoder")

_make_notification = frozen_constructor(Notification)

#: One result of the pipeline, in stream order.
Decoded = Notification | CipheredApdu | CosemReaderError


@dataclass
class Counters:
    """What a decoder has seen, for the daemon's statistics."""

    frames: int = 0
    apdus: int = 0
    notifications: int = 0
    errors: int = 0


class ApduDecoding:
    """Decoding whole APDUs with the settings of the decoder it is part of."""

    key: bytes | None
    auth_key: bytes | None
    local_zone: tzinfo | None
    system_title: bytes | None
    on_apdu: Callable[[bytes], None] | None
    layouts: Sequence[ListLayout]
    scalers: Mapping[ObisCode, int] | None
    require_authentication: bool | None
    counter_store: FrameCounterStore | None
    learn: bool
    counters: Counters
    _decipherer: Decipherer | None

    def _start_apdu_decoding(self) -> None:
        self._schema = new_schema(learn=self.learn)
        self._plans = ReadingsPlans(enabled=self.learn, shape_books=self._schema.shape_books)
        self._authentication = Authentication(required=False, store=self.counter_store)
        self._tag_warned = False

    def decode_apdu(self, apdu: bytes) -> Decoded:
        """One complete APDU (ciphered or not) to its notification, header or error."""
        self.counters.apdus += 1
        try:
            result = self._decode(apdu)
        except CosemReaderError as error:
            self.counters.errors += 1
            return error
        if isinstance(result, Notification):
            self.counters.notifications += 1
        return result

    def _decode(self, apdu: bytes) -> Notification | CipheredApdu:
        authentication = self._authentication
        required = self.require_authentication
        authentication.required = self.auth_key is not None if required is None else required
        if not is_ciphered(apdu):
            # Only the outer APDU gets here: a ciphered one's plaintext is decoded below.
            authentication.check_plaintext()
            if self.on_apdu is not None:
                self.on_apdu(apdu)
            tree = decode_apdu(apdu, self._schema)
            return notification_from_apdu(
                tree,
                apdu,
                self.local_zone,
                layouts=self.layouts,
                scalers=self.scalers,
                plans=self._plans,
            )
        ciphered = parse_ciphered_apdu(apdu, self.system_title)
        if self.key is None:
            return ciphered
        deciphered = self._decipher(ciphered, self.key)
        authentication.check(ciphered, deciphered)
        if deciphered.tag_verified is False and not self._tag_warned:
            self._tag_warned = True
            log.warning(
                "the pushes carry an authentication tag that is not verified:"
                " no authentication key given (--auth-key)"
            )
        if self.on_apdu is not None:
            self.on_apdu(deciphered.plaintext)
        return self._decode_plaintext(ciphered, deciphered)


    def _decipher(self, ciphered: CipheredApdu, key: bytes) -> Deciphered:
        decipherer = self._decipherer
        # The keys are plain fields: whoever changes one gets a decipherer for the new pair.
        if decipherer is None or decipherer.key != key or decipherer.auth_key != self.auth_key:
            decipherer = self._decipherer = Decipherer(key, self.auth_key)
        try:
            return decipherer.decipher(ciphered)
        except SecurityError as error:
            raise RejectedPushError.about(ciphered, error) from error

    def _decode_plaintext(
        self, ciphered: CipheredApdu, deciphered: Deciphered
    ) -> Notification | CipheredApdu:
        """What a deciphered APDU holds; a wrong key said so when no tag proved the key."""
        plaintext = deciphered.plaintext
        inner: Notification | CipheredApdu
        try:
            if dsmr.is_telegram(plaintext):
                inner = _with_security(
                    _deciphered_telegram(plaintext, self.local_zone), ciphered, deciphered
                )
            elif not looks_like_apdu(plaintext):
                raise AxdrError(f"deciphered APDU starts with unknown tag 0x{plaintext[:1].hex()}")
            elif is_ciphered(plaintext):
                inner = self._decode(plaintext)
                if isinstance(inner, Notification):
                    inner = _with_security(inner, ciphered, deciphered)
            else:
                inner = notification_from_apdu(
                    decode_apdu(plaintext, self._schema),
                    plaintext,
                    self.local_zone,
                    layouts=self.layouts,
                    scalers=self.scalers,
                    plans=self._plans,
                    security=(
                        ciphered.system_title,
                        ciphered.frame_counter,
                        ciphered.security_control,
                        deciphered.tag_verified,
                    ),
                )
        except AxdrError as error:
            if deciphered.tag_verified:
                raise
            title = ciphered.system_title.hex().upper() if ciphered.system_title else "?"
            raise RejectedPushError(
                "the deciphered APDU does not decode: wrong key"
                f" (system title {title}, frame counter {ciphered.frame_counter})",
                hint="check the key from your grid operator's portal (32 hex digits)",
                cause="key", system_title=ciphered.system_title,
                frame_counter=ciphered.frame_counter,
            ) from error
        return inner


def _with_security(
    inner: Notification, ciphered: CipheredApdu, deciphered: Deciphered
) -> Notification:
    """The notification with the security header of the APDU it was deciphered from."""
    # Not dataclasses.replace, which costs four times as much (test_fast_paths pins the
    # field list).
    return _make_notification(
        inner.apdu_type,
        inner.invoke_id,
        inner.timestamp,
        inner.readings,
        inner.apdu,
        inner.tree,
        ciphered.system_title,
        ciphered.frame_counter,
        ciphered.security_control,
        deciphered.tag_verified,
    )


def _deciphered_telegram(plaintext: bytes, local_zone: tzinfo | None) -> Notification:
    """The DSMR telegram a ciphered P1 frame held (Sagemcom T210-D-r, Smarty)."""
    found, _ = dsmr.find_telegram(plaintext, final=True)
    if isinstance(found, FrameError):
        raise found
    assert found is not None  # final: a telegram or an error
    return dsmr_readings.notification_from_telegram(found, local_zone)
