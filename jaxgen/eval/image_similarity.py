"""Full-reference image similarity for reconstructions and super-resolution: PSNR and SSIM.

Images are NHWC floats on a scale whose range is `max_val` (1.0 for [0, 1]); each function
returns one value per image.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

SSIM_WINDOW = 11  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
    """10 log10(max_val^2 / MSE) per image, (B,); identical images give +inf."""
    mse = jnp.mean(jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32)), axis=(1, 2, 3))
    return 10.0 * (2.0 * math.log10(max_val) - jnp.log10(mse))


def _gaussian_taps() -> jax.Array:
    offsets = jnp.arange(SSIM_WINDOW, dtype=jnp.float32) - (SSIM_WINDOW - 1) / 2
    taps = jnp.exp(-0.5 * jnp.square(offsets / SSIM_SIGMA))
    return taps / jnp.sum(taps)


def _local_mean(x: jax.Array) -> jax.Array:
    """Separable Gaussian filter over H and W of (B, H, W, C), 'valid' borders."""
    taps = _gaussian_taps()
    height = x.shape[1] - SSIM_WINDOW + 1
    width = x.shape[2] - SSIM_WINDOW + 1
    x = sum(taps[i] * x[:, i : i + height] for i in range(SSIM_WINDOW))
    return sum(taps[j] * x[:, :, j : j + width] for j in range(SSIM_WINDOW))


def ssim(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
    """Mean structural similarity per image (Wang et al. 2004), (B,).

    Local means, variances and covariance come from the 11x11 Gaussian window (population
    statistics), over positions where the window fits inside the image; the SSIM map is averaged
    over those positions and the channels.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"SSIM needs two NHWC batches of one shape, got {a.shape} and {b.shape}")
    if min(a.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window needs images of at least that size, got {a.shape[1:3]}")
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    c1, c2 = (SSIM_K1 * max_val) ** 2, (SSIM_K2 * max_val) ** 2
    mu_a, mu_b = _local_mean(a), _local_mean(b)
    # (co)variances are shift-invariant: centre each image first so E[x^2] - E[x]^2 cancels less in float32
    a_c, b_c = a - jnp.mean(a, axis=(1, 2), keepdims=True), b - jnp.mean(b, axis=(1, 2), keepdims=True)
    mu_ac, mu_bc = _local_mean(a_c), _local_mean(b_c)
    var_a = _local_mean(a_c * a_c) - mu_ac**2
    var_b = _local_mean(b_c * b_c) - mu_bc**2
    cov = _local_mean(a_c * b_c) - mu_ac * mu_bc
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return jnp.mean(ssim_map, axis=(1, 2, 3))
