"""``bench/run.py --only bigcapture``: time and memory per push over a capture of 1 GB.

A capture of distinct Netz NÖ-style pushes (bench/captures.py) is written to a
temporary file in pieces, never held whole; ``cosem-reader decode FILE --format
json`` reads it as a whole process on one core, its standard output a pipe the
bench reads as it comes.  The bench checks every push arrives (frame counters
1, 2, 3, … without a gap or a repeat), notes the wall and CPU time of each tenth
of the pushes and samples the process' VmRSS every 0.2 s: the time per push and
the memory must stay flat from the first tenth to the last.  ``read --replay -``
(the daemon's path, no broker) then reads the first 100 MB of the same file from
its standard input, watched the same way.

Making 3 million pushes with the test encoder would take longer than decoding
them, so a block of a few thousand plaintexts is made once and repeated: each
repetition rewrites, at offsets found in the block with the encoder's own
functions, the invoke id, both time stamps (one second per push on from the last)
and the meter number, and raises the energy registers by the block's own rise
(plausibility must see them rise); then each push is ciphered with its own frame
counter.  Push ``k`` is what the test encoder makes from those values
(tests/test_bench_capture.py holds the two to it).
"""

from __future__ import annotations

import itertools
import math
import os
import re
import resource
import select
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import captures
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.support.encoder import (
    INTEGER_FORMATS,
    cosem_date_time,
    encode_data,
    kaifa_series,
    mbus_push,
    obis,
)

#: Plaintexts made by the test encoder; the capture repeats them with new fields.
BLOCK = 2000
INTERVAL = timedelta(seconds=1)
#: Pushes written to the file at a time.
PIECE = 1000
SLICES = 10
RSS_EVERY = 0.2
_FRAME_COUNTER = re.compile(rb'"frame_counter": (\d+)')


def _only(haystack: bytes, needle: bytes, times: int = 1) -> list[int]:
    """Where ``needle`` is in ``haystack``; it must be there exactly ``times`` times."""
    found = [match.start() for match in re.finditer(re.escape(needle), haystack)]
    if len(found) != times:
        raise RuntimeError(f"{needle.hex()} is {len(found)} times in the plaintext, not {times}")
    return found


def is_energy(code: str) -> bool:
    """An energy register (``1-b:c.8.e``): plausibility wants it to rise."""
    return code.split(".")[3] == "8"


class Block:
    """``size`` plaintexts made by the test encoder, and where each push's own fields are."""

    def __init__(self, size: int = BLOCK, interval: timedelta = INTERVAL) -> None:
        series = kaifa_series(captures.START, size, interval)
        self.size, self.interval = size, interval
        self.plaintexts = [captures.plaintext(index, *push) for index, push in enumerate(series)]
        if len({len(plaintext) for plaintext in self.plaintexts}) != 1:
            raise RuntimeError("the block's plaintexts differ in length: no fixed offsets")
        # The second push: the first one's invoke id and meter number are mostly zeros.
        moment, registers = series[1]
        sample = self.plaintexts[1]
        (self.invoke_id_at,) = _only(sample, struct.pack(">I", captures.invoke_id(1)))
        self.date_time_at = _only(sample, cosem_date_time(moment, captures.DEVIATION), 2)
        (self.meter_number_at,) = _only(sample, captures.meter_number(1))
        #: (offset, struct format, rise per repetition) of each energy register.
        self.energies: list[tuple[int, str, int]] = []
        first = {register.code: register.raw for register in series[0][1]}
        last = {register.code: register.raw for register in series[-1][1]}
        for register in registers:
            if not is_energy(register.code):
                continue
            value = encode_data((register.data_type, register.raw))
            (at,) = _only(sample, encode_data(obis(register.code)) + value)
            # One more step than the block rises by: the next repetition goes on rising.
            rise = last[register.code] - first[register.code] + register.raw - first[register.code]
            offset = at + len(encode_data(obis(register.code))) + 1
            self.energies.append((offset, INTEGER_FORMATS[register.data_type], rise))

    def plaintext(self, index: int) -> bytes:
        """Push ``index``'s plaintext: block push ``index % size`` with push ``index``'s fields."""
        repetition, base = divmod(index, self.size)
        if not repetition:
            return self.plaintexts[base]
        plaintext = bytearray(self.plaintexts[base])
        struct.pack_into(">I", plaintext, self.invoke_id_at, captures.invoke_id(index))
        date_time = cosem_date_time(captures.START + index * self.interval, captures.DEVIATION)
        for at in self.date_time_at:
            plaintext[at : at + len(date_time)] = date_time
        number = captures.meter_number(index)
        plaintext[self.meter_number_at : self.meter_number_at + len(number)] = number
        for at, form, rise in self.energies:
            (raw,) = struct.unpack_from(form, plaintext, at)
            struct.pack_into(form, plaintext, at, raw + repetition * rise)
        return bytes(plaintext)


