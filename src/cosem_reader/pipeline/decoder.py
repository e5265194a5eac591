"""The layers wired together: bytes in, notifications (or what went wrong) out.

:class:`StreamDecoder` is what the CLI and the daemon feed.  It recognises the
link layer from the bytes (:mod:`cosem_reader.pipeline.probe`: the first frame that passes
its checksum, or a whole APDU at the start), joins segments and
blocks, deciphers with the user's key and decodes the APDU, and returns for each
APDU either a :class:`~cosem_reader.cosem.readings.Notification`, the
:class:`~cosem_reader.security.ciphering.CipheredApdu` when no key was given, or the error
that stopped it — never raising for bad input, so a daemon loses nothing it
could have decoded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Literal, Protocol

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu import decode_apdu, new_schema
from cosem_reader.axdr.schema import Schema
from cosem_reader.cosem import dsmr_readings
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS, ListLayout
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.cosem.readings import Notification, ReadingsPlans, notification_from_apdu
from cosem_reader.errors import (
    AxdrError,
    CosemReaderError,
    FrameError,
    SecurityError,
    SegmentError,
)
from cosem_reader.link import dsmr, hdlc, mbus
from cosem_reader.pipeline.probe import LinkProbe, apdu_end
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
from cosem_reader.transport.block_transfer import BlockTransferJoiner
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from cosem_reader.transport.mbus_segments import SegmentJoiner

__all__ = ["Decoded", "Layer", "StreamDecoder", "decode_capture"]

log = logging.getLogger(__name__)

_make_notification = frozen_constructor(Notification)

Layer = Literal["auto", "mbus", "hdlc", "raw", "dsmr"]

#: One result of the pipeline, in stream order.
Decoded = Notification | CipheredApdu | CosemReaderError

_MAX_RAW_APDU = 65536
#: Bytes without a frame (or APDU) after which a second probe checks the link layer:
#: more than the longest gap a meter leaves inside a push.
_WATCH_AFTER = 1024
#: The latest bytes that brought no frame, replayed to a new watch: the push that ended
#: the noise may have begun before the watch did (longer than an M-Bus or HDLC push).
_REPLAY = 4096


class _Joiner(Protocol):
    """What joins a link layer's frames into APDUs (M-Bus segments, HDLC segments)."""

    def push(self, frame: Any) -> list[bytes | SegmentError]: ...


@dataclass
class _Counters:
    frames: int = 0
    apdus: int = 0
    notifications: int = 0
    errors: int = 0


