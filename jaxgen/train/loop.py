"""The generic training loop: knows nothing about families beyond the Task contract."""
from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import logging
import pathlib
import shutil
import signal
import threading
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxgen import data as data_lib
from jaxgen import parallel
from jaxgen.train import sharding
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.contract import Task
from jaxgen.train.images import save_grid
from jaxgen.errors import CheckpointMismatchError, ConfigError, InterruptedRun, NonFiniteLossError, RunNotFoundError
from jaxgen.train.metrics import MetricWriter, first_non_finite, mean_metrics
from jaxgen.train.sharding import ShardingRules
from jaxgen.train.state import StepFn, TrainState, counting, non_finite_paths


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
    rules: ShardingRules = dataclasses.field(default_factory=ShardingRules)

    def shardings(self, tree: Any, prefix: str = "") -> Any:
        """Where each leaf of `tree` (a state, or parameters under `prefix`) lives on the mesh (`mesh.param_rules`)."""
        return sharding.tree_shardings(tree, self.mesh, self.rules, prefix)

    def laid_out(self, state: TrainState) -> TrainState:
        """`state` constrained to its shardings, inside a jitted function (the init and the step end with it)."""
        return jax.lax.with_sharding_constraint(state, self.shardings(state))

    @functools.cached_property
    def abstract_state(self) -> TrainState:
        """The saved state's shapes (from `jax.eval_shape`, nothing allocated; no frozen parts) with their
        shardings. Checkpoints restore onto it, whatever mesh they were saved from."""
        shapes = jax.eval_shape(self.task.create_state, jax.random.PRNGKey(self.config.seed)).replace(frozen=None)
        return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes, self.shardings(shapes))

    def with_frozen(self, state: TrainState) -> TrainState:
        params = {name: part.params for name, part in self.frozen.items()}
        return state.replace(frozen=jax.device_put(params, self.shardings(params, "frozen")))

    def frozen_records(self) -> dict[str, Any]:
        return {name: part.record for name, part in sorted(self.frozen.items())}

    def init_state(self) -> TrainState:
        init = jax.jit(lambda rng: self.laid_out(self.task.create_state(rng)))
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


def scan_steps(step_fn: StepFn, unroll: bool = False) -> StepFn:
    """k steps in one call: batches (k, B, ...) -> (state after k steps, metrics stacked to (k,)).

    `unroll` writes the k steps out in the program instead of a loop. XLA:CPU runs convolutional steps inside
    a while loop several times slower than outside one (2026-12-06, 5 steps per call: the LDM digits demo
    0.92 s per step against 0.14 s for one step per call, the DDPM demo 7.4 s against 0.28 s; unrolled
    0.12 s), so `compile_train_step` unrolls on CPUs; accelerators keep the loop, which compiles once."""

    def multi_step(state: TrainState, batches: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]:
        return jax.lax.scan(step_fn, state, batches, unroll=unroll)

    return multi_step


def phase_of(task: Task, step: int) -> int | None:
    """The index of the training phase that `step` (0-based) belongs to, for a task with `phase_starts`;
    None for the others."""
    starts = getattr(task, "phase_starts", None)
    return None if starts is None else bisect.bisect_right(starts, step) - 1


