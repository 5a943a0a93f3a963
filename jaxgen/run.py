"""Dispatch: `main(config, workdir, mode)` for the modes train | sample | eval."""
from __future__ import annotations

import json
import logging
import pathlib
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from jaxgen import data, tasks
from jaxgen.train import loop
from jaxgen.train import mesh as mesh_lib
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.images import save_grid
from jaxgen.train.runtime import enable_compilation_cache
from jaxgen.train.state import TrainState

MODES = ("train", "sample", "eval")


def build_experiment(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, devices: Sequence[jax.Device] | None = None
) -> loop.Experiment:
    """Validate the config and assemble its mesh (over `devices`, default all), data, task and checkpoints."""
    tasks.validate(config)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = mesh_lib.make_mesh(devices)
    mesh_lib.check_batch_divisible(config.data.batch_size, mesh)
    mesh_lib.check_batch_divisible(config.data.eval_batch_size, mesh, "data.eval_batch_size")
    train_source = data.open_source(config.data, "train")
    test_source = data.open_source(config.data, "test")
    task = tasks.get_task(config, train_source.spec)
    checkpointer = Checkpointer(workdir, config.train.keep_checkpoints)
    return loop.Experiment(config, workdir, mesh, train_source, test_source, task, checkpointer)


def train(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    devices: Sequence[jax.Device] | None = None,
    wrap_step: Callable[[loop.StepFn], loop.StepFn] | None = None,
) -> TrainState:
    """Train `config` in `workdir` (resuming there); see `loop.train` for `wrap_step`."""
    return loop.train(build_experiment(config, workdir, devices), wrap_step)


def save_json(path: pathlib.Path, payload: dict[str, Any]) -> None:
    if jax.process_index() == 0:
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict[str, Any]:
    """The family's numbers from the latest checkpoint, written to `<workdir>/eval.json` with the protocol."""
    experiment = build_experiment(config, workdir)
    try:
        state = experiment.restore()
    finally:
        experiment.checkpointer.close()
    start = time.perf_counter()
    probe = experiment.test_batches("train") if config.eval.get("linear_probe", False) else None
    metrics = experiment.task.evaluate(state, experiment.test_batches(), probe)
    report = {
        "metrics": metrics,
        "protocol": {
            "dataset": config.data.name,
            "split": "test",
            "num_examples": int(metrics.get("num_examples", 0)),
            "preprocess": config.data.preprocess,
            "params": "ema" if state.ema_params is not None else "raw",
            "step": int(state.step),
            "seed": config.sample.seed,
        },
        "seconds": time.perf_counter() - start,
    }
    save_json(experiment.workdir / "eval.json", report)
    logging.info("eval: %s", json.dumps(metrics, sort_keys=True))
    return report


def sample(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> np.ndarray:
    """`config.sample.num` samples from the latest checkpoint -> samples/samples.{png,npz}."""
    experiment = build_experiment(config, workdir)
    try:
        state = experiment.restore()
    finally:
        experiment.checkpointer.close()
    sample_fn = jax.jit(experiment.task.sample, static_argnums=2)
    images = np.asarray(jax.device_get(sample_fn(state.eval_params, jax.random.PRNGKey(config.sample.seed), config.sample.num)))
    if jax.process_index() == 0:
        folder = experiment.workdir / "samples"
        folder.mkdir(exist_ok=True)
        save_grid(folder / "samples.png", images)
        np.savez_compressed(folder / "samples.npz", images=images, step=int(state.step))
        logging.info("wrote %d samples to %s", len(images), folder)
    return images


def main(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, mode: str = "train") -> Any:
    if mode not in MODES:
        raise ValueError(f"unknown --mode '{mode}'; choose one of: {', '.join(MODES)}")
    tasks.validate(config)
    enable_compilation_cache(config.train.compilation_cache_dir)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    save_json(workdir / "config.json", config.to_dict())
    logging.info("config:\n%s", config)
    if mode == "train":
        state = train(config, workdir)
        if config.train.eval_at_end:
            evaluate(config, workdir)
        return state
    if mode == "sample":
        return sample(config, workdir)
    return evaluate(config, workdir)
