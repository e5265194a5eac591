"""``make bench --only endtoend``: what a user runs, as a whole process, on one core.

``cosem-reader decode --format json|text|xml`` over a capture file of distinct Netz
NÖ-style pushes (start-up, reading the file, every layer and the printing, to a
file), ``read --replay - --format json`` (the daemon's path without a broker) and
``read`` into mosquitto with the defaults (a JSON state and one topic per value,
discovery).  Each figure is pushes divided by the wall time of the whole process,
best of the rounds; the decode and replay processes inherit the bench's pinning to
one core, the broker row runs unpinned (mosquitto and the subscriber need a core).
"""

# ruff: noqa: S603 - it starts cosem-reader and the broker it measures

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from captures import KEY, make_capture


def _timed(command: list[str], stdin: Path | None, out: Path, env: dict[str, str],
           cwd: Path) -> tuple[float, float]:
    """Seconds from the process' start to its exit, and its CPU seconds (it must exit 0)."""
    with open(out, "wb") as sink, open(stdin or os.devnull, "rb") as source:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, stdin=source, stdout=sink, stderr=subprocess.PIPE,
                              env=env, cwd=cwd, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{command[3:5]} exited {done.returncode}: {done.stderr[-300:]!r}")
    # Beside the wall time: on a machine others load, the CPU time is what repeats.
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _check(out: Path, fmt: str, count: int) -> None:
    data = out.read_bytes()
    found = {
        "json": data.count(b'{"timestamp"'),
        "text": data.count(b"system title"),
        "xml": data.count(b"<DataNotification>"),
    }[fmt]
    if found != count:
        raise RuntimeError(f"{fmt}: {found} pushes in the output, expected {count}")


def decode_and_replay(workdir: Path, env: dict[str, str], count: int, rounds: int
                      ) -> list[dict[str, Any]]:
    """The decode rows (json, text, xml) and the replay row, pushes per second (wall, CPU)."""
    capture = workdir / "end-to-end.bin"
    capture.write_bytes(make_capture(count).wire)
    base = [sys.executable, "-m", "cosem_reader"]
    runs: list[tuple[str, str, list[str], Path | None]] = [
        (f"`decode --format {fmt}`", fmt,
         [*base, "decode", str(capture), "--key", KEY.hex(), "--format", fmt], None)
        for fmt in ("json", "text", "xml")
    ]
    runs.append(("`read --replay - --format json` (no broker)", "json",
                 [*base, "read", "--replay", "-", "--key", KEY.hex(), "--format", "json"],
                 capture))
    rows = []
    for name, fmt, command, stdin in runs:
        out = workdir / f"end-to-end.{fmt}"
        timings = [_timed(command, stdin, out, env, workdir) for _ in range(rounds)]
        best, cpu = min(wall for wall, _ in timings), min(cpu for _, cpu in timings)
        _check(out, fmt, count)
        rows.append({"path": name, "pushes": count, "seconds": best, "pushes_per_s": count / best,
                     "cpu_seconds": cpu, "pushes_per_cpu_s": count / cpu})
        print(f"  {name}: {count / best:,.0f}/s", flush=True)
    return rows


def into_broker(workdir: Path, env: dict[str, str], count: int, *,
                broker: AbstractContextManager[Any], subscriber: Callable[..., Any],
                rss: Callable[[int], tuple[int, int]]) -> dict[str, Any]:
    """``read --replay -`` → mosquitto, the default topics: until the last state arrives.

    The subscriber takes the state topic; the per-value topics and discovery are
    published as by default, with nobody subscribed to them.
    """
    pushes = make_capture(count).pushes
    with broker as running:
        states = subscriber(running.host, running.port, "e2e/main/state")
        process = subprocess.Popen(
            [sys.executable, "-m", "cosem_reader", "read", "--replay", "-", "--key", KEY.hex(),
             "--mqtt-url", running.url, "--topic-base", "e2e", "--name", "main"],
            env=env, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=open(workdir / "e2e-broker.log", "wb"),  # noqa: SIM115
        )
        assert process.stdin is not None
        seen = [0, 0]  # the largest RSS sampled, the last peak (VmHWM) read
        finished = threading.Event()

        def sample() -> None:
            # The process exits once the replay is published: sampled while it runs.
            while not finished.wait(0.05):
                try:
                    now, peak = rss(process.pid)
                except (OSError, KeyError):
                    return
                seen[0], seen[1] = max(seen[0], now), peak

        threading.Thread(target=sample, daemon=True).start()
        start = time.perf_counter()
        try:
            # mosquitto queues at most 1,000 messages for a slow subscriber: the next
            # hundred pushes go out when the subscriber is less than 500 states behind.
            for first in range(0, count, 100):
                with states.changed:
                    states.changed.wait_for(lambda sent=first: sent - states.count < 500, 60)
                process.stdin.write(b"".join(pushes[first : first + 100]))
                process.stdin.flush()
            process.stdin.close()
            with states.changed:
                states.changed.wait_for(lambda: states.count >= count, timeout=120)
            elapsed = time.perf_counter() - start
            delivered = states.count
        finally:
            finished.set()
            process.terminate()
            process.wait(15)
            states.close()
    return {"path": "`read --replay -` → mosquitto (state + a topic per value, discovery)",
            "pushes": count, "delivered": delivered, "seconds": elapsed,
            "pushes_per_s": delivered / elapsed, "rss_kib": seen[0], "peak_rss_kib": seen[1]}


def peer_rows(ours_json: float, sample: list[bytes], *,
              framing: Callable[[bytes], list[bytes]],
              plaintext: Callable[[bytes], bytes], peers: Any,
              rate: Callable[[Callable[[], object], int, float, int], float]
              ) -> dict[str, Any]:
    """gurux-dlms and dlms-cosem with cosem-reader's framing (and AES for dlms-cosem) around.

    Each peer's per-push time on the first pushes of the capture plus the time
    cosem-reader's M-Bus reader and segment joiner take for the same pushes; gurux-dlms
    deciphers with its own AES, dlms-cosem (which cannot decipher a push without tag)
    gets cosem-reader's AES time added.  In process, no start-up, no output written:
    what the peers would need at the least for the same path.
    """
    apdus = [apdu for push in sample for apdu in framing(push)]
    plains = [plaintext(apdu) for apdu in apdus]
    count = len(sample)

    frame_rate = rate(lambda: [framing(push) for push in sample], count, 0.5, 2)
    aes_rate = rate(lambda: [plaintext(apdu) for apdu in apdus], count, 0.5, 2)
    result: dict[str, Any] = {"sample": count, "framing_per_s": frame_rate, "aes_per_s": aes_rate}
    for label, make, extra in (
        ("gurux_dlms", lambda: [peers.gurux_apdu(a, KEY, None) for a in apdus], 1 / frame_rate),
        ("dlms_cosem", lambda: [peers.dlms_cosem_plaintext(p) for p in plains],
         1 / frame_rate + 1 / aes_rate),
    ):
        try:
            runs = make()
        except Exception as error:  # a peer that is missing or fails: said in the row
            result[label] = None
            result[f"{label}_scope"] = f"failed: {type(error).__name__}: {error}"
            continue
        alone = rate(lambda runs=runs: [run() for run in runs], count, 0.5, 2)
        result[label] = 1 / (1 / alone + extra)
        result[f"ratio_{label}"] = ours_json / result[label]
    return result
