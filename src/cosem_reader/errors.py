"""The exceptions of cosem-reader: one base class, one subclass per layer.

::

    CosemReaderError
    ├── FrameError        link layer (M-Bus long frame, HDLC frame): length, checksum, stop byte
    ├── SegmentError      transport: segments of one APDU, block transfer
    ├── SecurityError     ciphering: security header, wrong key, GCM tag mismatch
    ├── AxdrError         A-XDR decoding against the ASN.1 descriptors
    ├── CosemError        readings: OBIS codes, scaler/unit, date-time
    ├── ConfigError       configuration: files, flags, environment (also a key in the wrong form)
    └── SourceError       I/O: serial port, capture file, MQTT broker
        └── CaptureError  a capture file (or standard input) that cannot be read as one

Each carries ``offset`` (the byte position in that layer's input, where it
applies) and, for A-XDR, the ASN.1 ``path``.  The parse errors also subclass
:class:`ValueError`, the I/O error :class:`OSError`, so callers that only
know the standard library still catch them.

``str(error)`` is one line meant for a user: what is wrong, and where useful,
how to fix it.
"""

from __future__ import annotations


class CosemReaderError(Exception):
    """Base class of every error cosem-reader raises on purpose."""

    #: Short name of the layer, used in log lines and error messages.
    layer: str = "cosem-reader"

    def __init__(self, message: str, *, offset: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.offset is not None:
            text += f" (at byte {self.offset})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class FrameError(CosemReaderError, ValueError):
    """A link-layer frame (M-Bus long frame, HDLC frame) is malformed."""

    layer = "frame"

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        hint: str | None = None,
        frame_lost: bool = False,
    ) -> None:
        super().__init__(message, offset=offset, hint=hint)
        #: Set by the M-Bus reader: whether a frame was lost in the skipped bytes (one
        #: was rejected, or at least a frame's worth of bytes went by), not just noise
        #: between frames.  The segment joiner then does not join the segments on
        #: either side into one APDU.  (The HDLC joiner drops its open APDU on any
        #: frame error.)
        self.frame_lost = frame_lost


class SegmentError(CosemReaderError, ValueError):
    """The segments or blocks of one APDU do not fit together."""

    layer = "transport"


class SecurityError(CosemReaderError, ValueError):
    """A ciphered APDU cannot be deciphered: bad security header, wrong key, tag mismatch."""

    layer = "security"


class AxdrError(CosemReaderError, ValueError):
    """A-XDR bytes do not match the ASN.1 type they are decoded as.

    ``path`` names where in the ASN.1 value the decoder was, e.g.
    ``XDLMS-APDU.data-notification.notification-body.data-value.structure[3]``.
    """

    layer = "a-xdr"

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        path: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, offset=offset, hint=hint)
        self.path = path

    def __str__(self) -> str:
        where = ".".join(self.path).replace(".[", "[")
        text = f"{where}: {self.message}" if where else self.message
        if self.offset is not None:
            text += f" (at byte {self.offset})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class CosemError(CosemReaderError, ValueError):
    """Decoded COSEM data cannot be turned into readings."""

    layer = "cosem"


class ConfigError(CosemReaderError, ValueError):
    """The configuration (file, flag, environment variable) is invalid."""

    layer = "config"


class SourceError(CosemReaderError, OSError):
    """A byte source or sink (serial port, file, MQTT broker) failed."""

    layer = "source"


class CaptureError(SourceError):
    """A capture (file or standard input) is missing, unreadable or not in the form given."""
