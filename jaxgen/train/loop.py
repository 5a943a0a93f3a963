"""The generic training loop: knows nothing about families beyond the Task contract."""
from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import shutil
import signal
import threading
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxgen import data as data_lib
from jaxgen.train import mesh as mesh_lib
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.contract import Task
from jaxgen.train.images import save_grid
from jaxgen.train.metrics import MetricWriter, NonFiniteLossError, first_non_finite, mean_metrics
from jaxgen.train.state import TrainState


@dataclasses.dataclass
class Experiment:
    """Everything a mode needs, built once from the config (`jaxgen.run.build_experiment`)."""

    config: ml_collections.ConfigDict
    workdir: pathlib.Path
    mesh: Mesh
    train_source: data_lib.Source
    test_source: data_lib.Source
    task: Task
    checkpointer: Checkpointer

    @functools.cached_property
    def abstract_state(self) -> TrainState:
        """The state's shapes (from `jax.eval_shape`, nothing allocated) with their shardings:
        replicated over the mesh. Checkpoints restore onto it."""
        shapes = jax.eval_shape(self._create, jax.random.PRNGKey(self.config.seed))
        sharding = mesh_lib.replicated(self.mesh)
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), shapes)

    @property
    def state_sharding(self) -> Any:
        return jax.tree.map(lambda a: a.sharding, self.abstract_state)

    def init_state(self) -> TrainState:
        init = jax.jit(self._create, out_shardings=self.state_sharding)
        return init(jax.random.PRNGKey(self.config.seed))

    def _create(self, rng: jax.Array) -> TrainState:
        return self.task.create_state(rng, self.example_batch())

    def example_batch(self) -> dict[str, jax.Array]:
        batch = {"image": jnp.zeros((1,) + self.train_source.spec.image_shape, jnp.uint8)}
        if self.train_source.spec.num_classes:
            batch["label"] = jnp.zeros((1,), jnp.int32)
        return batch

    def restore_or_init(self) -> tuple[TrainState, int]:
        """The latest readable checkpoint (state, data position), or a fresh state at position 0."""
        restored = self.checkpointer.restore_latest(self.abstract_state)
        if restored is None:
            return self.init_state(), 0
        state, extra = restored
        logging.info("resumed from step %d (data position %d)", int(state.step), extra["data_position"])
        return state, int(extra["data_position"])

    def restore(self) -> TrainState:
        restored = self.checkpointer.restore_latest(self.abstract_state)
        if restored is None:
            raise FileNotFoundError(f"no checkpoint in {self.checkpointer.directory}: train first (--mode train)")
        return restored[0]

    def global_batches(self, local_batches: Any) -> Any:
        for batch in local_batches:
            yield mesh_lib.to_global(batch, self.mesh)

    def picture_batch(self, num: int = 16) -> dict[str, jax.Array]:
        """Test examples spread evenly over the split (so every class shows), as a global batch."""
        num = -(-num // self.mesh.size) * self.mesh.size
        index = np.linspace(0, len(self.test_source) - 1, num).astype(np.int64)
        rows = data_lib.pipeline.process_rows(num, jax.process_index(), jax.process_count())
        local = self.test_source.read(index[rows])
        return mesh_lib.to_global(local, self.mesh)

    def test_batches(
        self, split: str = "test", num_examples: int | None = None, spread: bool = False, batch_size: int = 0
    ) -> Any:
        """Global eval batches with `mask` over `split`: `num_examples` (default eval.num_examples, 0 all)
        in batches of `batch_size` (default data.eval_batch_size)."""
        source = self.test_source if split == "test" else self.train_source
        count = self.config.eval.num_examples if num_examples is None else num_examples
        batch_size = batch_size or self.config.data.eval_batch_size
        local = data_lib.eval_batches(source, batch_size, count, jax.process_index(), jax.process_count(), spread)
        return self.global_batches(local)


StepFn = Callable[[TrainState, dict[str, jax.Array]], tuple[TrainState, dict[str, jax.Array]]]


def scan_steps(step_fn: StepFn) -> StepFn:
    """k steps in one call: batches (k, B, ...) -> (state after k steps, metrics stacked to (k,))."""

    def multi_step(state: TrainState, batches: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]:
        return jax.lax.scan(step_fn, state, batches)

    return multi_step


def compile_train_step(experiment: Experiment, wrap_step: Callable[[StepFn], StepFn] | None = None) -> Callable:
    """jit the task's step once: replicated state (donated), batch split over `data`.

    With `train.steps_per_call` = k > 1 the compiled function scans over k batches, so the host
    dispatches once per k steps (small models on accelerators are otherwise host-bound).
    """
    mesh = experiment.mesh
    k = experiment.config.train.steps_per_call
    batch_sharding = mesh_lib.batch_sharded(mesh, stacked=k > 1)
    step_fn = experiment.task.train_step
    step_fn = wrap_step(step_fn) if wrap_step else step_fn
    return jax.jit(
        scan_steps(step_fn) if k > 1 else step_fn,
        in_shardings=(experiment.state_sharding, batch_sharding),
        out_shardings=(experiment.state_sharding, mesh_lib.replicated(mesh)),
        donate_argnums=0,
    )


class _StopFlag:
    """Set by SIGTERM (pre-emption, `kill`): the loop saves and returns after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        logging.warning("SIGTERM received: saving a checkpoint and stopping")
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def write_pictures(experiment: Experiment, state: TrainState, step: int, picture_fn: Callable, batch: Any) -> None:
    rng = jax.random.PRNGKey(experiment.config.sample.seed)
    pictures = mesh_lib.fetch(picture_fn(state.eval_params, rng, batch))
    if jax.process_index() != 0:
        return
    folder = experiment.workdir / "images"
    for name, (images, columns) in pictures.items():
        save_grid(folder / f"{name}_{step:07d}.png", np.asarray(images), columns)
        shutil.copyfile(folder / f"{name}_{step:07d}.png", folder / f"{name}.png")


def train(experiment: Experiment, wrap_step: Callable[[StepFn], StepFn] | None = None) -> TrainState:
    """Train to `config.train.num_steps`, resuming from the workdir's latest checkpoint.

    `wrap_step` wraps the task's step before it is compiled (tests use chex.assert_max_traces).
    """
    config = experiment.config
    cfg = config.train
    state, position = experiment.restore_or_init()
    step = int(state.step)
    stream = data_lib.TrainStream(
        experiment.train_source, config.data.batch_size, config.data.shuffle_seed, jax.process_index(), jax.process_count(), position,
        put=lambda batch: mesh_lib.to_global(batch, experiment.mesh, stacked=cfg.steps_per_call > 1),
        group=cfg.steps_per_call,
    )
    train_step = compile_train_step(experiment, wrap_step)
    picture_fn = jax.jit(experiment.task.pictures)
    picture_batch = experiment.picture_batch()
    writer = MetricWriter(experiment.workdir, cfg.num_steps, step, cfg.progress_bar)
    history: list[dict[str, jax.Array]] = []
    # A queue of programs with collectives deadlocks XLA's CPU backend when several CPU devices share
    # few cores; there the host waits for the previous step before queueing the next.
    lockstep = experiment.mesh.devices.flat[0].platform == "cpu" and experiment.mesh.size > 1
    last_saved = experiment.checkpointer.latest_step()

    def crossed(step: int, every: int) -> bool:
        """Whether the last call's steps (step - k, step] include a multiple of `every`."""
        return step // every != (step - cfg.steps_per_call) // every

    def flush() -> None:
        nonlocal history
        if not history:
            return
        means, raw = mean_metrics(history)
        first = step - len(next(iter(raw.values()))) + 1
        history = []
        bad = first_non_finite(raw, first)
        if bad is not None:
            bad_step, key, value = bad
            raise NonFiniteLossError(
                f"training stopped: {key} became {value} at step {bad_step}; last good checkpoint: "
                f"step {last_saved} in {experiment.checkpointer.directory}"
            )
        writer.write(step, means)

    def save() -> None:
        nonlocal last_saved
        flush()
        experiment.checkpointer.save(step, state, {"data_position": stream.position})
        last_saved = step

    try:
        with _StopFlag() as stop:
            while step < cfg.num_steps and not stop.requested:
                state, metrics = train_step(state, next(stream))
                step += cfg.steps_per_call
                if lockstep and history:
                    jax.block_until_ready(history[-1])
                history.append(metrics)
                writer.advance(cfg.steps_per_call)
                if crossed(step, cfg.log_every):
                    flush()
                if crossed(step, cfg.checkpoint_every):
                    save()
                if crossed(step, cfg.sample_every):
                    write_pictures(experiment, state, step, picture_fn, picture_batch)
            if last_saved != step:
                save()
        if step >= cfg.num_steps and not crossed(step, cfg.sample_every):
            write_pictures(experiment, state, step, picture_fn, picture_batch)
    finally:
        stream.close()
        writer.close()
        experiment.checkpointer.close()
    return state

