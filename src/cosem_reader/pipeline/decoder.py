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

from cosem_reader.axdr.schema import Schema
from cosem_reader.cosem import dsmr_readings
from cosem_reader.cosem.layouts import KNOWN_LAYOUTS, ListLayout
from cosem_reader.cosem.obis import ObisCode
from cosem_reader.errors import (
    CosemReaderError,
    FrameError,
    SecurityError,
    SegmentError,
)
from cosem_reader.link import dsmr, hdlc, mbus
from cosem_reader.pipeline.apdus import ApduDecoding, Counters, Decoded
from cosem_reader.pipeline.bare_apdus import BareApduReader
from cosem_reader.pipeline.probe import LinkProbe, apdu_end
from cosem_reader.security.authentication import (
    FrameCounterStore,
)
from cosem_reader.security.ciphering import (
    Decipherer,
)
from cosem_reader.transport.block_transfer import BlockTransferJoiner
from cosem_reader.transport.hdlc_segments import HdlcApduJoiner
from cosem_reader.transport.mbus_segments import SegmentJoiner

__all__ = ["Decoded", "Layer", "StreamDecoder", "decode_capture"]

log = logging.getLogger(__name__)

Layer = Literal["auto", "mbus", "hdlc", "raw", "dsmr"]

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
class StreamDecoder(ApduDecoding):
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
    counters: Counters = field(default_factory=Counters)
    #: Only authenticated pushes count (see :mod:`cosem_reader.security.authentication`);
    #: None: when an authentication key is given.
    require_authentication: bool | None = None
    #: The last authenticated frame counters (in memory unless given).
    counter_store: FrameCounterStore | None = None
    #: Whether this decoder learns the layouts of its meter's pushes (A-XDR shapes,
    #: readings plans); off, every push takes the walks.
    learn: bool = True

    def __post_init__(self) -> None:
        self._start_apdu_decoding()
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
        self._bare_apdus = BareApduReader(self._apdu_length)
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
        if self._probe is None or self._active is None:
            return self._feed_link(chunk)  # a given layer, or still deciding: no watch
        frames = self.counters.frames
        results = self._feed_link(chunk)
        if self.counters.frames != frames or (
            results and not all(isinstance(result, CosemReaderError) for result in results)
        ):
            self._progressed()
        else:
            results += self._keep_watching(chunk)
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

    def _progressed(self) -> None:
        """The layer in use gave a frame or a result: no watch needed."""
        if self._quiet_bytes or self._unframed:
            self._quiet_bytes = 0
            self._watch = None
            self._unframed.clear()

    def _keep_watching(self, chunk: bytes) -> list[Decoded]:
        """A recognised layer can be wrong (noise made the probe guess) or stop being
        right (another adapter): once ``_WATCH_AFTER`` bytes brought no frame, a second
        probe watches the bytes, and a layer it proves replaces the one in use."""
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
            for apdu in self._bare_apdus.feed(chunk):
                self._on_link_apdu(apdu, results)
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
            for bare in self._bare_apdus.flush():
                self._on_link_apdu(bare, results)
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

    def _apdu_length(self, data: bytes) -> int:
        return apdu_end(data, self.system_title, self._schema)[1]


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
