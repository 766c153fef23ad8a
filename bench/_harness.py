"""Interleaved micro-benchmark harness (one process, shuffled rounds, ~20 ms samples).

Each cell is a zero-argument callable. Calibration picks, per cell, how many back-to-back
calls fill one sample (~20 ms); it doubles as warm-up. Then every round samples every cell
once, in a freshly shuffled order, so slow phases of a shared machine hit all cells alike.
Reported: median and minimum µs per call over the rounds.

The default timer is the thread's CPU time (``time.thread_time_ns``): on a shared machine
it does not count the time the process spends waiting for a CPU, which otherwise inflates
samples at random. ``timer=time.perf_counter_ns`` gives wall-clock figures instead.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

__all__ = ["Stats", "calibrate", "fmt_us", "run_cells", "sample", "write_section"]


@dataclass(frozen=True, slots=True)
class Stats:
    """Timing of one cell, in µs per call."""

    median: float
    minimum: float
    samples: int
    calls_per_sample: int


Timer = Callable[[], int]


def sample(fn: Callable[[], object], n: int, timer: Timer = time.thread_time_ns) -> float:
    """Seconds per call of ``fn`` over ``n`` back-to-back calls."""
    start = timer()
    for _ in repeat(None, n):
        fn()
    return (timer() - start) / n / 1e9


def calibrate(
    fn: Callable[[], object], target: float = 0.02, timer: Timer = time.thread_time_ns
) -> int:
    """Number of calls that take about ``target`` seconds (at least 1)."""
    n = 1
    while True:
        elapsed = sample(fn, n, timer) * n
        if elapsed >= target / 4 or n >= 1 << 24:
            break
        n *= 4
    per_call = max(elapsed / n, 1e-9)
    return max(1, int(target / per_call))


def run_cells(
    cells: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 21,
    target: float = 0.02,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    timer: Timer = time.thread_time_ns,
) -> dict[str, Stats]:
    """Time every cell ``rounds`` times in shuffled order; return µs/call statistics."""
    rng = random.Random(seed)
    counts = {name: calibrate(fn, target, timer) for name, fn in cells.items()}
    results: dict[str, list[float]] = {name: [] for name in cells}
    names = list(cells)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            rng.shuffle(names)
            for name in names:
                results[name].append(sample(cells[name], counts[name], timer) * 1e6)
            gc.collect()
            if progress is not None:
                progress(r)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: Stats(statistics.median(values), min(values), len(values), counts[name])
        for name, values in results.items()
    }


def fmt_us(value: float | None) -> str:
    """Three significant digits, or ``n/a``."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def write_section(path: Path, section: str, name: str = "core") -> None:
    """Replace the ``## <name>`` section of ``path``, keeping every other section as it is.

    Other benchmarks own the other sections and may rewrite the file too, so it is read
    just before writing and replaced atomically (``os.replace``), never truncated in place.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    heading = f"## {name}"
    before: list[str] = []
    after: list[str] = []
    state = "before"  # -> "ours" at our heading, -> "after" at the next section
    for line in text.splitlines():
        if line.startswith("## "):
            if line.strip() == heading:
                state = "ours"  # every copy of our section is dropped
                continue
            if state == "ours":
                state = "after"
        if state == "before":
            before.append(line)
        elif state == "after":
            after.append(line)
    while before and not before[-1].strip():
        before.pop()
    out = [*before, ""] if before else []
    out += section.strip("\n").splitlines()
    if after:
        out += ["", *after]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(out).rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, path)
