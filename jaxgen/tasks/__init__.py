"""One module per model family; `get_task(config)` picks it by `config.task`."""
from __future__ import annotations

import importlib

import jax.numpy as jnp
import ml_collections

from jaxgen.data import DatasetSpec
from jaxgen.train.contract import Pictures, Task
from jaxgen.validation import ConfigError

FAMILIES = {
    "vae": "jaxgen.tasks.vae", "classifier": "jaxgen.tasks.classifier", "ddpm": "jaxgen.tasks.ddpm", "gan": "jaxgen.tasks.gan",
    "pixelcnn": "jaxgen.tasks.pixelcnn",
}

__all__ = ["FAMILIES", "Pictures", "Task", "compute_dtype", "get_task", "require_labels", "validate"]


def compute_dtype(config: ml_collections.ConfigDict) -> jnp.dtype:
    """The activations' float type under `train.compute_dtype` (parameters stay float32)."""
    return jnp.bfloat16 if config.train.compute_dtype == "bfloat16" else jnp.float32


def require_labels(spec: DatasetSpec, setting: str) -> None:
    """One ConfigError naming `setting` when the dataset has no classes to condition on."""
    if spec.num_classes == 0:
        raise ConfigError(f"{setting} needs labels; data.name='{spec.name}' has none")

def validate(config: ml_collections.ConfigDict) -> None:
    """All checks for `config`: the shared keys and the family's own."""
    if config.task not in FAMILIES:
        raise ConfigError(f"config key 'task' is '{config.task}'; choose one of: {', '.join(FAMILIES)}")
    from jaxgen.validation import validate_common

    validate_common(config)
    importlib.import_module(FAMILIES[config.task]).validate_config(config)


def get_task(config: ml_collections.ConfigDict, spec: DatasetSpec) -> Task:
    validate(config)
    return importlib.import_module(FAMILIES[config.task]).make_task(config, spec)