@dataclass
class StreamDecoder:
    """Feed it bytes in any chunking; it returns what each complete APDU decoded to."""

    key: bytes | None = None
    auth_key: bytes | None = None
    layer: Layer = "auto"
    local_zone: tzinfo | None = None
    #: For the short glo-* ciphered APDUs, which carry no system title of their own.
    system_title: bytes | None = None
    #: Called with each link-layer frame (for debug logging); never changes the result.
    on_frame: Callable[[mbus.LongFrame | hdlc.HdlcFrame], None] | None = None
    #: Called with each APDU as the link layer delivered it, before deciphering.
    on_link_apdu: Callable[[bytes], None] | None = None
    #: Called with each plaintext APDU (for debug logging); never changes the result.
    on_apdu: Callable[[bytes], None] | None = None
    #: Lists without OBIS codes, tried in order (the user's first, then the known ones).
    layouts: Sequence[ListLayout] = KNOWN_LAYOUTS
    #: Scalers for registers the meter sends without scaler-unit.
    scalers: Mapping[ObisCode, int] | None = None
    counters: _Counters = field(default_factory=_Counters)
    #: Only authenticated pushes count (see :mod:`cosem_reader.security.authentication`);
    #: None: when an authentication key is given.
    require_authentication: bool | None = None
    #: The last authenticated frame counters (in memory unless given).
    counter_store: FrameCounterStore | None = None
    #: Whether this decoder learns the layouts of its meter's pushes (A-XDR shapes,
    #: readings plans); off, every push takes the walks.
    learn: bool = True

    def __post_init__(self) -> None:
        self._schema = new_schema(learn=self.learn)
        self._plans = ReadingsPlans(enabled=self.learn)
        self._authentication = Authentication(required=False, store=self.counter_store)
        self._tag_warned = False
        self._probe = LinkProbe() if self.layer == "auto" else None
        self._active: Layer | None = None if self.layer == "auto" else self.layer
        self._watch: LinkProbe | None = None
        self._quiet_bytes = 0
        #: Whether the layer in use was proven by a frame or guessed from noise.
        self._proven = self.layer != "auto"
        self._unframed = bytearray()
        self._new_link_readers()

    def _new_link_readers(self) -> None:
        self._mbus_reader = mbus.LongFrameReader()
        self._segments = SegmentJoiner()
        self._hdlc_reader = hdlc.HdlcFrameReader()
        self._hdlc_joiner = HdlcApduJoiner()
        self._blocks = BlockTransferJoiner()
        self._raw = b""
        self._p1_reader = dsmr.P1Reader()
        self._decipherer: Decipherer | None = None

    @property
    def schema(self) -> Schema:
        """The A-XDR schema this decoder owns, with the layouts it has learned."""
        return self._schema

    @property
    def active_layer(self) -> Layer | None:
        """The link layer in use (None while auto-detection has not seen enough bytes)."""
        return self._active

    def feed(self, chunk: bytes) -> list[Decoded]:
        """Take the next bytes of the stream; return the results of the APDUs they completed."""
        deciding = self._active is None
        frames = self.counters.frames
        results = self._feed_link(chunk)
        if self._probe is not None and not deciding:
            progressed = self.counters.frames > frames or any(
                not isinstance(result, CosemReaderError) for result in results
            )
            results += self._keep_watching(chunk, progressed)
        return results

    def restart_link(self) -> None:
        """The stream starts over (a reopened port): forget what was half read, and
        recognise the link layer anew unless it was given."""
        self._new_link_readers()
        self._watch = None
        self._quiet_bytes = 0
        self._unframed.clear()
        if self._probe is not None:
            self._probe = LinkProbe()
            self._active = None

    def _keep_watching(self, chunk: bytes, progressed: bool) -> list[Decoded]:
        """A recognised layer can be wrong (noise made the probe guess) or stop being
        right (another adapter): once ``_WATCH_AFTER`` bytes brought no frame, a second
        probe watches the bytes, and a layer it proves replaces the one in use."""
        if progressed:
            self._quiet_bytes = 0
            self._watch = None
            self._unframed.clear()
            return []
        self._quiet_bytes += len(chunk)
        if self._watch is None:
            self._unframed += chunk
            del self._unframed[:-_REPLAY]
            # A guessed layer is watched at once: the pushes after the noise that made
            # the guess must not wait for the quiet bytes of a proven one.
            if self._proven and self._quiet_bytes <= _WATCH_AFTER:
                return []
            self._watch = LinkProbe(at_stream_start=False)
            chunk = bytes(self._unframed)
            self._unframed.clear()
        watch = self._watch
        found = watch.feed(chunk)
        if found is None:
            return []
        self._watch = None
        if not watch.proven:
            return []
        layer, data = found
        if layer != self._active:
            log.info("link layer: %s (was %s, which stopped giving frames)", layer, self._active)
        self._new_link_readers()
        self._active = layer
        self._proven = True
        self._quiet_bytes = 0
        return self._feed_link(data)

    def _feed_link(self, chunk: bytes) -> list[Decoded]:
        if self._active is None:
            assert self._probe is not None
            found = self._probe.feed(chunk)
            if found is None:
                return []
            self._active, chunk = found
            self._proven = self._probe.proven
            if not self._proven:
                self._unframed[:] = chunk[-_REPLAY:]
            log.debug("link layer: %s", self._active)
        results: list[Decoded] = []
        if self._active == "mbus":
            for frame in self._mbus_reader.feed(chunk):
                self._on_frame(frame, self._segments, results)
        elif self._active == "hdlc":
            for hdlc_frame in self._hdlc_reader.feed(chunk):
                self._on_frame(hdlc_frame, self._hdlc_joiner, results)
        elif self._active == "dsmr":
            for item in self._p1_reader.feed(chunk):
                self._on_p1(item, results)
        else:
            self._raw += chunk
            self._drain_raw(results, final=False)
        return results

    def flush(self) -> list[Decoded]:
        """End of stream: report what was left incomplete."""
        results: list[Decoded] = []
        if self._active is None:
            assert self._probe is not None
            self._active, data = self._probe.give_up()
            results += self.feed(data)
        if self._active == "mbus":
            for frame in self._mbus_reader.flush():
                self._on_frame(frame, self._segments, results)
            for segment_error in self._segments.flush():
                self._error(segment_error, results)
        elif self._active == "hdlc":
            for hdlc_frame in self._hdlc_reader.flush():
                self._on_frame(hdlc_frame, self._hdlc_joiner, results)
            for apdu in self._hdlc_joiner.flush():
                self._on_link_apdu(apdu, results)
        elif self._active == "raw":
            self._drain_raw(results, final=True)
        elif self._active == "dsmr":
            for item in self._p1_reader.flush():
                self._on_p1(item, results)
        for leftover in self._blocks.flush():
            if isinstance(leftover, CosemReaderError):
                self._error(leftover, results)
            else:
                results.append(self.decode_apdu(leftover))
        return results

    # -- link layers -------------------------------------------------------------------

    def _error(self, error: CosemReaderError, results: list[Decoded]) -> None:
        self.counters.errors += 1
        results.append(error)

    def _on_frame(
        self,
        frame: mbus.LongFrame | hdlc.HdlcFrame | CosemReaderError,
        joiner: _Joiner,
        results: list[Decoded],
    ) -> None:
        """One frame, or link-layer error, of either link layer, through its joiner."""
        if isinstance(frame, CosemReaderError):
            # A lost frame in the middle of a segmented APDU must not let its
            # neighbours be joined into a wrong one: the joiner drops what is open.
            if isinstance(frame, FrameError):
                for apdu in joiner.push(frame):
                    self._on_link_apdu(apdu, results)
            self._error(frame, results)
            return
        self.counters.frames += 1
        if self.on_frame is not None:
            self.on_frame(frame)
        for apdu in joiner.push(frame):
            self._on_link_apdu(apdu, results)

    def _on_link_apdu(self, apdu: bytes | CosemReaderError, results: list[Decoded]) -> None:
        if isinstance(apdu, CosemReaderError):
            self._error(apdu, results)
            return
        if self.on_link_apdu is not None:
            self.on_link_apdu(apdu)
        for joined in self._blocks.push(apdu):
            if isinstance(joined, CosemReaderError):
                self._error(joined, results)
            else:
                results.append(self.decode_apdu(joined))

    def _on_p1(self, item: dsmr.Telegram | bytes | FrameError, results: list[Decoded]) -> None:
        """A plain DSMR telegram, a ciphered P1 frame (an APDU) or what went wrong."""
        if isinstance(item, FrameError):
            self._error(item, results)
        elif isinstance(item, bytes):
            self.counters.frames += 1
            self._on_link_apdu(item, results)
        elif self.auth_key is not None:
            # Anyone can write plain text onto the line: with a key to check, it counts not.
            self._error(
                SecurityError(
                    "a plain DSMR telegram arrived, but an authentication key is set: "
                    "only authenticated telegrams count",
                    hint="drop the authentication key if the meter sends plain telegrams",
                ),
                results,
            )
        else:
            self.counters.frames += 1
            self.counters.notifications += 1
            results.append(dsmr_readings.notification_from_telegram(item, self.local_zone))

    def _drain_raw(self, results: list[Decoded], *, final: bool) -> None:
        """Bare APDUs back to back: A-XDR says where each one ends."""
        while self._raw:
            llc = hdlc.llc_header_length(self._raw)
            try:
                end = llc + self._apdu_length(self._raw[llc:])
            except CosemReaderError as error:
                # Bare APDUs have no framing to resync on: an error means the APDU
                # has not fully arrived yet, unless the stream has ended.
                if not final and len(self._raw) < _MAX_RAW_APDU:
                    return
                self._error(_not_an_apdu(error, len(self._raw)), results)
                self._raw = b""
                return
            apdu, self._raw = self._raw[llc:end], self._raw[end:]
            self._on_link_apdu(apdu, results)

    def _apdu_length(self, data: bytes) -> int:
        return apdu_end(data, self.system_title, self._schema)[1]

    # -- APDU --------------------------------------------------------------------------

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
        inner = self._decode_plaintext(ciphered, deciphered)
        if isinstance(inner, Notification):
            # Not dataclasses.replace: this runs for every push, and replace() costs
            # four times as much (test_fast_paths pins the field list).
            inner = _make_notification(
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
        return inner


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
                inner = _deciphered_telegram(plaintext, self.local_zone)
            elif not looks_like_apdu(plaintext):
                raise AxdrError(f"deciphered APDU starts with unknown tag 0x{plaintext[:1].hex()}")
            elif is_ciphered(plaintext):
                inner = self._decode(plaintext)
            else:
                inner = notification_from_apdu(
                    decode_apdu(plaintext, self._schema),
                    plaintext,
                    self.local_zone,
                    layouts=self.layouts,
                    scalers=self.scalers,
                    plans=self._plans,
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


def _deciphered_telegram(plaintext: bytes, local_zone: tzinfo | None) -> Notification:
    """The DSMR telegram a ciphered P1 frame held (Sagemcom T210-D-r, Smarty)."""
    found, _ = dsmr.find_telegram(plaintext, final=True)
    if isinstance(found, FrameError):
        raise found
    assert found is not None  # final: a telegram or an error
    return dsmr_readings.notification_from_telegram(found, local_zone)


def _not_an_apdu(error: CosemReaderError, size: int) -> FrameError:
    """Bytes between bare APDUs that are none: lost to the link layer, like noise
    between frames, not a push that failed."""
    log.debug("bare APDU does not decode: %s", error)
    return FrameError(
        f"skipped {size} bytes that are no complete APDU",
        hint="the capture is cut off, or holds no bare APDUs; check --layer",
    )


def decode_capture(
    data: bytes,
    *,
    key: bytes | None = None,
    auth_key: bytes | None = None,
    layer: Layer = "auto",
    local_zone: tzinfo | None = None,
    require_authentication: bool | None = None,
) -> list[Decoded]:
    """Decode a whole capture (all its pushes) at once."""
    decoder = StreamDecoder(key=key, auth_key=auth_key, layer=layer, local_zone=local_zone,
                            require_authentication=require_authentication)
    return decoder.feed(data) + decoder.flush()
