"""Meter makers by FLAG id: the three letters that open a DLMS system title.

The FLAG association (DLMS UA) assigns each manufacturer a three-letter id; a meter's
system title starts with it in ASCII (``KFM`` + serial for a Kaifa meter).  This is the
one table the command line and Home Assistant discovery both name a maker from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["MANUFACTURERS", "flag_id", "manufacturer"]

#: FLAG ids of the meters European operators install, plus ``DMO`` for the demo push
#: shipped with cosem-reader (``cosem_reader/demo``).
MANUFACTURERS: Mapping[str, str] = MappingProxyType(
    {
        "KFM": "Kaifa",
        "SAG": "Sagemcom",
        "LGZ": "Landis+Gyr",
        "ISK": "Iskraemeco",
        "KAM": "Kamstrup",
        "ELS": "Elster/Honeywell",
        "SMS": "Siemens",
        "AIM": "Aidon",
        "DMO": "demo",
    }
)


def flag_id(system_title: bytes | None) -> str | None:
    """The FLAG id that opens a system title, upper case (``KFM``), or None.

    Three ASCII letters of either case count (some meters write their id in lower
    case); anything else is a system title without a FLAG id.
    """
    if not system_title or len(system_title) < 3:
        return None
    flag = system_title[:3]
    if not all(0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A for byte in flag):
        return None
    return flag.decode("ascii").upper()


def manufacturer(system_title: bytes | None) -> str | None:
    """The maker named by a system title (``Kaifa``), its FLAG id when unknown, or None."""
    flag = flag_id(system_title)
    if flag is None:
        return None
    return MANUFACTURERS.get(flag, flag)
