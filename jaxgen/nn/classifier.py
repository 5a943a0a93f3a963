"""A small convolutional classifier: the in-domain feature network for FID-D and class coverage."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class ConvClassifier(nn.Module):
    """3x3 convolutions at stride 2 (each halves H and W), a dense feature layer, logits.

    Returns (features, logits): the penultimate activations (B, feature_dim) are the embedding that
    FID-D compares; the logits (B, num_classes) give predictions and an in-domain Inception Score.
    """

    num_classes: int
    conv_features: Sequence[int] = (32, 64, 128)
    feature_dim: int = 128
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        h = x.astype(jnp.float32)
        for f in self.conv_features:
            h = nn.relu(nn.Conv(f, (3, 3), strides=(2, 2), padding="SAME")(h))
        h = h.reshape(h.shape[0], -1)
        features = nn.relu(nn.Dense(self.feature_dim)(h))
        logits = nn.Dense(self.num_classes)(nn.Dropout(self.dropout_rate, deterministic=not train)(features))
        return features, logits
