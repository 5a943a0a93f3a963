"""Pixel-by-pixel sampling of an autoregressive model as one `lax.fori_loop`.

The sites are the pixels in raster order, and within a pixel the colours in order when the model predicts
each channel separately (the masked models: a site per channel) or one site per pixel (PixelCNN++'s
mixture draws a pixel's colours together). Each site runs the network on the whole current image and
draws that site from its output: H * W (* C) network calls, batch-parallel. Starting at `start_site`
with the earlier sites already filled in gives image completion.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxgen.autoregressive.likelihoods import PixelLikelihood, model_input

NetworkFn = Callable[[jax.Array], jax.Array]  # model-space image (B, H, W, C) -> network output


def num_sites(likelihood: PixelLikelihood, image_shape: tuple[int, int, int]) -> int:
    height, width, colours = image_shape
    return height * width * (colours if likelihood.per_channel else 1)


def sample_levels(
    network_fn: NetworkFn,
    likelihood: PixelLikelihood,
    rng: jax.Array,
    levels: jax.Array,
    start_site: int | jax.Array = 0,
) -> jax.Array:
    """Fill the sites from `start_site` on of `levels` (B, H, W, C) int32, each drawn from the model given
    everything before it; the sites before `start_site` are kept. Returns (B, H, W, C) int32 levels."""
    width, colours = levels.shape[2], levels.shape[3]
    per_pixel = colours if likelihood.per_channel else 1
    levels = levels.astype(jnp.int32)

    def draw(site: jax.Array, current: jax.Array) -> jax.Array:
        out = network_fn(model_input(current, likelihood.num_levels))
        pixel, channel = jnp.divmod(site, per_pixel)
        row, col = jnp.divmod(pixel, width)
        at_pixel = out[:, row, col]  # (B, C, K) or (B, P)
        key = jax.random.fold_in(rng, site)
        if likelihood.per_channel:
            value = likelihood.sample_channel(key, at_pixel[:, channel])
            return current.at[:, row, col, channel].set(value)
        return current.at[:, row, col, :].set(likelihood.sample_pixel(key, at_pixel))

    return jax.lax.fori_loop(start_site, num_sites(likelihood, levels.shape[1:]), draw, levels)
