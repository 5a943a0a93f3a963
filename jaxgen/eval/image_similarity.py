"""Full-reference image similarity for reconstructions and super-resolution: PSNR and SSIM, computed by
dm-pix (DeepMind's JAX image library) with Wang et al.'s constants, behind checks that name the problem.

Images are NHWC floats on a scale whose range is `max_val` (1.0 for [0, 1]); each function returns one
value per image. tests/eval/test_image_similarity.py holds them to hand computations and scikit-image.
"""
from __future__ import annotations

import dm_pix as pix
import jax
import jax.numpy as jnp

SSIM_WINDOW = 11  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
    """10 log10(max_val^2 / MSE) per image, (B,); identical images give +inf."""
    return pix.psnr(a.astype(jnp.float32) / max_val, b.astype(jnp.float32) / max_val)


def region_psnr(a: jax.Array, b: jax.Array, region: jax.Array, max_val: float = 1.0) -> jax.Array:
    """PSNR over the pixels where `region` (B, H, W, 1) is 1 -- an inpainted hole -- per image, (B,): the MSE
    averaged over those pixels and the channels only; an image without such pixels gives NaN."""
    a, b = a.astype(jnp.float32) / max_val, b.astype(jnp.float32) / max_val
    weight = jnp.broadcast_to(region.astype(jnp.float32), a.shape)
    mse = jnp.sum((a - b) ** 2 * weight, axis=(1, 2, 3)) / jnp.sum(weight, axis=(1, 2, 3))
    return -10.0 * jnp.log10(mse)


def ssim(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
    """Mean structural similarity per image (Wang et al. 2004), (B,): local statistics from the 11x11
    Gaussian window (population statistics) over the positions where it fits, averaged over those
    positions and the channels."""
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"SSIM needs two NHWC batches of one shape, got {a.shape} and {b.shape}")
    if min(a.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window needs images of at least that size, got {a.shape[1:3]}")
    return pix.ssim(
        a.astype(jnp.float32), b.astype(jnp.float32), max_val=max_val, filter_size=SSIM_WINDOW, filter_sigma=SSIM_SIGMA,
        k1=SSIM_K1, k2=SSIM_K2,
    )
