"""Encoder and decoder backbones for autoencoders and VAEs (MLP and convolutional).

Encoders map images (N, H, W, C) to a feature vector (N, out_features); the task decides what
it means (a code z, or the mean and log-variance of q(z|x)). Decoders map z (N, Z) to
(N, H, W, C * out_per_channel) distribution parameters (logits, or mean and log-variance).
Computation runs in `dtype`; parameters are float32.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import activation_fn, kernel_init


class MLP(nn.Module):
    """Dense layers of widths `features`, the activation between them (none after the last)."""

    features: Sequence[int]
    activation: str = "relu"
    init_std: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        h = x.astype(self.dtype)
        for i, width in enumerate(self.features):
            h = nn.Dense(width, dtype=self.dtype, kernel_init=kernel_init(self.init_std))(h)
            if i < len(self.features) - 1:
                h = act(h)
        return h


class MLPEncoder(nn.Module):
    hidden: Sequence[int]
    out_features: int
    activation: str = "relu"
    init_std: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        mlp = MLP((*self.hidden, self.out_features), self.activation, self.init_std, self.dtype)
        return mlp(x.reshape(x.shape[0], -1))


class MLPDecoder(nn.Module):
    hidden: Sequence[int]  # in decoder order (z -> ... -> image)
    image_shape: tuple[int, int, int]
    out_per_channel: int = 1
    activation: str = "relu"
    init_std: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        height, width, channels = self.image_shape
        out_features = height * width * channels * self.out_per_channel
        out = MLP((*self.hidden, out_features), self.activation, self.init_std, self.dtype)(z)
        return out.reshape(z.shape[0], height, width, channels * self.out_per_channel)


def _downsampled(size: int, levels: int) -> int:
    return size // 2**levels


class ConvEncoder(nn.Module):
    """Strided 4x4 convolutions (each halves H and W), then a dense layer."""

    features: Sequence[int]
    hidden: int
    out_features: int
    activation: str = "relu"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        h = x.astype(self.dtype)
        for f in self.features:
            h = act(nn.Conv(f, (4, 4), strides=(2, 2), padding="SAME", dtype=self.dtype)(h))
        h = h.reshape(h.shape[0], -1)
        if self.hidden:
            h = act(nn.Dense(self.hidden, dtype=self.dtype)(h))
        return nn.Dense(self.out_features, dtype=self.dtype)(h)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
    """(N, H, W, C) -> (N, factor*H, factor*W, C) by repeating pixels."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class ConvDecoder(nn.Module):
    """Dense to a (H / 2^L, W / 2^L) feature map, then L x (2x nearest upsampling, 3x3 conv).

    Resize-convolution (Odena et al. 2016) instead of transposed convolution: no checkerboard
    artefacts, and XLA's CPU backend runs its gradient ~6x faster than a stride-2 ConvTranspose's.
    """

    features: Sequence[int]  # in decoder order (widest first)
    hidden: int
    image_shape: tuple[int, int, int]
    out_per_channel: int = 1
    activation: str = "relu"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        height, width, channels = self.image_shape
        levels = len(self.features)
        h0, w0 = _downsampled(height, levels), _downsampled(width, levels)
        h = z.astype(self.dtype)
        if self.hidden:
            h = act(nn.Dense(self.hidden, dtype=self.dtype)(h))
        h = act(nn.Dense(h0 * w0 * self.features[0], dtype=self.dtype)(h))
        h = h.reshape(h.shape[0], h0, w0, self.features[0])
        for f in self.features:
            h = act(nn.Conv(f, (3, 3), padding="SAME", dtype=self.dtype)(upsample_nearest(h)))
        return nn.Conv(channels * self.out_per_channel, (3, 3), padding="SAME", dtype=self.dtype)(h)
