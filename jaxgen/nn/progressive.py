"""Progressive growing of GANs (Karras et al. 2018): a generator and a critic whose resolution grows
4 -> 8 -> ... -> S while they train.

Level k works at side 4 * 2^k. Every layer of every level exists from the start (one parameter tree for the
whole run); a network applied at `level` k uses the layers of levels 0..k. While level k fades in with weight
alpha (0 -> 1), the new layers are blended with the previous level's output (figure 2):

  G(z) = (1 - alpha) upsample(toRGB_{k-1}(h_{k-1})) + alpha toRGB_k(h_k)
  D(x) = D_{<k}((1 - alpha) fromRGB_{k-1}(avgpool(x)) + alpha block_k(fromRGB_k(x)))

so that at alpha = 0 each network is exactly the previous level's (G's image upsampled), at 1 the new one.

- Equalised learning rate (sec. 4.1): weights drawn from N(0, 1), multiplied at run time by the He constant
  c = gain / sqrt(fan_in) (gain sqrt 2 before a leaky ReLU, 1 at the outputs); Adam's step, invariant to a
  weight's scale, then moves every layer at the same relative speed.
- Pixelwise feature vector normalisation in G (sec. 4.2): b = a / sqrt(mean_j a_j^2 + 1e-8) over the channels.
- Minibatch standard deviation (sec. 3) before D's last block: one extra feature map holding the mean over
  features and positions of the standard deviation of each feature over a group of examples.
- G: pixel-normalised z -> dense to 4x4 -> 3x3 conv; each higher level: nearest-neighbour x2, two 3x3 convs;
  a 1x1 toRGB per level. D: a 1x1 fromRGB per level; each level above 0: two 3x3 convs, 2x2 average pooling;
  level 0: minibatch stddev, a 3x3 conv, dense, dense to the critic's score. Leaky ReLU 0.2 throughout,
  linear outputs. Widths per level: min(width_base / 2^(k + 1), max_width) (the paper's 512 up to 32x32 with
  width_base 8192, halving above).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import minibatch_stddev, upsample_nearest

SQRT2 = math.sqrt(2.0)


def he_constant(fan_in: int, gain: float = SQRT2) -> float:
    """c = gain / sqrt(fan_in): the per-layer scale of He et al.'s initialiser, applied at run time."""
    return gain / math.sqrt(fan_in)


def level_side(level: int) -> int:
    return 4 * 2**level


def top_level(image_size: int) -> int:
    """L with 4 * 2^L = image_size; a ValueError for a side that is not 4 times a power of two."""
    level = int(round(math.log2(max(image_size, 1) / 4)))
    if level < 1 or level_side(level) != image_size:
        raise ValueError(f"progressive growing needs a square side of 4 * 2^L (8, 16, 32, 64, ...), got {image_size}")
    return level


