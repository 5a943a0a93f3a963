"""The host's memory allocator: launch.py and the benchmarks run under tcmalloc where it is installed.

XLA:CPU allocates every temporary buffer of a compiled program afresh at each call. glibc's malloc serves
the large ones with fresh mmaps and returns them at the end of the call, so every step faults its working
set back in page by page (about 85,000 page faults and 0.2 s of kernel time per Gated PixelCNN demo
step); tcmalloc keeps freed spans for the next call. On the 2-core box, 2026-12-07, one training
step: Gated PixelCNN `demo_cond` 0.77 -> 0.60 s, the DDPM UNet 4.98 -> 4.39 s, the DCGAN 0.196 ->
0.176 s; the compile-bound test suite is unchanged. glibc's tunables (`MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`, `MALLOC_ARENA_MAX`) removed two thirds of the faults and 5% of the step;
jemalloc with its default decay, nothing.

The allocator must be in place before the process's first malloc, so the only way in from Python is to
re-execute the interpreter with LD_PRELOAD set. Debian/Ubuntu: `apt-get install libtcmalloc-minimal4`.
`JAXGEN_MALLOC=system` keeps glibc's malloc.
"""
from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping

CHOICE_VARIABLE = "JAXGEN_MALLOC"
TCMALLOC_LIBRARIES = ("tcmalloc_minimal", "tcmalloc")
# tcmalloc reports every allocation above 1 GiB on stderr; a paper-scale step's buffers are that large.
QUIET_LARGE_ALLOCATIONS = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}


def tcmalloc_library() -> str | None:
    """The installed tcmalloc's shared-library name (as the dynamic loader finds it), or None."""
    for name in TCMALLOC_LIBRARIES:
        found = ctypes.util.find_library(name)
        if found:
            return found
    return None


def _preloads(environ: Mapping[str, str]) -> list[str]:
    return environ.get("LD_PRELOAD", "").replace(":", " ").split()


def _is_replacement_malloc(entry: str) -> bool:
    return any(name in os.path.basename(entry) for name in ("tcmalloc", "jemalloc"))


def preloaded_allocator(environ: Mapping[str, str]) -> str | None:
    """The replacement malloc LD_PRELOAD already names (tcmalloc or jemalloc), if any."""
    return next((os.path.basename(e) for e in _preloads(environ) if _is_replacement_malloc(e)), None)


def allocator_in_use() -> str:
    """What serves this process's mallocs: the preloaded replacement's library name, or glibc's malloc."""
    return preloaded_allocator(os.environ) or "glibc malloc"


def tcmalloc_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """`environ` with tcmalloc preloaded, or None where it is not installed, already preloaded (or another
    replacement is), or the user chose glibc's malloc with JAXGEN_MALLOC=system."""
    choice = environ.get(CHOICE_VARIABLE, "tcmalloc")
    if choice not in ("tcmalloc", "system"):
        sys.exit(f"error: {CHOICE_VARIABLE}={choice!r}: expected 'tcmalloc' or 'system'")
    if choice == "system" or preloaded_allocator(environ) is not None:
        return None
    library = tcmalloc_library()
    if library is None:
        return None
    preload = " ".join(filter(None, [library, environ.get("LD_PRELOAD", "")]))
    return {**QUIET_LARGE_ALLOCATIONS, **environ, "LD_PRELOAD": preload}


def without_preloaded_allocator(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` less a preloaded tcmalloc/jemalloc: what a peer benchmark runs under as its users run it."""
    kept = [e for e in _preloads(environ) if not _is_replacement_malloc(e)]
    stripped = {k: v for k, v in environ.items() if k != "LD_PRELOAD"}
    return {**stripped, "LD_PRELOAD": " ".join(kept)} if kept else stripped


def reexec_under_tcmalloc() -> None:
    """Replace this process by the same command under tcmalloc, where `tcmalloc_environment` gives one.
    Call before anything heavy is imported: the process starts again from its first line."""
    environ = tcmalloc_environment(os.environ)
    if environ is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environ)
