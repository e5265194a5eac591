"""Why a meter is offline follows from the error's class and cause, not its wording."""

from __future__ import annotations

from cosem_reader.app.availability import offline_reason
from cosem_reader.errors import FrameError, SecurityError
from cosem_reader.security.authentication import RejectedPushError


def test_a_push_the_key_cannot_open_is_a_wrong_key_whatever_it_says() -> None:
    error = RejectedPushError("authentication tag does not match", cause="key")
    assert offline_reason(error) == "wrong key"


def test_a_security_error_that_mentions_a_key_is_no_wrong_key() -> None:
    """The decoder's refusal of a plain DSMR telegram names the authentication key; the
    availability said "wrong key" for it, though no key is wrong."""
    error = SecurityError(
        "a plain DSMR telegram arrived, but an authentication key is set: "
        "only authenticated telegrams count"
    )
    assert offline_reason(error) == str(error)


def test_forged_or_replayed_pushes_and_noise_say_nothing_about_availability() -> None:
    for cause in ("plaintext", "no-tag", "frame-counter"):
        assert offline_reason(RejectedPushError("wrong key? no", cause=cause)) is None
    assert offline_reason(FrameError("checksum: wrong key")) is None
