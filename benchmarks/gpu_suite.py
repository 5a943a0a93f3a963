"""The accelerator suite: every family's paper-scale training step in float32 and bfloat16, the 1000-step
DDPM sampler, and the largest DDPM UNet whose training step fits one device. Prints a JSON line per
figure as it goes, then one JSON of everything.

    python benchmarks/gpu_suite.py                 # on a GPU or TPU: a few minutes
    python benchmarks/gpu_suite.py --smoke         # the same code on the smoke presets (a CPU, seconds)
    python benchmarks/gpu_suite.py --only ddpm,vae --skip-largest-unet

Needs no network: each preset keeps its model, optimiser and batch size, and reads a built-in dataset of
the paper data's shape (photos32 for CIFAR-10's 32x32x3, photos32 enlarged to 64x64 for the DCGAN,
mnist5k for the VAE). Figures per step: images/s, step ms, compile s, XLA's FLOPs per step, MFU against
this device's measured matmul peak of the same dtype (and against the data-sheet peak where the device is
known: dense tensor-core figures, TF32 for float32 as JAX's default matmul precision uses on NVIDIA GPUs),
and the device memory XLA plans for the step. The VAE step is also timed ten steps per call
(`train.steps_per_call`), which a sub-millisecond step needs on an accelerator.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import compile_seconds, compiled_memory_mib, matmul_peak_gflops, measure_train_step  # noqa: E402
from configs import ddpm, gan, pixelcnn, vae  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.loop import scan_steps  # noqa: E402
from jaxgen.train.runtime import quiet_library_logs  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

# name -> (config module, paper preset, offline data, smoke preset, steps per call)
FAMILIES = {
    "ddpm": (ddpm, "cifar10", "data.name=photos32", "smoke", 1),
    "dcgan": (gan, "celeb_a", "data.name=photos32,data.image_size=64", "smoke", 1),
    "pixelcnn_pp": (pixelcnn, "cifar10_pp", "data.name=photos32", "smoke_pp", 1),
    "vae": (vae, "mnist", "data.name=mnist5k", "smoke", 10),
}
DTYPES = ("float32", "bfloat16")
# Dense peak TFLOP/s from NVIDIA's data sheets (SXM parts): bfloat16 and TF32 tensor cores.
DATA_SHEET_TFLOPS = {"H100": {"bfloat16": 989.4, "float32": 494.7}, "H200": {"bfloat16": 989.4, "float32": 494.7},
                     "A100": {"bfloat16": 312.0, "float32": 156.0}}


def config_for(family: str, smoke: bool, *extra: str) -> Any:
    module, paper, offline, smoke_preset, _ = FAMILIES[family]
    overrides = [] if smoke else [offline]
    overrides += ["train.compilation_cache_dir=", "train.progress_bar=False", *extra]
    return module.get_config(",".join([smoke_preset if smoke else paper, *overrides]))


def data_sheet_peak(dtype: str) -> float | None:
    kind = jax.devices()[0].device_kind
    return next((peaks[dtype] * 1e3 for name, peaks in DATA_SHEET_TFLOPS.items() if name in kind), None)


def train_step_figures(family: str, dtype: str, smoke: bool, steps_per_call: int, peaks: dict[str, float], steps: int) -> dict[str, Any]:
    config = config_for(family, smoke, f"train.compute_dtype={dtype}")
    with tempfile.TemporaryDirectory() as workdir:
        experiment = run.build_experiment(config, workdir, devices=jax.devices()[:1])
        state = experiment.init_state()
        size = config.data.batch_size
        rows = experiment.train_source.read(np.arange(size * steps_per_call) % len(experiment.train_source))
        batch = {k: v.reshape((steps_per_call, size) + v.shape[1:]) if steps_per_call > 1 else v for k, v in rows.items()}
        batch = jax.device_put(batch)
        step = counting(experiment.task.train_step)
        figures, _ = measure_train_step(scan_steps(step) if steps_per_call > 1 else step, state, batch, steps, warmup=1,
                                        images_per_call=size * steps_per_call)
        flops = figures["flops_per_step"]
        if steps_per_call > 1:  # XLA's cost analysis counts a loop's body once: count one plain step instead
            flops = float(compile_seconds(step, state, jax.tree.map(lambda v: v[0], batch))[1].cost_analysis()["flops"])
    step_s = figures["step_s"] / steps_per_call
    flops_per_s = flops / step_s
    sheet = data_sheet_peak(dtype)
    return {
        "family": family, "preset": config.preset, "dtype": dtype, "steps_per_call": steps_per_call,
        "params": int(sum(x.size for x in jax.tree.leaves(state.params))), "batch": size,
        "images_per_s": figures["images_per_s"], "step_ms": 1e3 * step_s,
        "compile_s": figures["compile_s"], "flops_per_step": flops,
        "mfu_measured_peak": flops_per_s / (peaks[dtype] * 1e9),
        "mfu_data_sheet": None if sheet is None else flops_per_s / (sheet * 1e9),
        "compiled_memory_mib": figures["compiled_memory_mib"],
    }


def sampler_figures(dtype: str, smoke: bool, batch: int) -> dict[str, Any]:
    """The DDPM preset's ancestral sampler over all its T steps (a lax.scan), from fresh parameters."""
    config = config_for("ddpm", smoke, f"train.compute_dtype={dtype}", "sample.sampler=ddpm")
    with tempfile.TemporaryDirectory() as workdir:
        experiment = run.build_experiment(config, workdir, devices=jax.devices()[:1])
        params = experiment.init_state().eval_params
    sample = experiment.task.sample
    compile_s, compiled = compile_seconds(lambda p, rng: sample(p, rng, batch), params, jax.random.PRNGKey(0))
    start = time.perf_counter()
    jax.block_until_ready(compiled(params, jax.random.PRNGKey(1)))
    seconds = time.perf_counter() - start
    return {"dtype": dtype, "steps": config.diffusion.num_steps, "batch": batch, "images_per_s": batch / seconds,
            "wall_s": seconds, "compile_s": compile_s, "compiled_memory_mib": compiled_memory_mib(compiled)}


