"""DCGAN training against plain PyTorch (../shared/peers/torch_vae_gan.py's DCGAN). Prints JSON.

    python benchmarks/gan.py --peer-python /path/to/venv-with-torch/bin/python [--steps 30] [--batch 128]

Both sides train the same model: pytorch/examples' 28x28 DCGAN (G 759,680 and D 138,624 parameters), the
non-saturating loss, Adam 2e-4 with b1 0.5 for both players, one D update (real + fake) and one G update
per step, float32 on the machine's 2 cores. Ours is configs/gan.py's demo preset through the GAN task's
jitted train_step on one CPU device, twice: as the preset runs (G's update draws fresh fakes: two G
forwards per step) and with gan.reuse_fakes=True, the peer's algorithm (G's update reuses the fakes D
was trained on: one G forward); the peer times its eager step on fixed synthetic tensors.
Reported: compile s, median step s, images/s, XLA's FLOP count, model FLOP utilisation against the
measured float32 matmul peak, peak RSS, and the peer's images/s with the ratio, measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import matmul_peak_gflops, measure_train_step  # noqa: E402
from benchmarks.machine import peak_rss_mib, wait_quiet  # noqa: E402
from benchmarks.machine import add_peer_allocator_argument, peer_environment  # noqa: E402
from jaxgen.host_allocator import allocator_in_use  # noqa: E402
from configs import gan as gan_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.runtime import prefer_plain_cpu_kernels  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PLAIN_CPU_KERNELS = prefer_plain_cpu_kernels()  # as launch.py does, before the backend starts
PEER_SCRIPT = ROOT.parent / "shared" / "peers" / "torch_vae_gan.py"


def ours(batch_size: int, steps: int, reuse_fakes: bool) -> dict[str, object]:
    config = gan_configs.get_config(f"demo,data.batch_size={batch_size},gan.reuse_fakes={reuse_fakes}")
    with tempfile.TemporaryDirectory() as tmp:
        experiment = run.build_experiment(config, tmp, devices=jax.devices()[:1])
        task = experiment.task
        state = experiment.init_state()
        batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(batch_size)).items()}
        count = lambda tree: int(sum(x.size for x in jax.tree.leaves(tree)))  # noqa: E731
        report: dict[str, object] = {
            "params_G": count(state.params["generator"]), "params_D": count(state.params["discriminator"]),
        }
        wait_quiet()
        figures, _ = measure_train_step(counting(task.train_step), state, batch, steps, warmup=3)
        report.update(figures)
    return report


def peer(peer_python: str, batch_size: int, allocator: str) -> dict[str, object]:
    wait_quiet()
    command = [peer_python, str(PEER_SCRIPT), "--threads", "2", "--batch", str(batch_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=peer_environment(allocator))
    return json.loads(done.stdout.strip().splitlines()[-1])["results"]["dcgan"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", default="")
    add_peer_allocator_argument(parser)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    report: dict[str, object] = {
        "jax": jax.__version__, "plain_cpu_kernels": PLAIN_CPU_KERNELS, "allocator": allocator_in_use(), "matmul_peak_gflops": matmul_peak_gflops(),
    }
    for name, reuse in (("ours", False), ("ours_reuse_fakes", True)):
        report[name] = ours(args.batch, args.steps, reuse)
        report[name]["mfu"] = report[name]["achieved_gflops"] / report["matmul_peak_gflops"]
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report), file=sys.stderr, flush=True)  # ours survives a failing peer run
    if args.peer_python:
        theirs = peer(args.peer_python, args.batch, args.peer_allocator)
        report["peer"] = {k: theirs.get(k) for k in ("params_G", "params_D", "median_s", "images_per_s")}
        report["ratio_images_per_s"] = report["ours"]["images_per_s"] / theirs["images_per_s"]
        report["ratio_images_per_s_like_for_like"] = report["ours_reuse_fakes"]["images_per_s"] / theirs["images_per_s"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
