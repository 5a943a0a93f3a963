"""The contract between a model family (jaxgen/tasks) and the generic loop (see DESIGN.md).

The loop depends on this protocol only; the families implement it. Every method is a pure function of
its arguments (the task object only binds the config, the dataset spec and the frozen parts' tasks),
so the loop jits each one once.
"""
from __future__ import annotations

from typing import Any, Protocol

import jax
import ml_collections

from jaxgen.train.state import TrainState

Batch = dict[str, jax.Array]
Cond = dict[str, jax.Array]  # batched conditions of `sample`: label (N,), an image (N, H, W, C), ...
Pictures = dict[str, tuple[jax.Array, int]]  # name -> (images in [0, 1] NHWC, grid columns)


class Task(Protocol):
    """One family bound to one config.

    `conditions` names the features `sample` cannot do without (an input image for image-to-image);
    optional ones (a class label, which otherwise cycles through the classes) are not listed. The
    sample-quality protocol and `--mode sample` supply the listed ones from held-out data or the user. A task
    may also list `optional_conditions`: features its `sample` uses when given and does without otherwise
    (SinGAN's image to inject or super-resolve); `--mode sample` passes them when the config gives them.
    A task may also have `picture_captions`: picture name -> captions of its grid's columns, repeated
    across the grid (`{"reconstructions": ("original", "reconstruction")}`); and, when its samples belong
    to another feature's domain than `image`, `reference_feature` (the real images they are compared with,
    default `image`) and `source_label_feature` (the label of the examples its conditions come from,
    default `label`): CycleGAN translating into its second domain has `second_image` and `label`.

    A task whose step changes its shapes during training (progressive growing's resolutions) declares
    `phase_starts`: the first step of each training phase (0, then increasing); its `train_step` then takes a
    third argument, the phase's index (a static int), and the loop compiles one program per phase, when the
    phase's first step comes. Within a phase the step is a function of traced values only (a fade-in's alpha
    is computed from `state.step`), so it compiles once.
    """

    config: ml_collections.ConfigDict
    conditions: tuple[str, ...]
    num_classes: int  # K when `sample` takes an optional `label` (class-conditional), else 0

    def create_state(self, rng: jax.Array) -> TrainState:
        """The state's trained parts and model state (shapes from the dataset spec); the experiment adds
        the frozen parts."""
        ...

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        """One step's updates (`state.apply_gradients(part, grads)` per update); the loop counts the step."""
        ...

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1], float32 NHWC, from `params` = TrainState.eval_params."""
        ...

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures: ...

    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Sums over the real rows (`batch['mask']`) of one evaluation batch, with their `count`."""
        ...

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """The reported numbers from the totals of `eval_batch` over the whole evaluation set."""
        ...


class WithFrozenWeights(Protocol):
    """A task that also reads fixed weights from files (a perceptual network): `frozen_weights()` gives
    name -> (parameters, record naming the files). They join `state.frozen` like another run's parameters,
    and their record is checked on resume like another run's."""

    def frozen_weights(self) -> dict[str, tuple[Any, dict[str, Any]]]: ...