def compile_train_step(
    experiment: Experiment, wrap_step: Callable[[StepFn], StepFn] | None = None, on_device: dict[str, jax.Array] | None = None
) -> Callable[[TrainState, Any, int], tuple[TrainState, dict[str, jax.Array]]]:
    """jit the task's step once (once per phase for a task with `phase_starts`, see contract.py): the state
    (donated) laid out by `mesh.param_rules`, the batch split over `data` x `fsdp`, the metrics replicated.
    `step(state, item, step_number)`: `item` is a batch, or with `on_device` (the training set held on the
    devices) {"index": dataset indices}, gathered into a batch in the step; `step_number` (the state's step,
    known on the host) picks the phase.

    The inputs arrive placed (the state from `init_state`/`restore`, batches from `parallel.to_global`); the
    step ends by constraining its outputs to the same layout, so the compiled program keeps it.
    With `train.steps_per_call` = k > 1 the compiled function scans over k batches, so the host
    dispatches once per k steps (small models on accelerators are otherwise host-bound); each phase must
    then start at a multiple of k.
    """
    k = experiment.config.train.steps_per_call
    misaligned = [s for s in getattr(experiment.task, "phase_starts", ()) if s % k]
    if misaligned:
        raise ConfigError(f"train.steps_per_call={k} must divide the first step of every training phase (one starts at step {misaligned[0]})")
    on_cpu = experiment.mesh.devices.flat[0].platform == "cpu"
    replicated = parallel.replicated(experiment.mesh)

    def compiled_for(phase: int | None) -> Callable:
        task_step = experiment.task.train_step if phase is None else functools.partial(experiment.task.train_step, phase=phase)
        step_fn = counting(task_step)
        step_fn = wrap_step(step_fn) if wrap_step else step_fn
        step_fn = scan_steps(step_fn, unroll=on_cpu) if k > 1 else step_fn

        def placed_step(state: TrainState, dataset: dict[str, jax.Array] | None, item: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]:
            batch = item if dataset is None else {name: values[item["index"]] for name, values in dataset.items()}
            state, metrics = step_fn(state, batch)
            return experiment.laid_out(state), jax.lax.with_sharding_constraint(metrics, replicated)

        return jax.jit(placed_step, donate_argnums=0)

    programs: dict[int | None, Callable] = {}

    def step(state: TrainState, item: dict[str, jax.Array], step_number: int) -> tuple[TrainState, dict[str, jax.Array]]:
        phase = phase_of(experiment.task, step_number)
        if phase not in programs:
            programs[phase] = compiled_for(phase)
        return programs[phase](state, on_device, item)

    return step


def training_set_on_device(experiment: Experiment) -> dict[str, jax.Array] | None:
    """The training set replicated on every device when it is held in memory and small enough
    (`data.on_device_max_mb`); None otherwise. Each process puts its own identical copy."""
    arrays = data_lib.in_memory_arrays(experiment.train_source, int(experiment.config.data.get("on_device_max_mb", 0) * 2**20))
    return None if arrays is None else jax.device_put(arrays, parallel.replicated(experiment.mesh))


class _StopFlag:
    """Set by SIGTERM (pre-emption, `kill`) or SIGINT (Ctrl-C): the loop saves and stops after the current
    step. A second Ctrl-C, during that save, interrupts at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        logging.warning("%s received: saving a checkpoint and stopping", signal.Signals(signum).name)
        self.received = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def write_pictures(
    experiment: Experiment, state: TrainState, step: int, picture_fn: Callable, batch: Any, writer: MetricWriter
) -> None:
    """The task's pictures as `images/<name>_<step>.png` (the step in the PNG's metadata), a copy as
    `images/<name>.png`, and in TensorBoard."""
    rng = jax.random.PRNGKey(experiment.config.sample.seed)
    pictures = parallel.fetch(picture_fn(state.eval_params, rng, batch))
    if jax.process_index() != 0:
        return
    folder = experiment.workdir / "images"
    captions = getattr(experiment.task, "picture_captions", {})
    for name, (images, columns) in pictures.items():
        path = folder / f"{name}_{step:07d}.png"
        save_grid(path, np.asarray(images), columns, captions=captions.get(name, ()), metadata={"step": step, "name": name}, compress_level=1)
        shutil.copyfile(path, folder / f"{name}.png")
        writer.image(step, name, path)


class _Progress:
    """The loop's bookkeeping between steps: the metric window, its checks and writes, and saving."""

    def __init__(self, experiment: Experiment, stream: data_lib.TrainStream, step: int):
        self.experiment, self.stream, self.step = experiment, stream, step
        cfg = experiment.config.train
        self.writer = MetricWriter(experiment.workdir, cfg.num_steps, step, cfg.progress_bar, resumed_from=step)
        self.history: list[dict[str, jax.Array]] = []
        self.last_saved = experiment.checkpointer.latest_step()
        self.per_call = cfg.steps_per_call
        self.last_means: dict[str, float] = {}

    def crossed(self, every: int) -> bool:
        """Whether the last call's steps (step - k, step] include a multiple of `every`."""
        return self.step // every != (self.step - self.per_call) // every

    def last_good(self) -> str:
        return f"last good checkpoint: step {self.last_saved} in {self.experiment.checkpointer.directory}"

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
            raise NonFiniteLossError(f"training stopped: {key} became {value} at step {bad_step}; {self.last_good()}")
        self.last_means = self.writer.write(self.step, means)
        self.writer.log(f"step {self.step}/{self.experiment.config.train.num_steps}: {format_metrics(self.last_means)}")

    def save(self, state: TrainState) -> None:
        """Save the state after checking it: a non-finite parameter or optimiser value is never saved (the
        loss that would reveal it is computed before the update, so a finite loss does not prove it)."""
        self.flush()
        bad = non_finite_paths(state.replace(frozen=None))
        if bad:
            raise NonFiniteLossError(
                f"training stopped: the state became non-finite by step {self.step} ({len(bad)} leaves, e.g. "
                f"{bad[0]}) and was not saved; {self.last_good()}"
            )
        self.experiment.save(self.step, state, self.stream.position)
        self.last_saved = self.step


