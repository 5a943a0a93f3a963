"""Dispatch: `main(config, workdir, mode)` for the modes train | sample | eval."""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pathlib
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from jaxgen import data, tasks
from jaxgen.eval import features, sample_quality
from jaxgen.eval.features import FeatureNetwork
from jaxgen.train import loop
from jaxgen.train import mesh as mesh_lib
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.images import save_grid
from jaxgen.train.runtime import enable_compilation_cache
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError

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
    """Train `config` in `workdir` (resuming there; the config is kept as config.json); see `loop.train`
    for `wrap_step`."""
    experiment = build_experiment(config, workdir, devices)
    save_json(experiment.workdir / "config.json", config.to_dict())
    return loop.train(experiment, wrap_step)


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
    quality_protocol = None
    if config.eval.feature_network != "none":
        quality, quality_protocol = evaluate_samples(experiment, state)
        metrics.update(quality)
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
            "sample_quality": quality_protocol,
        },
        "seconds": time.perf_counter() - start,
    }
    save_json(experiment.workdir / "eval.json", report)
    logging.info("eval: %s", json.dumps(metrics, sort_keys=True))
    return report


def with_shared_defaults(saved: dict[str, Any], current: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A run's saved config.json completed with the shared keys it lacks, taken from `current`, so that a
    run made before a shared key existed still loads; every key it has keeps its saved value."""
    merged = copy.deepcopy(saved)
    for section in ("data", "optim", "train", "sample", "eval"):
        for key, value in current[section].items():
            merged.setdefault(section, {}).setdefault(key, value)
    return ml_collections.ConfigDict(merged)


def load_classifier(workdir: pathlib.Path, current: ml_collections.ConfigDict) -> FeatureNetwork:
    """The trained classifier in `workdir` as a feature network; it must know `current`'s dataset."""
    data_config = current.data
    config_path = workdir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"eval.classifier_workdir={workdir} holds no trained classifier (no config.json): train one with "
            f"`python launch.py --config configs/classifier.py:mnist5k,data.name={data_config.name},"
            f"data.image_size={data_config.image_size} --workdir {workdir}`"
        )
    config = with_shared_defaults(json.loads(config_path.read_text()), current)
    if config.task != "classifier":
        raise ConfigError(f"eval.classifier_workdir={workdir} holds a '{config.task}' run, not a classifier")
    if (config.data.name, config.data.image_size) != (data_config.name, data_config.image_size):
        raise ConfigError(
            f"the classifier in {workdir} was trained on {config.data.name} (image_size {config.data.image_size}); "
            f"the samples are of {data_config.name} (image_size {data_config.image_size})"
        )
    experiment = build_experiment(config, workdir)
    try:
        state = experiment.restore()
    finally:
        experiment.checkpointer.close()
    return experiment.task.feature_network(state, str(workdir))


def feature_network(config: ml_collections.ConfigDict) -> FeatureNetwork:
    e = config.eval
    if e.feature_network == "inception":
        return features.inception_network(e.inception_weights, pathlib.Path(e.cache_dir).expanduser())
    return load_classifier(pathlib.Path(e.classifier_workdir).expanduser(), config)


def evaluate_samples(experiment: loop.Experiment, state: TrainState) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample-quality numbers of the state's (EMA) parameters and the protocol that produced them."""
    config = experiment.config
    e = config.eval
    start = time.perf_counter()
    batch = e.feature_batch_size or config.data.eval_batch_size
    mesh_lib.check_batch_divisible(batch, experiment.mesh, "eval.feature_batch_size")
    network = feature_network(config)
    protocol = sample_quality.Protocol(
        e.num_samples, e.reference_split, e.num_reference, e.kid_subsets, e.kid_subset_size, e.pr_neighbours,
        e.is_splits, config.sample.seed, batch,
    )
    key = {
        "dataset": config.data.name,
        "split": e.reference_split,
        "num_reference": e.num_reference,
        "image_size": config.data.image_size,
        "static_binarize": config.data.preprocess == "binarize_static",
    }

    def real_batches() -> sample_quality.ImageBatches:
        for real in experiment.test_batches(e.reference_split, e.num_reference, spread=True, batch_size=batch):
            yield real["image"], np.asarray(mesh_lib.fetch(real["mask"]))

    cache = sample_quality.ReferenceCache(pathlib.Path(e.cache_dir).expanduser())
    real, _ = sample_quality.reference_features(network, experiment.mesh, real_batches, key, cache)
    fake_batches = sample_quality.sample_batches(
        experiment.task.sample, state.eval_params, jax.random.PRNGKey(config.sample.seed), e.num_samples, batch,
        experiment.mesh,
    )
    fake, fake_logits = sample_quality.featurize(network, experiment.mesh, fake_batches)
    metrics = sample_quality.compare(network, real, fake, fake_logits, protocol)
    record = {
        **dataclasses.asdict(protocol),
        "num_reference": int(len(real)),
        "reference_dataset": config.data.name,
        "feature_network": network.identity,
        "seconds": time.perf_counter() - start,
    }
    logging.info("sample quality: %s", json.dumps({k: v for k, v in metrics.items() if k != "class_histogram"}))
    return metrics, record


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
    logging.info("config:\n%s", config)
    if mode == "train":
        state = train(config, workdir)
        if config.train.eval_at_end:
            evaluate(config, workdir)
        return state
    if mode == "sample":
        return sample(config, workdir)
    return evaluate(config, workdir)
