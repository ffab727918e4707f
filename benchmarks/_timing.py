"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_time(fn: Callable[[], Any], repeat: int = 20) -> float:
    """Median wall time of ``repeat`` calls after one warm-up call (seconds)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(sorted(times)[len(times) // 2])


def paired_medians(
    fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeat: int = 20
) -> tuple[float, float]:
    """Median wall times of two functions timed in alternation, after one warm-up each.

    Alternating the calls exposes both to the same background load, so their ratio is
    steadier than that of two runs timed one after the other.
    """
    fn_a()
    fn_b()
    ta, tb = [], []
    for _ in range(repeat):
        for fn, times in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return float(sorted(ta)[len(ta) // 2]), float(sorted(tb)[len(tb) // 2])
