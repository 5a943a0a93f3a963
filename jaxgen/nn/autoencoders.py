"""Encoder and decoder backbones for autoencoders and VAEs (MLP and convolutional).

Encoders map images (N, H, W, C) to a feature vector (N, out_features); the task decides what
it means (a code z, or the mean and log-variance of q(z|x)). Decoders map z (N, Z) to
(N, H, W, C * out_per_channel) distribution parameters (logits, or mean and log-variance).
Both take an optional condition vector y (N, K) -- a one-hot class for the conditional VAE -- joined
to the flattened features (encoder) or to z (decoder), as in Sohn et al. 2015's CVAE.
Computation runs in `dtype`; parameters are float32.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import activation_fn, kernel_init, upsample_nearest


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
    def __call__(self, x: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        mlp = MLP((*self.hidden, self.out_features), self.activation, self.init_std, self.dtype)
        return mlp(with_condition(x.reshape(x.shape[0], -1), condition))


class MLPDecoder(nn.Module):
    hidden: Sequence[int]  # in decoder order (z -> ... -> image)
    image_shape: tuple[int, int, int]
    out_per_channel: int = 1
    activation: str = "relu"
    init_std: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        height, width, channels = self.image_shape
        out_features = height * width * channels * self.out_per_channel
        out = MLP((*self.hidden, out_features), self.activation, self.init_std, self.dtype)(with_condition(z, condition))
        return out.reshape(z.shape[0], height, width, channels * self.out_per_channel)


def with_condition(h: jax.Array, condition: jax.Array | None) -> jax.Array:
    """Features (N, D) with the condition vector (N, K) appended: (N, D + K); unchanged without one."""
    return h if condition is None else jnp.concatenate([h, condition.astype(h.dtype)], axis=-1)


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
    def __call__(self, x: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        act = activation_fn(self.activation)
        h = x.astype(self.dtype)
        for f in self.features:
            h = act(nn.Conv(f, (4, 4), strides=(2, 2), padding="SAME", dtype=self.dtype)(h))
        h = with_condition(h.reshape(h.shape[0], -1), condition)
        if self.hidden:
            h = act(nn.Dense(self.hidden, dtype=self.dtype)(h))
        return nn.Dense(self.out_features, dtype=self.dtype)(h)


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
    def __call__(self, z: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        act = activation_fn(self.activation)
        height, width, channels = self.image_shape
        levels = len(self.features)
        h0, w0 = _downsampled(height, levels), _downsampled(width, levels)
        h = with_condition(z.astype(self.dtype), condition)
        if self.hidden:
            h = act(nn.Dense(self.hidden, dtype=self.dtype)(h))
        h = act(nn.Dense(h0 * w0 * self.features[0], dtype=self.dtype)(h))
        h = h.reshape(h.shape[0], h0, w0, self.features[0])
        for f in self.features:
            h = act(nn.Conv(f, (3, 3), padding="SAME", dtype=self.dtype)(upsample_nearest(h)))
        return nn.Conv(channels * self.out_per_channel, (3, 3), padding="SAME", dtype=self.dtype)(h)


def _precision_factors(raw: jax.Array) -> jax.Array:
    """Lower-triangular precision factors A (..., Z, Z) from a raw parameter holding A below the diagonal and
    log A_ii on it (zeros -> A = I)."""
    diagonal = jnp.exp(jnp.diagonal(raw, axis1=-2, axis2=-1))
    return jnp.tril(raw, -1) + diagonal[..., None] * jnp.eye(raw.shape[-1])


class ClassGaussianPrior(nn.Module):
    """A learned class-conditional prior p(z|y) = N(m_y, (A_y^T A_y)^-1), full covariance per class.

    Returns (m_y (N, Z), A_y (N, Z, Z)) for labels (N,): A_y is the lower-triangular precision factor (it
    whitens: A_y (z - m_y) ~ N(0, I)), so densities and KLs need no matrix solve. It starts at m = 0, A = I,
    the standard prior. With the ELBO's KL to it, m_y and A_y follow where q(z|x, y) puts class y: sampling
    then draws from where the decoder was trained, not from the holes an N(0, I) prior leaves between the
    classes' codes.
    """

    num_classes: int
    z_dim: int

    @nn.compact
    def __call__(self, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = self.param("mean", nn.initializers.zeros, (self.num_classes, self.z_dim))
        raw = self.param("precision_tril", nn.initializers.zeros, (self.num_classes, self.z_dim, self.z_dim))
        return mean[labels], _precision_factors(raw)[labels]


class GaussianMixturePrior(nn.Module):
    """A learned mixture prior p(z) = sum_k pi_k N(m_k, (A_k^T A_k)^-1) with K full-covariance components:
    the unconditional model's answer to the same holes, fitted with the ELBO (cf. Ghosh et al. 2020's
    ex-post mixture, and the VampPrior of Tomczak & Welling 2018).

    Returns (log pi (K,), m (K, Z), A (K, Z, Z)). The means start at N(0, I) draws, which break the
    components' symmetry; pi starts uniform and A at I.
    """

    num_components: int
    z_dim: int

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        logits = self.param("logits", nn.initializers.zeros, (self.num_components,))
        mean = self.param("mean", nn.initializers.normal(1.0), (self.num_components, self.z_dim))
        raw = self.param("precision_tril", nn.initializers.zeros, (self.num_components, self.z_dim, self.z_dim))
        return jax.nn.log_softmax(logits), mean, _precision_factors(raw)