def largest_unet(smoke: bool, widths: list[int], budget_mib: float) -> dict[str, Any]:
    """Grow the DDPM UNet's base width (`model.channels`, the paper's 128 at CIFAR-10) until the bfloat16
    training step no longer fits `budget_mib` of one device; compiled, never run."""
    fits = []
    for width in widths:
        config = config_for("ddpm", smoke, "train.compute_dtype=bfloat16", f"model.channels={width}")
        with tempfile.TemporaryDirectory() as workdir:
            experiment = run.build_experiment(config, workdir, devices=jax.devices()[:1])
            shapes = experiment.abstract_state
            batch = jax.eval_shape(lambda: experiment.train_source.read(np.arange(config.data.batch_size)))
            _, compiled = compile_seconds(counting(experiment.task.train_step), shapes, batch)
        memory = compiled_memory_mib(compiled)
        params = int(sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes.parts["denoiser"].params)))
        record = {"channels": width, "params": params, "compiled_memory_mib": memory}
        print(json.dumps({"largest_unet_try": record}), flush=True)
        if memory is None or memory > budget_mib:
            return {"budget_mib": budget_mib, "fits": fits, "first_too_large": record}
        fits.append(record)
    return {"budget_mib": budget_mib, "fits": fits, "first_too_large": None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="the smoke presets, for a CPU check of this script")
    parser.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per figure")
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--skip-largest-unet", action="store_true")
    parser.add_argument("--unet-widths", default="128,256,384,512,768")
    parser.add_argument("--memory-budget-mib", type=float, default=0.0,
                        help="0: 90%% of the device's memory (memory_stats bytes_limit)")
    args = parser.parse_args(argv)
    quiet_library_logs()
    device = jax.devices()[0]
    size = 512 if args.smoke else 8192
    peaks = {dtype: matmul_peak_gflops(dtype, size) for dtype in DTYPES}
    report: dict[str, Any] = {
        "bench": "jaxgen_gpu_suite", "device": device.device_kind, "platform": device.platform, "jax": jax.__version__,
        "smoke": args.smoke, "matmul_peak_gflops": peaks, "steps": [], "sampler": [],
    }
    print(json.dumps({"matmul_peak_gflops": peaks}), flush=True)
    for family in args.only.split(","):
        calls = sorted({1, FAMILIES[family][4]})
        for dtype in DTYPES:
            for k in calls:
                figures = train_step_figures(family, dtype, args.smoke, k, peaks, args.steps)
                report["steps"].append(figures)
                print(json.dumps(figures), flush=True)
    if "ddpm" in args.only.split(","):
        for dtype in DTYPES:
            report["sampler"].append(sampler_figures(dtype, args.smoke, args.sample_batch))
            print(json.dumps({"sampler": report["sampler"][-1]}), flush=True)
    if not args.skip_largest_unet:
        limit = (device.memory_stats() or {}).get("bytes_limit", 0)
        budget = args.memory_budget_mib or 0.9 * limit / 2**20
        if budget:
            report["largest_unet"] = largest_unet(args.smoke, [int(w) for w in args.unet_widths.split(",")], budget)
        else:
            report["largest_unet"] = "this device reports no memory limit: pass --memory-budget-mib"
    report["peak_device_memory_mib"] = (device.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20 or None
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
