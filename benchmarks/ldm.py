"""Latent against pixel-space diffusion at the same image size: the lecture's claim that a diffusion model on
a first stage's f-times smaller latents is cheaper to train and to sample. Prints JSON.

    python benchmarks/ldm.py [--settings digits_32,photos_64] [--train-steps 5] [--ddim-steps 50]

Both sides are the families themselves (configs/ddpm.py and configs/ldm.py) with the same UNet (channels,
multipliers, res blocks, attention at the second level) on 1 CPU device, float32; the latent side reads
an untrained first stage of the preset's shape (timing does not depend on its weights) saved as a run, so
its encoder (in training) and decoder (after sampling) are in the figures:
  digits_32   32x32x1 mnist5k; UNet channels 64, mults (1, 2, 2), 2 res blocks; the demo first stage
              (KL, f = 4, c = 3, channels 16): latents 8x8x3.
  photos_64   64x64x3 photos32 resized; UNet channels 64, mults (1, 2, 2, 2), 2 res blocks; LDM's kl-f4
              first stage (channels 128, mults (1, 2, 4), c = 3): latents 16x16x3.
Per side: the train step at batch 32 (compile s, step s, images/s, XLA's FLOPs, planned memory), DDIM
sampling at batch 16 with `ddim-steps` steps, decoding included (compile s, wall s, images/s, and the
1000-step time at the same cost per step), and the compile time of the 1000-step DDPM scan. `ratios` gives
latent / pixel for each.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
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
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import LoadWatch, compile_seconds, measure_train_step, peak_rss_mib, wait_quiet  # noqa: E402
from configs import ddpm as ddpm_configs, ldm as ldm_configs, ldm_autoencoder as ae_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.runtime import prefer_plain_cpu_kernels  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

PLAIN_CPU_KERNELS = prefer_plain_cpu_kernels()  # as launch.py does, before the backend starts
TRAIN_BATCH, SAMPLE_BATCH = 32, 16
COMMON = ("model.channels=64,model.num_res_blocks=2,model.mid_attention=True,model.dropout=0.0,optim.ema_decay=0.0,"
          "diffusion.schedule=linear,diffusion.parameterisation=eps,diffusion.num_steps=1000,"
          f"data.batch_size={TRAIN_BATCH},data.eval_batch_size={SAMPLE_BATCH},eval.feature_network=none")
# setting -> (data keys, UNet multipliers, first-stage preset and keys, pixel attention resolution)
SETTINGS = {
    "digits_32": ("data.name=mnist5k,data.image_size=32", "(1,2,2)", "demo", 16),
    "photos_64": ("data.name=photos32,data.image_size=64", "(1,2,2,2)", "kl_f4,data.name=photos32,data.image_size=64,"
                  "eval.feature_network=none", 32),
}


def side(config: ml_collections.ConfigDict, workdir: pathlib.Path, train_steps: int, ddim_steps: int) -> dict[str, object]:
    experiment = run.build_experiment(config, workdir, devices=jax.devices()[:1])
    experiment.checkpointer.close()
    task, state = experiment.task, experiment.init_state()
    batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(TRAIN_BATCH)).items()}
    report: dict[str, object] = {"denoiser_params": int(sum(x.size for x in jax.tree.leaves(state.params["denoiser"])))}
    if hasattr(task, "latent_shape"):
        report["latent_shape"] = list(task.latent_shape)
    wait_quiet()
    report["train"], _ = measure_train_step(counting(task.train_step), state, batch, train_steps, warmup=1)

    def sampler(sampler_config: dict[str, object]):
        with config.unlocked():
            config.sample.update(sampler_config)
        return lambda p, rng: task.sample(p, rng, SAMPLE_BATCH)

    params, rng = state.eval_params, jax.random.PRNGKey(0)
    compile_s, ddim = compile_seconds(sampler({"sampler": "ddim", "steps": ddim_steps, "eta": 0.0}), params, rng)
    jax.block_until_ready(ddim(params, rng))
    wait_quiet()
    watch, start = LoadWatch(), time.perf_counter()
    jax.block_until_ready(ddim(params, jax.random.PRNGKey(1)))
    wall = time.perf_counter() - start
    ddpm_compile_s, _ = compile_seconds(sampler({"sampler": "ddpm"}), params, rng)
    report["sample"] = {
        "batch": SAMPLE_BATCH, "ddim_steps": ddim_steps, "compile_s": compile_s, "wall_s": wall,
        "images_per_s": SAMPLE_BATCH / wall, "steps1000_s": wall / ddim_steps * 1000,
        "ddpm1000_compile_s": ddpm_compile_s, "other_load": watch.read(),
    }
    return report


def measure(setting: str, train_steps: int, ddim_steps: int) -> dict[str, object]:
    data_keys, mults, first_stage, pixel_attention = SETTINGS[setting]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        run.initialise(ae_configs.get_config(first_stage), tmp / "first_stage", devices=jax.devices()[:1])  # untrained: timing only
        latent_size = ae_configs.get_config(first_stage).data.image_size // 4  # f = 4 in both first stages
        pixel = ddpm_configs.get_config(f"demo,{COMMON},{data_keys},model.channel_mults={mults},"
                                        f"model.attention_resolutions=({pixel_attention},)")
        latent = ldm_configs.get_config(f"smoke_none,{COMMON},{data_keys},model.channel_mults={mults},"
                                        f"model.attention_resolutions=({latent_size // 2},),"
                                        f"init_from.autoencoder={tmp / 'first_stage'},train.num_steps=1000")
        report = {"pixel": side(pixel, tmp / "pixel", train_steps, ddim_steps),
                  "latent": side(latent, tmp / "latent", train_steps, ddim_steps)}
    p, z = report["pixel"], report["latent"]
    report["ratios"] = {  # latent / pixel: above 1 is the latent model's gain for speed, below 1 for cost
        "train_images_per_s": z["train"]["images_per_s"] / p["train"]["images_per_s"],
        "train_flops": z["train"]["flops_per_step"] / p["train"]["flops_per_step"],
        "sample_images_per_s": z["sample"]["images_per_s"] / p["sample"]["images_per_s"],
        "train_compile_s": z["train"]["compile_s"] / p["train"]["compile_s"],
        "ddpm1000_compile_s": z["sample"]["ddpm1000_compile_s"] / p["sample"]["ddpm1000_compile_s"],
    }
    if p["train"]["compiled_memory_mib"] and z["train"]["compiled_memory_mib"]:
        report["ratios"]["train_memory"] = z["train"]["compiled_memory_mib"] / p["train"]["compiled_memory_mib"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--ddim-steps", type=int, default=50)
    args = parser.parse_args()
    report: dict[str, object] = {"jax": jax.__version__, "plain_cpu_kernels": PLAIN_CPU_KERNELS}
    for setting in args.settings.split(","):
        report[setting] = measure(setting, args.train_steps, args.ddim_steps)
        print(json.dumps({setting: report[setting]["ratios"]}), file=sys.stderr, flush=True)
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
