"""Measuring on a shared 2-core machine: wait for quiet, record other processes' load, peak memory;
compiling and timing a training step."""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from typing import Any, Callable

import jax

from jaxgen import host_allocator


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


def compile_seconds(fn: Callable, *args: Any) -> tuple[float, Any]:
    """(seconds, compiled program) of jitting `fn` for `args`."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start, compiled


def compiled_memory_mib(compiled: Any) -> float | None:
    """Device memory XLA plans for one call (arguments + outputs + temporaries, less what is aliased), or
    None where the backend does not say."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    total = analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes
    return total / 2**20


def measure_train_step(
    train_step: Callable, state: Any, batch: dict, steps: int, warmup: int, images_per_call: int = 0
) -> tuple[dict[str, float], Any]:
    """Compile `train_step`, then time `steps` calls after `warmup`: (figures, the state they reached).
    `images_per_call` defaults to the batch's length (a scanned step of k batches passes k x B)."""
    compile_s, step = compile_seconds(train_step, state, batch)
    flops = float(step.cost_analysis()["flops"])
    holder = {"state": state}

    def one_step() -> None:
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics)

    seconds, load = median_time(one_step, steps, warmup=warmup)
    size = images_per_call or len(next(iter(batch.values())))
    figures = {
        "batch": size, "compile_s": compile_s, "step_s": seconds, "images_per_s": size / seconds,
        "flops_per_step": flops, "achieved_gflops": flops / seconds / 1e9, "other_load": load,
        "compiled_memory_mib": compiled_memory_mib(step),
    }
    return figures, holder["state"]


def matmul_peak_gflops(dtype: Any = "float32", size: int = 2048) -> float:
    """GFLOP/s of a large jitted `size`^2 matmul in `dtype`: the device's practical peak for MFU."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size)).astype(dtype)
    matmul = jax.jit(lambda x: x @ x)
    seconds, _ = median_time(lambda: jax.block_until_ready(matmul(a)), repeats=10)
    return 2 * size**3 / seconds / 1e9


def add_peer_allocator_argument(parser: argparse.ArgumentParser) -> None:
    """`--peer-allocator`: the malloc a PyTorch peer runs with (see `peer_environment`)."""
    parser.add_argument("--peer-allocator", choices=("system", "tcmalloc"), default="system", help="the peer's malloc: glibc's (system) or tcmalloc")


def peer_environment(allocator: str) -> dict[str, str]:
    """The environment a PyTorch peer runs in: glibc's malloc as its users run it (`system`), or tcmalloc as
    ours runs (PyTorch's CPU tensors come from malloc too; compare both ways)."""
    plain = host_allocator.without_preloaded_allocator(os.environ)
    if allocator == "system":
        return plain
    environ = host_allocator.tcmalloc_environment({**plain, host_allocator.CHOICE_VARIABLE: "tcmalloc"})
    if environ is None:
        raise SystemExit("error: --peer-allocator tcmalloc: tcmalloc is not installed (apt-get install libtcmalloc-minimal4)")
    return environ
