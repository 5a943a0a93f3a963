"""Causally masked convolutions for autoregressive image models (van den Oord et al. 2016).

Pixels are ordered in raster order (row by row, left to right) and, within a pixel, colour by colour
(R -> G -> B). A layer's feature channels are split into `colours` contiguous groups, group g
"belonging" to colour g, so that the prediction of colour g may see colours < g of the current pixel
(through every layer) and never itself or later colours. A kernel tap strictly before the centre in
raster order is always allowed; taps after it never are; at the centre tap an input channel of group
g_in reaches an output channel of group g_out when g_in < g_out (mask A, the first layer: it must not
see the pixel it predicts) or g_in <= g_out (mask B, every later layer).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MASK_TYPES = ("A", "B")


def channel_groups(features: int, colours: int) -> np.ndarray:
    """The colour group (0 .. colours-1) of each of `features` channels, in contiguous blocks: (features,)."""
    return np.arange(features) * colours // features


def gate_groups(features: int, colours: int, gates: int) -> np.ndarray:
    """Groups of a layer whose output is `gates` blocks of `features` channels, block g's channel j gating
    feature j: each block repeats `channel_groups(features, colours)`, (gates * features,)."""
    return np.tile(channel_groups(features, colours), gates)


def centre_mask(in_groups: np.ndarray, out_groups: np.ndarray, mask_type: str) -> np.ndarray:
    """(C_in, C_out) 0/1: which input channels reach which output channels at the centre tap."""
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got '{mask_type}'")
    before = in_groups[:, None] < out_groups[None, :]
    return (before | (in_groups[:, None] == out_groups[None, :])) if mask_type == "B" else before


def causal_kernel_mask(
    kernel_size: tuple[int, int], centre: tuple[int, int], in_groups: np.ndarray, out_groups: np.ndarray, mask_type: str
) -> np.ndarray:
    """(kh, kw, C_in, C_out) 0/1 mask of a kernel whose tap `centre` sits on the predicted pixel."""
    kh, kw = kernel_size
    rows, cols = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    earlier = (rows < centre[0]) | ((rows == centre[0]) & (cols < centre[1]))
    mask = np.broadcast_to(earlier[:, :, None, None], (kh, kw, len(in_groups), len(out_groups))).astype(np.float32)
    mask = mask.copy()
    mask[centre] = centre_mask(in_groups, out_groups, mask_type)
    return mask


class MaskedConv(nn.Module):
    """A stride-1 convolution whose kernel is multiplied by `causal_kernel_mask`.

    `padding` is ((top, bottom), (left, right)) and `centre` the tap over the output pixel; the
    defaults give PixelCNN's k x k "same" convolution centred on the pixel. `out_groups` overrides
    the output channels' colour groups (gated layers give both halves of their output the same groups).
    """

    features: int
    kernel_size: tuple[int, int]
    mask_type: str
    colours: int
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None
    centre: tuple[int, int] | None = None
    out_groups: Sequence[int] | None = None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kh, kw = self.kernel_size
        in_features = x.shape[-1]
        centre = self.centre if self.centre is not None else (kh // 2, kw // 2)
        padding = self.padding if self.padding is not None else ((kh // 2, kh // 2), (kw // 2, kw // 2))
        out_groups = np.asarray(self.out_groups) if self.out_groups is not None else channel_groups(self.features, self.colours)
        if len(out_groups) != self.features:
            raise ValueError(f"out_groups has {len(out_groups)} entries for {self.features} features")
        mask = causal_kernel_mask((kh, kw), centre, channel_groups(in_features, self.colours), out_groups, self.mask_type)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, in_features, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype), (kernel * mask).astype(self.dtype), (1, 1), padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + bias.astype(self.dtype)
