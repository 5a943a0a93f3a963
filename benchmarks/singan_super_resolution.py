"""SinGAN's super-resolution against bicubic, scored on the same photograph at the higher resolution. Prints JSON.

    python benchmarks/singan_super_resolution.py --workdir runs/singan-sr [--factor 4]

The run trained SinGAN on its image (`data.name=image:...`) at the longer side L = data.image_size; that image
is enlarged by `factor` through the run's finest generator (sample.given_image=super_resolve, the paper's
section 4.3), and by PIL's bicubic filter. The reference is the original file resized (bicubic, antialiased)
to the enlarged size: what the photograph looks like at that resolution, never seen by the model. Reported
for both: PSNR and SSIM against the reference (jaxgen/eval/image_similarity.py), and sharpness, the mean
gradient magnitude relative to the reference's (1: as sharp as the photograph; an enlargement that blurs is
below 1). The paper measures RMSE and NIQE on BSD100; this is the one-image version of that comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxgen import run  # noqa: E402
from jaxgen.data import one_image  # noqa: E402
from jaxgen.data.preprocess import resize_uint8  # noqa: E402
from jaxgen.eval.image_similarity import psnr, ssim  # noqa: E402


def sharpness(images: np.ndarray) -> float:
    """Mean |horizontal| + |vertical| finite difference of float images (N, H, W, C) in [0, 1]."""
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


def scores(images: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    a, b = jnp.asarray(images), jnp.asarray(reference)
    return {"psnr": float(psnr(a, b)[0]), "ssim": float(ssim(a, b)[0]), "sharpness": sharpness(images) / sharpness(reference)}


def measure(workdir: str | pathlib.Path, factor: float, seed: int = 0) -> dict[str, object]:
    loaded = run.load_run(workdir, overrides=["sample.given_image=super_resolve", f"sample.super_resolution_factor={factor}"])
    name = loaded.config.data.name
    low = one_image.one_image_source(name, loaded.config.data.image_size).arrays["image"]  # (1, h, w, C) uint8
    enlarge = jax.jit(lambda params, image: loaded.task.sample(params, jax.random.PRNGKey(seed), 1, {"image": image}))
    enlarged = np.asarray(enlarge(loaded.state.eval_params, jnp.asarray(low)))
    size = enlarged.shape[1:3]
    original = one_image.one_image_source(name, 0).arrays["image"]  # the file at its own resolution
    reference = resize_uint8(original, size).astype(np.float32) / 255.0
    bicubic = resize_uint8(low, size).astype(np.float32) / 255.0
    return {
        "workdir": str(workdir), "step": int(loaded.state.step), "image": name, "low": list(low.shape[1:3]),
        "high": list(size), "factor": factor, "seed": seed,
        "singan": scores(enlarged, reference), "bicubic": scores(bicubic, reference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(measure(args.workdir, args.factor, args.seed), indent=2))


if __name__ == "__main__":
    main()
