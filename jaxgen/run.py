"""Dispatch: `main(config, workdir, mode)` for the modes train | sample | eval; `load_run(workdir)` for any
saved run. The one place that picks the family and loads other runs' parameters (frozen parts)."""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pathlib
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgen import data, parallel, tasks
from jaxgen.data.folder import image_files, read_images
from jaxgen.errors import ConfigError, RunNotFoundError
from jaxgen.eval import features, sample_quality
from jaxgen.eval.features import FeatureNetwork, params_digest
from jaxgen.eval.probe import probe_accuracy
from jaxgen.train import loop
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.evaluation import evaluate_task
from jaxgen.train.images import save_grid
from jaxgen.train.runtime import enable_compilation_cache
from jaxgen.train.state import StepFn, TrainState

MODES = ("train", "sample", "eval")
SHARED_SECTIONS = ("data", "optim", "train", "sample", "eval")


@dataclasses.dataclass
class LoadedRun:
    """A saved run rebuilt from its own config.json: its config, task, state (EMA and frozen parts in
    `state.eval_params`) and the record that names it (workdir, step, params_sha1)."""

    config: ml_collections.ConfigDict
    task: tasks.Task
    state: TrainState
    record: dict[str, Any]


def parse_source(text: str) -> tuple[pathlib.Path, int | None]:
    """'WORKDIR[:STEP]' -> (workdir, step or None for the latest)."""
    path, _, step = text.rpartition(":")
    if path and step.isdigit():
        return pathlib.Path(path).expanduser(), int(step)
    return pathlib.Path(text).expanduser(), None