def level_widths(num_levels: int, width_base: int, max_width: int) -> tuple[int, ...]:
    """Channels of each level: min(width_base / 2^(k + 1), max_width)."""
    return tuple(min(width_base // 2 ** (k + 1), max_width) for k in range(num_levels))


def pixel_norm(x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
    """Each position's feature vector divided by its root mean square over the channels."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + epsilon)


def average_pool(x: jax.Array, factor: int = 2) -> jax.Array:
    """(B, H, W, C) -> (B, H/f, W/f, C), the mean of each f x f block (f = 1: x itself)."""
    b, h, w, c = x.shape
    return jnp.mean(x.reshape(b, h // factor, factor, w // factor, factor, c), axis=(2, 4))


def fade(low: jax.Array, high: jax.Array, alpha: jax.Array) -> jax.Array:
    """(1 - alpha) low + alpha high: exactly `low` at alpha = 0 and exactly `high` at 1."""
    return (1.0 - alpha) * low + alpha * high


def lrelu(x: jax.Array) -> jax.Array:
    return nn.leaky_relu(x, 0.2)


class EqualizedDense(nn.Module):
    """y = x (c W) + b with W ~ N(0, 1), c = he_constant(fan_in, gain), b = 0 at init."""

    features: int
    gain: float = SQRT2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return x @ (kernel * he_constant(x.shape[-1], self.gain)) + bias


class EqualizedConv(nn.Module):
    """A stride-1 'same' convolution with kernel c W, W ~ N(0, 1), c = he_constant(k * k * C_in, gain)."""

    features: int
    kernel_size: int = 3
    gain: float = SQRT2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, fan_in = self.kernel_size, self.kernel_size**2 * x.shape[-1]
        kernel = self.param("kernel", nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = jax.lax.conv_general_dilated(
            x, kernel * he_constant(fan_in, self.gain), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return y + bias


class ProgressiveGenerator(nn.Module):
    """G(z, level, alpha) -> (B, 4 * 2^level, same, channels), linear (the data lie in [-1, 1])."""

    widths: tuple[int, ...]  # one per level
    channels: int

    def setup(self) -> None:
        w0 = self.widths[0]
        # The paper's code scales the first dense layer's gain by 1/4 (it is a 4x4 "convolution" of a 1x1 map).
        self.project = EqualizedDense(16 * w0, gain=SQRT2 / 4)
        self.convs = [EqualizedConv(w0)] + [EqualizedConv(w) for w in self.widths[1:] for _ in range(2)]
        self.to_rgb = [EqualizedConv(self.channels, 1, gain=1.0) for _ in self.widths]

    def features(self, z: jax.Array, level: int) -> list[jax.Array]:
        """h_0, ..., h_level: each level's last feature map."""
        w0 = self.widths[0]
        h = pixel_norm(lrelu(self.project(pixel_norm(z)).reshape(-1, 4, 4, w0)))
        h = pixel_norm(lrelu(self.convs[0](h)))
        maps = [h]
        for k in range(1, level + 1):
            h = upsample_nearest(h)
            for conv in self.convs[2 * k - 1: 2 * k + 1]:
                h = pixel_norm(lrelu(conv(h)))
            maps.append(h)
        return maps

    def __call__(self, z: jax.Array, level: int, alpha: jax.Array | None = None) -> jax.Array:
        """The image at `level`, faded in with weight `alpha` (None: the level is stable, no blend)."""
        maps = self.features(z, level)
        image = self.to_rgb[level](maps[level])
        if level == 0 or alpha is None:
            return image
        return fade(upsample_nearest(self.to_rgb[level - 1](maps[level - 1])), image, alpha)

    def every_level(self, z: jax.Array) -> list[jax.Array]:
        """Each level's own image (no fade), from one pass through the top level's layers (a level's features
        are the next one's input); `init` through it creates every layer."""
        maps = self.features(z, len(self.widths) - 1)
        return [to_rgb(h) for to_rgb, h in zip(self.to_rgb, maps)]

    def every_level_faded(self, z: jax.Array, alpha: jax.Array) -> list[jax.Array]:
        """G(z, k, alpha) for every level k (each at its own side), from one pass: what sampling at a level
        known only at run time selects from."""
        own = self.every_level(z)
        return own[:1] + [fade(upsample_nearest(low), high, alpha) for low, high in zip(own, own[1:])]


class ProgressiveCritic(nn.Module):
    """D(x, level, alpha) -> (B,) critic scores of images (B, 4 * 2^level, same, C)."""

    widths: tuple[int, ...]
    group_size: int = 4

    def setup(self) -> None:
        self.from_rgb = [EqualizedConv(w, 1) for w in self.widths]
        # Level k's block: a 3x3 conv at its own width, one to level k - 1's width, then 2x2 average pooling.
        self.convs = [EqualizedConv(w) for k in range(1, len(self.widths)) for w in (self.widths[k], self.widths[k - 1])]
        self.final_conv = EqualizedConv(self.widths[0])
        self.final_dense = EqualizedDense(self.widths[0])
        self.score = EqualizedDense(1, gain=1.0)

    def block(self, h: jax.Array, level: int) -> jax.Array:
        for conv in self.convs[2 * level - 2: 2 * level]:
            h = lrelu(conv(h))
        return average_pool(h)

    def __call__(self, x: jax.Array, level: int, alpha: jax.Array | None = None) -> jax.Array:
        """Scores of images at `level`, the level faded in with weight `alpha` (None: stable, no blend)."""
        h = lrelu(self.from_rgb[level](x))
        if level:
            h = self.block(h, level)
            if alpha is not None:
                h = fade(lrelu(self.from_rgb[level - 1](average_pool(x))), h, alpha)
            for k in range(level - 1, 0, -1):
                h = self.block(h, k)
        h = lrelu(self.final_conv(minibatch_stddev(h, self.group_size)))
        h = lrelu(self.final_dense(h.reshape(h.shape[0], -1)))
        return self.score(h)[:, 0]

    def every_level(self, x: jax.Array) -> list[jax.Array]:
        """The scores of `x` (at the top side) pooled down to each level: `init` through it creates every layer."""
        top = len(self.widths) - 1
        return [self(average_pool(x, 2 ** (top - k)), k) for k in range(top + 1)]
