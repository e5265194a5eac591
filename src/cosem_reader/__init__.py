"""cosem-reader: read DLMS/COSEM pushes from smart meters and hand the values on.

Use it as a library::

    from cosem_reader import decode

    for notification in decode(capture, key=bytes.fromhex("…")):
        for reading in notification.readings:
            print(reading.obis, reading.value, reading.unit)

:func:`decode` yields the :class:`Notification` of each complete push;
:class:`StreamDecoder` takes bytes as they come (``feed(chunk)``) and returns every
result in stream order, errors included, never raising for bad input.  The names
below are the public API; everything else may change.  They are imported when first
used, so that ``import cosem_reader`` (and ``cosem-reader --version``) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_PUBLIC = {
    "decode": "cosem_reader.pipeline",
    "decode_capture": "cosem_reader.pipeline",
    "Decoded": "cosem_reader.pipeline",
    "Layer": "cosem_reader.pipeline",
    "StreamDecoder": "cosem_reader.pipeline",
    "Notification": "cosem_reader.cosem.readings",
    "Reading": "cosem_reader.cosem.readings",
    "ObisCode": "cosem_reader.cosem.obis",
    "CipheredApdu": "cosem_reader.security.ciphering",
    "RejectedPushError": "cosem_reader.security.authentication",
    "CosemReaderError": "cosem_reader.errors",
    "FrameError": "cosem_reader.errors",
    "SegmentError": "cosem_reader.errors",
    "SecurityError": "cosem_reader.errors",
    "AxdrError": "cosem_reader.errors",
    "CosemError": "cosem_reader.errors",
    "ConfigError": "cosem_reader.errors",
    "SourceError": "cosem_reader.errors",
}

__all__ = [
    "AxdrError",
    "CipheredApdu",
    "ConfigError",
    "CosemError",
    "CosemReaderError",
    "Decoded",
    "FrameError",
    "Layer",
    "Notification",
    "ObisCode",
    "Reading",
    "RejectedPushError",
    "SecurityError",
    "SegmentError",
    "SourceError",
    "StreamDecoder",
    "__version__",
    "decode",
    "decode_capture",
]

if TYPE_CHECKING:
    from cosem_reader.cosem.obis import ObisCode
    from cosem_reader.cosem.readings import Notification, Reading
    from cosem_reader.errors import (
        AxdrError,
        ConfigError,
        CosemError,
        CosemReaderError,
        FrameError,
        SecurityError,
        SegmentError,
        SourceError,
    )
    from cosem_reader.pipeline import Decoded, Layer, StreamDecoder, decode, decode_capture
    from cosem_reader.security.authentication import RejectedPushError
    from cosem_reader.security.ciphering import CipheredApdu


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'cosem_reader' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
