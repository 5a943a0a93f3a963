"""Attention over image features with a conditioning context: the spatial transformer of latent diffusion.

Rombach et al. 2022 (sec. 3.3 and the LDM code's `SpatialTransformer`): the feature map phi(z_t) is
normalised, projected by a 1x1 convolution, flattened to tokens and passed through T transformer blocks,
each a residual self-attention, a residual cross-attention with
    Q = W_Q phi(z_t),  K = W_K tau(y),  V = W_V tau(y),  softmax(Q K^T / sqrt(d)) V,
and a residual GEGLU feed-forward network (LayerNorm before each); the tokens are reshaped back and a
zero-initialised 1x1 convolution adds the result to the input, so a new block starts as the identity.

GLIGEN's grounding (Li et al. 2023) enters as a gated self-attention over the visual tokens joined with the
grounding tokens h_e: v <- v + tanh(gamma) * TS(SelfAttn(LN([v, h_e]))), TS keeping the visual tokens; gamma
starts at 0, so a block with grounding is exactly the block without it until training opens the gate.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import norm_groups


class Attention(nn.Module):
    """Multi-head attention of `x` (B, N, C) over `context` (B, M, D) (default: `x` itself); `mask` (B, M)
    marks the keys that may be attended to (padding is False).

    Query, key and value projections carry no bias, as in the LDM code; the output projection does.
    """

    heads: int
    head_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array | None = None, mask: jax.Array | None = None) -> jax.Array:
        context = x if context is None else context
        inner = self.heads * self.head_dim

        def split(t: jax.Array) -> jax.Array:  # (B, N, heads * d) -> (B, heads, N, d)
            return t.reshape(t.shape[0], t.shape[1], self.heads, self.head_dim).transpose(0, 2, 1, 3)

        q = split(nn.Dense(inner, use_bias=False, dtype=self.dtype, name="to_q")(x))
        k = split(nn.Dense(inner, use_bias=False, dtype=self.dtype, name="to_k")(context))
        v = split(nn.Dense(inner, use_bias=False, dtype=self.dtype, name="to_v")(context))
        logits = (jnp.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.head_dim)).astype(jnp.float32)
        if mask is not None:
            logits = jnp.where(mask[:, None, None, :], logits, -jnp.inf)
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        out = jnp.einsum("bhqk,bhkd->bhqd", weights, v).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], inner)
        return nn.Dense(x.shape[-1], dtype=self.dtype, name="to_out")(out)


class GEGLU(nn.Module):
    """The feed-forward network of the LDM blocks: Dense(2 * mult * C) -> a * gelu(g) -> Dense(C)."""

    mult: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        a, g = jnp.split(nn.Dense(2 * self.mult * x.shape[-1], dtype=self.dtype)(x), 2, axis=-1)
        return nn.Dense(x.shape[-1], dtype=self.dtype)(a * nn.gelu(g, approximate=False))


class GatedSelfAttention(nn.Module):
    """GLIGEN's grounding layer: visual tokens (B, N, C) attend over themselves and the grounding tokens
    (B, M, D), the result added through tanh(gate), gate initialised to 0."""

    heads: int
    head_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, grounding: jax.Array) -> jax.Array:
        tokens = jnp.concatenate([x, nn.Dense(x.shape[-1], dtype=self.dtype, name="grounding_proj")(grounding)], axis=1)
        attended = Attention(self.heads, self.head_dim, self.dtype)(nn.LayerNorm(dtype=self.dtype)(tokens))
        gate = self.param("gate", nn.initializers.zeros, (), jnp.float32)
        return x + jnp.tanh(gate).astype(x.dtype) * attended[:, : x.shape[1]]


class TransformerBlock(nn.Module):
    """Self-attention, [gated grounding attention,] cross-attention over `context` (self-attention again
    when there is none), GEGLU feed-forward: each residual, each after a LayerNorm."""

    heads: int
    head_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array | None = None, grounding: jax.Array | None = None) -> jax.Array:
        x = x + Attention(self.heads, self.head_dim, self.dtype, name="self_attention")(nn.LayerNorm(dtype=self.dtype)(x))
        if grounding is not None:
            x = GatedSelfAttention(self.heads, self.head_dim, self.dtype, name="grounding")(x, grounding)
        x = x + Attention(self.heads, self.head_dim, self.dtype, name="cross_attention")(nn.LayerNorm(dtype=self.dtype)(x), context)
        return x + GEGLU(dtype=self.dtype)(nn.LayerNorm(dtype=self.dtype)(x))


class SpatialTransformer(nn.Module):
    """(B, H, W, C) features attending to `context` (B, M, D): GroupNorm, 1x1 conv, tokens, `depth`
    transformer blocks, back to (B, H, W, C), zero-initialised 1x1 conv, residual. `heads` x `head_dim`
    is the blocks' width (the LDM code sets head_dim = C / heads)."""

    heads: int
    head_dim: int
    depth: int = 1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array | None = None, grounding: jax.Array | None = None) -> jax.Array:
        b, h, w, c = x.shape
        inner = self.heads * self.head_dim
        y = nn.GroupNorm(norm_groups(c), epsilon=1e-6, dtype=self.dtype)(x)
        y = nn.Conv(inner, (1, 1), dtype=self.dtype, name="proj_in")(y).reshape(b, h * w, inner)
        for _ in range(self.depth):
            y = TransformerBlock(self.heads, self.head_dim, self.dtype)(y, context, grounding)
        y = nn.Conv(c, (1, 1), dtype=self.dtype, kernel_init=nn.initializers.zeros, name="proj_out")(y.reshape(b, h, w, inner))
        return x + y
