"""Image preprocessing: resizing on the host, value transforms on the device.

Host side (numpy, applied by the source when it is read -- once, for in-memory sources):
`HostTransform` = `resize_uint8` then `static_binarize`; and back, `to_uint8` for pictures and measurements.
Device side (jnp, applied inside the jitted step so that randomness is a function of the
step's key): `to_model_input` with the modes

  scale01           x / 255                                  in [0, 1]
  scale11           x / 127.5 - 1                            in [-1, 1]
  binarize_dynamic  Bernoulli(x / 255), redrawn every time   in {0, 1} (Salakhutdinov & Murray 2008)
  binarize_static   x > 127 (fixed once; see `static_binarize`) in {0, 1}
  dequantize01      (x + u) / 256, u ~ U[0, 1)               in [0, 1) (Theis et al. 2016)

and `jitter_and_mirror`, pix2pix's and CycleGAN's random enlarge-crop and flip of model inputs.

For dequantize01 a continuous density on [0, 1)^D relates to the discrete data by
log P(x) >= log p((x + u) / 256) - D log 256 (`DEQUANTIZE_LOG_SCALE` per dimension).
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

MODES = ("scale01", "scale11", "binarize_dynamic", "binarize_static", "dequantize01")
DEQUANTIZE_LOG_SCALE = math.log(256.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] float images -> uint8."""
    return np.clip(np.round(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class HostTransform:
    """What is done to the uint8 images on the host after reading: fixed for a run."""

    image_size: int = 0  # 0 keeps the source's size
    static_binarize: bool = False

    @property
    def is_identity(self) -> bool:
        return not self.image_size and not self.static_binarize

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, shape[2]) if self.image_size else shape

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        image = batch["image"]
        if self.image_size:
            image = resize_uint8(image, self.image_size)
        if self.static_binarize:
            image = static_binarize(image)
        return {**batch, "image": image}


def resize_uint8(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a uint8 (N, H, W, C) batch to (N, size, size, C), or (N, *size, C) for a (height, width),
    with antialiased bicubic filtering."""
    height, width = (size, size) if isinstance(size, int) else size
    if images.shape[1:3] == (height, width):
        return images
    out = []
    for image in images:
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=None))
        out.append(resized.reshape(height, width, image.shape[-1]))
    return np.stack(out)


def static_binarize(images: np.ndarray) -> np.ndarray:
    """Threshold at half intensity; stored as 0/255 so that `to_model_input` maps it to {0, 1}."""
    return np.where(images > 127, 255, 0).astype(np.uint8)


def to_model_input(images: jax.Array, mode: str, rng: jax.Array | None = None) -> jax.Array:
    """Map uint8 images to the model's float32 input space (see the module docstring)."""
    x = images.astype(jnp.float32)
    if mode in ("scale01", "binarize_static"):
        return x / 255.0
    if mode == "scale11":
        return x / 127.5 - 1.0
    if mode == "binarize_dynamic":
        return jax.random.bernoulli(rng, x / 255.0).astype(jnp.float32)
    if mode == "dequantize01":
        return (x + jax.random.uniform(rng, x.shape)) / 256.0
    raise ValueError(f"unknown data.preprocess '{mode}'; choose one of {MODES}")


def jitter_and_mirror(rng: jax.Array, pair: tuple[jax.Array, ...], jitter: int, mirror: bool) -> tuple[jax.Array, ...]:
    """pix2pix's random jitter and mirroring (Isola et al. 2017; CycleGAN's too), the same for every image of
    an aligned pair (B, H, W, C_i): each image enlarged by `jitter` pixels a side (bilinear; the paper's 256 -> 286), a random H x W crop of it,
    then a left-right flip with probability 1/2 when `mirror`."""
    batch, height, width = pair[0].shape[:3]
    k_offset, k_flip = jax.random.split(rng)
    if jitter:
        offsets = jax.random.randint(k_offset, (batch, 2), 0, jitter + 1)

        def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
            return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

        enlarged = [jax.image.resize(x, (batch, height + jitter, width + jitter, x.shape[-1]), "bilinear") for x in pair]
        pair = tuple(jax.vmap(crop)(x, offsets) for x in enlarged)
    if mirror:
        flip = jax.random.bernoulli(k_flip, 0.5, (batch, 1, 1, 1))
        pair = tuple(jnp.where(flip, x[:, :, ::-1], x) for x in pair)
    return pair
