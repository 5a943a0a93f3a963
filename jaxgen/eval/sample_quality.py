"""The sample-quality protocol: generate, featurise and compare against cached real features.

Samples are generated and featurised batch by batch, split over the mesh's `data` axis; only the
feature matrix (and logits) reach the host, so memory does not grow with the number of images
beyond those. Real features are cached per (dataset, split, count, host transform, feature network)
as `.npz`, with the key stored inside and checked on every read: a stale file is never used.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import pathlib
import time
from typing import Any, Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from jax.sharding import Mesh

from jaxgen.eval import feature_metrics
from jaxgen.eval.features import FeatureNetwork
from jaxgen import parallel

CACHE_FORMAT = 1  # bump when what is stored changes
SampleFn = Callable[..., jax.Array]  # (params, rng, num, cond) -> images in [0, 1]
CondBatches = Iterator[dict[str, jax.Array]]  # one dict of batched conditions per sample batch
# In a batch of held-out conditions: the class of the example each row came from. It is not passed to the
# sampler; the classifier's agreement with it is `source_class_agreement` (does a translation keep the class?).
SOURCE_LABEL = "source_label"
ImageBatches = Iterable[tuple[jax.Array, np.ndarray]]  # (global images: [0, 1] float or uint8, mask of real rows)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """What the numbers depend on; recorded in the report beside them."""

    num_samples: int
    reference_split: str
    num_reference: int
    kid_subsets: int
    kid_subset_size: int
    pr_neighbours: int
    is_splits: int
    seed: int
    batch_size: int  # images per generate/featurise call; the samples drawn depend on it, not their law
    recognised_threshold: float  # the classifier's confidence above which a sample counts as recognised


def featurize(network: FeatureNetwork, mesh: Mesh, batches: ImageBatches) -> tuple[np.ndarray, np.ndarray | None]:
    """(features (N, D), logits (N, K) or None) of the real rows of `batches`, on the host."""
    params = jax.device_put(network.params, parallel.replicated(mesh))

    def apply_fn(p: Any, images: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        if images.dtype == jnp.uint8:  # real images as stored
            images = images.astype(jnp.float32) / 255.0
        return network.apply_fn(p, images)

    apply = jax.jit(apply_fn, out_shardings=parallel.batch_sharded(mesh))
    features, logits = [], []
    for images, mask in batches:
        f, lg = parallel.fetch(apply(params, images))
        keep = np.asarray(mask) > 0
        features.append(np.asarray(f, np.float32)[keep])
        if lg is not None:
            logits.append(np.asarray(lg, np.float32)[keep])
    return np.concatenate(features), (np.concatenate(logits) if logits else None)


def sample_batches(
    sample_fn: SampleFn, params: Any, rng: jax.Array, num: int, batch: int, mesh: Mesh, conditions: CondBatches | None = None,
    source_labels: list[np.ndarray] | None = None,
) -> Iterator[tuple[jax.Array, np.ndarray]]:
    """`num` samples in batches of `batch`, each generated directly split over the mesh; `conditions`
    gives each batch's conditions (families whose samples need an input). Their SOURCE_LABEL, when present,
    is kept from the sampler and appended, for the real rows, to `source_labels`."""
    generate = jax.jit(sample_fn, static_argnums=2, out_shardings=parallel.batch_sharded(mesh))
    for i in range(math.ceil(num / batch)):
        mask = (np.arange(batch) < num - i * batch).astype(np.float32)
        cond = None if conditions is None else dict(next(conditions))
        if cond is not None and SOURCE_LABEL in cond:
            labels = np.asarray(parallel.fetch(cond.pop(SOURCE_LABEL)))
            if source_labels is not None:
                source_labels.append(labels[mask > 0])
        yield generate(params, jax.random.fold_in(rng, i), batch, cond), mask


class ReferenceCache:
    """Real-image features as `<folder>/reference/<dataset>-<split>-<network>-<key hash>.npz`."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder / "reference"

    def path(self, key: dict[str, Any]) -> pathlib.Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return self.folder / f"{key['dataset']}-{key['split']}-{key['network']['network']}-{digest}.npz"

    def load(self, key: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        with np.load(path) as npz:
            if json.loads(str(npz["key"])) != key:
                logging.warning("ignoring %s: it was made for another key", path)
                return None
            return npz["features"], (npz["logits"] if "logits" in npz.files else None)

    def save(self, key: dict[str, Any], features: np.ndarray, logits: np.ndarray | None) -> None:
        if jax.process_index() != 0:
            return
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"features": features, "key": np.asarray(json.dumps(key, sort_keys=True))}
        if logits is not None:
            arrays["logits"] = logits
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)


def reference_features(
    network: FeatureNetwork, mesh: Mesh, batches: Callable[[], ImageBatches], key: dict[str, Any], cache: ReferenceCache
) -> tuple[np.ndarray, np.ndarray | None]:
    """Real features from the cache under `key`, or computed from `batches()` and cached."""
    key = {**key, "network": network.identity, "format": CACHE_FORMAT}
    cached = cache.load(key)
    if cached is not None:
        logging.info("reference features from %s", cache.path(key))
        return cached
    features, logits = featurize(network, mesh, batches())
    cache.save(key, features, logits)
    return features, logits


