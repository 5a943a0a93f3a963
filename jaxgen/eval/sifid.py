"""SIFID, the single-image FID of SinGAN (Shaham et al. 2019, section 5.1).

FID compares the Gaussians fitted to two sets of images' pool3 features. SIFID compares the internal statistics
of two single images instead: the 64-d features of InceptionV3 up to its first max-pool, one per location of the
feature map, for the real image and for one generated image; the Frechet distance of the two Gaussians fitted to
those location-wise features. A generator is scored by the mean over its samples. As the paper's code does,
the images enter at their own size (no resize to 299) scaled 2x - 1 from [0, 1].
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.eval.feature_metrics import frechet_distance, gaussian_stats
from jaxgen.nn.inception import InceptionStem


def location_features(stem_params: Any, images01: jax.Array) -> jax.Array:
    """(B, H, W, C) in [0, 1] (grey repeated to RGB) -> (B, H' W', 64): one feature per location."""
    x = images01.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    features = InceptionStem().apply({"params": stem_params}, 2.0 * x - 1.0)
    return features.reshape(features.shape[0], -1, features.shape[-1])


def frechet_per_image(real: np.ndarray, fakes: np.ndarray) -> np.ndarray:
    """The Frechet distance (float64) between the location features of one real image (L, D) and of each fake,
    (B, L', D) -> (B,)."""
    reference = gaussian_stats(real)
    return np.asarray([frechet_distance(reference, gaussian_stats(f)) for f in fakes], np.float32)


def sifid(stem_params: Any, real01: jax.Array, fakes01: jax.Array) -> jax.Array:
    """SIFID of each fake (B, H, W, C) against the one real image (1, H, W, C), both in [0, 1]: (B,). Jittable:
    the features come from the network, the distances from numpy in float64 (a host callback)."""
    real, fakes = location_features(stem_params, real01)[0], location_features(stem_params, fakes01)
    out = jax.ShapeDtypeStruct((fakes01.shape[0],), jnp.float32)
    return jax.pure_callback(frechet_per_image, out, real, fakes)


def stem_params_of(inception_params: dict[str, Any]) -> dict[str, Any]:
    """InceptionStem's parameters from the whole InceptionV3's."""
    return {name: inception_params[name] for name in ("conv", "conv_1", "conv_2")}
