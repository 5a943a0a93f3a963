"""One module per model family; `get_task(config)` picks it by `config.task`."""
from __future__ import annotations

import importlib
from typing import Any, Iterable, Protocol

import jax
import ml_collections

from jaxgen.data import DatasetSpec
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError

FAMILIES = {"vae": "jaxgen.tasks.vae"}

Pictures = dict[str, tuple[jax.Array, int]]  # name -> (images in [0, 1] NHWC, grid columns)


class Task(Protocol):
    """The contract between a family and the generic loop (see DESIGN.md)."""

    config: ml_collections.ConfigDict

    def create_state(self, rng: jax.Array, example_batch: dict[str, jax.Array]) -> TrainState: ...

    def train_step(self, state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]: ...

    def sample(self, params: Any, rng: jax.Array, num: int) -> jax.Array: ...

    def pictures(self, params: Any, rng: jax.Array, batch: dict[str, jax.Array]) -> Pictures: ...

    def evaluate(
        self, state: TrainState, batches: Iterable[dict[str, jax.Array]], probe_batches: Iterable[dict[str, jax.Array]] | None
    ) -> dict[str, float]: ...


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
