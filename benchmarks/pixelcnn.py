"""Autoregressive models: training speed, pixel-by-pixel sampling speed, Row LSTM scan vs Python loop. Prints JSON.

    python benchmarks/pixelcnn.py [--steps 10] [--skip-colour]

All on one CPU device (the machine's cores), float32, through the task's own functions:
  train/<preset>   task.train_step on a batch of the preset's own data: compile s, median step s,
                   images/s, XLA's FLOP count and the model FLOP utilisation against the matmul peak.
                   Presets: demo (PixelCNN), gated_demo, demo_cond (the digits demo), row_lstm_demo.
  sample/<case>    the jitted `sample` (one lax.fori_loop over the sites) at batch 16: compile s,
                   wall s of one batch, seconds per image, network calls (sites) and ms per call.
                   Cases: binary_28 (the demo PixelCNN on 28x28x1: the issue's goal is a batch of 16
                   in a few seconds) with the cached sampler (one pixel's activations per site) and the
                   full one (the whole network per site), gated_28 (gated_demo, cached -- the vertical
                   stack once per row -- and full), row_lstm_28 (row_lstm_demo), and colour_32 (the demo
                   PixelCNN with a 256-way softmax per colour on 32x32x3: 3,072 sites), cached and, unless
                   --skip-colour, full (minutes).
  speedup          full / cached wall time of each PixelCNN and Gated PixelCNN case.
  row_lstm         the row_lstm_demo network's forward pass and gradient, with its lax.scan over rows
                   against the same model unrolled as a Python loop: compile s and median s of each.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
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

from benchmarks.machine import compile_seconds, matmul_peak_gflops, measure_train_step  # noqa: E402
from benchmarks.machine import median_time, peak_rss_mib, wait_quiet  # noqa: E402
from configs import pixelcnn as pixelcnn_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.host_allocator import allocator_in_use  # noqa: E402
from jaxgen.autoregressive.sampling import num_sites  # noqa: E402
from jaxgen.nn.pixelrnn import RowLSTMPixelRNN  # noqa: E402
from jaxgen.train.runtime import prefer_plain_cpu_kernels  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PLAIN_CPU_KERNELS = prefer_plain_cpu_kernels()  # as launch.py does, before the backend starts
SAMPLE_BATCH = 16
COLOUR = "demo,data.name=photos32,data.preprocess=scale11,model.likelihood=categorical"
SAMPLE_CASES = {
    "binary_28_cached": "demo",
    "binary_28_full": "demo,sample.sampler=full",
    "gated_28_cached": "gated_demo",
    "gated_28_full": "gated_demo,sample.sampler=full",
    "row_lstm_28": "row_lstm_demo",
    "colour_32_cached": COLOUR,
    "colour_32_full": COLOUR + ",sample.sampler=full",
}


def experiment_for(arg: str, tmp: str) -> run.loop.Experiment:
    return run.build_experiment(pixelcnn_configs.get_config(arg), tmp, devices=jax.devices()[:1])


def train_figures(preset: str, steps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        experiment = experiment_for(preset, tmp)
        size = experiment.config.data.batch_size
        batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(size)).items()}
        state = experiment.init_state()
        wait_quiet()
        figures, _ = measure_train_step(counting(experiment.task.train_step), state, batch, steps, warmup=1)
        figures["params"] = int(sum(x.size for x in jax.tree.leaves(state.params)))
        return figures


def sample_figures(arg: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        experiment = experiment_for(arg, tmp)
        task = experiment.task
        params = experiment.init_state().eval_params
        compile_s, sampler = compile_seconds(lambda p, key: task.sample(p, key, SAMPLE_BATCH), params, jax.random.PRNGKey(0))
        wait_quiet()
        seconds, load = median_time(lambda: jax.block_until_ready(sampler(params, jax.random.PRNGKey(1))), 1, warmup=0)
        calls = num_sites(task.likelihood, task.spec.image_shape)
        return {
            "batch": SAMPLE_BATCH, "image_shape": list(task.spec.image_shape), "compile_s": compile_s, "wall_s": seconds,
            "s_per_image": seconds / SAMPLE_BATCH, "network_calls": calls, "ms_per_call": 1000 * seconds / calls,
            "other_load": load,
        }


def row_lstm_figures(repeats: int) -> dict[str, dict[str, float]]:
    """The forward pass and the gradient of the row_lstm_demo network, scanned and unrolled."""
    m = pixelcnn_configs.get_config("row_lstm_demo").model
    x = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (64, 28, 28, 1)).astype(jnp.float32)
    figures = {}
    for name, use_scan in (("scan", True), ("python_loop", False)):
        net = RowLSTMPixelRNN(m.features, m.num_layers, 1, 1, m.output_features, m.output_layers, m.first_kernel, use_scan)
        params = net.init(jax.random.PRNGKey(1), x[:1])
        loss = lambda p, net=net: jnp.mean(net.apply(p, x) ** 2)  # noqa: E731
        for part, fn in (("forward", lambda p, net=net: net.apply(p, x)), ("gradient", jax.grad(loss))):
            compile_s, compiled = compile_seconds(fn, params)
            wait_quiet()
            seconds, load = median_time(lambda compiled=compiled: jax.block_until_ready(compiled(params)), repeats)
            figures[f"{part}_{name}"] = {"compile_s": compile_s, "s": seconds, "other_load": load}
    for part in ("forward", "gradient"):
        scan, loop = figures[f"{part}_scan"], figures[f"{part}_python_loop"]
        figures[f"{part}_ratio"] = {"compile_loop_over_scan": loop["compile_s"] / scan["compile_s"],
                                    "run_loop_over_scan": loop["s"] / scan["s"]}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per preset")
    parser.add_argument("--skip-colour", action="store_true", help="skip the full 32x32x3 sampling case (minutes)")
    args = parser.parse_args()
    report: dict[str, object] = {
        "device": str(jax.devices()[0]), "jax": jax.__version__, "plain_cpu_kernels": PLAIN_CPU_KERNELS, "allocator": allocator_in_use(),
        "matmul_peak_gflops": matmul_peak_gflops(),
    }
    for preset in ("demo", "gated_demo", "demo_cond", "row_lstm_demo"):
        figures = train_figures(preset, args.steps)
        figures["mfu"] = figures["achieved_gflops"] / report["matmul_peak_gflops"]
        report[f"train/{preset}"] = figures
    for case, arg in SAMPLE_CASES.items():
        if case == "colour_32_full" and args.skip_colour:
            continue
        report[f"sample/{case}"] = sample_figures(arg)
    for case in ("binary_28", "gated_28", "colour_32"):
        if f"sample/{case}_full" in report:
            report[f"speedup/{case}"] = report[f"sample/{case}_full"]["wall_s"] / report[f"sample/{case}_cached"]["wall_s"]
    report["row_lstm"] = row_lstm_figures(args.steps)
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
