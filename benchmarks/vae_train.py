"""VAE training throughput against the pytorch/examples-style VAE, measured in one run. Prints JSON.

    python benchmarks/vae_train.py --peer-python /path/to/venv-with-torch/bin/python [--rounds 3]

Figures (float32, 1 CPU device, the machine's 2 cores):
  peer_config   our VAE at the peer's exact setting (MLP 784-400-20, ReLU, Bernoulli, Adam 1e-3,
                batch 128, fixed binary data): bare jitted step images/s, compile time; the peer's
                images/s from ../shared/peers/torch_vae_gan.py, run alternately with ours.
  paper_config  Kingma & Welling's setting (784-500-20 tanh, Adagrad 0.02, batch 100).
  loop          the full loop (data stream, device transfer, metrics, checkpoints, pictures) on
                mnist5k at the peer setting with the demo's cadence (metrics every 200 steps, checkpoint
                and pictures every 2,000): steady-state images/s, from two run lengths so that set-up and
                compilation cancel; loop_efficiency = loop images/s / bare step images/s.
Each round waits for a quiet machine first and records the load other processes put on it.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
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

from benchmarks.machine import median_time, peak_rss_mib, wait_quiet  # noqa: E402
from benchmarks.machine import add_peer_allocator_argument, peer_environment  # noqa: E402
from jaxgen.host_allocator import allocator_in_use  # noqa: E402
from configs import vae as vae_configs  # noqa: E402
from jaxgen import data, tasks  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PEER_SCRIPT = ROOT.parent / "shared" / "peers" / "torch_vae_gan.py"
BLOCK = 20  # steps per timed block (a step is milliseconds)


def config_for(setting: str, **extra: object):
    overrides = {
        "peer": "model.hidden=(400,),model.z_dim=20,data.batch_size=128,data.preprocess=binarize_static",
        "paper": "data.name=mnist5k,data.preprocess=binarize_static",
    }[setting]
    config = vae_configs.get_config(("demo," if setting == "peer" else "mnist,") + overrides)
    with config.unlocked():
        config.train.compilation_cache_dir = ""
        config.train.progress_bar = False
        for key, value in extra.items():
            section, leaf = key.split(".")
            config[section][leaf] = value
    return config


def bare_step(setting: str, blocks: int, **extra: object) -> dict[str, float]:
    """images/s of the jitted step alone on fixed binary data, and its compile time."""
    config = config_for(setting, **extra)
    spec = data.open_source(config.data, "train").spec
    task = tasks.get_task(config, spec)
    batch_size = config.data.batch_size
    rng = np.random.default_rng(0)
    batch = {"image": jnp.asarray(np.where(rng.random((batch_size, 28, 28, 1)) > 0.5, 255, 0).astype(np.uint8))}
    state = jax.jit(task.create_state)(jax.random.PRNGKey(0))
    t = time.perf_counter()
    compiled = jax.jit(counting(task.train_step), donate_argnums=0).lower(state, batch).compile()
    compile_s = time.perf_counter() - t
    holder = {"state": state}

    def block() -> None:
        s = holder["state"]
        for _ in range(BLOCK):
            s, metrics = compiled(s, batch)
        jax.block_until_ready(metrics)
        holder["state"] = s

    seconds, load = median_time(block, blocks)
    return {"images_per_s": BLOCK * batch_size / seconds, "step_ms": 1000 * seconds / BLOCK,
            "compile_s": compile_s, "other_cores": load}


def loop_throughput(short: int, long: int, **extra: object) -> dict[str, float]:
    """Steady-state images/s of the whole loop: (long - short) steps over the difference of wall times.

    A first run of `short` steps compiles everything; the timed runs then find their programs in
    the in-process cache, as a restarted run finds them in the persistent cache.
    """
    timings = {}
    for steps in (short, short, long):
        config = config_for(
            "peer", **{"train.num_steps": steps, "train.eval_at_end": False, "data.name": "mnist5k", **extra}
        )
        with tempfile.TemporaryDirectory() as workdir:
            t = time.perf_counter()
            run.train(config, workdir, devices=jax.devices()[:1])
            timings[steps] = time.perf_counter() - t
    batch_size = 128
    return {"images_per_s": (long - short) * batch_size / (timings[long] - timings[short]), "wall_s": timings}


def peer_run(python: str, allocator: str) -> dict:
    out = subprocess.run([python, str(PEER_SCRIPT)], capture_output=True, text=True, check=True, timeout=600, env=peer_environment(allocator))
    result = json.loads(out.stdout.strip().splitlines()[-1])["results"]["vae"]
    return {"images_per_s": result["images_per_s"], "other_cores": result.get("other_cores_mean")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default="", help="a python with torch 2.13 (CPU); empty skips the peer")
    add_peer_allocator_argument(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--loop-steps", type=int, nargs=2, default=(2000, 6000))
    args = parser.parse_args()

    rounds = []
    for _ in range(args.rounds):
        record = {"waited_s": wait_quiet(), "peer_config": bare_step("peer", args.blocks)}
        if args.peer_python:
            wait_quiet()
            record["peer"] = peer_run(args.peer_python, args.peer_allocator)
        wait_quiet()
        record["loop"] = loop_throughput(*args.loop_steps)
        rounds.append(record)
    wait_quiet()
    paper = bare_step("paper", args.blocks)

    ours = statistics.median(r["peer_config"]["images_per_s"] for r in rounds)
    loop = statistics.median(r["loop"]["images_per_s"] for r in rounds)
    result = {
        "bench": "jaxgen_vae_train",
        "device": jax.devices()[0].device_kind,
        "versions": {"jax": jax.__version__, "python": sys.version.split()[0]}, "allocator": allocator_in_use(),
        "peer_config": {
            "model": "MLP 784-400-20 ReLU, Bernoulli, Adam 1e-3, batch 128",
            "images_per_s_median": ours,
            "step_ms_median": statistics.median(r["peer_config"]["step_ms"] for r in rounds),
            "compile_s_median": statistics.median(r["peer_config"]["compile_s"] for r in rounds),
        },
        "paper_config": {"model": "MLP 784-500-20 tanh, Bernoulli, Adagrad 0.02, batch 100", **paper},
        "loop": {"images_per_s_median": loop, "loop_efficiency": loop / ours,
                 "note": "the demo's loop: metrics every 200 steps, checkpoint + pictures every 2000"},
        "rounds": rounds,
        "peak_rss_mib": peak_rss_mib(),
    }
    if args.peer_python:
        peer = statistics.median(r["peer"]["images_per_s"] for r in rounds)
        result["peer"] = {"script": "shared/peers/torch_vae_gan.py", "images_per_s_median": peer}
        result["ratio_to_peer"] = ours / peer
    print(json.dumps(result))


if __name__ == "__main__":
    main()
