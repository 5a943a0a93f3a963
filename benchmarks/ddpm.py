"""DDPM training and sampling against diffusers' UNet2DModel (../shared/peers/diffusers_ddpm.py). Prints JSON.

    python benchmarks/ddpm.py --peer-python /path/to/venv-with-torch-and-diffusers/bin/python
                              [--sample-steps 1000] [--train-steps 5]

Our side uses the DDPM task itself (configs/ddpm.py) at the peer's configuration: 32x32x1 images
(mnist5k resized), UNet channels 64, multipliers (1, 2, 2), 2 res blocks, attention at 16x16 only,
no dropout, AdamW 1e-4, no EMA; float32 on 1 CPU device, the machine's 2 cores.
  train            task.train_step (noise and timestep draw, q_sample, L_simple, AdamW) at batch 64:
                   compile s, median step s, images/s, XLA's FLOP count and the model FLOP
                   utilisation against the measured float32 matmul peak of this CPU.
  forward          the denoiser at batch 64, images/s.
  sample           `sample-steps` DDPM ancestral steps (the jitted lax.scan sampler) at batch 16:
                   measured wall time (1000 steps by default) and its compile time, beside the
                   compile time of one denoiser call at batch 16 (goal: within 2x).
  peer             the peer script's JSON (its 1000-step time is extrapolated from 50 DDIM steps,
                   the same per-step work), run after ours on the same machine, and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import (  # noqa: E402
    LoadWatch, compile_seconds, matmul_peak_gflops, measure_train_step, median_time, peak_rss_mib, wait_quiet,
)
from benchmarks.machine import add_peer_allocator_argument, peer_environment  # noqa: E402
from jaxgen.host_allocator import allocator_in_use  # noqa: E402
from configs import ddpm as ddpm_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.runtime import prefer_plain_cpu_kernels  # noqa: E402
from jaxgen.diffusion import from_betas, samplers  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PLAIN_CPU_KERNELS = prefer_plain_cpu_kernels()  # as launch.py does, before the backend starts
PEER_SCRIPT = ROOT.parent / "shared" / "peers" / "diffusers_ddpm.py"
PEER_OVERRIDES = (
    "data.image_size=32,model.channels=64,model.channel_mults=(1,2,2),model.num_res_blocks=2,"
    "model.attention_resolutions=(16,),model.mid_attention=False,model.dropout=0.0,optim.name=adamw,optim.lr=1e-4,"
    "optim.ema_decay=0.0,optim.warmup_steps=0,diffusion.parameterisation=eps,diffusion.schedule=linear,"
    "data.batch_size=64,data.eval_batch_size=64"
)


def ours(train_steps: int, sample_steps: int) -> dict[str, object]:
    config = ddpm_configs.get_config(f"demo,{PEER_OVERRIDES}")
    with tempfile.TemporaryDirectory() as tmp:
        experiment = run.build_experiment(config, tmp, devices=jax.devices()[:1])
        task = experiment.task
        state = experiment.init_state()
        batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(64)).items()}
        report: dict[str, object] = {"params": int(sum(x.size for x in jax.tree.leaves(state.params)))}

        wait_quiet()
        report["train"], trained = measure_train_step(counting(task.train_step), state, batch, train_steps, warmup=1)

        params = trained.params["denoiser"]
        x64, t64 = jnp.zeros((64, 32, 32, 1)), jnp.zeros((64,), jnp.int32)
        _, forward = compile_seconds(lambda p, x, t: task.net.apply({"params": p}, x, t), params, x64, t64)
        seconds, load = median_time(lambda: jax.block_until_ready(forward(params, x64, t64)), 5, warmup=1)
        report["forward"] = {"batch": 64, "images_per_s": 64 / seconds, "other_load": load}

        x16, t16 = jnp.zeros((16, 32, 32, 1)), jnp.zeros((16,), jnp.int32)
        one_call_s, _ = compile_seconds(lambda p, x, t: task.net.apply({"params": p}, x, t), params, x16, t16)
        # fewer steps (a quick run): the first betas of the schedule, the same work per step
        schedule = from_betas(np.asarray(task.schedule.betas)[:sample_steps])

        def sample(p: object, rng: jax.Array) -> jax.Array:
            return samplers.ddpm_sample(task.denoiser(p), schedule, rng, (16, 32, 32, 1))

        sampler_compile_s, sampler = compile_seconds(sample, params, jax.random.PRNGKey(0))
        wait_quiet()
        watch, start = LoadWatch(), time.perf_counter()
        jax.block_until_ready(sampler(params, jax.random.PRNGKey(1)))
        wall = time.perf_counter() - start
        report["sample"] = {
            "batch": 16, "steps": sample_steps, "wall_s": wall, "per_step_s": wall / sample_steps,
            "ddpm1000_s": wall / sample_steps * 1000, "sampler_compile_s": sampler_compile_s,
            "denoiser_call_compile_s": one_call_s, "compile_ratio": sampler_compile_s / one_call_s,
            "other_load": watch.read(),
        }
    return report


def peer(peer_python: str, allocator: str) -> dict[str, object]:
    wait_quiet()
    command = [peer_python, str(PEER_SCRIPT), "--threads", "2"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=peer_environment(allocator))
    return json.loads(done.stdout.strip().splitlines()[-1])["results"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", default="")
    add_peer_allocator_argument(parser)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--sample-steps", type=int, default=1000)
    args = parser.parse_args()
    report: dict[str, object] = {
        "jax": jax.__version__, "plain_cpu_kernels": PLAIN_CPU_KERNELS, "allocator": allocator_in_use(), "matmul_peak_gflops": matmul_peak_gflops(),
    }
    report["ours"] = ours(args.train_steps, args.sample_steps)
    train = report["ours"]["train"]
    train["mfu"] = train["achieved_gflops"] / report["matmul_peak_gflops"]
    print(json.dumps(report), file=sys.stderr, flush=True)  # ours survives a failing peer run
    if args.peer_python:
        theirs = peer(args.peer_python, args.peer_allocator)
        report["peer"] = {k: theirs[k] for k in ("params", "train", "forward", "sample", "peak_rss_mib") if k in theirs}
        report["ratios"] = {
            "train_images_per_s": train["images_per_s"] / theirs["train"]["images_per_s"],
            "forward_images_per_s": report["ours"]["forward"]["images_per_s"] / theirs["forward"]["images_per_s"],
            "sample_1000_speedup": theirs["sample"]["ddpm1000_extrapolated_s"] / report["ours"]["sample"]["ddpm1000_s"],
        }
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
