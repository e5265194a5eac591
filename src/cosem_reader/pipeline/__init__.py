"""The layers wired together for a stream of bytes: :class:`StreamDecoder` and :func:`decode`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import tzinfo
from typing import Literal

from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import FrameError, SecurityError, SegmentError
from cosem_reader.pipeline.decoder import Decoded, Layer, StreamDecoder, decode_capture
from cosem_reader.security.ciphering import CipheredApdu

__all__ = ["Decoded", "Layer", "StreamDecoder", "decode", "decode_capture"]

#: What the link layer reports for bytes that are no complete push: a capture that
#: starts or ends in the middle of one, noise on the line.  Never a push that failed.
_NOT_A_PUSH = (FrameError, SegmentError)


def decode(
    data: bytes | Iterable[bytes],
    *,
    key: bytes | None = None,
    auth_key: bytes | None = None,
    layer: Layer = "auto",
    local_zone: tzinfo | None = None,
    require_authentication: bool | None = None,
    errors: Literal["raise", "skip"] = "raise",
) -> Iterator[Notification]:
    """The notifications in a capture, each as soon as its bytes have been read.

    ``data`` is the whole capture, or its pieces in order (a file read in chunks, a
    socket): nothing is kept once a notification has been yielded.  Bytes that make
    no complete push (a capture cut in the middle of one, line noise) are skipped.
    A complete push that fails (a wrong key, a rejected forgery, an APDU that does
    not decode) raises its :class:`~cosem_reader.errors.CosemReaderError`, or is
    skipped with ``errors="skip"``; so is a ciphered push when no ``key`` was given
    (a :class:`~cosem_reader.errors.SecurityError`).  :class:`StreamDecoder` gives
    every result, errors included, for those who want them all.
    """
    decoder = StreamDecoder(
        key=key,
        auth_key=auth_key,
        layer=layer,
        local_zone=local_zone,
        require_authentication=require_authentication,
    )
    pieces = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
    for piece in pieces:
        yield from _notifications(decoder.feed(bytes(piece)), errors)
    yield from _notifications(decoder.flush(), errors)


def _notifications(results: list[Decoded], errors: str) -> Iterator[Notification]:
    for result in results:
        if isinstance(result, Notification):
            yield result
        elif isinstance(result, CipheredApdu):
            if errors == "raise":
                title = result.system_title.hex().upper() if result.system_title else "?"
                raise SecurityError(
                    f"a push from system title {title} is ciphered and no key was given",
                    hint="pass key= with the 16 bytes of the key from your grid operator",
                )
        elif errors == "raise" and not isinstance(result, _NOT_A_PUSH):
            raise result
