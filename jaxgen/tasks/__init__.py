"""One module per model family; `get_task(config, spec, frozen)` picks it by `config.task`.

A family module provides `validate_config(config)`, `make_task(config, spec, frozen)` and, when it reads
other runs, `FROZEN_PARTS` (the names it accepts under `init_from`).
"""
from __future__ import annotations

import importlib
import numbers
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from jaxgen.data import DatasetSpec
from jaxgen.errors import ConfigError, InputError
from jaxgen.train.contract import Batch, Cond, Pictures, Task

FAMILIES = {
    "vae": "jaxgen.tasks.vae", "classifier": "jaxgen.tasks.classifier", "ddpm": "jaxgen.tasks.ddpm", "gan": "jaxgen.tasks.gan",
    "pixelcnn": "jaxgen.tasks.pixelcnn", "ldm_autoencoder": "jaxgen.tasks.ldm_autoencoder", "ldm": "jaxgen.tasks.ldm",
    "pix2pix": "jaxgen.tasks.pix2pix", "cyclegan": "jaxgen.tasks.cyclegan",
    "stargan": "jaxgen.tasks.stargan", "progressive_gan": "jaxgen.tasks.progressive_gan", "singan": "jaxgen.tasks.singan",
}

__all__ = ["Batch", "Cond", "FAMILIES", "Pictures", "Task", "check_model_space", "check_sample_count", "class_rows",
           "compute_dtype", "get_task", "labels_of", "require_labels", "validate"]


def compute_dtype(config: ml_collections.ConfigDict) -> jnp.dtype:
    """The activations' float type under `train.compute_dtype` (parameters stay float32)."""
    return jnp.bfloat16 if config.train.compute_dtype == "bfloat16" else jnp.float32


def require_labels(spec: DatasetSpec, setting: str) -> None:
    """One ConfigError naming `setting` when the dataset has no classes to condition on."""
    if spec.num_classes == 0:
        raise ConfigError(f"{setting} needs labels; data.name='{spec.name}' has none")


def check_sample_count(num: object) -> None:
    """`sample`'s `num` must be a positive Python int (static under jit): one error at trace time instead
    of a shape error from deep inside XLA."""
    if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num <= 0:
        raise InputError(f"sample: num must be a positive int (static under jax.jit), got {num!r}")


def check_model_space(x: jax.Array, function: str) -> None:
    """Model-space functions (encode, reconstruct, ...) read float images; raw uint8 pixels (0..255) would
    be taken as model values without a word, so they are refused, with the conversion to use."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(
            f"{function} takes float images in the model's input space, got {x.dtype}; convert stored images "
            "with jaxgen.data.preprocess.to_model_input(images, config.data.preprocess)"
        )


def labels_of(cond: Cond | None, num: int, num_classes: int) -> jax.Array | None:
    """The class labels of a class-conditional `sample`: `cond['label']`, or 0, 1, ..., K-1, 0, ... when
    none are given; None for an unconditional model."""
    if not num_classes:
        return None
    if cond is not None and "label" in cond:
        return cond["label"]
    return jnp.arange(num) % num_classes


SampleFn = Callable[[object, jax.Array, int, Cond | None], jax.Array]


def class_rows(sample: SampleFn, params: object, rng: jax.Array, num_classes: int, num_grid: int) -> tuple[jax.Array, int]:
    """The sample grid of a family: one row per class (num_grid // K columns) when class-conditional,
    else `num_grid` unconditional samples in a square grid."""
    if not num_classes:
        return sample(params, rng, num_grid, None), 0
    per_class = max(1, num_grid // num_classes)
    labels = jnp.repeat(jnp.arange(num_classes), per_class)
    return sample(params, rng, labels.shape[0], {"label": labels}), per_class


def validate(config: ml_collections.ConfigDict) -> None:
    """All checks for `config`: the shared keys and the family's own."""
    if config.task not in FAMILIES:
        raise ConfigError(f"config key 'task' is '{config.task}'; choose one of: {', '.join(FAMILIES)}")
    from jaxgen.validation import validate_common

    validate_common(config)
    module = importlib.import_module(FAMILIES[config.task])
    accepted = getattr(module, "FROZEN_PARTS", ())
    for name, source in config.get("init_from", {}).items():
        if source and name not in accepted:
            raise ConfigError(
                f"config key 'init_from.{name}': the {config.task} family reads no frozen part '{name}'"
                + (f" (it reads: {', '.join(accepted)})" if accepted else "")
            )
    module.validate_config(config)


def get_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task] | None = None) -> Task:
    """The family's task bound to `config`, the dataset `spec` and the tasks of its frozen parts."""
    validate(config)
    return importlib.import_module(FAMILIES[config.task]).make_task(config, spec, frozen or {})
