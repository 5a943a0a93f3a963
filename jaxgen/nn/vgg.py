"""VGG16's convolutional features (Simonyan & Zisserman 2015), as LPIPS reads them: the five blocks of 3x3
convolutions with ReLU, max-pooling between blocks, and the activations after each block's last ReLU
(relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block
WIDTHS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    """(B, H, W, 3) normalised images -> the five taps. Convolutions are named conv_<i> in torchvision's
    `features.<index>` order (i = 0..12); `widths` other than VGG16's serve tests."""

    widths: Sequence[int] = WIDTHS

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        taps, index = [], 0
        for block, (convs, width) in enumerate(zip(BLOCKS, self.widths)):
            if block:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            for _ in range(convs):
                x = nn.relu(nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=f"conv_{index}")(x))
                index += 1
            taps.append(x)
        return taps


def torchvision_indices() -> list[int]:
    """torchvision vgg16's `features.<index>` of each convolution: ReLUs and pools take indices too."""
    indices, position = [], 0
    for block, convs in enumerate(BLOCKS):
        if block:
            position += 1  # the max-pool
        for _ in range(convs):
            indices.append(position)
            position += 2  # the convolution and its ReLU
    return indices
