"""Image-to-image generators: pix2pix's U-Net and CycleGAN's ResNet generator.

pix2pix's U-Net (Isola et al. 2017, appendix 6.1.1).
The encoder halves the image `num_downs` times with 4x4 stride-2 convolutions (LeakyReLU 0.2 before each
but the first, normalisation after each but the first and the innermost), the widths doubling from
`features` up to 8 * `features`; the decoder mirrors it with 4x4 stride-2 transposed convolutions (ReLU
before each, normalisation after each but the outermost) and concatenates the encoder's map of the same
size (the skips that carry the input's structure straight to the output); tanh out. With num_downs =
log2(H) the bottleneck is 1x1: for 256x256 this is the paper's C64-C128-C256-C512-C512-C512-C512-C512
encoder. Dropout 0.5 after the `dropout_layers` innermost decoder layers is the generator's only noise, and
it stays on when sampling (the paper's test-time dropout), so `sample`'s rng draws different outputs.

CycleGAN's generator (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016's network): c7s1-k, d2k, d4k,
R4k x n_blocks, u2k, uk, c7s1-3 -- a 7x7 convolution after reflection padding, two 3x3 stride-2 down-sampling
convolutions, residual blocks of two reflection-padded 3x3 convolutions, two 3x3 stride-2 transposed
convolutions (output padding 1, so each exactly doubles), a 7x7 convolution to the image and tanh. Instance
normalisation without affine parameters and ReLU after every convolution but the last (none after a block's
second, before the residual sum); the convolutions keep their biases. 6 blocks for 128x128, 9 for 256x256.

StarGAN's generator (Choi et al. 2018, appendix table 4): the target domain's labels c, tiled over the image,
join its channels; then a 7x7 convolution, two 4x4 stride-2 down-samplings, residual blocks, two 4x4
stride-2 transposed convolutions, a 7x7 convolution to the image and tanh. Zero padding, bias-free
convolutions, instance normalisation with a learned scale and shift.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.gan import WEIGHT_INIT, BatchStatNorm
from jaxgen.nn.layers import instance_norm
from jaxgen.nn.transposed_conv import TransposedConv


def unet_depth(size: int) -> int:
    """num_downs that takes a size x size image to a 1x1 bottleneck: log2(size), for a power of two >= 4."""
    depth = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2**depth != size:
        raise ValueError(f"pix2pix's U-Net halves the image down to 1x1: data.image_size must be a power of two >= 4, got {size}")
    return depth


class UNetGenerator(nn.Module):
    """source (B, H, W, C_in) in [-1, 1] -> image (B, H, W, out_channels) in [-1, 1]; needs a 'dropout' rng
    when dropout_layers > 0."""

    out_channels: int
    num_downs: int
    features: int = 64
    dropout_layers: int = 3
    dropout_rate: float = 0.5

    def width(self, level: int) -> int:
        return self.features * min(2**level, 8)

    @nn.compact
    def __call__(self, source: jax.Array) -> jax.Array:
        skips, h = [], source
        for level in range(self.num_downs):
            if level:
                h = nn.leaky_relu(h, 0.2)
            innermost = level == self.num_downs - 1
            h = nn.Conv(self.width(level), (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=level == 0 or innermost,
                        kernel_init=WEIGHT_INIT)(h)
            if level and not innermost:
                h = BatchStatNorm()(h)
            skips.append(h)
        h = skips.pop()
        for depth, level in enumerate(reversed(range(self.num_downs - 1))):
            h = TransposedConv(self.width(level), use_bias=False, kernel_init=WEIGHT_INIT)(nn.relu(h))
            h = BatchStatNorm()(h)
            if depth < self.dropout_layers:
                h = nn.Dropout(self.dropout_rate, deterministic=False)(h)
            h = jnp.concatenate([h, skips.pop()], axis=-1)
        return jnp.tanh(TransposedConv(self.out_channels, kernel_init=WEIGHT_INIT)(nn.relu(h)))


def reflect_pad(x: jax.Array, width: int) -> jax.Array:
    return jnp.pad(x, ((0, 0), (width, width), (width, width), (0, 0)), mode="reflect")


class ResnetGenerator(nn.Module):
    """image (B, H, W, C_in) in [-1, 1] -> image (B, H, W, out_channels) in [-1, 1]; H and W divisible by 4."""

    out_channels: int
    features: int = 64
    num_blocks: int = 9

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = lambda width, size, **kw: nn.Conv(width, (size, size), kernel_init=WEIGHT_INIT, **kw)  # noqa: E731
        h = nn.relu(instance_norm(conv(self.features, 7, padding="VALID")(reflect_pad(x, 3))))
        for level in (1, 2):
            h = nn.relu(instance_norm(conv(self.features * 2**level, 3, strides=(2, 2), padding=((1, 1), (1, 1)))(h)))
        width = self.features * 4
        for _ in range(self.num_blocks):
            r = nn.relu(instance_norm(conv(width, 3, padding="VALID")(reflect_pad(h, 1))))
            h = h + instance_norm(conv(width, 3, padding="VALID")(reflect_pad(r, 1)))
        for level in (1, 0):
            h = TransposedConv(self.features * 2**level, kernel_size=3, padding=1, output_padding=1, kernel_init=WEIGHT_INIT)(h)
            h = nn.relu(instance_norm(h))
        return jnp.tanh(conv(self.out_channels, 7, padding="VALID")(reflect_pad(h, 3)))


class StarGANGenerator(nn.Module):
    """(image (B, H, W, C) in [-1, 1], target domain labels (B, n_d)) -> image (B, H, W, out_channels) in
    [-1, 1]; H and W divisible by 4."""

    out_channels: int
    features: int = 64
    num_blocks: int = 6

    @nn.compact
    def __call__(self, x: jax.Array, domain: jax.Array) -> jax.Array:
        def conv(h: jax.Array, width: int, size: int, stride: int = 1) -> jax.Array:
            pad = (size - 1) // 2 if stride == 1 else 1
            return nn.Conv(width, (size, size), strides=(stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False)(h)

        def norm_relu(h: jax.Array, relu: bool = True) -> jax.Array:
            h = nn.InstanceNorm(epsilon=1e-5)(h)
            return nn.relu(h) if relu else h

        tiled = jnp.broadcast_to(domain[:, None, None, :].astype(x.dtype), x.shape[:3] + (domain.shape[-1],))
        h = norm_relu(conv(jnp.concatenate([x, tiled], axis=-1), self.features, 7))
        for level in (1, 2):
            h = norm_relu(conv(h, self.features * 2**level, 4, stride=2))
        width = self.features * 4
        for _ in range(self.num_blocks):
            h = h + norm_relu(conv(norm_relu(conv(h, width, 3)), width, 3), relu=False)
        for level in (1, 0):
            h = norm_relu(TransposedConv(self.features * 2**level, kernel_size=4, padding=1, use_bias=False)(h))
        return jnp.tanh(conv(h, self.out_channels, 7))
