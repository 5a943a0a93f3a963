"""The DDPM UNet (Ho et al. 2020, appendix B; the PixelCNN++ backbone with Wide-ResNet blocks).

Sinusoidal timestep embedding -> MLP; a 3x3 stem; per resolution level `num_res_blocks` residual
blocks (GroupNorm, swish, dropout, the time embedding added between the two convolutions),
self-attention at the resolutions in `attention_resolutions`, a stride-2 convolution between levels;
a middle of residual block, attention, residual block; the mirrored up path takes one skip
connection per block (`num_res_blocks + 1` blocks per level) and upsamples by nearest neighbour +
3x3 convolution; GroupNorm, swish, and a zero-initialised 3x3 output convolution.

Every GroupNorm keeps at least `norm_min_group_size` channels per group. The embedding is a per-channel
shift added just before a GroupNorm, and a group of one channel (instance norm: what 32 groups make of a
16- or 32-channel layer) subtracts exactly that shift, so a narrow UNet with groups of one never sees its
timestep or class. 2, the default, changes nothing from 64 channels up (the papers' 32 groups); runs saved
before the key existed were built with 1.

Optional class conditioning: an embedding of `num_classes + 1` entries (the last one is the null class
of classifier-free guidance) added to the time embedding. With `transformer_depth` > 0 the attention blocks
are latent diffusion's spatial transformers (`jaxgen/nn/attention.py`), cross-attending to a `context`
(B, M, D) of conditioning tokens tau(y) and, given `grounding` tokens, to GLIGEN's gated grounding. The
module returns the raw network output; what it means (eps, x_0 or v) is the diffusion task's business.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.attention import SpatialTransformer
from jaxgen.nn.layers import norm_groups


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Transformer sinusoids of the timesteps (B,) -> (B, dim): [sin(t w_i), cos(t w_i)], w_i = max_period^(-i/(dim/2 - 1))."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half - 1, 1))
    args = t.astype(jnp.float32)[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)


class ResBlock(nn.Module):
    features: int
    dropout: float
    dtype: jnp.dtype = jnp.float32
    norm_min_group_size: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array, train: bool) -> jax.Array:
        h = nn.swish(nn.GroupNorm(norm_groups(x.shape[-1], self.norm_min_group_size), dtype=self.dtype)(x))
        h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(h)
        h = h + nn.Dense(self.features, dtype=self.dtype)(nn.swish(emb))[:, None, None, :]
        h = nn.swish(nn.GroupNorm(norm_groups(self.features, self.norm_min_group_size), dtype=self.dtype)(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = nn.Conv(self.features, (3, 3), dtype=self.dtype, kernel_init=nn.initializers.zeros)(h)
        if x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1), dtype=self.dtype, name="skip")(x)
        return x + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over all positions, residual, zero-initialised output projection."""

    dtype: jnp.dtype = jnp.float32
    norm_min_group_size: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = nn.GroupNorm(norm_groups(c, self.norm_min_group_size), dtype=self.dtype)(x).reshape(b, h * w, c)
        q, k, v = jnp.split(nn.Dense(3 * c, dtype=self.dtype, name="qkv")(y), 3, axis=-1)
        weights = jax.nn.softmax((jnp.einsum("bqc,bkc->bqk", q, k) / math.sqrt(c)).astype(jnp.float32), axis=-1)
        y = jnp.einsum("bqk,bkc->bqc", weights.astype(v.dtype), v)
        y = nn.Dense(c, dtype=self.dtype, kernel_init=nn.initializers.zeros, name="proj")(y)
        return x + y.reshape(b, h, w, c)


class UNet(nn.Module):
    """DDPM UNet; `__call__(x, t, labels=None, train=False)` -> (B, H, W, out_channels) float32.

    The paper's CIFAR-10 model: channels 128, multipliers (1, 2, 2, 2), 2 res blocks, attention at
    16x16, dropout 0.1 (35.7M parameters).
    """

    channels: int = 128
    channel_mults: Sequence[int] = (1, 2, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (16,)
    mid_attention: bool = True
    dropout: float = 0.1
    out_channels: int = 3
    num_classes: int = 0  # > 0 adds class conditioning with a null class at index num_classes
    transformer_depth: int = 0  # > 0: spatial transformers of this depth instead of the attention blocks
    attention_heads: int = 8  # the spatial transformers' heads (head width: channels / heads)
    norm_min_group_size: int = 2  # channels per GroupNorm group at least (module docstring)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, t: jax.Array, labels: jax.Array | None = None, train: bool = False,
        context: jax.Array | None = None, grounding: jax.Array | None = None,
    ) -> jax.Array:
        emb_dim = 4 * self.channels
        emb = timestep_embedding(t, self.channels)
        emb = nn.Dense(emb_dim, dtype=self.dtype)(emb)
        emb = nn.Dense(emb_dim, dtype=self.dtype)(nn.swish(emb))
        if self.num_classes:
            if labels is None:
                labels = jnp.full((x.shape[0],), self.num_classes, jnp.int32)  # the null class
            emb = emb + nn.Embed(self.num_classes + 1, emb_dim, dtype=self.dtype, name="class_embedding")(labels)

        def attend(h: jax.Array) -> jax.Array:
            if not self.transformer_depth:
                return AttentionBlock(self.dtype, self.norm_min_group_size)(h)
            heads = self.attention_heads
            if h.shape[-1] % heads:
                raise ValueError(f"UNet attention_heads={heads} does not divide the {h.shape[-1]} channels at {h.shape[1]}x{h.shape[2]}")
            return SpatialTransformer(heads, h.shape[-1] // heads, self.transformer_depth, self.dtype)(h, context, grounding)

        h = nn.Conv(self.channels, (3, 3), dtype=self.dtype, name="stem")(x.astype(self.dtype))
        skips = [h]
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult, self.dropout, self.dtype, self.norm_min_group_size)(h, emb, train)
                if h.shape[1] in self.attention_resolutions:
                    h = attend(h)
                skips.append(h)
            if level != len(self.channel_mults) - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), dtype=self.dtype, name=f"down_{level}")(h)
                skips.append(h)

        h = ResBlock(h.shape[-1], self.dropout, self.dtype, self.norm_min_group_size)(h, emb, train)
        if self.mid_attention:
            h = attend(h)
        h = ResBlock(h.shape[-1], self.dropout, self.dtype, self.norm_min_group_size)(h, emb, train)

        for level, mult in reversed(list(enumerate(self.channel_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = ResBlock(self.channels * mult, self.dropout, self.dtype, self.norm_min_group_size)(jnp.concatenate([h, skips.pop()], -1), emb, train)
                if h.shape[1] in self.attention_resolutions:
                    h = attend(h)
            if level != 0:
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
                h = nn.Conv(h.shape[-1], (3, 3), dtype=self.dtype, name=f"up_{level}")(h)

        h = nn.swish(nn.GroupNorm(norm_groups(h.shape[-1], self.norm_min_group_size), dtype=self.dtype)(h))
        out = nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, kernel_init=nn.initializers.zeros, name="head")(h)
        return out.astype(jnp.float32)
