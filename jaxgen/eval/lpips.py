"""LPIPS (Zhang et al. 2018), the VGG variant: the perceptual distance of latent diffusion's first stage.

d(x, y) = sum_l mean_{h,w} || w_l * (f_l(x) / ||f_l(x)|| - f_l(y) / ||f_l(y)||) ||^2 over VGG16's five taps
f_l, each unit-normalised over channels, with the learned non-negative channel weights w_l. Inputs in
[-1, 1] go through LPIPS's scaling layer (x - shift) / scale first; greyscale images are repeated to RGB.

The weights are the user's: torchvision's `vgg16-397923af.pth` (the backbone) and the `lpips` package's
`weights/v0.1/vgg.pth` (the linear heads), read without torch by jaxgen.eval.torch_archive. Nothing is
downloaded here: without the files, the loss stops with one line naming them.
"""
from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.errors import RunNotFoundError
from jaxgen.eval import torch_archive
from jaxgen.nn.vgg import BLOCKS, VGG16Features, torchvision_indices

SHIFT = np.asarray([-0.030, -0.088, -0.188], np.float32)
SCALE = np.asarray([0.458, 0.448, 0.450], np.float32)


def load_params(vgg_path: str | pathlib.Path, lin_path: str | pathlib.Path) -> dict[str, Any]:
    """{'vgg': Flax params of VGG16Features, 'lin': five (C_l,) channel weights} from the two files."""
    for key, path in (("loss.lpips_vgg", vgg_path), ("loss.lpips_lin", lin_path)):
        if not pathlib.Path(path).is_file():
            raise RunNotFoundError(f"{key}={path} is not a file: LPIPS needs torchvision's vgg16-397923af.pth "
                                   "(loss.lpips_vgg) and lpips's weights/v0.1/vgg.pth (loss.lpips_lin)")
    backbone = torch_archive.named_arrays(torch_archive.load(vgg_path))
    heads = torch_archive.named_arrays(torch_archive.load(lin_path))
    vgg = {}
    for i, index in enumerate(torchvision_indices()):
        kernel = np.asarray(backbone[f"features.{index}.weight"], np.float32)  # OIHW
        vgg[f"conv_{i}"] = {"kernel": jnp.asarray(kernel.transpose(2, 3, 1, 0)), "bias": jnp.asarray(backbone[f"features.{index}.bias"])}
    lin = [jnp.asarray(np.asarray(heads[f"lin{l}.model.1.weight"], np.float32).reshape(-1)) for l in range(len(BLOCKS))]
    return {"vgg": vgg, "lin": lin}


def _unit(features: jax.Array) -> jax.Array:
    return features / (jnp.sqrt(jnp.sum(jnp.square(features), axis=-1, keepdims=True)) + 1e-10)


def lpips(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    """The LPIPS distance per image pair, (B,), of NHWC images in [-1, 1]."""
    x, y = (jnp.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in (x, y))
    widths = tuple(params["vgg"][f"conv_{sum(BLOCKS[: b + 1]) - 1}"]["kernel"].shape[-1] for b in range(len(BLOCKS)))
    net = VGG16Features(widths)
    taps_x = net.apply({"params": params["vgg"]}, (x - SHIFT) / SCALE)
    taps_y = net.apply({"params": params["vgg"]}, (y - SHIFT) / SCALE)
    total = jnp.zeros(x.shape[0])
    for fx, fy, w in zip(taps_x, taps_y, params["lin"]):
        total = total + jnp.mean(jnp.sum(w * jnp.square(_unit(fx) - _unit(fy)), axis=-1), axis=(1, 2))
    return total