def with_shared_defaults(saved: dict[str, Any], current: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A run's saved config.json completed with the shared keys it lacks, taken from `current`, so that a
    run made before a shared key existed still loads; every key it has keeps its saved value."""
    merged = copy.deepcopy(saved)
    merged.setdefault("init_from", {})  # another run's frozen parts are its own, never the caller's
    for section in SHARED_SECTIONS:
        for key, value in current.get(section, {}).items():
            if not isinstance(value, ml_collections.ConfigDict):
                merged.setdefault(section, {}).setdefault(key, value)
    return ml_collections.ConfigDict(merged)


def load_run(
    workdir: str | pathlib.Path, step: int | None = None, defaults: ml_collections.ConfigDict | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> LoadedRun:
    """The run saved in `workdir` at `step` (default: its latest checkpoint), rebuilt from its own config.json
    (completed by `defaults`' shared keys where it lacks them); nothing in `workdir` is changed."""
    workdir = pathlib.Path(workdir).expanduser()
    config_path = workdir / "config.json"
    if not config_path.is_file():
        raise RunNotFoundError(f"{workdir} holds no run (no config.json): train one there first")
    saved = json.loads(config_path.read_text())
    config = with_shared_defaults(saved, defaults) if defaults is not None else ml_collections.ConfigDict(saved)
    experiment = build_experiment(config, workdir, devices, read_only=True)
    try:
        state = experiment.restore(step)
    finally:
        experiment.checkpointer.close()
    record = {"workdir": str(workdir.absolute()), "step": int(state.step), "params_sha1": params_digest(state.eval_params)}
    return LoadedRun(config, experiment.task, state, record)


def load_frozen_parts(
    config: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None
) -> tuple[dict[str, loop.FrozenPart], dict[str, tasks.Task]]:
    """The runs named by `config.init_from` (empty entries skipped): their parameters and their tasks."""
    frozen, frozen_tasks = {}, {}
    for name, source in sorted(config.get("init_from", {}).items()):
        if not source:
            continue
        workdir, step = parse_source(source)
        try:
            loaded = load_run(workdir, step, config, devices)
        except RunNotFoundError as e:
            raise RunNotFoundError(f"init_from.{name}: {e}") from e
        frozen[name] = loop.FrozenPart(loaded.state.eval_params, loaded.record)
        frozen_tasks[name] = loaded.task
        logging.info("frozen part %s: %s", name, json.dumps(loaded.record))
    return frozen, frozen_tasks


def build_experiment(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, devices: Sequence[jax.Device] | None = None,
    read_only: bool = False,
) -> loop.Experiment:
    """Validate the config and assemble its mesh (over `devices`, default all), data, frozen parts, task
    and checkpoints; `read_only` opens an existing run without writing to it."""
    tasks.validate(config)
    workdir = pathlib.Path(workdir)
    if not read_only:
        workdir.mkdir(parents=True, exist_ok=True)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_divisible(config.data.batch_size, mesh)
    parallel.check_batch_divisible(config.data.eval_batch_size, mesh, "data.eval_batch_size")
    train_source = data.open_source(config.data, "train")
    test_source = data.open_source(config.data, "test")
    frozen, frozen_tasks = load_frozen_parts(config, devices)
    task = tasks.get_task(config, train_source.spec, frozen_tasks)
    if hasattr(task, "frozen_weights"):  # fixed weights from files (contract.WithFrozenWeights)
        frozen.update({name: loop.FrozenPart(params, record) for name, (params, record) in task.frozen_weights().items()})
    checkpointer = Checkpointer(workdir, config.train.keep_checkpoints, read_only=read_only)
    return loop.Experiment(config, workdir, mesh, train_source, test_source, task, checkpointer, frozen)


def train(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    devices: Sequence[jax.Device] | None = None,
    wrap_step: Callable[[StepFn], StepFn] | None = None,
) -> TrainState:
    """Train `config` in `workdir` (resuming there; the config is kept as config.json); see `loop.train`
    for `wrap_step`."""
    experiment = build_experiment(config, workdir, devices)
    save_json(experiment.workdir / "config.json", config.to_dict())
    return loop.train(experiment, wrap_step)


def save_json(path: pathlib.Path, payload: dict[str, Any]) -> None:
    if jax.process_index() == 0:
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def restored(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> tuple[loop.Experiment, TrainState]:
    experiment = build_experiment(config, workdir)
    try:
        return experiment, experiment.restore()
    finally:
        experiment.checkpointer.close()


def evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict[str, Any]:
    """The family's numbers from the latest checkpoint, written to `<workdir>/eval.json` with the protocol."""
    experiment, state = restored(config, workdir)
    start = time.perf_counter()
    task, params = experiment.task, state.eval_params
    metrics = evaluate_task(task, params, experiment.test_batches(), config.sample.seed)
    if config.eval.get("linear_probe", False) and hasattr(task, "representation") and experiment.train_source.spec.num_classes:
        metrics["linear_probe_accuracy"] = probe_accuracy(
            task.representation, params, experiment.test_batches("train"), experiment.test_batches(),
            experiment.train_source.spec.num_classes, config.sample.seed,
        )
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
            "params": "ema" if state.uses_ema else "raw",
            "step": int(state.step),
            "seed": config.sample.seed,
            "frozen_parts": experiment.frozen_records(),
            "sample_quality": quality_protocol,
        },
        "seconds": time.perf_counter() - start,
    }
    save_json(experiment.workdir / "eval.json", report)
    logging.info("eval: %s", json.dumps(metrics, sort_keys=True))
    return report


def load_classifier(workdir: pathlib.Path, current: ml_collections.ConfigDict) -> FeatureNetwork:
    """The trained classifier in `workdir` as a feature network; it must know `current`'s dataset."""
    data_config = current.data
    if not (workdir / "config.json").is_file():
        raise RunNotFoundError(
            f"eval.classifier_workdir={workdir} holds no trained classifier (no config.json): train one with "
            f"`python launch.py --config configs/classifier.py:mnist5k,data.name={data_config.name},"
            f"data.image_size={data_config.image_size} --workdir {workdir}`"
        )
    saved = json.loads((workdir / "config.json").read_text())
    if saved.get("task") != "classifier":
        raise ConfigError(f"eval.classifier_workdir={workdir} holds a '{saved.get('task')}' run, not a classifier")
    name, size = saved["data"]["name"], saved["data"].get("image_size", 0)
    if (name, size) != (data_config.name, data_config.image_size):
        raise ConfigError(
            f"the classifier in {workdir} was trained on {name} (image_size {size}); "
            f"the samples are of {data_config.name} (image_size {data_config.image_size})"
        )
    loaded = load_run(workdir, defaults=current)
    return loaded.task.feature_network(loaded.state.eval_params, loaded.record)


def feature_network(config: ml_collections.ConfigDict) -> FeatureNetwork:
    e = config.eval
    if e.feature_network == "inception":
        return features.inception_network(e.inception_weights, pathlib.Path(e.cache_dir).expanduser())
    return load_classifier(pathlib.Path(e.classifier_workdir).expanduser(), config)


def held_out_conditions(experiment: loop.Experiment, batch_size: int) -> Iterator[dict[str, jax.Array]]:
    """The task's required conditions from the test split, batch after batch, cycling over the split."""
    while True:
        for batch in experiment.test_batches("test", 0, batch_size=batch_size):
            yield {k: batch[k] for k in experiment.task.conditions}


def evaluate_samples(experiment: loop.Experiment, state: TrainState) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample-quality numbers of the state's (EMA) parameters and the protocol that produced them."""
    config = experiment.config
    e = config.eval

    def real_batches(batch_size: int) -> sample_quality.ImageBatches:
        for real in experiment.test_batches(e.reference_split, e.num_reference, spread=True, batch_size=batch_size):
            yield real["image"], np.asarray(parallel.fetch(real["mask"]))

    conditions = (lambda b: held_out_conditions(experiment, b)) if experiment.task.conditions else None
    return sample_quality.evaluate_samples(
        config, feature_network(config), experiment.mesh, experiment.task.sample, state.eval_params, real_batches, conditions
    )


def sample_conditions(config: ml_collections.ConfigDict, experiment: loop.Experiment) -> dict[str, jax.Array]:
    """The conditions `--mode sample` passes: `sample.labels` as `label`, `sample.input_dir`'s images as the
    family's image condition; a condition the family needs and the config does not give is an error."""
    s, task, spec = config.sample, experiment.task, experiment.train_source.spec
    cond: dict[str, jax.Array] = {}
    if s.get("labels", ()):
        if not spec.num_classes:
            raise ConfigError(f"sample.labels needs a dataset with classes; data.name='{spec.name}' has none")
        labels = np.asarray(s.labels, np.int32)
        if labels.min() < 0 or labels.max() >= spec.num_classes:
            raise ConfigError(f"sample.labels must lie in [0, {spec.num_classes}), got {tuple(s.labels)}")
        cond["label"] = jnp.asarray(labels)
    image_conditions = [k for k in task.conditions if k != "label"]
    if s.get("input_dir", ""):
        if not image_conditions:
            raise ConfigError(f"sample.input_dir gives input images, and the {config.task} family samples from none")
        shape = spec.shape(image_conditions[0])
        folder = pathlib.Path(s.input_dir).expanduser()
        if not folder.is_dir():
            raise RunNotFoundError(f"sample.input_dir={folder} is not a folder")
        images = read_images(image_files(folder), shape[0])
        if images.shape[-1] != shape[-1]:
            raise ConfigError(f"the images in sample.input_dir have {images.shape[-1]} channels; the model reads {shape[-1]}")
        cond[image_conditions[0]] = jnp.asarray(images)
    missing = [k for k in task.conditions if k not in cond]
    if missing:
        raise ConfigError(f"the {config.task} family samples from {', '.join(missing)}: set sample.input_dir (or sample.labels)")
    return cond


def sample(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> np.ndarray:
    """Samples from the latest checkpoint -> samples/samples.{png,npz}: `sample.num` of them, or one per
    given label or input image."""
    experiment, state = restored(config, workdir)
    cond = sample_conditions(config, experiment)
    num = len(next(iter(cond.values()))) if cond else config.sample.num
    sample_fn = jax.jit(experiment.task.sample, static_argnums=2)
    images = np.asarray(jax.device_get(sample_fn(state.eval_params, jax.random.PRNGKey(config.sample.seed), num, cond or None)))
    if jax.process_index() == 0:
        folder = experiment.workdir / "samples"
        folder.mkdir(exist_ok=True)
        save_grid(folder / "samples.png", images)
        np.savez_compressed(folder / "samples.npz", images=images, step=int(state.step), **{f"cond_{k}": np.asarray(v) for k, v in cond.items()})
        logging.info("wrote %d samples to %s", len(images), folder)
    return images


def main(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, mode: str = "train") -> Any:
    if mode not in MODES:
        raise ConfigError(f"unknown --mode '{mode}'; choose one of: {', '.join(MODES)}")
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
