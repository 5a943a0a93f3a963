"""Measuring on a shared 2-core machine: wait for quiet, record other processes' load, peak memory."""
from __future__ import annotations

import os
import resource
import statistics
import time
from typing import Callable


def _busy_seconds() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadWatch:
    """Cores used by *other* processes between construction and `read()` (0 on a quiet machine)."""

    def __init__(self) -> None:
        self.start = (time.perf_counter(), _busy_seconds(), _own_seconds())

    def read(self) -> float:
        wall, busy, own = time.perf_counter(), _busy_seconds(), _own_seconds()
        return max(0.0, ((busy - self.start[1]) - (own - self.start[2])) / max(wall - self.start[0], 1e-9))


def wait_quiet(threshold: float = 0.15, need: int = 3, max_wait: float = 300.0) -> float:
    """Wait until `need` consecutive 1-s windows show fewer than `threshold` busy cores; return the wait."""
    start, ok = time.time(), 0
    while ok < need and time.time() - start < max_wait:
        before = _busy_seconds()
        time.sleep(1.0)
        ok = ok + 1 if _busy_seconds() - before < threshold else 0
    return time.time() - start


def median_time(fn: Callable[[], None], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """(median seconds of `fn`, mean load from other processes) over `repeats` timed calls."""
    for _ in range(warmup):
        fn()
    times, loads = [], []
    for _ in range(repeats):
        watch = LoadWatch()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        loads.append(watch.read())
    return statistics.median(times), statistics.mean(loads)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
