"""Pixel-by-pixel sampling of an autoregressive model as one `lax.fori_loop`.

The sites are the pixels in raster order, and within a pixel the colours in order when the model predicts
each channel separately (the masked models: a site per channel) or one site per pixel (PixelCNN++'s
mixture draws a pixel's colours together). Each site runs the network on the whole current image and
draws that site from its output: H * W (* C) network calls, batch-parallel. Starting at `start_site`
with the earlier sites already filled in gives image completion. `sample_levels_cached` draws the same
sites from a PixelCNN at the cost of one pixel's activations per site.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxgen.autoregressive.likelihoods import PixelLikelihood, model_input
from jaxgen.nn.pixelcnn import PixelCNN

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


def sample_levels_cached(
    model: PixelCNN,
    params: Any,
    likelihood: PixelLikelihood,
    rng: jax.Array,
    levels: jax.Array,
    start_site: int | jax.Array = 0,
) -> jax.Array:
    """`sample_levels` for a PixelCNN at the cost of one pixel's activations per site instead of a whole
    forward pass (Ramachandran et al. 2017): the loop carries the zero-padded model-space image and each
    residual block's 3x3-convolution inputs at the pixels visited so far, and `PixelCNN.at_pixel`
    computes the current pixel from them. The sites before `start_site` are visited without drawing, to
    fill the caches. Same draws as `sample_levels` with the same key (up to float rounding of the logits)."""
    batch, height, width, colours = levels.shape
    pad = model.first_kernel // 2
    image = jnp.zeros((batch, height + 2 * pad, width + 2 * pad, colours), jnp.float32)
    image = image.at[:, pad : pad + height, pad : pad + width].set(model_input(levels, likelihood.num_levels))
    caches = jnp.zeros((model.num_layers, batch, height + 2, width + 2, model.features // 2), jnp.float32)
    k = model.first_kernel

    def visit(site: jax.Array, carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
        current, image, caches = carry
        pixel, channel = jnp.divmod(site, colours)
        row, col = jnp.divmod(pixel, width)
        image_patch = jax.lax.dynamic_slice(image, (0, row, col, 0), (batch, k, k, colours))
        block_patches = jax.lax.dynamic_slice(caches, (0, 0, row, col, 0), caches.shape[:2] + (3, 3, caches.shape[-1]))
        logits, computed = model.apply({"params": params}, image_patch, block_patches, method=model.at_pixel)
        caches = caches.at[:, :, row + 1, col + 1].set(computed)
        drawn = likelihood.sample_channel(jax.random.fold_in(rng, site), logits[:, channel])
        value = jnp.where(site >= start_site, drawn, current[:, row, col, channel])
        current = current.at[:, row, col, channel].set(value)
        image = image.at[:, row + pad, col + pad, channel].set(model_input(value, likelihood.num_levels))
        return current, image, caches

    out, _, _ = jax.lax.fori_loop(0, height * width * colours, visit, (levels.astype(jnp.int32), image, caches))
    return out
