"""Learning what repeats: the bookkeeping shared by the layers that learn a meter's layout.

A meter sends the same layout push after push.  The A-XDR reader
(:mod:`cosem_reader.axdr.shapes`) and the readings walk (:mod:`cosem_reader.cosem.readings`)
each turn a layout they have met twice into something that handles it without
deciding anything again.  :class:`Learner` keeps those learned items, most recent
first and bounded, notes layouts seen once, and backs off when layouts do not
repeat, so a stream of ever new layouts costs next to nothing.

Its state is replaced in single assignments, so threads may share a learner (a race
can at worst learn a layout twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Learner", "Study"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What studying a value found: a key equal for equal layouts and how to build the
#: learned item, or None when the layout cannot be learned.
Study = tuple[Hashable, Callable[[], T]] | None

#: Layouts seen once and waiting for a second sighting.
_MAX_PENDING = 64
#: After a layout that could not be learned, the next misses are not studied:
#: 1, 2, 4, … up to this many.
_MAX_BACKOFF = 64


class Learner(Generic[T]):
    """Learned items, most recent first, and when to study a value to learn another."""

    __slots__ = ("_backoff", "_capacity", "_pending", "_skip", "enabled", "items")

    def __init__(self, capacity: int, *, enabled: bool = True) -> None:
        if capacity < 1:
            raise ValueError("a learner keeps at least one item")
        self._capacity = capacity
        #: Off, nothing is studied: every value takes the long way (tests, benchmarks).
        self.enabled = enabled
        #: What has been learned, the latest first; at most ``capacity`` items.
        self.items: tuple[T, ...] = ()
        self._pending: dict[int, None] = {}
        self._backoff = 0
        self._skip = 0

    def due(self) -> bool:
        """Whether a value that no learned item handled should be studied now."""
        if not self.enabled:
            return False
        if self._skip:
            self._skip -= 1
            return False
        return True

    def study(self, examine: Callable[[], Study[T]]) -> T | None:
        """Examine a value no learned item handled; learn its layout on a second sighting.

        Learning only saves time: whatever goes wrong in it is logged and costs the
        value nothing, since the caller has decoded it the long way already.
        """
        try:
            found = examine()
            if found is None:
                self.unfit()
                return None
            key, make = found
            return self.note(key, make)
        except Exception:  # any failure: see the docstring
            log.debug("a layout could not be learned; the long way goes on", exc_info=True)
            self.unfit()
            return None

    def unfit(self) -> None:
        """The studied value has no layout that can be learned."""
        self._back_off()

    def note(self, key: Hashable, make: Callable[[], T]) -> T | None:
        """The layout of a studied value, by a key that is equal for equal layouts.

        The second time a key is noted, ``make()`` builds the learned item, which is
        kept and returned.
        """
        # Pending layouts are kept by hash: a big layout costs no memory while it
        # waits, and a collision only learns a layout a sighting early.
        key = hash(key)
        if key not in self._pending:
            if len(self._pending) >= _MAX_PENDING:
                self._pending = {}
            self._pending[key] = None
            self._back_off()
            return None
        # pop, not del: another thread may have learned this layout meanwhile.
        self._pending.pop(key, None)
        item = make()
        self.items = (item, *self.items[: self._capacity - 1])
        self._backoff = 0
        return item

    def _back_off(self) -> None:
        self._backoff = min(_MAX_BACKOFF, max(1, self._backoff * 2))
        self._skip = self._backoff
