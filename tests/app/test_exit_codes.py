"""The exit code of an error follows from its class, never from the words of its message."""

from __future__ import annotations

import pytest

from cosem_reader.app import exit_codes
from cosem_reader.app.exit_codes import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOINPUT,
    EX_OK,
    EX_SOFTWARE,
    EX_UNAVAILABLE,
    exit_code_for,
    most_severe,
)
from cosem_reader.errors import (
    AxdrError,
    CaptureError,
    ConfigError,
    CosemReaderError,
    FrameError,
    SecurityError,
    SourceError,
)
from cosem_reader.security.authentication import RejectedPushError

#: Each message names what another class is about: the words must not move the code.
MISLEADING = "the capture file's key in the config cannot open serial port"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError(MISLEADING), EX_CONFIG),
        (CaptureError(MISLEADING), EX_NOINPUT),
        (SourceError(MISLEADING), EX_UNAVAILABLE),
        (SecurityError(MISLEADING), EX_DATAERR),
        (RejectedPushError(MISLEADING, cause="frame-counter"), EX_DATAERR),
        (FrameError(MISLEADING), EX_DATAERR),
        (AxdrError(MISLEADING), EX_DATAERR),
        (CosemReaderError(MISLEADING), EX_DATAERR),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_the_class_chooses_the_code(error: CosemReaderError, code: int) -> None:
    assert exit_code_for(error) == code


def test_the_codes_are_those_of_sysexits() -> None:
    """systemd's RestartPreventExitStatus=78 and the documented codes rest on these numbers."""
    assert (EX_OK, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE, EX_CONFIG) == (
        0, 65, 66, 69, 70, 78,
    )
    assert exit_codes.EX_USAGE == 64
    assert exit_codes.EX_INTERRUPTED == 130


@pytest.mark.parametrize(
    ("codes", "code"),
    [
        ([], EX_OK),
        ([EX_OK, EX_OK], EX_OK),
        ([EX_DATAERR, EX_OK], EX_DATAERR),
        ([EX_DATAERR, EX_UNAVAILABLE], EX_UNAVAILABLE),
        ([EX_UNAVAILABLE, EX_NOINPUT], EX_NOINPUT),
        ([EX_NOINPUT, EX_CONFIG], EX_CONFIG),
        ([EX_CONFIG, EX_SOFTWARE, EX_OK], EX_SOFTWARE),
    ],
)
def test_several_meters_end_with_the_most_severe_code(codes: list[int], code: int) -> None:
    assert most_severe(codes) == code

