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
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxgen import data as data_lib
from jaxgen import parallel
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.contract import Task
from jaxgen.train.images import save_grid
from jaxgen.errors import CheckpointMismatchError, NonFiniteLossError, RunNotFoundError
from jaxgen.train.metrics import MetricWriter, first_non_finite, mean_metrics
from jaxgen.train.state import StepFn, TrainState, counting


@dataclasses.dataclass(frozen=True)
class FrozenPart:
    """Parameters of another run used without training, and where they came from (`record`: workdir, step,
    params_sha1), which the run's checkpoints keep."""

    params: Any
    record: dict[str, Any]


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
    frozen: dict[str, FrozenPart] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def abstract_state(self) -> TrainState:
        """The saved state's shapes (from `jax.eval_shape`, nothing allocated; no frozen parts) with their
        shardings: replicated over the mesh. Checkpoints restore onto it."""
        shapes = jax.eval_shape(self.task.create_state, jax.random.PRNGKey(self.config.seed)).replace(frozen=None)
        sharding = parallel.replicated(self.mesh)
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), shapes)

    @property
    def state_sharding(self) -> Any:
        """Every leaf of the state, frozen parts included, is replicated over the mesh."""
        return parallel.replicated(self.mesh)

    def with_frozen(self, state: TrainState) -> TrainState:
        params = {name: part.params for name, part in self.frozen.items()}
        return state.replace(frozen=jax.device_put(params, self.state_sharding))

    def frozen_records(self) -> dict[str, Any]:
        return {name: part.record for name, part in sorted(self.frozen.items())}

    def init_state(self) -> TrainState:
        init = jax.jit(self.task.create_state, out_shardings=self.state_sharding)
        return self.with_frozen(init(jax.random.PRNGKey(self.config.seed)))

    def restore_or_init(self) -> tuple[TrainState, int]:
        """The latest readable checkpoint (state, data position), or a fresh state at position 0."""
        restored = self.checkpointer.restore_latest(self.abstract_state)
        if restored is None:
            return self.init_state(), 0
        state, extra = restored
        self._check_frozen_sources(extra, int(state.step))
        logging.info("resumed from step %d (data position %d)", int(state.step), extra["data_position"])
        return self.with_frozen(state), int(extra["data_position"])

    def _check_frozen_sources(self, extra: dict[str, Any], step: int) -> None:
        saved, current = extra.get("frozen", {}), self.frozen_records()
        changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if changed:
            raise CheckpointMismatchError(
                f"checkpoint {self.checkpointer.directory}/{step} was trained with other frozen parts "
                f"({', '.join('init_from.' + k for k in changed)}: saved {[saved.get(k) for k in changed]}, now "
                f"{[current.get(k) for k in changed]}); use a new --workdir or the sources it was trained with"
            )

    def save(self, step: int, state: TrainState, data_position: int) -> None:
        self.checkpointer.save(step, state.replace(frozen=None), {"data_position": data_position, "frozen": self.frozen_records()})

    def restore(self, step: int | None = None) -> TrainState:
        """The checkpoint at `step` (default: the latest readable one), with the frozen parts."""
        restored = self.checkpointer.restore_latest(self.abstract_state, step)
        if restored is None:
            raise RunNotFoundError(
                f"no checkpoint{'' if step is None else f' at step {step}'} in {self.checkpointer.directory}: "
                "train first (--mode train)"
            )
        return self.with_frozen(restored[0])

    def global_batches(self, local_batches: Any) -> Any:
        for batch in local_batches:
            yield parallel.to_global(batch, self.mesh)

    def picture_batch(self, num: int = 16) -> dict[str, jax.Array]:
        """Test examples spread evenly over the split (so every class shows), as a global batch."""
        num = -(-num // self.mesh.size) * self.mesh.size
        index = np.linspace(0, len(self.test_source) - 1, num).astype(np.int64)
        rows = data_lib.pipeline.process_rows(num, jax.process_index(), jax.process_count())
        local = self.test_source.read(index[rows])
        return parallel.to_global(local, self.mesh)

    def test_batches(
        self, split: str = "test", num_examples: int | None = None, spread: bool = False, batch_size: int = 0
    ) -> Any:
        """Global eval batches with `mask` and `position` over `split`: `num_examples` (default
        eval.num_examples, 0 all) in batches of `batch_size` (default data.eval_batch_size)."""
        source = self.test_source if split == "test" else self.train_source
        count = self.config.eval.num_examples if num_examples is None else num_examples
        batch_size = batch_size or self.config.data.eval_batch_size
        local = data_lib.eval_batches(source, batch_size, count, jax.process_index(), jax.process_count(), spread)
        return self.global_batches(local)


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
    batch_sharding = parallel.batch_sharded(mesh, stacked=k > 1)
    step_fn = counting(experiment.task.train_step)
    step_fn = wrap_step(step_fn) if wrap_step else step_fn
    return jax.jit(
        scan_steps(step_fn) if k > 1 else step_fn,
        in_shardings=(experiment.state_sharding, batch_sharding),
        out_shardings=(experiment.state_sharding, parallel.replicated(mesh)),
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
    pictures = parallel.fetch(picture_fn(state.eval_params, rng, batch))
    if jax.process_index() != 0:
        return
    folder = experiment.workdir / "images"
    for name, (images, columns) in pictures.items():
        save_grid(folder / f"{name}_{step:07d}.png", np.asarray(images), columns)
        shutil.copyfile(folder / f"{name}_{step:07d}.png", folder / f"{name}.png")


class _Progress:
    """The loop's bookkeeping between steps: the metric window, its checks and writes, and saving."""

    def __init__(self, experiment: Experiment, stream: data_lib.TrainStream, step: int):
        self.experiment, self.stream, self.step = experiment, stream, step
        cfg = experiment.config.train
        self.writer = MetricWriter(experiment.workdir, cfg.num_steps, step, cfg.progress_bar)
        self.history: list[dict[str, jax.Array]] = []
        self.last_saved = experiment.checkpointer.latest_step()
        self.per_call = cfg.steps_per_call

    def crossed(self, every: int) -> bool:
        """Whether the last call's steps (step - k, step] include a multiple of `every`."""
        return self.step // every != (self.step - self.per_call) // every

    def flush(self) -> None:
        """Write the window's means; a non-finite loss in it stops the run naming the step."""
        if not self.history:
            return
        means, raw = mean_metrics(self.history)
        first = self.step - len(next(iter(raw.values()))) + 1
        self.history = []
        bad = first_non_finite(raw, first)
        if bad is not None:
            bad_step, key, value = bad
            raise NonFiniteLossError(
                f"training stopped: {key} became {value} at step {bad_step}; last good checkpoint: "
                f"step {self.last_saved} in {self.experiment.checkpointer.directory}"
            )
        self.writer.write(self.step, means)

    def save(self, state: TrainState) -> None:
        self.flush()
        self.experiment.save(self.step, state, self.stream.position)
        self.last_saved = self.step


def train(experiment: Experiment, wrap_step: Callable[[StepFn], StepFn] | None = None) -> TrainState:
    """Train to `config.train.num_steps`, resuming from the workdir's latest checkpoint.

    `wrap_step` wraps the task's step before it is compiled (tests use chex.assert_max_traces).
    """
    cfg = experiment.config.train
    state, position = experiment.restore_or_init()
    stream = data_lib.TrainStream(
        experiment.train_source, experiment.config.data.batch_size, experiment.config.data.shuffle_seed,
        jax.process_index(), jax.process_count(), position,
        put=lambda batch: parallel.to_global(batch, experiment.mesh, stacked=cfg.steps_per_call > 1),
        group=cfg.steps_per_call,
    )
    train_step = compile_train_step(experiment, wrap_step)
    picture_fn = jax.jit(experiment.task.pictures)
    picture_batch = experiment.picture_batch()
    progress = _Progress(experiment, stream, int(state.step))
    # A queue of programs with collectives deadlocks XLA's CPU backend when several CPU devices share
    # few cores; there the host waits for the previous step before queueing the next.
    lockstep = experiment.mesh.devices.flat[0].platform == "cpu" and experiment.mesh.size > 1
    try:
        with _StopFlag() as stop:
            while progress.step < cfg.num_steps and not stop.requested:
                state, metrics = train_step(state, next(stream))
                progress.step += cfg.steps_per_call
                if lockstep and progress.history:
                    jax.block_until_ready(progress.history[-1])
                progress.history.append(metrics)
                progress.writer.advance(cfg.steps_per_call)
                if progress.crossed(cfg.log_every):
                    progress.flush()
                if progress.crossed(cfg.checkpoint_every):
                    progress.save(state)
                if progress.crossed(cfg.sample_every):
                    write_pictures(experiment, state, progress.step, picture_fn, picture_batch)
            if progress.last_saved != progress.step:
                progress.save(state)
        if progress.step >= cfg.num_steps and not progress.crossed(cfg.sample_every):
            write_pictures(experiment, state, progress.step, picture_fn, picture_batch)
    finally:
        stream.close()
        progress.writer.close()
        experiment.checkpointer.close()
    return state
