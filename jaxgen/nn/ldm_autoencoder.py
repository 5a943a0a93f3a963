"""The first-stage autoencoder of latent diffusion (Esser et al. 2021's VQGAN, Rombach et al. 2022's KL-f*).

Encoder: a 3x3 stem; per level `num_res_blocks` ResNet blocks (GroupNorm, swish, 3x3 convolutions) and a
stride-2 convolution between levels, so f = 2^(len(channel_mults) - 1); a middle of ResNet block,
self-attention (optional, at the lowest resolution) and ResNet block; GroupNorm, swish and a 3x3
convolution to the latent's moments (2c channels: mean and log-variance, KL) or to c channels (VQ). The
decoder mirrors it with `num_res_blocks + 1` blocks per level and nearest-neighbour upsampling + 3x3
convolution. Its last convolution, `Decoder.head`, is a module of its own: the adaptive weight of the
adversarial loss is computed from gradients at its kernel.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import norm_groups
from jaxgen.nn.unet import AttentionBlock


class ResnetBlock(nn.Module):
    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(nn.swish(nn.GroupNorm(norm_groups(x.shape[-1]), dtype=self.dtype)(x)))
        h = nn.swish(nn.GroupNorm(norm_groups(self.features), dtype=self.dtype)(h))
        h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(h)
        if x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1), dtype=self.dtype, name="skip")(x)
        return x + h


class Middle(nn.Module):
    attention: bool
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        h = ResnetBlock(h.shape[-1], self.dtype)(h)
        if self.attention:
            h = AttentionBlock(self.dtype)(h)  # the DDPM UNet's, whose output projection starts at zero
        return ResnetBlock(h.shape[-1], self.dtype)(h)


class Encoder(nn.Module):
    """(B, H, W, C) images in [-1, 1] -> (B, H/f, W/f, out_channels)."""

    channels: int = 128
    channel_mults: Sequence[int] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention: bool = True
    out_channels: int = 8
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Conv(self.channels, (3, 3), dtype=self.dtype, name="stem")(x.astype(self.dtype))
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResnetBlock(self.channels * mult, self.dtype)(h)
            if level != len(self.channel_mults) - 1:
                # taming's down-sampling: pad one pixel at the bottom and right, 3x3 stride-2 'valid' convolution
                h = jnp.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), padding="VALID", dtype=self.dtype, name=f"down_{level}")(h)
        h = Middle(self.attention, self.dtype)(h)
        h = nn.swish(nn.GroupNorm(norm_groups(h.shape[-1]), dtype=self.dtype)(h))
        return nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, name="out")(h).astype(jnp.float32)


class Decoder(nn.Module):
    """(B, h, w, c) latents -> the features before the output convolution, (B, H, W, channels * mults[0]).
    `head` maps them to the image."""

    channels: int = 128
    channel_mults: Sequence[int] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = nn.Conv(self.channels * self.channel_mults[-1], (3, 3), dtype=self.dtype, name="stem")(z.astype(self.dtype))
        h = Middle(self.attention, self.dtype)(h)
        for level, mult in reversed(list(enumerate(self.channel_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = ResnetBlock(self.channels * mult, self.dtype)(h)
            if level != 0:
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
                h = nn.Conv(h.shape[-1], (3, 3), dtype=self.dtype, name=f"up_{level}")(h)
        return nn.swish(nn.GroupNorm(norm_groups(h.shape[-1]), dtype=self.dtype)(h))


class Head(nn.Module):
    """The decoder's last layer: 3x3 convolution to the image channels."""

    out_channels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        return nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, name="conv")(h).astype(jnp.float32)


class FirstStageAutoencoder(nn.Module):
    """Encoder, the 1x1 quantisation convolutions of the LDM code and the decoder with its head, used through
    `encode` (x -> 2c moments for KL, c channels for VQ), `decode_features` (z -> the head's input) and
    `decode_head`; `__call__` (for initialisation) runs all three."""

    channels: int = 128
    channel_mults: Sequence[int] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention: bool = True
    latent_channels: int = 4
    moments: bool = True  # KL: the encoder gives 2c channels (mean, log-variance); VQ: c
    out_channels: int = 3
    dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        width = 2 * self.latent_channels if self.moments else self.latent_channels
        self.encoder = Encoder(self.channels, self.channel_mults, self.num_res_blocks, self.attention, width, self.dtype)
        self.quant_conv = nn.Conv(width, (1, 1))
        self.post_quant_conv = nn.Conv(self.latent_channels, (1, 1))
        self.decoder = Decoder(self.channels, self.channel_mults, self.num_res_blocks, self.attention, self.dtype)
        self.head = Head(self.out_channels, self.dtype)

    def encode(self, x: jax.Array) -> jax.Array:
        return self.quant_conv(self.encoder(x))

    def decode_features(self, z: jax.Array) -> jax.Array:
        return self.decoder(self.post_quant_conv(z))

    def decode_head(self, h: jax.Array) -> jax.Array:
        return self.head(h)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode_head(self.decode_features(self.encode(x)[..., : self.latent_channels]))
