"""Pixel-by-pixel sampling of an autoregressive model as one `lax.fori_loop`.

The sites are the pixels in raster order, and within a pixel the colours in order when the model predicts
each channel separately (the masked models: a site per channel) or one site per pixel (PixelCNN++'s
mixture draws a pixel's colours together). Each site runs the network on the whole current image and
draws that site from its output: H * W (* C) network calls, batch-parallel. Starting at `start_site`
with the earlier sites already filled in gives image completion. `sample_levels_cached` draws the same
sites from a PixelCNN at the cost of one pixel's activations per site, and `sample_levels_gated_cached`
from a Gated PixelCNN at the cost of one vertical-stack pass per row and one pixel's horizontal stack per site.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxgen.autoregressive.likelihoods import PixelLikelihood, model_input
from jaxgen.nn.pixelcnn import GatedPixelCNN, PixelCNN

NetworkFn = Callable[[jax.Array], jax.Array]  # model-space image (B, H, W, C) -> network output


def guided_logits(both: jax.Array, scale: float) -> jax.Array:
    """Classifier-free guidance (Ho & Salimans 2022) of per-site logits: `both` holds a batch's logits given
    its labels and given the null label, stacked (2B, ...); returns (1 + w) l(x | y) - w l(x | null), (B, ...).
    w = 0 is the conditional model; larger w sharpens each site towards what the label explains."""
    conditional, unconditional = jnp.split(both, 2)
    return (1.0 + scale) * conditional - scale * unconditional


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


def sample_levels_gated_cached(
    model: GatedPixelCNN,
    params: Any,
    likelihood: PixelLikelihood,
    rng: jax.Array,
    levels: jax.Array,
    labels: jax.Array | None = None,
    start_site: int | jax.Array = 0,
    guidance: float = 0.0,
    null_label: int = 0,
) -> jax.Array:
    """`sample_levels` for a Gated PixelCNN (class-conditional given `labels`): the vertical stack sees only
    rows above the pixel's, so it runs once per row (`GatedPixelCNN.vertical_above`); within the row the
    loop carries each layer's horizontal inputs at the pixels visited so far and `GatedPixelCNN.at_pixel`
    computes the current pixel from them. The sites before `start_site` are visited without drawing, to
    fill the caches. Same draws as `sample_levels` with the same key (up to float rounding of the logits).

    `guidance` w > 0 (a Python float) draws each site from `guided_logits`: the batch runs twice, given
    `labels` and given `null_label`, with its own caches, and both halves take the drawn values."""
    guided = guidance > 0.0
    if guided:
        levels = jnp.concatenate([levels, levels])
        labels = jnp.concatenate([labels, jnp.full_like(labels, null_label)])
    batch, height, width, colours = levels.shape
    first_reach, reach = model.first_kernel // 2, model.kernel_size // 2
    apply = lambda method, *args: model.apply({"params": params}, *args, method=method)  # noqa: E731
    # the image and the row caches padded on the left, so a pixel's window starts at its own column
    image = jnp.pad(model_input(levels, likelihood.num_levels), ((0, 0), (0, 0), (first_reach, 0), (0, 0)))
    row_inputs = jnp.zeros((model.num_layers - 1, batch, width + reach, model.features), jnp.float32)

    def visit_row(row: jax.Array, carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
        above = apply(model.vertical_above, carry[1][:, :, first_reach:], labels, row)

        def visit(index: jax.Array, carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            current, image, row_inputs = carry
            col, channel = jnp.divmod(index, colours)
            site = row * width * colours + index
            image_window = jax.lax.dynamic_slice(image, (0, row, col, 0), (batch, 1, first_reach + 1, colours))
            row_windows = jax.lax.dynamic_slice(row_inputs, (0, 0, col, 0), row_inputs.shape[:2] + (reach + 1, row_inputs.shape[-1]))
            logits, computed = apply(model.at_pixel, image_window, row_windows[:, :, None], above[:, :, col], labels)
            row_inputs = row_inputs.at[:, :, col + reach].set(computed)
            key = jax.random.fold_in(rng, site)
            if guided:  # one draw per image from the guided logits, taken by both halves
                drawn = jnp.tile(likelihood.sample_channel(key, guided_logits(logits[:, channel], guidance)), 2)
            else:
                drawn = likelihood.sample_channel(key, logits[:, channel])
            value = jnp.where(site >= start_site, drawn, current[:, row, col, channel])
            current = current.at[:, row, col, channel].set(value)
            image = image.at[:, row, col + first_reach, channel].set(model_input(value, likelihood.num_levels))
            return current, image, row_inputs

        return jax.lax.fori_loop(0, width * colours, visit, carry)

    out, _, _ = jax.lax.fori_loop(0, height, visit_row, (levels.astype(jnp.int32), image, row_inputs))
    return jnp.split(out, 2)[0] if guided else out
