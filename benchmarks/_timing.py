"""Timing helper shared by the benchmark scripts (not a test)."""

import statistics
import time


def timed(fn, repeat):
    """Median wall time of ``repeat`` calls of ``fn`` and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out