def format_metrics(means: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in means.items())


def parameter_counts(state: TrainState) -> str:
    """'model 1,234 (EMA kept)', one entry per trained part, then the frozen parts."""
    def count(tree: Any) -> int:
        return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))

    entries = [f"{name} {count(part.params):,}" + (" (with EMA)" if part.ema_params is not None else "") for name, part in state.parts.items()]
    entries += [f"frozen {name} {count(params):,}" for name, params in (state.frozen or {}).items()]
    return "; ".join(entries)


def train(
    experiment: Experiment, wrap_step: Callable[[StepFn], StepFn] | None = None, on_accepted: Callable[[], None] | None = None
) -> TrainState:
    """Train to `config.train.num_steps`, resuming from the workdir's latest checkpoint.

    `on_accepted` runs once the workdir's checkpoint (if any) has accepted this config (`run.train` writes
    config.json there). `wrap_step` wraps the task's step before it is compiled (tests use
    chex.assert_max_traces). A SIGTERM or SIGINT saves, then raises InterruptedRun.
    """
    cfg = experiment.config.train
    try:
        state, position = experiment.restore_or_init()
    except BaseException:
        experiment.checkpointer.close()
        raise
    if on_accepted is not None:
        on_accepted()
    logging.info("parameters: %s", parameter_counts(state))
    on_device = training_set_on_device(experiment)
    stream = data_lib.TrainStream(
        experiment.train_source, experiment.config.data.batch_size, experiment.config.data.shuffle_seed,
        jax.process_index(), jax.process_count(), position,
        put=lambda batch: parallel.to_global(batch, experiment.mesh, stacked=cfg.steps_per_call > 1),
        group=cfg.steps_per_call, indices_only=on_device is not None,
    )
    train_step = compile_train_step(experiment, wrap_step, on_device)
    picture_fn = jax.jit(experiment.task.pictures)
    picture_batch = experiment.picture_batch()
    progress = _Progress(experiment, stream, int(state.step))
    progress.writer.text("config", "```\n" + json.dumps(experiment.config.to_dict(), indent=2, sort_keys=True) + "\n```", progress.step)
    # A queue of programs with collectives deadlocks XLA's CPU backend when several CPU devices share
    # few cores; there the host waits for the previous step before queueing the next.
    lockstep = experiment.mesh.devices.flat[0].platform == "cpu" and experiment.mesh.size > 1
    first_step, start = progress.step, time.perf_counter()
    try:
        with _StopFlag() as stop:
            while progress.step < cfg.num_steps and stop.received is None:
                state, metrics = train_step(state, next(stream), progress.step)
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
                    write_pictures(experiment, state, progress.step, picture_fn, picture_batch, progress.writer)
            if progress.last_saved != progress.step:
                progress.save(state)
        if progress.step >= cfg.num_steps and not progress.crossed(cfg.sample_every):
            write_pictures(experiment, state, progress.step, picture_fn, picture_batch, progress.writer)
    finally:
        stream.close()
        progress.writer.close()
        experiment.checkpointer.close()
    seconds = time.perf_counter() - start
    logging.info(
        "trained steps %d -> %d in %.1f s; last metrics: %s; checkpoints in %s, metrics in %s, pictures in %s",
        first_step, progress.step, seconds, format_metrics(progress.last_means) or "-", experiment.checkpointer.directory,
        experiment.workdir / "metrics.jsonl", experiment.workdir / "images",
    )
    if stop.received is not None:
        name = signal.Signals(stop.received).name
        raise InterruptedRun(
            f"interrupted by {name} at step {progress.step}: saved checkpoint {experiment.checkpointer.directory}/"
            f"{progress.step}; run the same command again to resume", stop.received,
        )
    return state
