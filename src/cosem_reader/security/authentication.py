"""What an authentication key promises: only authenticated pushes count.

GCM's tag is the only integrity a ciphered push has: without it, a flipped bit in
the ciphertext is a flipped bit in the value, and anyone on the bus can send a
plaintext data-notification.  So when the user gave an authentication key (or
asked for authentication), :class:`Authentication` rejects

* a plaintext push (no ciphering at all),
* a ciphered push without a verified tag (security control without *A*, e.g.
  ``0x20``, or a tag stripped and the SC byte changed to match),
* a push whose frame counter is not above the last authenticated one of its system
  title (a replayed or rolled-back push: the tag of a recorded push stays valid).

The frame counters live in a :class:`FrameCounterStore`; :class:`MemoryCounterStore`
forgets them when the process ends, a persistent store keeps them across restarts.
"""

from __future__ import annotations

from typing import Literal, Protocol

from cosem_reader.errors import SecurityError
from cosem_reader.security.ciphering import CipheredApdu, Deciphered

__all__ = [
    "Authentication",
    "FrameCounterStore",
    "MemoryCounterStore",
    "RejectCause",
    "RejectedPushError",
    "describe_title",
]

#: Why a push was rejected; the daemon logs each cause (per system title) on its own.
RejectCause = Literal["plaintext", "no-tag", "frame-counter", "key"]

_FIX_AUTH = (
    "only authenticated pushes count while an authentication key is set; if this meter"
    " does not authenticate its pushes, set require_authentication = false"
    " (decode: --no-require-authentication)"
)


class FrameCounterStore(Protocol):
    """The last authenticated frame counter per system title."""

    def load(self, system_title: bytes) -> int | None:
        """The last frame counter saved for ``system_title``, None when there is none."""

    def save(self, system_title: bytes, frame_counter: int) -> None:
        """Remember ``frame_counter`` as the last one of ``system_title``."""


class MemoryCounterStore:
    """A :class:`FrameCounterStore` that lives as long as the process."""

    def __init__(self) -> None:
        self._counters: dict[bytes, int] = {}

    def load(self, system_title: bytes) -> int | None:
        """The last frame counter saved for ``system_title``."""
        return self._counters.get(system_title)

    def save(self, system_title: bytes, frame_counter: int) -> None:
        """Remember ``frame_counter`` for ``system_title``."""
        self._counters[system_title] = frame_counter


def describe_title(system_title: bytes | None) -> str:
    """A system title as log lines show it (hex), ``?`` when unknown."""
    return system_title.hex().upper() if system_title else "?"


class RejectedPushError(SecurityError):
    """A push that does not count: why (``cause``), and whose (system title, frame counter)."""

    def __init__(
        self,
        message: str,
        *,
        cause: RejectCause,
        system_title: bytes | None = None,
        frame_counter: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.cause: RejectCause = cause
        self.system_title = system_title
        self.frame_counter = frame_counter

    @classmethod
    def about(cls, ciphered: CipheredApdu, error: SecurityError) -> RejectedPushError:
        """``error`` (a wrong key, a tag mismatch) naming the push it is about."""
        if isinstance(error, RejectedPushError):
            return error
        where = (
            f" (system title {describe_title(ciphered.system_title)},"
            f" frame counter {ciphered.frame_counter})"
        )
        message = error.message if "system title" in error.message else error.message + where
        return cls(message, cause="key", system_title=ciphered.system_title,
                   frame_counter=ciphered.frame_counter, hint=error.hint)


class Authentication:
    """The decisions of one reader (one meter, or one capture) about its pushes.

    ``required`` is what the user asked for; a reader that requires authentication
    but has no authentication key rejects every push, with the fix in the message.
    """

    def __init__(self, *, required: bool, store: FrameCounterStore | None = None) -> None:
        self.required = required
        self.store: FrameCounterStore = store if store is not None else MemoryCounterStore()

    def check_plaintext(self) -> None:
        """A push that came without any ciphering."""
        if self.required:
            raise RejectedPushError(
                "plaintext push rejected: it carries no authentication tag",
                cause="plaintext", hint=_FIX_AUTH,
            )

    def check(self, ciphered: CipheredApdu, deciphered: Deciphered) -> None:
        """A deciphered push: its tag, then its frame counter, which it then records."""
        if not self.required:
            return
        title = ciphered.system_title
        counter = ciphered.frame_counter
        where = f"system title {describe_title(title)}, frame counter {counter}"
        if deciphered.tag_verified is not True:
            what = "has no authentication tag" if deciphered.tag_verified is None else (
                "carries a tag that was not verified (no authentication key given)"
            )
            raise RejectedPushError(
                f"push rejected: it {what} (security control"
                f" 0x{ciphered.security_control:02X}, {where})",
                cause="no-tag", system_title=title, frame_counter=counter,
                hint=_FIX_AUTH if deciphered.tag_verified is None else
                "give the authentication key (--auth-key, 32 hex digits)",
            )
        key = title or b""
        last = self.store.load(key)
        if last is not None and counter <= last:
            how = "repeats" if counter == last else f"goes back from {last}"
            raise RejectedPushError(
                f"push rejected: its frame counter {how} (a replayed push; {where})",
                cause="frame-counter", system_title=title, frame_counter=counter,
                hint="a meter's frame counter only rises; check for a second device"
                " replaying pushes on the bus",
            )
        self.store.save(key, counter)
