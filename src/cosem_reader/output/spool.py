"""The optional MQTT spool: readings waiting for the broker, on disk, across restarts.

One SQLite file (``mqtt.spool``) in WAL mode, ``synchronous = FULL``: a reading is in
the file before :meth:`Spool.add` returns, so it survives a restart, SIGKILL or a power
cut, and the next start sends it first, in order.  A reading leaves the file once the
broker has acknowledged all its messages; those deletions are written in batches
(:meth:`Spool.remove`), so a crash may make the next start send a few readings again
(MQTT QoS 1 is at least once anyway).

What goes into the file is :class:`MeterSpool`'s choice: a reading is written only when
it is at risk, that is while the broker is unreachable or has not yet acknowledged the
reading before it.  With a broker that answers, nothing is written at all, which spares
an SD card; the reading the broker silently vanished under is written with the next one.

The spool is bounded by the bytes of its messages (``mqtt.spool_max_mb``): the oldest
readings go first.  Each meter has its own rows (the ``meter`` column), so meters may
share one file.  A small key-value table ``state`` keeps what else must outlive the
process, such as the last frame counter per system title.

``sqlite3`` is imported when a spool is opened: a daemon without one should not carry
its 2 MB in memory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

from cosem_reader.output.outbox import Message

__all__ = ["MeterSpool", "Spool", "open_spool"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    meter TEXT NOT NULL,
    messages BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
_FRAME_COUNTER = "frame_counter:"


class Spool:
    """Readings of one or more meters in an SQLite file; thread-safe.

    Raises :class:`sqlite3.Error` or :class:`OSError` when the file cannot be opened.
    """

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        #: Readings dropped to keep the bound, since the last reset to 0 by the caller.
        self.dropped = 0
        self._lock = threading.Lock()
        import sqlite3  # noqa: PLC0415 - see the module's docstring

        # isolation_level=None: every statement commits unless inside BEGIN ... COMMIT.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(messages)), 0), COALESCE(MAX(id), 0) FROM readings"
        ).fetchone()
        self._bytes: int = row[0]
        #: The highest reading number in the file when it was opened.
        self.last_number: int = row[1]

    def close(self) -> None:
        """Close the file; what it holds stays for the next start."""
        with self._lock:
            self._db.close()

    # -- readings ----------------------------------------------------------------------

    def add(self, meter: str, number: int, messages: Iterable[Message]) -> bool:
        """Keep one reading's messages as reading ``number`` (numbers give the order).

        False when the file cannot be written (logged): the reading is then kept in
        memory only.
        """
        data = json.dumps(
            [[m.topic, m.payload.decode("utf-8"), m.qos, m.retain] for m in messages],
            separators=(",", ":"),
        ).encode("utf-8")
        import sqlite3  # noqa: PLC0415 - loaded already, with the spool

        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO readings (id, meter, messages) VALUES (?, ?, ?)",
                    (number, meter, data),
                )
            except sqlite3.Error as error:
                logger.error("MQTT spool %s: cannot write (%s); keeping the reading in memory"
                             " only", self.path, error)  # fmt: skip
                return False
            self._bytes += len(data)
            if self._bytes > self.max_bytes:
                self._shrink()
            return True

    def _shrink(self) -> None:
        """Drop the oldest readings until the bound holds (callers hold the lock)."""
        rows = self._db.execute(
            "SELECT id, LENGTH(messages) FROM readings ORDER BY id LIMIT 1000"
        ).fetchall()
        doomed: list[int] = []
        for reading, size in rows:
            if self._bytes <= self.max_bytes * 0.9:  # some room, so this is not per reading
                break
            doomed.append(reading)
            self._bytes -= size
        self._delete(doomed)
        if doomed and self.dropped == 0:
            logger.warning(
                "MQTT spool %s is full (mqtt.spool_max_mb): dropping its oldest readings",
                self.path,
            )
        self.dropped += len(doomed)

    def remove(self, readings: Iterable[int]) -> None:
        """Forget readings the broker has, in one transaction."""
        with self._lock:
            wanted = list(readings)
            if not wanted:
                return
            placeholders = ",".join("?" * len(wanted))
            row = self._db.execute(
                f"SELECT COALESCE(SUM(LENGTH(messages)), 0) FROM readings"  # noqa: S608 - only ?s
                f" WHERE id IN ({placeholders})",
                wanted,
            ).fetchone()
            self._bytes -= row[0]
            self._delete(wanted)

    def _delete(self, readings: list[int]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM readings WHERE id = ?", ((r,) for r in readings))
        self._db.execute("COMMIT")

    def load(self, meter: str) -> list[tuple[int, list[Message]]]:
        """The readings of ``meter`` kept from before, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, messages FROM readings WHERE meter = ? ORDER BY id", (meter,)
            ).fetchall()
        return [
            (reading, [Message(t, p.encode("utf-8"), q, r) for t, p, q, r in json.loads(data)])
            for reading, data in rows
        ]

    # -- state -------------------------------------------------------------------------

    def load_frame_counters(self) -> dict[bytes, int]:
        """The last frame counter kept per system title."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE key LIKE ?", (_FRAME_COUNTER + "%",)
            ).fetchall()
        return {bytes.fromhex(key[len(_FRAME_COUNTER) :]): int(value) for key, value in rows}

    def save_frame_counter(self, system_title: bytes, counter: int) -> None:
        """Keep the last frame counter of ``system_title``."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                (_FRAME_COUNTER + system_title.hex(), counter),
            )


