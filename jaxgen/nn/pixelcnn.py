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

    The two stacks are separate methods so that the cached sampler can run the vertical stack once per
    row and the horizontal stack at one pixel.
    """

    features: int
    kernel_size: int
    colours: int
    first: bool
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        p, half, dt = self.features, self.kernel_size // 2, self.dtype
        self.vertical = nn.Conv(2 * p, (half + 1, self.kernel_size), padding=((half, 0), (half, half)), dtype=dt)
        self.horizontal = MaskedConv(
            2 * p, (1, half + 1), "A" if self.first else "B", self.colours, padding=((0, 0), (half, 0)),
            centre=(0, half), out_groups=gate_groups(p, self.colours, 2), dtype=dt,
        )
        # rows strictly above the pixel may reach every colour group: the link needs no mask
        self.link = nn.Conv(2 * p, (1, 1), dtype=dt)
        self.class_bias = nn.Embed(self.num_classes, 4 * p) if self.num_classes else None
        self.residual = MaskedConv(p, (1, 1), "B", self.colours, dtype=dt)

    def _bias(self, labels: jax.Array | None) -> jax.Array | None:
        """The per-class bias of both stacks, (B, 1, 1, 4p), or None when unconditional."""
        if self.class_bias is None:
            return None
        return self.class_bias(labels)[:, None, None, :].astype(self.dtype)

    def vertical_stack(self, v: jax.Array, labels: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """(the vertical pre-activation before the class bias, which the link reads; the gated output)."""
        v_pre = self.vertical(v)
        bias = self._bias(labels)
        return v_pre, gate(v_pre if bias is None else v_pre + bias[..., : 2 * self.features])

    def horizontal_stack(self, h: jax.Array, v_above: jax.Array, labels: jax.Array | None) -> jax.Array:
        """The horizontal output from its input `h` and `v_above`, the vertical pre-activation one row up
        (broadcast against h)."""
        h_pre = self.horizontal(h) + self.link(v_above)
        bias = self._bias(labels)
        if bias is not None:
            h_pre = h_pre + bias[..., 2 * self.features :]
        h_gated = self.residual(gate(h_pre))
        return h_gated if self.first else h + h_gated

    def __call__(self, v: jax.Array, h: jax.Array, labels: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        v_pre, v_out = self.vertical_stack(v, labels)
        return v_out, self.horizontal_stack(h, shift_down(v_pre), labels)


class GatedPixelCNN(nn.Module):
    """`num_layers` gated layers (the first with a `first_kernel` window and mask A, the rest `kernel_size`),
    then the per-channel output head on the horizontal stack; class-conditional when num_classes > 0.

    `vertical_above` and `at_pixel` split the same network for the cached sampler: the vertical stack sees
    only earlier rows, so it runs once per row; the horizontal stack and the head then run at one pixel
    from the current row's cached horizontal inputs.
    """

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

    def setup(self) -> None:
        self.layers = [
            GatedLayer(self.features, self.first_kernel if i == 0 else self.kernel_size, self.colours, i == 0,
                       self.num_classes, self.dtype)
            for i in range(self.num_layers)
        ]
        self.head = PerChannelLogits(self.output_features, self.output_layers - 1, self.colours, self.num_levels, self.dtype)

    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del train
        v = h = x.astype(self.dtype)
        for layer in self.layers:
            v, h = layer(v, h, labels)
        return self.head(h)

    def vertical_above(self, x: jax.Array, labels: jax.Array | None, row: jax.Array) -> jax.Array:
        """Every layer's vertical pre-activation one row above `row` (zeros on the first row), as the
        horizontal stacks of `row` read it: (num_layers, B, W, 2p)."""
        v, above = x.astype(self.dtype), []
        for layer in self.layers:
            v_pre, v = layer.vertical_stack(v, labels)
            above.append(jax.lax.dynamic_index_in_dim(shift_down(v_pre), row, axis=1, keepdims=False))
        return jnp.stack(above)

    def at_pixel(self, image_window: jax.Array, row_windows: jax.Array, above: jax.Array,
                 labels: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """The logits at one pixel (B, C, K) from the image's current row up to and including the pixel,
        (B, 1, first_kernel//2 + 1, C); each later layer's horizontal input on the current row up to the
        pixel, (num_layers - 1, B, 1, kernel_size//2 + 1, p), whose last entry (the pixel) is computed
        here; and `above`, (num_layers, B, 2p), from `vertical_above` at the pixel's column. Also returns
        the horizontal inputs computed at the pixel, (num_layers - 1, B, p), for the cache."""
        h = self.layers[0].horizontal_stack(image_window.astype(self.dtype), above[0][:, None, None], labels)[:, 0, -1]
        computed = []
        for layer, window, v_above in zip(self.layers[1:], row_windows, above[1:]):
            computed.append(h)
            h = layer.horizontal_stack(window.at[:, 0, -1].set(h), v_above[:, None, None], labels)[:, 0, -1]
        cache = jnp.stack(computed) if computed else jnp.zeros((0,) + h.shape, h.dtype)
        return self.head(h[:, None, None])[:, 0, 0], cache