def compare(
    network: FeatureNetwork, real: np.ndarray, fake: np.ndarray, fake_logits: np.ndarray | None, protocol: Protocol
) -> dict[str, Any]:
    """All metrics of generated vs real features. Keys carry a `_d` suffix for the in-domain
    classifier (FID-D, ...) so they are never mistaken for Inception numbers."""
    tag = "" if network.name.startswith("inception") else "_d"
    kid, kid_std = feature_metrics.kernel_inception_distance(
        real, fake, protocol.kid_subsets, protocol.kid_subset_size, protocol.seed
    )
    precision, recall = feature_metrics.precision_recall(real, fake, protocol.pr_neighbours)
    out: dict[str, Any] = {
        f"fid{tag}": feature_metrics.frechet_distance(feature_metrics.gaussian_stats(real), feature_metrics.gaussian_stats(fake)),
        f"kid{tag}": kid,
        f"kid{tag}_std": kid_std,
        f"precision{tag}": precision,
        f"recall{tag}": recall,
    }
    if fake_logits is not None:
        out[f"is{tag}"], out[f"is{tag}_std"] = feature_metrics.inception_score(fake_logits, protocol.is_splits, protocol.seed)
        out.update(feature_metrics.class_coverage(np.argmax(fake_logits, axis=-1), network.num_classes))
        out["recognised_fraction"] = feature_metrics.recognised_fraction(fake_logits, protocol.recognised_threshold)
    return out


def with_class_labels(conditions: CondBatches | None, batch: int, num_classes: int) -> CondBatches:
    """Each batch's conditions with `label` = 0, 1, ..., K-1, 0, ... (the classes in equal shares)."""
    labels = jnp.asarray(np.arange(batch) % num_classes, jnp.int32)
    while True:
        yield {**(next(conditions) if conditions is not None else {}), "label": labels}


def evaluate_samples(
    config: ml_collections.ConfigDict, network: FeatureNetwork, mesh: Mesh, sample_fn: SampleFn, params: Any,
    real_batches: Callable[[int], ImageBatches], conditions: Callable[[int], CondBatches] | None = None,
    num_classes: int = 0, reference_dataset: str = "",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample-quality numbers of `params` under `config.eval` and the protocol that produced them.

    `real_batches(batch_size)` yields the reference images (eval.reference_split, eval.num_reference,
    spread over the split); `conditions(batch_size)`, for families whose samples need an input, yields
    held-out conditions for each batch of samples. A class-conditional sampler (`num_classes` K > 0) is
    given every class in equal shares, and the classifier's agreement with them is reported as
    `conditional_accuracy`; held-out conditions that carry their example's SOURCE_LABEL give
    `source_class_agreement`. `reference_dataset` names the real images when they are not data.name's
    (it keys their cached features).
    """
    e = config.eval
    reference_dataset = reference_dataset or config.data.name
    start = time.perf_counter()
    batch = e.feature_batch_size or config.data.eval_batch_size
    parallel.check_batch_divisible(batch, mesh, "eval.feature_batch_size")
    protocol = Protocol(
        e.num_samples, e.reference_split, e.num_reference, e.kid_subsets, e.kid_subset_size, e.pr_neighbours,
        e.is_splits, config.sample.seed, batch, e.get("recognised_threshold", 0.9),
    )
    key = {
        "dataset": reference_dataset,
        "split": e.reference_split,
        "num_reference": e.num_reference,
        "image_size": config.data.image_size,
        "static_binarize": config.data.preprocess == "binarize_static",
    }
    cache = ReferenceCache(pathlib.Path(e.cache_dir).expanduser())
    show = config.train.progress_bar and jax.process_index() == 0

    def with_bar(batches: ImageBatches, desc: str, num: int) -> ImageBatches:
        return tqdm.tqdm(batches, desc=desc, total=math.ceil(num / batch) if num else None, unit="batch", disable=not show)

    real, _ = reference_features(
        network, mesh, lambda: with_bar(real_batches(batch), f"{network.name}: reference features", e.num_reference), key, cache
    )
    sample_conditions = None if conditions is None else conditions(batch)
    if num_classes:
        sample_conditions = with_class_labels(sample_conditions, batch, num_classes)
    source_labels: list[np.ndarray] = []
    fake_batches = sample_batches(
        sample_fn, params, jax.random.PRNGKey(config.sample.seed), e.num_samples, batch, mesh, sample_conditions, source_labels
    )
    fake, fake_logits = featurize(network, mesh, with_bar(fake_batches, f"{network.name}: samples", e.num_samples))
    metrics = compare(network, real, fake, fake_logits, protocol)
    if num_classes and fake_logits is not None and network.num_classes == num_classes:
        labels = np.tile(np.arange(batch) % num_classes, math.ceil(e.num_samples / batch))[: e.num_samples]
        metrics["conditional_accuracy"] = feature_metrics.conditional_accuracy(fake_logits, labels)
    if source_labels and fake_logits is not None:
        metrics["source_class_agreement"] = feature_metrics.conditional_accuracy(fake_logits, np.concatenate(source_labels))
    record = {
        **dataclasses.asdict(protocol),
        "num_reference": int(len(real)),
        "reference_dataset": reference_dataset,
        "feature_network": network.identity,
        "conditions": "held-out test examples" if conditions is not None else "none",
        "seconds": time.perf_counter() - start,
    }
    logging.info("sample quality: %s", json.dumps({k: v for k, v in metrics.items() if k != "class_histogram"}))
    return metrics, record
