"""The Gurux XML writer of APDUs over the Data writer as it was before the fast one (issue 14).

The APDU half (:mod:`cosem_reader.output.gurux_xml`) did not change; this is that module
loaded a second time with the names it takes from :mod:`cosem_reader.output.gurux_data`
bound to :mod:`tests.support.legacy_gurux_data` instead, so the faster Data writer is held
to the old one inside whole APDUs without a copy of the APDU writer.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.support import legacy_gurux_data

#: The names gurux_xml imports from gurux_data.
_DATA_NAMES = (
    "DATA_ELEMENTS",
    "DATE_TIME_LENGTH",
    "Xml",
    "bit_string",
    "data_to_xml",
    "date_time_text",
    "hex_text",
    "integer_hex",
    "write_data",
)


def _load() -> ModuleType:
    spec = importlib.util.find_spec("cosem_reader.output.gurux_xml")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in _DATA_NAMES:
        setattr(module, name, getattr(legacy_gurux_data, name))
    return module


_LEGACY = _load()
apdu_to_xml = _LEGACY.apdu_to_xml
ciphered_to_xml = _LEGACY.ciphered_to_xml
data_to_xml = legacy_gurux_data.data_to_xml
