"""Autoregressive models p(x) = prod_i p(x_i | x_<i): PixelCNN, Gated PixelCNN, PixelCNN++ and PixelRNN's
Row LSTM, trained by maximum likelihood and sampled pixel by pixel.

`model.arch` picks the network and `model.likelihood` the per-pixel distribution (bernoulli for
binarised data, categorical over 256 levels, or PixelCNN++'s discretised logistic mixture). The loss is
the exact negative log-likelihood per dimension in nats; evaluation reports the test NLL per image in
nats (the binarised-MNIST convention) and in bits/dim (the 8-bit convention): both exact, no bound.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.autoregressive import KINDS, PixelLikelihood, model_input, sample_levels
from jaxgen.autoregressive.sampling import (
    NetworkFn, guided_logits, num_sites, sample_levels_cached, sample_levels_gated_cached,
)
from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval.likelihood import discrete_bits_per_dim
from jaxgen.nn.pixelcnn import GatedPixelCNN, PixelCNN
from jaxgen.nn.pixelcnn_pp import PixelCNNPlusPlus
from jaxgen.nn.pixelrnn import RowLSTMPixelRNN
from jaxgen.tasks import Cond, Pictures, check_sample_count, class_rows, compute_dtype, labels_of, require_labels
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive

Batch = dict[str, jax.Array]
ARCHITECTURES = ("pixelcnn", "gated", "pixelcnn_pp", "row_lstm")
BINARY_MODES = ("binarize_dynamic", "binarize_static")
SAMPLERS = ("auto", "full", "cached")  # auto: cached where the architecture has it (pixelcnn, gated), else full
CACHED_ARCHITECTURES = ("pixelcnn", "gated")
COMPLETIONS_PER_IMAGE = 3
PICTURE_IMAGES = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    m = config.model
    check_choice(config, "model.arch", ARCHITECTURES)
    check_choice(config, "model.likelihood", KINDS)
    for key in ("model.features", "model.num_layers", "model.kernel_size", "model.first_kernel",
                "model.output_features", "model.output_layers", "model.num_mixtures", "model.num_scales"):
        check_positive(config, key)
    check(0.0 <= m.dropout < 1.0, f"config key 'model.dropout' must be in [0, 1), got {m.dropout}")
    binary = config.data.preprocess in BINARY_MODES
    if m.likelihood == "bernoulli":
        check(binary, f"model.likelihood='bernoulli' models binarised data: set data.preprocess to one of "
                      f"{', '.join(BINARY_MODES)} (got '{config.data.preprocess}')")
    else:
        check(config.data.preprocess == "scale11",
              f"model.likelihood='{m.likelihood}' models the 256 levels of 8-bit data: set data.preprocess='scale11' "
              f"(got '{config.data.preprocess}')")
    check((m.arch == "pixelcnn_pp") == (m.likelihood == "logistic_mixture"),
          f"model.arch='pixelcnn_pp' outputs model.likelihood='logistic_mixture', and only it does; the masked "
          f"architectures take 'bernoulli' or 'categorical' (got arch '{m.arch}', likelihood '{m.likelihood}')")
    check(not m.class_conditional or m.arch in ("gated", "pixelcnn_pp"),
          f"model.class_conditional needs model.arch 'gated' or 'pixelcnn_pp' (got '{m.arch}')")
    check(0.0 <= m.label_dropout < 1.0, f"config key 'model.label_dropout' must be in [0, 1), got {m.label_dropout}")
    check(m.label_dropout == 0.0 or m.class_conditional,
          "model.label_dropout trains the null class of a class-conditional model: set model.class_conditional=True")
    check_positive(config, "sample.guidance_scale", allow_zero=True)
    check(config.sample.guidance_scale == 0.0 or m.label_dropout > 0.0,
          f"sample.guidance_scale={config.sample.guidance_scale} needs a model trained with the null class "
          f"(model.label_dropout > 0)")
    check(config.sample.guidance_scale == 0.0 or m.likelihood != "logistic_mixture",
          "sample.guidance_scale guides per-site logits (bernoulli, categorical); a logistic mixture has none")
    check(m.arch != "gated" or m.kernel_size % 2 == 1, f"model.kernel_size must be odd, got {m.kernel_size}")
    check_choice(config, "sample.sampler", SAMPLERS)
    check_positive(config, "sample.temperature")
    check(config.sample.temperature == 1.0 or m.likelihood != "logistic_mixture",
          f"sample.temperature applies to the per-channel likelihoods (bernoulli, categorical); "
          f"model.likelihood='logistic_mixture' samples at 1.0 only (got {config.sample.temperature})")
    check(config.sample.sampler != "cached" or m.arch in CACHED_ARCHITECTURES,
          f"sample.sampler='cached' exists for model.arch {' and '.join(CACHED_ARCHITECTURES)} only (got '{m.arch}'); "
          f"use 'full' or 'auto'")


def make_network(config: ml_collections.ConfigDict, colours: int, likelihood: PixelLikelihood, num_classes: int) -> nn.Module:
    m = config.model
    dtype = compute_dtype(config)
    head = dict(output_features=m.output_features, output_layers=m.output_layers, first_kernel=m.first_kernel, dtype=dtype)
    levels = likelihood.output_levels()
    if m.arch == "pixelcnn":
        return PixelCNN(m.features, m.num_layers, colours, levels, **head)
    if m.arch == "gated":
        return GatedPixelCNN(m.features, m.num_layers, colours, levels, num_classes, m.kernel_size, **head)
    if m.arch == "row_lstm":
        return RowLSTMPixelRNN(m.features, m.num_layers, colours, levels, **head)
    return PixelCNNPlusPlus(m.features, m.num_layers, m.num_mixtures, colours, m.dropout, m.num_scales, num_classes, dtype)


class PixelCNNTask:
    """The autoregressive family bound to one config: pure functions of (params or state, batch, rng). One
    part, `model`; `complete` and `draw` take its parameters, the contract's methods the state's eval_params."""

    conditions = ()

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        m = config.model
        if m.class_conditional:
            require_labels(spec, "model.class_conditional")
        height, width, colours = spec.image_shape
        if m.arch == "pixelcnn_pp":
            factor = 2 ** (m.num_scales - 1)
            if height % factor or width % factor:
                raise ConfigError(f"model.num_scales={m.num_scales} needs H and W divisible by {factor}; the images are "
                                  f"{height}x{width} (set data.image_size)")
        self.config = config
        self.spec = spec
        self.mode = config.data.preprocess
        self.num_classes = spec.num_classes if m.class_conditional else 0
        # classifier-free guidance: the label K stands for "no label", seen in training with model.label_dropout
        self.null_label = self.num_classes if m.label_dropout > 0 else None
        self.likelihood = PixelLikelihood(m.likelihood, colours)
        self.sampling_likelihood = PixelLikelihood(m.likelihood, colours, config.sample.temperature)
        self.net = make_network(config, colours, self.likelihood, self.num_classes + (self.null_label is not None))
        self.num_dims = height * width * colours
        self.cached_sampling = m.arch in CACHED_ARCHITECTURES and config.sample.sampler != "full"

    # ----------------------------------------------------------------- model pieces
    def levels(self, batch: Batch, rng: jax.Array) -> jax.Array:
        """The data as integer levels (B, H, W, C): {0, 1} after binarisation, else the 8-bit values."""
        if self.likelihood.kind == "bernoulli":
            return to_model_input(batch["image"], self.mode, rng).astype(jnp.int32)
        return batch["image"].astype(jnp.int32)

    def network_fn(self, params: Any, labels: jax.Array | None = None) -> NetworkFn:
        """model-space image -> network output, with `params` (and class `labels`) bound; deterministic."""
        return lambda x: self.net.apply({"params": params}, x, labels)

    def nll(self, params: Any, levels: jax.Array, labels: jax.Array | None, train: bool = False,
            rng: jax.Array | None = None) -> jax.Array:
        """-log p(x) per image in nats, (B,)."""
        x = model_input(levels, self.likelihood.num_levels)
        rngs = {"dropout": rng} if train else None
        out = self.net.apply({"params": params}, x, labels, train=train, rngs=rngs)
        return -self.likelihood.log_prob(out, levels)

    def _labels(self, batch: Batch) -> jax.Array | None:
        return batch["label"] if self.num_classes else None

    def _training_labels(self, batch: Batch, rng: jax.Array) -> jax.Array | None:
        """The batch's labels, each replaced by the null label with probability model.label_dropout."""
        labels = self._labels(batch)
        if self.null_label is None:
            return labels
        return jnp.where(jax.random.bernoulli(rng, self.config.model.label_dropout, labels.shape), self.null_label, labels)

    # ----------------------------------------------------------------- the task contract
    def create_state(self, rng: jax.Array) -> TrainState:
        k_init, k_state = jax.random.split(rng)
        x = jnp.zeros((1,) + self.spec.image_shape, jnp.float32)
        labels = jnp.zeros((1,), jnp.int32) if self.num_classes else None
        params = self.net.init(k_init, x, labels)["params"]
        return TrainState.create({"model": make_part(self.config, "model", params)}, k_state)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_data, k_drop, k_label = jax.random.split(state.step_rng(), 3)
        levels = self.levels(batch, k_data)
        labels = self._training_labels(batch, k_label)

        def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
            nll = jnp.mean(self.nll(params, levels, labels, train=True, rng=k_drop))
            return nll / self.num_dims, nll

        (loss, nll), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["model"])
        metrics = {"loss": loss, "nll_nats": nll, "bits_per_dim": loss / math.log(2.0), "grad_norm": optax.global_norm(grads)}
        return state.apply_gradients("model", grads), metrics

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1], (num, H, W, C), drawn pixel by pixel; class-conditional models take
        `cond['label']` (num,) or cycle through the classes."""
        check_sample_count(num)
        labels = labels_of(cond, num, self.num_classes)
        blank = jnp.zeros((num,) + self.spec.image_shape, jnp.int32)
        return self.to_image(self.draw(params["model"], rng, blank, labels))

    def complete(self, params: Any, rng: jax.Array, levels: jax.Array, labels: jax.Array | None = None,
                 known_rows: int | None = None) -> jax.Array:
        """Keep the first `known_rows` rows (default: the top half) of `levels` (B, H, W, C) and sample the
        rest given them: (B, H, W, C) images in [0, 1]."""
        height = self.spec.image_shape[0]
        known_rows = height // 2 if known_rows is None else known_rows
        start = num_sites(self.likelihood, (known_rows,) + self.spec.image_shape[1:])
        return self.to_image(self.draw(params, rng, levels, labels, start))

    def draw(self, params: Any, rng: jax.Array, levels: jax.Array, labels: jax.Array | None = None,
             start_site: int = 0) -> jax.Array:
        """The sites of `levels` from `start_site` on, drawn by the cached or the full sampler (sample.sampler),
        guided by sample.guidance_scale when it is not 0."""
        likelihood, scale = self.sampling_likelihood, self.config.sample.guidance_scale
        if self.cached_sampling and isinstance(self.net, GatedPixelCNN):
            return sample_levels_gated_cached(self.net, params, likelihood, rng, levels, labels, start_site, scale, self.num_classes)
        if self.cached_sampling:
            return sample_levels_cached(self.net, params, likelihood, rng, levels, start_site)
        network_fn = self.network_fn(params, labels)
        if scale:
            both = self.network_fn(params, jnp.concatenate([labels, jnp.full_like(labels, self.null_label)]))
            network_fn = lambda x: guided_logits(both(jnp.concatenate([x, x])), scale)  # noqa: E731
        return sample_levels(network_fn, likelihood, rng, levels, start_site)

    def to_image(self, levels: jax.Array) -> jax.Array:
        return levels.astype(jnp.float32) / (self.likelihood.num_levels - 1)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Samples (a row per class when class-conditional) and completions: each of up to PICTURE_IMAGES
        test images (no more than train.num_grid_samples), its top half, and COMPLETIONS_PER_IMAGE samples
        of its bottom half."""
        k_data, k_sample, k_complete = jax.random.split(rng, 3)
        samples = class_rows(self.sample, params, k_sample, self.num_classes, self.config.train.num_grid_samples)
        n = min(PICTURE_IMAGES, self.config.train.num_grid_samples, batch["image"].shape[0])
        levels = self.levels(batch, k_data)[:n]
        labels = self._labels(batch)
        labels = None if labels is None else jnp.repeat(labels[:n], COMPLETIONS_PER_IMAGE)
        completed = self.complete(params["model"], k_complete, jnp.repeat(levels, COMPLETIONS_PER_IMAGE, axis=0), labels)
        original = self.to_image(levels)
        top_half = original.at[:, original.shape[1] // 2 :].set(0.5)
        rows = jnp.concatenate(
            [original[:, None], top_half[:, None], completed.reshape((n, COMPLETIONS_PER_IMAGE) + original.shape[1:])], axis=1
        )
        return {"samples": samples, "completions": (rows.reshape((-1,) + original.shape[1:]), 2 + COMPLETIONS_PER_IMAGE)}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        nll = self.nll(params["model"], self.levels(batch, rng), self._labels(batch))
        return {"nll_nats": jnp.sum(nll * batch["mask"]), "count": jnp.sum(batch["mask"])}

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """The exact test-set negative log-likelihood: nats per image and bits per dimension."""
        nats = totals["nll_nats"] / totals["count"]
        return {"nll_nats": nats, "bits_per_dim": float(discrete_bits_per_dim(nats, self.num_dims)), "num_examples": totals["count"]}


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> PixelCNNTask:
    return PixelCNNTask(config, spec)
