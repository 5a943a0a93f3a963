"""Process-level set-up: multi-host initialisation, the compilation cache, device logging."""
from __future__ import annotations

import importlib.metadata
import logging
import os
import sys
from typing import Any

import jax

from jaxgen.host_allocator import allocator_in_use

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="


def prefer_plain_cpu_kernels() -> bool:
    """Turn off XLA:CPU's YNNPACK library fusions (jaxlib 0.10), before JAX creates its backend.

    On our 2-core Xeon the plain kernels ran the DDPM UNet's training step 1.5x faster (7.9 s -> 5.3 s
    at the diffusers peer's configuration) and the DCGAN step 1.1x (benchmarks/ddpm.py, benchmarks/gan.py).
    Only for jaxlib 0.10.*, whose XLA knows the flag (XLA aborts on unknown flags), and never over an
    XLA_FLAGS entry the user set for it. Returns whether the flag is in effect.
    """
    current = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in current:
        return YNN_FLAG in current.split()
    if not importlib.metadata.version("jaxlib").startswith("0.10."):
        return False
    os.environ["XLA_FLAGS"] = f"{current} {YNN_FLAG}".strip()
    return True


def multi_process_environment() -> bool:
    """True where the launcher started several processes (TPU pod, SLURM, explicit coordinator)."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return True
    return "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")


def initialize_distributed(coordinator_address: str = "", num_processes: int = 0, process_id: int = -1) -> None:
    """Join JAX's multi-controller runtime when asked to, or when the environment is multi-process.

    On the CPU backend, cross-process collectives use gloo.
    """
    explicit = bool(coordinator_address)
    if not explicit and not multi_process_environment():
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if explicit:
        kwargs = dict(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)
    jax.distributed.initialize(**kwargs)


def enable_compilation_cache(path: str) -> None:
    """Persist compiled programs under `path` so restarts and reruns skip compilation."""
    if not path:
        return
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def log_devices() -> None:
    logging.info(
        "JAX %s: process %d of %d; %d local / %d global devices: %s; host malloc: %s",
        jax.__version__,
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
        ", ".join(sorted({d.device_kind for d in jax.devices()})),
        allocator_in_use(),
    )


class _LibraryInfoFilter(logging.Filter):
    """Drop INFO chatter: orbax's (a dozen lines per checkpoint) and JAX's search for a TPU on a machine
    without one; keep every warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return "orbax" not in record.pathname and not (
            record.pathname.endswith("xla_bridge.py") and record.getMessage().startswith("Unable to initialize backend")
        )


def _is_closed_loop_callback(error: BaseException | None) -> bool:
    """Orbax reads through tensorstore, whose callbacks into orbax's asyncio loop can still arrive after a
    failed restore has closed it: each prints `RuntimeError: Event loop is closed` (dozens) after our message."""
    return isinstance(error, RuntimeError) and str(error) == "Event loop is closed"


def _is_abandoned_orbax_read(unraisable: Any) -> bool:
    """The other reads of a restore that already failed (and was reported), collected unfinished."""
    code = getattr(unraisable.object, "cr_code", None)
    return code is not None and "orbax" in code.co_filename


def quiet_library_logs() -> None:
    """Keep the console to our own lines: library INFO chatter and orbax's late callbacks are dropped."""
    for name in ("absl", "jax._src.xla_bridge"):
        logging.getLogger(name).addFilter(_LibraryInfoFilter())
    previous_excepthook, previous_unraisablehook = sys.excepthook, sys.unraisablehook

    def excepthook(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        if not _is_closed_loop_callback(error):
            previous_excepthook(kind, error, traceback)

    def unraisablehook(unraisable: Any) -> None:
        if not (_is_closed_loop_callback(unraisable.exc_value) or _is_abandoned_orbax_read(unraisable)):
            previous_unraisablehook(unraisable)

    sys.excepthook, sys.unraisablehook = excepthook, unraisablehook
