"""The garbage collector's settings for a run of many pushes (issue 14; measured).

A push makes a few hundred short-lived objects (readings, decimals, tuples of the
A-XDR tree), freed by their reference counts: none form a cycle.  With CPython's
defaults the collector still scans the young objects every 700 allocations and, every
tenth and hundredth time, the older ones: every module, code object, learned layout
and table loaded at start-up.  Frozen after start-up, those are never scanned again;
the young generation is scanned every 10,000 allocations instead.  On 10,000 Netz NÖ
pushes decoded and written as JSON in one process: 93 µs of CPU per push with the
defaults, 78 µs frozen, 76–84 µs frozen with this threshold (collections per 10,000
pushes: 1,215 → 47), on the 2-core bench VM under load.
"""

from __future__ import annotations

import gc

__all__ = ["DECODE_YOUNG_THRESHOLD", "YOUNG_THRESHOLD", "settle_after_start_up"]

#: Allocations between two scans of the young generation (CPython's default is 700).
YOUNG_THRESHOLD = 10_000
#: The same for ``decode``: the results of a 64 KiB chunk (some 200 pushes, 60,000
#: objects) are alive at once, and a scan every 10,000 allocations went over them again
#: and again.  2,000 Netz NÖ pushes to JSON: 1,686 M instructions at 10,000, 1,647 M
#: at 100,000 (callgrind), the same at 1,000,000.
DECODE_YOUNG_THRESHOLD = 100_000


def settle_after_start_up(*, collect: bool = True, young: int = YOUNG_THRESHOLD) -> None:
    """Keep what start-up loaded out of every later collection, and collect less often.

    ``collect``: free the start-up's garbage first rather than freeze it.  ``decode``
    leaves it out: its start-up leaves no cycle behind (a full collection there finds
    none), and the collection costs about 3 % of it.  ``young``: allocations between two
    scans of the young generation.
    """
    if collect:
        gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
