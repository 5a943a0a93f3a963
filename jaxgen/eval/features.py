"""Feature networks for sample-quality metrics: a uniform handle on InceptionV3 and in-domain classifiers."""
from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Any, Callable

import jax
import numpy as np

from jaxgen.eval import inception_weights
from jaxgen.nn.inception import InceptionV3, preprocess

# (params, images in [0, 1] NHWC) -> (features (B, D), logits (B, K) or None)
ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array | None]]


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    """A frozen network that embeds images. `identity` names exactly these weights and this input
    handling: it keys cached reference statistics and is recorded in every report."""

    name: str
    identity: dict[str, Any]
    params: Any
    apply_fn: ApplyFn
    num_classes: int  # 0 when the network gives no logits


def params_digest(params: Any) -> str:
    """sha1 over every parameter's bytes: changes whenever the weights do."""
    digest = hashlib.sha1()
    for leaf in jax.tree.leaves(params):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


def _inception_apply(params: Any, images01: jax.Array) -> tuple[jax.Array, None]:
    return InceptionV3().apply({"params": params}, preprocess(images01)), None


def inception_network(weights: str, cache_dir: pathlib.Path) -> FeatureNetwork:
    """The FID InceptionV3 (pool3, 2048-d). `default_1.pt` has no classification layer, so this network
    gives no logits: Inception Score needs one and is not computed from it."""
    path = inception_weights.resolve_weights_path(weights)
    params, sha1 = inception_weights.load_params(path, cache_dir)
    identity = {"network": "inception_v3_fid", "weights_sha1": sha1, "resize": "tf1_bilinear_299", "input": "(x*255-128)/128"}
    return FeatureNetwork("inception_v3_fid", identity, params, _inception_apply, num_classes=0)