class MeterSpool:
    """One meter's readings in a :class:`Spool`: which to write, when to forget them.

    The publisher numbers every reading with :meth:`number`, reports it with
    :meth:`queued`, the readings the broker has with :meth:`completed` and a lost
    connection (or a stop) with :meth:`secure`.  Not thread-safe: the publisher's lock
    guards it.
    """

    def __init__(self, spool: Spool, meter: str) -> None:
        self.spool = spool
        self.meter = meter
        self._number = spool.last_number
        self._unwritten: dict[int, list[Message]] = {}  # pending, not in the file
        self._done: list[int] = []  # in the file, acknowledged, not yet deleted

    def restore(self) -> list[tuple[int, list[Message]]]:
        """The readings kept from before, oldest first."""
        return self.spool.load(self.meter)

    def number(self) -> int:
        """The next reading's number, above every number in the file."""
        self._number += 1
        return self._number

    def queued(self, number: int, messages: list[Message], at_risk: bool) -> None:
        """A reading is queued; ``at_risk`` when the broker is away or behind."""
        self._unwritten[number] = [m for m in messages if m.kind == "reading"]
        if at_risk:
            self.secure()

    def secure(self) -> None:
        """Write every pending reading not in the file yet (the broker went away)."""
        for number, messages in self._unwritten.items():
            self.spool.add(self.meter, number, messages)
        self._unwritten.clear()

    def completed(self, readings: Iterable[int], drained: bool) -> None:
        """The broker has these readings (or they were dropped); forget them in batches."""
        for reading in readings:
            if self._unwritten.pop(reading, None) is None:
                self._done.append(reading)
        if self._done and (drained or len(self._done) >= 256):
            self.flush()

    def flush(self) -> None:
        """Delete the acknowledged readings from the file now."""
        self.spool.remove(self._done)
        self._done.clear()


class SpoolCounterStore:
    """The last authenticated frame counter per system title, kept in the spool, so that
    a replayed push is refused after a restart too (a ``FrameCounterStore``).

    A counter is written at most once per ``interval`` seconds per system title, and at
    :meth:`flush` (a stop): writing it at every push would cost an SD card a page write
    every few seconds.  After a power cut the counters of the last ``interval`` seconds
    are unknown, so a push recorded in them could be replayed once.
    """

    def __init__(
        self,
        spool: Spool,
        interval: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spool = spool
        self._interval = interval
        self._clock = clock
        self._counters = spool.load_frame_counters()
        self._written_at: dict[bytes, float] = {}
        self._unwritten: set[bytes] = set()

    def load(self, system_title: bytes) -> int | None:
        """The last frame counter of ``system_title``, None when there is none."""
        return self._counters.get(system_title)

    def save(self, system_title: bytes, frame_counter: int) -> None:
        """Remember ``frame_counter``; on disk when ``interval`` has passed since the last write."""
        self._counters[system_title] = frame_counter
        now = self._clock()
        last = self._written_at.get(system_title)
        if last is not None and now - last < self._interval:
            self._unwritten.add(system_title)
            return
        self._spool.save_frame_counter(system_title, frame_counter)
        self._written_at[system_title] = now
        self._unwritten.discard(system_title)

    def flush(self) -> None:
        """Write the counters not on disk yet (before the spool is closed)."""
        for system_title in sorted(self._unwritten):
            self._spool.save_frame_counter(system_title, self._counters[system_title])
        self._unwritten.clear()


def open_spool(path: str | None, max_mb: int) -> Spool | None:
    """The spool at ``path``, None without one or when it cannot be opened (logged)."""
    if not path:
        return None
    import sqlite3  # noqa: PLC0415 - see the module's docstring

    try:
        return Spool(path, max_mb * 1_000_000)
    except (sqlite3.Error, OSError) as error:
        logger.error(
            "mqtt.spool: cannot open %s (%s); readings are kept in memory only;"
            " create its directory and let the service user write there, or remove mqtt.spool",
            path,
            error,
        )
        return None
