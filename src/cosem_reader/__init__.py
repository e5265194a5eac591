"""cosem-reader: read DLMS/COSEM push telegrams from smart meters."""

from __future__ import annotations

__version__ = "0.1.0"
