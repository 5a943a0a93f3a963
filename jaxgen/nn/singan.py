"""SinGAN's networks and image pyramid (Shaham et al. 2019, "SinGAN: Learning a Generative Model from a Single
Natural Image").

Scales n = N (coarsest) ... 0 (the image itself); scale n is the image downsampled by r^n (r < 1). At every
scale a generator G_n and a critic D_n of five 3x3 convolutions: four blocks of conv, normalisation and
LeakyReLU(0.2), then a last convolution (G: to the image's channels and tanh; D: to one score). The receptive
field is 11x11 pixels at every scale, so a coarse scale sees the layout of the image and a fine one its texture.

G_n is residual: x~_n = up(x~_{n+1}) + psi_n(z_n + up(x~_{n+1})) (the paper's eq. 2), with the input padded by
five zeros per side so x~_n has the size of scale n; D_n scores every 11x11 patch without padding (a Markovian
critic). The normalisation is the paper's code's BatchNorm in training mode on a batch of one image, that is a
per-image, per-channel normalisation over the pixels (instance normalisation): we compute it per image, so a
batch of samples gives each sample what it would get alone.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

LAYERS = 5
KERNEL = 3
PADDING = LAYERS * (KERNEL // 2)  # G pads its input by this much per side: its output keeps the input's size
RECEPTIVE_FIELD = 1 + LAYERS * (KERNEL - 1)  # 11
WIDTH_DOUBLES_EVERY = 4  # scales; the paper's 32 kernels at the coarsest scale double every four scales


def _normal(stddev: float, mean: float = 0.0) -> nn.initializers.Initializer:
    """N(mean, stddev^2): the paper's code initialises convolutions with N(0, 0.02^2), norm scales N(1, 0.02^2)."""
    def init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        return mean + stddev * jax.random.normal(key, shape, dtype)
    return init


class ConvBlock(nn.Module):
    """3x3 convolution without padding, per-image normalisation, LeakyReLU(0.2)."""

    width: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(self.width, (KERNEL, KERNEL), padding="VALID", kernel_init=_normal(0.02))(x)
        x = nn.GroupNorm(num_groups=None, group_size=1, epsilon=1e-5, scale_init=_normal(0.02, 1.0))(x)
        return nn.leaky_relu(x, 0.2)


class ScaleGenerator(nn.Module):
    """G_n: (z_n, up(x~_{n+1})) -> x~_n, all (B, H, W, C) in [-1, 1]-ish model space."""

    width: int

    @nn.compact
    def __call__(self, noise: jax.Array, previous: jax.Array) -> jax.Array:
        pad = ((0, 0), (PADDING, PADDING), (PADDING, PADDING), (0, 0))
        x = jnp.pad(noise + previous, pad)
        for _ in range(LAYERS - 1):
            x = ConvBlock(self.width)(x)
        x = nn.Conv(previous.shape[-1], (KERNEL, KERNEL), padding="VALID", kernel_init=_normal(0.02))(x)
        return previous + jnp.tanh(x)  # (B, H, W, C)


class PatchCritic(nn.Module):
    """D_n: images (B, H, W, C) -> a score per 11x11 patch, (B, H - 10, W - 10)."""

    width: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(LAYERS - 1):
            x = ConvBlock(self.width)(x)
        return nn.Conv(1, (KERNEL, KERNEL), padding="VALID", kernel_init=_normal(0.02))(x)[..., 0]


def scale_width(n: int, num_scales: int, base: int, max_width: int) -> int:
    """Channels of scale n's networks: `base` at the coarsest scale (N = num_scales - 1), doubling every four
    scales towards the image, at most `max_width` (the paper's 32 and 128)."""
    from_coarsest = num_scales - 1 - n
    return min(base * 2 ** (from_coarsest // WIDTH_DOUBLES_EVERY), max_width)


def pyramid_shapes(height: int, width: int, min_side: int, nominal_factor: float) -> tuple[tuple[tuple[int, int], ...], float]:
    """The pyramid of a (height, width) image, finest first: ((h_0, w_0) = (height, width), ..., (h_N, w_N)),
    and its factor r. N = ceil(log(min_side / min(h, w)) / log(nominal_factor)), then r is set so that the
    coarsest scale's shorter side is exactly `min_side`: r = (min_side / min(h, w))^(1/N) (the paper's code;
    its 25 pixels and r ~ 3/4). An image whose shorter side is at most `min_side` has one scale (r = 1)."""
    if not 0.0 < nominal_factor < 1.0:
        raise ValueError(f"the scale factor must lie in (0, 1), got {nominal_factor}")
    shorter = min(height, width)
    if shorter <= min_side:
        return ((height, width),), 1.0
    coarsest = math.ceil(math.log(min_side / shorter) / math.log(nominal_factor) - 1e-9)
    r = (min_side / shorter) ** (1.0 / coarsest)
    shapes = tuple((max(1, round(height * r**n)), max(1, round(width * r**n))) for n in range(coarsest + 1))
    return shapes, r


def resize_to(images: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """Bicubic resampling of (B, H, W, C) to (B, *shape, C), antialiased when it shrinks (the paper's imresize)."""
    return jax.image.resize(images, (images.shape[0], *shape, images.shape[-1]), "bicubic", antialias=True)
