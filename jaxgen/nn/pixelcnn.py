"""PixelCNN (van den Oord et al. 2016a) and Gated PixelCNN (van den Oord et al. 2016b).

Both map an image x (B, H, W, C) in model space to per-channel logits (B, H, W, C, K): K = 1 for a
Bernoulli pixel, 256 for the softmax over 8-bit levels. The logits of channel c at pixel i depend only
on pixels before i in raster order and on channels < c of pixel i (see masked_conv.py).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.masked_conv import MaskedConv, gate_groups


class PerChannelLogits(nn.Module):
    """The output head shared by the masked models: ReLU, then 1x1 mask-B layers of `hidden` channels,
    then K logits per colour channel, (B, H, W, C, K)."""

    hidden: int
    num_layers: int
    colours: int
    num_levels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        for _ in range(self.num_layers):
            h = MaskedConv(self.hidden, (1, 1), "B", self.colours, dtype=self.dtype)(nn.relu(h))
        out = MaskedConv(self.colours * self.num_levels, (1, 1), "B", self.colours, dtype=self.dtype)(nn.relu(h))
        return out.reshape(h.shape[:3] + (self.colours, self.num_levels)).astype(jnp.float32)


class PixelCNN(nn.Module):
    """A 7x7 mask-A convolution to 2h channels, `num_layers` residual blocks (1x1 2h -> h, 3x3 mask B,
    1x1 h -> 2h, each after a ReLU; the paper's Figure 5), then the per-channel output head.

    `at_pixel` evaluates the same network at one pixel from cached activations (the cached sampler of
    Ramachandran et al. 2017): every activation at a pixel depends only on earlier pixels, so the sampler
    keeps each block's 3x3-convolution input for the pixels already visited and computes one pixel per step.
    """

    features: int  # 2h, the residual stream's width
    num_layers: int
    colours: int
    num_levels: int
    output_features: int = 1024
    output_layers: int = 2
    first_kernel: int = 7
    dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        k, half, dt = self.first_kernel, self.features // 2, self.dtype
        self.first = MaskedConv(self.features, (k, k), "A", self.colours, dtype=dt)
        self.reduce = [MaskedConv(half, (1, 1), "B", self.colours, dtype=dt) for _ in range(self.num_layers)]
        self.spatial = [MaskedConv(half, (3, 3), "B", self.colours, dtype=dt) for _ in range(self.num_layers)]
        self.expand = [MaskedConv(self.features, (1, 1), "B", self.colours, dtype=dt) for _ in range(self.num_layers)]
        self.head = PerChannelLogits(self.output_features, self.output_layers - 1, self.colours, self.num_levels, dt)

    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del labels, train
        h = self.first(x)
        for reduce, spatial, expand in zip(self.reduce, self.spatial, self.expand):
            y = reduce(nn.relu(h))
            h = h + expand(nn.relu(spatial(nn.relu(y))))
        return self.head(h)

    def at_pixel(self, image_patch: jax.Array, block_patches: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The logits at one pixel (B, C, K) from its k x k neighbourhood of the (zero-padded, model-space)
        image (B, k, k, C) and each block's 3x3 neighbourhood of its cached 3x3-convolution inputs
        (num_layers, B, 3, 3, h; the centre is computed here). Also returns the centre inputs computed,
        (num_layers, B, h), for the cache."""
        centre = self.first_kernel // 2
        h = self.first(image_patch)[:, centre, centre]
        at = lambda layer, v: layer(v[:, None, None])[:, 0, 0]  # noqa: E731  (a 1x1 layer at one pixel)
        computed = []
        for reduce, spatial, expand, patch in zip(self.reduce, self.spatial, self.expand, block_patches):
            y = at(reduce, nn.relu(h))
            computed.append(y)
            y = spatial(nn.relu(patch.at[:, 1, 1].set(y)))[:, 1, 1]
            h = h + at(expand, nn.relu(y))
        return self.head(h[:, None, None])[:, 0, 0], jnp.stack(computed)


def shift_down(x: jax.Array) -> jax.Array:
    """Move every row one down (zeros enter at the top): row r then holds what row r-1 held."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def gate(x: jax.Array) -> jax.Array:
    """tanh(a) * sigmoid(b) of the two halves of the channels."""
    a, b = jnp.split(x, 2, axis=-1)
    return jnp.tanh(a) * nn.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of the two stacks (van den Oord et al. 2016b, Figure 2).

    The vertical stack convolves a (k//2 + 1) x k window ending at the current row; it reaches the
    horizontal stack only shifted one row down, so the horizontal stack sees whole rows strictly above
    the pixel. The horizontal stack convolves a 1 x (k//2 + 1) window ending at the pixel (channel-masked
    there). Together the receptive field is every earlier pixel: no blind spot. Class conditioning adds
    a learned per-class bias to both gates' inputs.
    """

    features: int
    kernel_size: int
    colours: int
    first: bool
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, v: jax.Array, h: jax.Array, labels: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        p, k = self.features, self.kernel_size
        half = k // 2
        v_pre = nn.Conv(2 * p, (half + 1, k), padding=((half, 0), (half, half)), dtype=self.dtype, name="vertical")(v)
        h_pre = MaskedConv(
            2 * p, (1, half + 1), "A" if self.first else "B", self.colours, padding=((0, 0), (half, 0)),
            centre=(0, half), out_groups=gate_groups(p, self.colours, 2), dtype=self.dtype, name="horizontal",
        )(h)
        # rows strictly above the pixel may reach every colour group: the link needs no mask
        h_pre = h_pre + nn.Conv(2 * p, (1, 1), dtype=self.dtype, name="link")(shift_down(v_pre))
        if self.num_classes:
            bias = nn.Embed(self.num_classes, 4 * p, name="class_bias")(labels)[:, None, None, :].astype(self.dtype)
            v_pre, h_pre = v_pre + bias[..., : 2 * p], h_pre + bias[..., 2 * p :]
        v_out = gate(v_pre)
        h_gated = MaskedConv(p, (1, 1), "B", self.colours, dtype=self.dtype, name="residual")(gate(h_pre))
        h_out = h_gated if self.first else h + h_gated
        return v_out, h_out



class GatedPixelCNN(nn.Module):
    """`num_layers` gated layers (the first with a `first_kernel` window and mask A, the rest `kernel_size`),
    then the per-channel output head on the horizontal stack; class-conditional when num_classes > 0."""

    features: int
    num_layers: int
    colours: int
    num_levels: int
    num_classes: int = 0
    kernel_size: int = 3
    first_kernel: int = 7
    output_features: int = 1024
    output_layers: int = 2
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del train
        v = h = x.astype(self.dtype)
        for i in range(self.num_layers):
            kernel = self.first_kernel if i == 0 else self.kernel_size
            layer = GatedLayer(self.features, kernel, self.colours, i == 0, self.num_classes, self.dtype)
            v, h = layer(v, h, labels)
        head = PerChannelLogits(self.output_features, self.output_layers - 1, self.colours, self.num_levels, self.dtype)
        return head(h)
