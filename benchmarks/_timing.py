"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import math
import time


def best_of(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls, seconds."""
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def fmt_t(seconds: float, width: int = 9) -> str:
    """A duration in µs, ms or s, right-aligned in ``width`` characters plus the unit."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:{width}.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:{width}.2f} ms"
    return f"{seconds:{width}.2f} s "
