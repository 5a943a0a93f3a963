"""The contract between a model family (jaxgen/tasks) and the generic loop (see DESIGN.md).

The loop depends on this protocol only; the families implement it.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

import jax
import ml_collections

from jaxgen.train.state import TrainState

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
