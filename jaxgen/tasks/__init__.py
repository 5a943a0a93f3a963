"""One module per model family; `get_task(config)` picks it by `config.task`."""
from __future__ import annotations

import importlib

import ml_collections

from jaxgen.data import DatasetSpec
from jaxgen.train.contract import Pictures, Task
from jaxgen.validation import ConfigError

FAMILIES = {
    "vae": "jaxgen.tasks.vae", "classifier": "jaxgen.tasks.classifier", "ddpm": "jaxgen.tasks.ddpm", "gan": "jaxgen.tasks.gan",
    "pixelcnn": "jaxgen.tasks.pixelcnn",
}

__all__ = ["FAMILIES", "Pictures", "Task", "get_task", "validate"]

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
