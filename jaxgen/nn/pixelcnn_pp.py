"""PixelCNN++ (Salimans et al. 2017): two shifted convolution streams over three resolutions.

The "up" stream u sees only rows strictly above a pixel (down-shifted convolutions); the "up-left"
stream ul sees those rows and the pixels to the left in its own row (down-right-shifted convolutions).
No masks: causality comes from padding and shifting. Gated ResNet blocks (concat-ELU, dropout, a
tanh-free gate a * sigmoid(b)) run `num_resnet` times per resolution going down (stride-2 convolutions
halve the size) and `num_resnet + 1` times going up (stride-2 transposed convolutions), each up block
taking the matching down block's output as a short-cut. The output is the parameters of a discretised
logistic mixture per pixel (jaxgen/autoregressive/likelihoods.py): the colours of a pixel depend on
each other inside the likelihood, not in the network.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.pixelcnn import shift_down


def shift_right(x: jax.Array) -> jax.Array:
    """Move every column one right (zeros enter on the left)."""
    return jnp.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


def concat_elu(x: jax.Array) -> jax.Array:
    return nn.elu(jnp.concatenate([x, -x], axis=-1))


def mixture_param_count(num_mixtures: int, colours: int) -> int:
    """Per pixel: mixture logits, means and log-scales per colour, and the colour coefficients."""
    return num_mixtures * (1 + 2 * colours + colours * (colours - 1) // 2)


class ShiftedConv(nn.Module):
    """`down`: a (kh, kw) window of the rows ending at the output row, centred horizontally;
    `down_right`: a window ending at the output row and column. Stride 2 halves H and W."""

    features: int
    kernel_size: tuple[int, int]
    direction: str  # down | down_right
    stride: int = 1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kh, kw = self.kernel_size
        cols = ((kw - 1) // 2, (kw - 1) // 2) if self.direction == "down" else (kw - 1, 0)
        return nn.Conv(self.features, (kh, kw), self.stride, padding=((kh - 1, 0), cols), dtype=self.dtype)(x)


class ShiftedUpsample(nn.Module):
    """Stride-2 transposed convolution: output rows 2i and 2i+1 (and, `down_right`, columns 2j, 2j+1)
    from input row i (column j), which keeps the streams causal. `down` uses a 2x3 kernel and crops the
    extra column so that input column j lands centred on 2j; `down_right` a 2x2 kernel."""

    features: int
    direction: str
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = (2, 3) if self.direction == "down" else (2, 2)
        y = nn.ConvTranspose(self.features, kernel, (2, 2), padding="VALID", dtype=self.dtype)(x)
        width = 2 * x.shape[2]
        return y[:, :, 1 : width + 1] if self.direction == "down" else y


class GatedResnet(nn.Module):
    """x + a * sigmoid(b), [a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(concat_elu(aux)))))
    (+ a class bias); convolutions shifted in `direction`."""

    features: int
    direction: str
    dropout: float
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, aux: jax.Array | None, labels: jax.Array | None, train: bool) -> jax.Array:
        kernel = (2, 3) if self.direction == "down" else (2, 2)
        c = ShiftedConv(self.features, kernel, self.direction, dtype=self.dtype)(concat_elu(x))
        if aux is not None:
            c = c + nn.Dense(self.features, dtype=self.dtype, name="nin")(concat_elu(aux))
        c = nn.Dropout(self.dropout)(concat_elu(c), deterministic=not train)
        c = ShiftedConv(2 * self.features, kernel, self.direction, dtype=self.dtype)(c)
        if self.num_classes:
            c = c + nn.Embed(self.num_classes, 2 * self.features, name="class_bias")(labels)[:, None, None, :].astype(self.dtype)
        a, b = jnp.split(c, 2, axis=-1)
        return x + a * nn.sigmoid(b)


class PixelCNNPlusPlus(nn.Module):
    """x (B, H, W, C) in [-1, 1] -> mixture parameters (B, H, W, mixture_param_count(M, C))."""

    features: int = 160
    num_resnet: int = 5
    num_mixtures: int = 10
    colours: int = 3
    dropout: float = 0.5
    num_scales: int = 3
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        f = self.features
        factor = 2 ** (self.num_scales - 1)
        if x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(f"PixelCNN++ with {self.num_scales} scales needs H and W divisible by {factor}, got {x.shape[1:3]}")
        # a channel of ones tells the convolutions where the zero padding is
        x = jnp.concatenate([x, jnp.ones(x.shape[:3] + (1,), x.dtype)], axis=-1).astype(self.dtype)
        u = shift_down(ShiftedConv(f, (2, 3), "down", dtype=self.dtype)(x))
        ul = shift_down(ShiftedConv(f, (1, 3), "down", dtype=self.dtype)(x)) + shift_right(
            ShiftedConv(f, (2, 1), "down_right", dtype=self.dtype)(x)
        )
        block = dict(dropout=self.dropout, num_classes=self.num_classes, dtype=self.dtype)
        us, uls = [u], [ul]
        for scale in range(self.num_scales):
            for _ in range(self.num_resnet):
                u = GatedResnet(f, "down", **block)(u, None, labels, train)
                ul = GatedResnet(f, "down_right", **block)(ul, u, labels, train)
                us.append(u)
                uls.append(ul)
            if scale < self.num_scales - 1:
                u = ShiftedConv(f, (2, 3), "down", stride=2, dtype=self.dtype)(u)
                ul = ShiftedConv(f, (2, 2), "down_right", stride=2, dtype=self.dtype)(ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for scale in range(self.num_scales):
            for _ in range(self.num_resnet + (scale > 0)):
                u = GatedResnet(f, "down", **block)(u, us.pop(), labels, train)
                ul = GatedResnet(f, "down_right", **block)(ul, jnp.concatenate([u, uls.pop()], axis=-1), labels, train)
            if scale < self.num_scales - 1:
                u = ShiftedUpsample(f, "down", self.dtype)(u)
                ul = ShiftedUpsample(f, "down_right", self.dtype)(ul)
        out = nn.Dense(mixture_param_count(self.num_mixtures, self.colours), dtype=self.dtype, name="out")(nn.elu(ul))
        return out.astype(jnp.float32)