class Encipherer:
    """``captures.ciphered`` for plaintexts of one length, without a cipher context per push.

    GCM without tag is CTR from counter block 2 on, so the key stream of a push is one
    call of a kept ECB context over its counter blocks.  The bytes in front of the
    ciphertext are taken from ``captures.ciphered`` itself, and the result is checked
    against it once here.
    """

    def __init__(self, plaintext: bytes) -> None:
        slow = captures.ciphered(plaintext, 0)
        self._size = len(plaintext)
        frame_counter = captures.frame_counter(0).to_bytes(4, "big")
        self._head = slow[: len(slow) - self._size - len(frame_counter)]
        self._counters = [(block + 2).to_bytes(4, "big") for block in range(-(-self._size // 16))]
        self._ecb = Cipher(algorithms.AES(captures.KEY), modes.ECB()).encryptor()  # noqa: S305 - CTR
        if self(plaintext, 0) != slow:
            raise RuntimeError("the bench's encipherer differs from the test encoder")

    def __call__(self, plaintext: bytes, index: int) -> bytes:
        counter = captures.frame_counter(index).to_bytes(4, "big")
        iv = captures.SYSTEM_TITLE + counter
        stream = self._ecb.update(iv + iv.join(self._counters))
        size = self._size
        mixed = int.from_bytes(plaintext, "big") ^ int.from_bytes(stream[:size], "big")
        return self._head + counter + mixed.to_bytes(size, "big")


def distinct_pushes(block: Block | None = None) -> Iterator[bytes]:
    """The wire bytes of push 0, 1, 2, … without end, each with its own frame counter and time."""
    block = block or Block()
    encipher = Encipherer(block.plaintexts[0])
    for index in itertools.count():
        yield mbus_push(encipher(block.plaintext(index), index))


@dataclass(frozen=True)
class Written:
    """What :func:`write_capture` wrote: ``pieces`` are (pushes, bytes) after each piece."""

    pieces: list[tuple[int, int]]
    seconds: float

    @property
    def pushes(self) -> int:
        return self.pieces[-1][0]

    @property
    def size(self) -> int:
        return self.pieces[-1][1]

    def first(self, size: int) -> tuple[int, int]:
        """(pushes, bytes) of the first whole pieces that hold at least ``size`` bytes."""
        return next((piece for piece in self.pieces if piece[1] >= size), self.pieces[-1])


def write_capture(path: Path, size: int, pushes: Iterator[bytes] | None = None) -> Written:
    """Distinct pushes into ``path`` until it holds ``size`` bytes, ``PIECE`` pushes at a time."""
    source = pushes if pushes is not None else distinct_pushes()
    start = time.perf_counter()
    pieces = []
    count = written = 0
    with path.open("wb") as file:
        while written < size:
            piece = list(itertools.islice(source, PIECE))
            file.write(b"".join(piece))
            count += len(piece)
            written += sum(map(len, piece))
            pieces.append((count, written))
    return Written(pieces, time.perf_counter() - start)


# -- watching a process read it ----------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """User and system time of a running process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Follower:
    """Reads the JSON lines off the pipe: every frame counter in turn, the tenths, the RSS."""

    def __init__(self, pid: int, pushes: int, rss: Callable[[int], tuple[int, int]]) -> None:
        self.pid, self.pushes, self._rss = pid, pushes, rss
        self.seen = 0
        self.tail = b""
        self.marks = [math.ceil(pushes * tenth / SLICES) for tenth in range(1, SLICES + 1)]
        #: (wall clock, CPU seconds of the process) when each tenth of the pushes was out.
        self.times: list[tuple[float, float | None]] = []
        self.first_out: tuple[float, float | None] | None = None
        #: (pushes out, VmRSS KiB) every RSS_EVERY seconds; the last VmHWM read.
        self.rss: list[tuple[int, int]] = []
        self.peak = 0

    def sample(self) -> None:
        try:
            now, self.peak = self._rss(self.pid)
        except (OSError, KeyError):  # exited: a zombie has no VmRSS
            return
        self.rss.append((self.seen, now))

    def take(self, data: bytes, arrived: float) -> None:
        lines = self.tail + data
        cut = lines.rfind(b"\n") + 1
        self.tail, lines = lines[cut:], lines[:cut]
        counters = [int(number) for number in _FRAME_COUNTER.findall(lines)]
        if not counters:
            return
        if self.first_out is None:
            self.first_out = (arrived, _cpu_seconds(self.pid))
        first = captures.frame_counter(self.seen)
        lines_out = lines.count(b"\n")
        if counters != list(range(first, first + len(counters))) or lines_out != len(counters):
            raise RuntimeError(
                f"push {self.seen + 1:,} on: frame counters {counters[:3]}… where {first} was "
                f"due; {len(counters)} frame counters in {lines_out} lines"
            )
        self.seen += len(counters)
        while len(self.times) < SLICES and self.seen >= self.marks[len(self.times)]:
            self.times.append((arrived, _cpu_seconds(self.pid)))


def follow(command: list[str], stdin: Path | None, pushes: int, *, env: dict[str, str],
           cwd: Path, rss: Callable[[int], tuple[int, int]]) -> dict[str, Any]:
    """``command`` on one core, its JSON lines read off a pipe; all ``pushes`` must come."""
    allowed = os.sched_getaffinity(0)
    core = min(allowed)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdin or os.devnull, "rb") as source, open(cwd / "big-capture.log", "wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=source, stdout=subprocess.PIPE,  # noqa: S603
                                   stderr=log, env=env, cwd=cwd)
    assert process.stdout is not None
    os.sched_setaffinity(process.pid, {core})
    # The bench reads on the other core, so counting takes nothing from the process.
    os.sched_setaffinity(0, allowed - {core} or allowed)
    follower = _Follower(process.pid, pushes, rss)
    try:
        fd = process.stdout.fileno()
        due = start
        while True:
            now = time.perf_counter()
            if now >= due:
                follower.sample()
                due = now + RSS_EVERY
            if select.select([fd], [], [], due - now)[0]:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                follower.take(data, time.perf_counter())
        end = time.perf_counter()
        code = process.wait(60)
    finally:
        os.sched_setaffinity(0, allowed)
        if process.poll() is None:
            process.kill()
            process.wait()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code or follower.seen != pushes:
        raise RuntimeError(
            f"{command[3]}: {follower.seen:,} of {pushes:,} pushes came out, exit code {code}; "
            f"see {cwd / 'big-capture.log'}"
        )
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return _summary(follower, pushes, (start, end), cpu)


def _summary(follower: _Follower, pushes: int, run: tuple[float, float], cpu: float
             ) -> dict[str, Any]:
    assert follower.first_out is not None
    seconds = run[1] - run[0]
    marks = [0, *follower.marks]
    times = [follower.first_out, *follower.times]
    wall, per_cpu = [], []
    # The first tenth is timed from the first push out: start-up is not a push's time.
    for tenth in range(SLICES):
        count = marks[tenth + 1] - marks[tenth]
        (began, cpu_began), (ended, cpu_ended) = times[tenth], times[tenth + 1]
        wall.append(count / (ended - began) if ended > began else None)
        spent = None if cpu_began is None or cpu_ended is None else cpu_ended - cpu_began
        per_cpu.append(count / spent if spent else None)
    after_tenth = [kib for seen, kib in follower.rss if seen >= follower.marks[0]]
    return {
        "pushes": pushes,
        "seconds": seconds,
        "pushes_per_s": pushes / seconds,
        "cpu_seconds": cpu,
        "pushes_per_cpu_s": pushes / cpu,
        "first_push_s": follower.first_out[0] - run[0],
        "slices_pushes_per_s": wall,
        "slices_pushes_per_cpu_s": per_cpu,
        "rss_kib_at_10pct": after_tenth[0] if after_tenth else None,
        "rss_kib_end": follower.rss[-1][1] if follower.rss else None,
        "rss_kib_max_sampled": max((kib for _, kib in follower.rss), default=None),
        "peak_rss_kib": follower.peak,
        "rss_samples": len(follower.rss),
    }


# -- the section -------------------------------------------------------------------------


def section(workdir: Path, env: dict[str, str], size: int, replay_size: int,
            rss: Callable[[int], tuple[int, int]]) -> dict[str, Any]:
    """Write ``size`` bytes of pushes; ``decode`` them all, ``read --replay -`` the first part."""
    path = workdir / "big-capture.bin"
    command = [sys.executable, "-m", "cosem_reader"]
    key = captures.KEY.hex()
    began = time.perf_counter()
    try:
        written = write_capture(path, size)
        print(f"  {written.size:,} bytes, {written.pushes:,} pushes written in "
              f"{written.seconds:.0f} s", flush=True)
        found: dict[str, Any] = {
            "bytes": written.size, "pushes": written.pushes, "write_s": written.seconds,
        }
        found["decode"] = follow(
            [*command, "decode", str(path), "--key", key, "--format", "json"], None,
            written.pushes, env=env, cwd=workdir, rss=rss,
        ) | {"bytes": written.size}
        print(f"  decode: {found['decode']['pushes_per_s']:,.0f}/s", flush=True)
        pushes, replay_bytes = written.first(replay_size)
        os.truncate(path, replay_bytes)
        found["replay"] = follow(
            [*command, "read", "--replay", "-", "--key", key, "--format", "json"], path,
            pushes, env=env, cwd=workdir, rss=rss,
        ) | {"bytes": replay_bytes}
        print(f"  read --replay -: {found['replay']['pushes_per_s']:,.0f}/s", flush=True)
    finally:
        path.unlink(missing_ok=True)
    found["section_s"] = time.perf_counter() - began
    return found


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def _mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def report(found: dict[str, Any]) -> list[str]:
    """The section's lines in the bench's report."""
    lines = [
        f"big capture, whole process on one core: {found['bytes']:,} bytes, "
        f"{found['pushes']:,} distinct pushes (written in {found['write_s']:.0f} s; "
        f"the section took {found['section_s']:.0f} s)",
        "| path | bytes | pushes | pushes/s | per CPU second | first → last tenth | "
        "per CPU second | RSS at 10 % → end (peak) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, key in (("`decode FILE --format json`", "decode"),
                      ("`read --replay - --format json` (no broker)", "replay")):
        row = found[key]
        wall, cpu = row["slices_pushes_per_s"], row["slices_pushes_per_cpu_s"]
        lines.append(
            f"| {name} | {row['bytes']:,} | {row['pushes']:,} | {_rate(row['pushes_per_s'])} | "
            f"{_rate(row['pushes_per_cpu_s'])} | {_rate(wall[0])} → {_rate(wall[-1])} | "
            f"{_rate(cpu[0])} → {_rate(cpu[-1])} | {_mib(row['rss_kib_at_10pct'])} → "
            f"{_mib(row['rss_kib_end'])} ({_mib(row['peak_rss_kib'])}) |"
        )
    return lines
