"""The in-domain classifier: a small CNN trained on a labelled dataset to judge samples of it.

Its penultimate features give FID-D (the Frechet distance in the classifier's embedding, for data
such as 28x28 digits where InceptionV3 is a poor and slow judge) and its predictions give class
coverage. It trains like any family (`configs/classifier.py`); generative runs point at its
workdir with `eval.feature_network='classifier'` and `eval.classifier_workdir`.

Loss: cross-entropy of the true label, with random translations of up to `model.max_shift` pixels
(zero-padded) as augmentation.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval.features import FeatureNetwork
from jaxgen.nn.classifier import ConvClassifier
from jaxgen.tasks import Cond, Pictures
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
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
    """Classifier family (one part, `model`): the Task contract plus `feature_network(params, record)`."""

    conditions = ()
    num_classes = 0  # not a class-conditional sampler

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        if spec.num_classes == 0:
            raise ConfigError(f"data.name='{spec.name}' has no labels: the classifier needs a labelled dataset")
        self.config = config
        self.spec = spec
        m = config.model
        self.net = ConvClassifier(spec.num_classes, tuple(m.conv_features), m.feature_dim, m.dropout)

    def create_state(self, rng: jax.Array) -> TrainState:
        k_init, k_state = jax.random.split(rng)
        params = self.net.init(k_init, jnp.zeros((1,) + self.spec.image_shape))["params"]
        return TrainState.create({"model": make_part(self.config, "model", params)}, k_state)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_shift, k_dropout = jax.random.split(state.step_rng())
        x = random_shift(k_shift, to_model_input(batch["image"], "scale01"), self.config.model.max_shift)

        def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
            _, logits = self.net.apply({"params": params}, x, train=True, rngs={"dropout": k_dropout})
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["model"])
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return state.apply_gradients("model", grads), {"loss": loss, "accuracy": accuracy, "grad_norm": optax.global_norm(grads)}

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        raise ConfigError("a classifier does not generate samples (--mode sample needs a generative family)")

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """The picture batch sorted by predicted class, one row per class present (a quick visual check)."""
        x = to_model_input(batch["image"], "scale01")
        _, logits = self.net.apply({"params": params["model"]}, x)
        order = jnp.argsort(jnp.argmax(logits, -1), stable=True)
        return {"sorted_by_prediction": (x[order], 8)}

    def features(self, params: Any, images01: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.net.apply({"params": params}, images01)

    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        _, logits = self.features(params["model"], to_model_input(batch["image"], "scale01"))
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        mask = batch["mask"]
        return {"nll": jnp.sum(nll * mask), "accuracy": jnp.sum(correct * mask), "count": jnp.sum(mask)}

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """Test accuracy and cross-entropy (nats) of the EMA (or raw) parameters."""
        return mean_totals(totals)

    def feature_network(self, params: Any, record: dict[str, Any]) -> FeatureNetwork:
        """This trained classifier (its eval parameters, as `load_run` gives them) as the in-domain feature
        network; `record` (workdir, step, params_sha1) names it in the cache key and the reports."""
        identity = {"network": "classifier", **record, "dataset": self.spec.name}
        return FeatureNetwork("classifier", identity, params["model"], self.features, num_classes=self.spec.num_classes)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> ClassifierTask:
    return ClassifierTask(config, spec)
