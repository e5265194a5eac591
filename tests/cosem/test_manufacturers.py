"""One table of FLAG ids serves the command line and Home Assistant discovery (issue 11)."""

from __future__ import annotations

import pytest

from cosem_reader.app.cli import format_text
from cosem_reader.cosem.manufacturers import MANUFACTURERS, flag_id, manufacturer
from cosem_reader.cosem.readings import Notification
from cosem_reader.output import homeassistant


@pytest.mark.parametrize("flag", sorted(MANUFACTURERS))
def test_cli_and_discovery_name_the_same_maker(flag: str) -> None:
    title = flag.encode("ascii") + bytes.fromhex("0102030405")
    push = Notification("data-notification", None, None, (), system_title=title)
    assert f"({MANUFACTURERS[flag]})" in format_text(push, "en", None)
    assert homeassistant.manufacturer(title) == MANUFACTURERS[flag]


def test_the_demo_meter_is_named_in_discovery_too() -> None:
    # The two tables had diverged: discovery called the demo meter "DMO".
    assert homeassistant.manufacturer(b"DMO\x00\x00\x00\x00\x01") == "demo"


def test_flag_id_of_either_case_and_of_no_letters() -> None:
    assert flag_id(b"kfm\x10\x20\x00\x01\x23") == "KFM"
    assert homeassistant.flag_id(b"kfm\x10\x20\x00\x01\x23") == "KFM"
    assert flag_id(b"K1M\x00\x00\x00\x00\x00") is None
    assert flag_id(b"KF") is None
    assert manufacturer(b"QQQ\x00\x00\x00\x00\x00") == "QQQ"
    assert manufacturer(None) is None
