"""Test set-up: 8 fake CPU devices (before jax is imported), launch.py's CPU kernels, LLVM at -O0, a persistent
compilation cache."""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The suite is mostly compiling: LLVM's -O0 instead of -O2 takes about a third off XLA:CPU's compile time
# (7.4 -> 4.9 s for the first stage's train step) for slower code that the tests' small shapes barely feel.
# XLA's own passes, and so the numerics the tests check, are the same. Subprocesses that must match an
# in-process run bit for bit are started with the same flag (TEST_XLA_FLAGS).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + f" {TEST_XLA_FLAGS} --xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

from jaxgen.train.runtime import enable_compilation_cache, prefer_plain_cpu_kernels  # noqa: E402

prefer_plain_cpu_kernels()  # the kernels launch.py uses, so in-process runs match launched ones bit for bit
TEST_CACHE = ROOT / ".cache" / "xla-tests"
enable_compilation_cache(str(TEST_CACHE))
assert jax.device_count() == 8, "tests expect 8 fake CPU devices; was jax imported before conftest?"
