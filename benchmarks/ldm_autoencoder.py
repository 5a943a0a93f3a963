"""The first-stage autoencoder's training step (autoencoder update with the adaptive weight, then the
PatchGAN update), at the demo's size and at LDM kl-f4's. Prints JSON.

    python benchmarks/ldm_autoencoder.py [--steps 10] [--dtype float32|bfloat16]

Reported per setting: batch, compile s, median step s, images/s, XLA's FLOP count and the FLOP utilisation
against the measured float32 matmul peak; and the peak RSS. The issue names no peer. On a GPU the same
command with --dtype bfloat16 gives the accelerator figures.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import matmul_peak_gflops, measure_train_step  # noqa: E402
from benchmarks.machine import peak_rss_mib, wait_quiet  # noqa: E402
from configs import ldm_autoencoder as configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.runtime import prefer_plain_cpu_kernels  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PLAIN_CPU_KERNELS = prefer_plain_cpu_kernels()  # as launch.py does, before the backend starts
SETTINGS = {
    "demo_kl_32x32": "demo,loss.disc_start=0",
    "demo_vq_32x32": "demo_vq,loss.disc_start=0",
    # LDM kl-f4 (ch 128, mults 1-2-4, c 3) at 64x64 on built-in photos resized, batch 12
    "kl_f4_64x64": "kl_f4,data.name=photos32,data.image_size=64,loss.disc_start=0,eval.feature_network=none",
}


def measure(setting: str, steps: int, dtype: str) -> dict[str, object]:
    config = configs.get_config(f"{SETTINGS[setting]},train.compute_dtype={dtype}")
    with tempfile.TemporaryDirectory() as tmp:
        experiment = run.build_experiment(config, tmp, devices=jax.devices()[:1])
        experiment.checkpointer.close()
        state = experiment.init_state()
        size = config.data.batch_size
        batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(size)).items()}
        wait_quiet()
        figures, _ = measure_train_step(counting(experiment.task.train_step), state, batch, steps, warmup=2)
        figures["params_autoencoder"] = int(sum(x.size for x in jax.tree.leaves(state.params["autoencoder"])))
        figures["params_discriminator"] = int(sum(x.size for x in jax.tree.leaves(state.params["discriminator"])))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    report: dict[str, object] = {"jax": jax.__version__, "device": jax.devices()[0].device_kind, "dtype": args.dtype,
                                 "plain_cpu_kernels": PLAIN_CPU_KERNELS, "matmul_peak_gflops": peak}
    for setting in SETTINGS:
        report[setting] = measure(setting, args.steps, args.dtype)
        report[setting]["mfu"] = report[setting]["achieved_gflops"] / peak
        print(json.dumps({setting: report[setting]}), file=sys.stderr, flush=True)
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
