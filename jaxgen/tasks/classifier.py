"""The in-domain classifier: a small CNN trained on a labelled dataset to judge samples of it.

Its penultimate features give FID-D (the Frechet distance in the classifier's embedding, for data
such as 28x28 digits where InceptionV3 is a poor and slow judge) and its predictions give class
coverage. It trains like any family (`configs/classifier.py`); generative runs point at its
workdir with `eval.feature_network='classifier'` and `eval.classifier_workdir`.

Loss: cross-entropy of the true label, with random translations of up to `model.max_shift` pixels
(zero-padded) as augmentation.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval.features import FeatureNetwork, params_digest
from jaxgen.nn.classifier import ConvClassifier
from jaxgen.tasks import Pictures
from jaxgen.train.mesh import fetch
from jaxgen.train.optim import make_optimizer
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_positive

Batch = dict[str, jax.Array]


def validate_config(config: ml_collections.ConfigDict) -> None:
    check(
        config.data.preprocess == "scale01",
        f"the classifier sees images in [0, 1] as samples are judged; set data.preprocess='scale01' "
        f"(got '{config.data.preprocess}')",
    )
    check(config.eval.feature_network == "none", "a classifier run has no samples to judge: set eval.feature_network='none'")
    check_positive(config, "model.feature_dim")
    check_positive(config, "model.max_shift", allow_zero=True)
    check(0.0 <= config.model.dropout < 1.0, f"config key 'model.dropout' must be in [0, 1), got {config.model.dropout}")


def random_shift(rng: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    """Translate each image by an independent integer offset in [-max_shift, max_shift]^2 (zero fill)."""
    if max_shift == 0:
        return images
    height, width = images.shape[1:3]
    padded = jnp.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    offsets = jax.random.randint(rng, (images.shape[0], 2), 0, 2 * max_shift + 1)

    def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


class ClassifierTask:
    """Classifier family: the Task contract plus `feature_network(state)`."""

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        if spec.num_classes == 0:
            raise ConfigError(f"data.name='{spec.name}' has no labels: the classifier needs a labelled dataset")
        self.config = config
        self.spec = spec
        m = config.model
        self.net = ConvClassifier(spec.num_classes, tuple(m.conv_features), m.feature_dim, m.dropout)
        self.tx = make_optimizer(config.optim, config.train.num_steps)

    def create_state(self, rng: jax.Array, example_batch: Batch) -> TrainState:
        del example_batch
        k_init, k_state = jax.random.split(rng)
        params = self.net.init(k_init, jnp.zeros((1,) + self.spec.image_shape))["params"]
        o = self.config.optim
        return TrainState.create(params, self.tx, k_state, ema_decay=o.ema_decay, ema_warmup=o.ema_warmup)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_shift, k_dropout = jax.random.split(state.step_rng())
        x = random_shift(k_shift, to_model_input(batch["image"], "scale01"), self.config.model.max_shift)

        def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
            _, logits = self.net.apply({"params": params}, x, train=True, rngs={"dropout": k_dropout})
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return state.apply_gradients(grads), {"loss": loss, "accuracy": accuracy, "grad_norm": optax.global_norm(grads)}

    def sample(self, params: Any, rng: jax.Array, num: int) -> jax.Array:
        raise ConfigError("a classifier does not generate samples (--mode sample needs a generative family)")

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """The picture batch sorted by predicted class, one row per class present (a quick visual check)."""
        x = to_model_input(batch["image"], "scale01")
        _, logits = self.net.apply({"params": params}, x)
        order = jnp.argsort(jnp.argmax(logits, -1), stable=True)
        return {"sorted_by_prediction": (x[order], 8)}

    def features(self, params: Any, images01: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.net.apply({"params": params}, images01)

    @functools.partial(jax.jit, static_argnums=0)
    def _eval_batch(self, params: Any, batch: Batch) -> dict[str, jax.Array]:
        _, logits = self.features(params, to_model_input(batch["image"], "scale01"))
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        mask = batch["mask"]
        return {"nll": jnp.sum(nll * mask), "accuracy": jnp.sum(correct * mask), "count": jnp.sum(mask)}

    def evaluate(self, state: TrainState, batches: Iterable[Batch], probe_batches: Iterable[Batch] | None = None) -> dict[str, float]:
        """Test accuracy and cross-entropy (nats) of the EMA (or raw) parameters."""
        del probe_batches
        totals: dict[str, float] = {}
        for batch in batches:
            for k, v in fetch(self._eval_batch(state.eval_params, batch)).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        count = totals.pop("count")
        return {**{k: v / count for k, v in totals.items()}, "num_examples": count}

    def feature_network(self, state: TrainState, workdir: str) -> FeatureNetwork:
        """This trained classifier as the in-domain feature network (EMA parameters where present)."""
        params = state.eval_params
        identity = {
            "network": "classifier",
            "workdir": str(workdir),
            "step": int(state.step),
            "params_sha1": params_digest(params),
            "dataset": self.spec.name,
        }
        return FeatureNetwork("classifier", identity, params, self.features, num_classes=self.spec.num_classes)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec) -> ClassifierTask:
    return ClassifierTask(config, spec)
