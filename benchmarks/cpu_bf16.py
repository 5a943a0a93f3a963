"""bfloat16 on XLA:CPU: a matmul and a 3x3 convolution in float32 and bfloat16 under each XLA:CPU library path
(plain kernels, YNNPACK, XNNPACK, oneDNN), one child process per flag set. Prints JSON.

    python benchmarks/cpu_bf16.py [--repeats 7]

Why: PyTorch's oneDNN runs bf16 convolutions and matmuls at about twice its float32 rate on CPUs with AVX-512
BF16 (issue 18); `train.compute_dtype=bfloat16` only pays on a CPU if XLA can do the same. Each flag set runs
in its own process because XLA reads its flags once, when the backend starts (and aborts on an unknown flag,
which the JSON then records as the flag set's error).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()

# name -> XLA_FLAGS; "plain" is what launch.py uses on jaxlib 0.10 (runtime.prefer_plain_cpu_kernels)
FLAG_SETS = {
    "plain": "--xla_cpu_experimental_ynn_fusion_type=",
    "jaxlib_default": "",
    "ynn_dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "xnnpack": "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_use_xnnpack=true",
    "xnn_graph_greedy": "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_use_xnnpack=true "
                        "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "onednn": "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_use_onednn=true",
    "onednn_custom_call": "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_use_onednn=true "
                          "--xla_cpu_experimental_onednn_custom_call=true",
    "onednn_fusion_dot": "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce",
}
MATMUL = 2048
CONV = (64, 32, 32, 128, 128)  # batch, H, W, C_in, C_out; 3x3, SAME


def measure(repeats: int) -> dict[str, float]:
    """In the child: GFLOP/s of each op in each dtype, and bf16's largest relative error against float32."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.machine import median_time

    rng = np.random.default_rng(0)
    n, (b, h, w, cin, cout) = MATMUL, CONV
    inputs = {
        "matmul": (rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)),
        "conv": (rng.standard_normal((b, h, w, cin), np.float32), rng.standard_normal((3, 3, cin, cout), np.float32) / 30),
    }
    flops = {"matmul": 2 * n**3, "conv": 2 * b * h * w * cin * cout * 9}
    ops = {
        "matmul": lambda x, y: x @ y,
        "conv": lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
    }
    out: dict[str, float] = {}
    for name, op in ops.items():
        results = {}
        for dtype in (jnp.float32, jnp.bfloat16):
            args = [jnp.asarray(a, dtype) for a in inputs[name]]
            fn = jax.jit(op)
            results[dtype] = np.asarray(fn(*args), np.float32)
            seconds, load = median_time(lambda: fn(*args).block_until_ready(), repeats)
            tag = "f32" if dtype == jnp.float32 else "bf16"
            out[f"{name}_{tag}_gflops"] = flops[name] / seconds / 1e9
            out[f"{name}_{tag}_other_load"] = load
        out[f"{name}_bf16_over_f32"] = out[f"{name}_bf16_gflops"] / out[f"{name}_f32_gflops"]
        reference = results[jnp.float32]
        out[f"{name}_bf16_max_rel_error"] = float(np.abs(results[jnp.bfloat16] - reference).max() / np.abs(reference).max())
    return out


def run_flag_set(flags: str, repeats: int) -> dict[str, object]:
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    code = f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.cpu_bf16 import measure; print(json.dumps(measure({repeats})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"flags": flags, "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return {"flags": flags, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated flag-set names (default: all)")
    args = parser.parse_args()
    from benchmarks.machine import wait_quiet

    names = args.only.split(",") if args.only else list(FLAG_SETS)
    results = {}
    for name in names:
        waited = wait_quiet()
        results[name] = {**run_flag_set(FLAG_SETS[name], args.repeats), "waited_for_quiet_s": round(waited, 1)}
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    print(json.dumps({"matmul": MATMUL, "conv": CONV, "results": results}, indent=2))


if __name__ == "__main__":
    main()
