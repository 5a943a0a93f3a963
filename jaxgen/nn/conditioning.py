"""Conditioning encoders tau_theta(y) of latent diffusion: tokens (B, M, D) for cross-attention, or GLIGEN's
grounding tokens for the gated layer.

- `ClassEmbedder`: one token per label; index `num_classes` is the null label of classifier-free guidance.
- `TextTransformer`: token ids (B, L) -> (B, L, D), a pre-LayerNorm transformer trained from scratch with
  the diffusion model (LDM's text model); padding is masked out of the attention, so a prompt's tokens do
  not depend on how far it is padded.
- `LayoutEncoder`: boxes (B, K, 4) in [0, 1] (x0, y0, x1, y1) with labels (B, K) (-1 for no box) ->
  grounding tokens MLP([Fourier(box), embed(label)]); a missing box is a learned null token (GLIGEN).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.attention import Attention


class ClassEmbedder(nn.Module):
    num_classes: int
    dim: int

    @nn.compact
    def __call__(self, labels: jax.Array) -> jax.Array:
        return nn.Embed(self.num_classes + 1, self.dim)(labels)[:, None, :]


class TextTransformer(nn.Module):
    vocab_size: int
    dim: int
    depth: int
    heads: int
    max_length: int
    pad_id: int = 0

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        if tokens.shape[1] > self.max_length:
            raise ValueError(f"TextTransformer: {tokens.shape[1]} tokens, at most max_length={self.max_length}")
        x = nn.Embed(self.vocab_size, self.dim)(tokens)
        x = x + self.param("positions", nn.initializers.normal(0.01), (self.max_length, self.dim))[: tokens.shape[1]]
        keep = tokens != self.pad_id
        for _ in range(self.depth):
            x = x + Attention(self.heads, self.dim // self.heads)(nn.LayerNorm()(x), mask=keep)
            x = x + nn.Dense(self.dim)(nn.gelu(nn.Dense(4 * self.dim)(nn.LayerNorm()(x))))
        return nn.LayerNorm()(x)


def fourier_features(coordinates: jax.Array, frequencies: int) -> jax.Array:
    """[sin(2^k pi c), cos(2^k pi c)] for k < frequencies, per coordinate: (..., n) -> (..., 2 n frequencies)."""
    angles = coordinates[..., None] * (jnp.pi * 2.0 ** jnp.arange(frequencies))
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(*coordinates.shape[:-1], -1)


class LayoutEncoder(nn.Module):
    num_classes: int
    dim: int
    frequencies: int = 8

    @nn.compact
    def __call__(self, boxes: jax.Array, labels: jax.Array) -> jax.Array:
        present = labels >= 0
        embedded = nn.Embed(self.num_classes, self.dim)(jnp.where(present, labels, 0))
        h = jnp.concatenate([fourier_features(boxes, self.frequencies), embedded], axis=-1)
        tokens = nn.Dense(self.dim)(nn.silu(nn.Dense(self.dim)(nn.silu(nn.Dense(self.dim)(h)))))
        null = self.param("null_token", nn.initializers.normal(0.02), (self.dim,))
        return jnp.where(present[..., None], tokens, null)
