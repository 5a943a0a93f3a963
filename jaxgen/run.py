"""Dispatch: `main(config, workdir, mode)` for the modes train | sample | eval; `load_run(workdir)` for any
saved run. The one place that picks the family and loads other runs' parameters (frozen parts)."""
from __future__ import annotations

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
import tqdm
from PIL import Image

from jaxgen import data, parallel, tasks
from jaxgen.data.preprocess import to_uint8
from jaxgen.data.sample_inputs import given_conditions
from jaxgen.errors import ConfigError, RunNotFoundError
from jaxgen.eval import condition_agreement, features, sample_quality
from jaxgen.eval.features import FeatureNetwork, params_digest
from jaxgen.eval.probe import probe_accuracy
from jaxgen.run_config import read_saved, reload_config
from jaxgen.train import loop
from jaxgen.train.checkpoint import Checkpointer, check_writable
from jaxgen.train.evaluation import evaluate_task
from jaxgen.train.images import save_grid
from jaxgen.train.metrics import MetricWriter
from jaxgen.train.runtime import enable_compilation_cache
from jaxgen.train.sharding import ShardingRules
from jaxgen.train.state import StepFn, TrainState
from jaxgen.validation import parse_source

MODES = ("train", "sample", "eval")


@dataclasses.dataclass
class LoadedRun:
    """A saved run rebuilt from its own config.json: its config, task, state (EMA and frozen parts in
    `state.eval_params`) and the record that names it (workdir, step, params_sha1)."""

    config: ml_collections.ConfigDict
    task: tasks.Task
    state: TrainState
    record: dict[str, Any]


def load_run(
    workdir: str | pathlib.Path, step: int | None = None, defaults: ml_collections.ConfigDict | None = None,
    devices: Sequence[jax.Device] | None = None, overrides: Sequence[str] = (),
) -> LoadedRun:
    """The run saved in `workdir` at `step` (default: its latest checkpoint), rebuilt from its own config.json
    (completed by `defaults`' shared keys where it lacks them; `overrides` are `key=value` strings of the keys
    a reload may change, see `run_config.RELOAD_KEYS`); nothing in `workdir` is changed."""
    workdir = pathlib.Path(workdir).expanduser()
    config = reload_config(workdir, overrides=overrides, defaults=defaults)
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
    """Validate the config and assemble its mesh (over `devices`, default all; the first mesh.devices of them
    when that is set), data, frozen parts, task and checkpoints; `read_only` opens an existing run without
    writing to it."""
    tasks.validate(config)
    workdir = pathlib.Path(workdir)
    if not read_only:
        check_writable(workdir)
    mesh_keys = config.get("mesh", {})  # a run saved before the keys existed is replicated
    devices = parallel.first_devices(devices, mesh_keys.get("devices", 0))
    mesh = parallel.make_mesh(devices, mesh_keys.get("fsdp", 1), mesh_keys.get("tensor", 1))
    parallel.check_batch_divisible(config.data.batch_size, mesh)
    parallel.check_batch_divisible(config.data.eval_batch_size, mesh, "data.eval_batch_size")
    train_source = data.open_source(config.data, "train")
    test_source = data.open_source(config.data, "test")
    frozen, frozen_tasks = load_frozen_parts(config, devices)
    task = tasks.get_task(config, train_source.spec, frozen_tasks)
    if hasattr(task, "frozen_weights"):  # fixed weights from files (contract.WithFrozenWeights)
        frozen.update({name: loop.FrozenPart(params, record) for name, (params, record) in task.frozen_weights().items()})
    checkpointer = Checkpointer(workdir, config.train.keep_checkpoints, read_only=read_only)
    return loop.Experiment(config, workdir, mesh, train_source, test_source, task, checkpointer, frozen, ShardingRules.from_config(config))


def train(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    devices: Sequence[jax.Device] | None = None,
    wrap_step: Callable[[StepFn], StepFn] | None = None,
) -> TrainState:
    """Train `config` in `workdir`, resuming there; the config is kept as config.json once the workdir's
    checkpoint (if any) has accepted it, so a rejected config never replaces the run's own. See
    `loop.train` for `wrap_step`."""
    experiment = build_experiment(config, workdir, devices)
    return loop.train(experiment, wrap_step, on_accepted=lambda: save_json(experiment.workdir / "config.json", config.to_dict()))


def initialise(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, devices: Sequence[jax.Device] | None = None
) -> loop.Experiment:
    """Step 0 of `config` in `workdir`, untrained, with its config.json: a run that `--mode sample|eval`,
    `load_run` and other runs' `init_from` read without training it (tests, and benchmarks whose figures do not
    depend on the weights). Returns the experiment, its checkpoints written and closed."""
    experiment = build_experiment(config, workdir, devices)
    experiment.save(0, experiment.init_state(), 0)
    experiment.checkpointer.close()
    save_json(experiment.workdir / "config.json", config.to_dict())
    return experiment


def save_json(path: pathlib.Path, payload: dict[str, Any]) -> None:
    if jax.process_index() == 0:
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def restored(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, devices: Sequence[jax.Device] | None = None
) -> tuple[loop.Experiment, TrainState]:
    experiment = build_experiment(config, workdir, devices)
    try:
        return experiment, experiment.restore()
    finally:
        experiment.checkpointer.close()


def evaluate(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, devices: Sequence[jax.Device] | None = None
) -> dict[str, Any]:
    """The family's numbers from the latest checkpoint (on `devices`, default all), written to
    `<workdir>/eval.json` with the protocol."""
    experiment, state = restored(config, workdir, devices)
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
    if config.eval.get("judge_workdir", ""):
        metrics.update(evaluate_agreement(experiment, state))
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
    writer = MetricWriter(experiment.workdir, 0, int(state.step), progress_bar=False)
    writer.write(int(state.step), {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}, prefix="eval")
    writer.close()
    logging.info("eval at step %d: %s; written to %s", int(state.step), json.dumps(metrics, sort_keys=True), experiment.workdir / "eval.json")
    return report


def load_classifier(workdir: pathlib.Path, current: ml_collections.ConfigDict, dataset: str) -> FeatureNetwork:
    """The trained classifier in `workdir` as a feature network; it must know `dataset`, the samples' dataset
    (at `current`'s image size)."""
    data_config = current.data
    if not (workdir / "config.json").is_file():
        raise RunNotFoundError(
            f"eval.classifier_workdir={workdir} holds no trained classifier (no config.json): train one with "
            f"`python launch.py --config configs/classifier.py:mnist5k,data.name={dataset},"
            f"data.image_size={data_config.image_size} --workdir {workdir}`"
        )
    saved = read_saved(workdir)
    if saved.get("task") != "classifier":
        raise ConfigError(f"eval.classifier_workdir={workdir} holds a '{saved.get('task')}' run, not a classifier")
    name, size = saved["data"]["name"], saved["data"].get("image_size", 0)
    if (name, size) != (dataset, data_config.image_size):
        raise ConfigError(
            f"the classifier in {workdir} was trained on {name} (image_size {size}); "
            f"the samples are of {dataset} (image_size {data_config.image_size})"
        )
    loaded = load_run(workdir, defaults=current)
    return loaded.task.feature_network(loaded.state.eval_params, loaded.record)


def feature_network(config: ml_collections.ConfigDict, dataset: str = "") -> FeatureNetwork:
    """Inception, or the classifier of eval.classifier_workdir, which must know `dataset` (the samples';
    default data.name)."""
    e = config.eval
    if e.feature_network == "inception":
        return features.inception_network(e.inception_weights, pathlib.Path(e.cache_dir).expanduser())
    return load_classifier(pathlib.Path(e.classifier_workdir).expanduser(), config, dataset or config.data.name)


def reference_feature(task: tasks.Task) -> str:
    """The feature of the real images a task's samples are compared with: `image`, unless the task names
    another (CycleGAN translating into its second domain compares with `second_image`)."""
    return getattr(task, "reference_feature", "image")


def held_out_conditions(experiment: loop.Experiment, batch_size: int) -> Iterator[dict[str, jax.Array]]:
    """The task's required conditions from the test split, batch after batch, cycling over the split; with
    the examples' labels as SOURCE_LABEL when the data has labels and the sampler does not take them."""
    keep_label = experiment.task.num_classes == 0 and experiment.test_source.spec.num_classes > 0
    label = getattr(experiment.task, "source_label_feature", "label")
    while True:
        for batch in experiment.test_batches("test", 0, batch_size=batch_size):
            cond = {k: batch[k] for k in experiment.task.conditions}
            if keep_label and label in batch:
                cond[sample_quality.SOURCE_LABEL] = batch[label]
            yield cond


def evaluate_samples(experiment: loop.Experiment, state: TrainState) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample-quality numbers of the state's (EMA) parameters and the protocol that produced them."""
    config = experiment.config
    e = config.eval

    reference = reference_feature(experiment.task)

    def real_batches(batch_size: int) -> sample_quality.ImageBatches:
        for real in experiment.test_batches(e.reference_split, e.num_reference, spread=True, batch_size=batch_size):
            yield real[reference], np.asarray(parallel.fetch(real["mask"]))

    conditions = (lambda b: held_out_conditions(experiment, b)) if experiment.task.conditions else None
    dataset, described = config.data.name, config.data.name
    if reference.startswith(data.combinators.UnpairedSource.PREFIX):  # the second source's rows met beside the primary's
        dataset = config.data.second
        described = f"{dataset} ({reference} beside {config.data.name}, data.shuffle_seed {config.data.shuffle_seed})"
    return sample_quality.evaluate_samples(
        config, feature_network(config, dataset), experiment.mesh, experiment.task.sample, state.eval_params, real_batches, conditions,
        experiment.task.num_classes, described,
    )


def load_judge(workdir: pathlib.Path, current: ml_collections.ConfigDict) -> tuple[condition_agreement.Classify, int]:
    """The classifier in `workdir` as a digit reader of crops, and its input side: it must be trained on the
    digits the current dataset's scenes are made of."""
    scenes = current.data.name
    if scenes not in data.PROCEDURAL or scenes.startswith("bouncing_"):
        raise ConfigError(f"eval.judge_workdir judges captioned and layout digit scenes; data.name='{scenes}' is not one")
    digits = data.PROCEDURAL[scenes][1]
    saved = read_saved(workdir) if (workdir / "config.json").is_file() else {}
    if saved.get("task") != "classifier" or saved["data"]["name"] != digits:
        raise ConfigError(
            f"eval.judge_workdir={workdir} must hold a classifier of {digits}, the digits of {scenes}: train one with "
            f"`python launch.py --config configs/classifier.py:mnist5k,data.name={digits} --workdir {workdir}`"
        )
    loaded = load_run(workdir, defaults=current)
    network = loaded.task.feature_network(loaded.state.eval_params, loaded.record)
    apply = jax.jit(lambda p, x: jnp.argmax(network.apply_fn(p, x.astype(jnp.float32) / 255.0)[1], axis=-1))
    side = loaded.task.spec.image_shape[0]
    return (lambda crops: np.asarray(apply(network.params, jnp.asarray(crops)))), side


def evaluate_agreement(experiment: loop.Experiment, state: TrainState) -> dict[str, float]:
    """Caption or layout agreement (eval/condition_agreement.py) of one sample per held-out condition of the
    test split (eval.num_examples of them), read by the classifier in eval.judge_workdir."""
    config, task = experiment.config, experiment.task
    kind = "caption" if "caption" in task.conditions else "layout" if "boxes" in task.conditions else ""
    if not kind:
        raise ConfigError(f"eval.judge_workdir judges captions or layouts; the {config.task} family samples from neither")
    classify, side = load_judge(pathlib.Path(config.eval.judge_workdir).expanduser(), config)
    generate = jax.jit(task.sample, static_argnums=2)
    rng = jax.random.PRNGKey(config.sample.seed)
    images, given = [], []
    for i, batch in enumerate(experiment.test_batches()):
        keep = np.asarray(parallel.fetch(batch["mask"])) > 0
        drawn = generate(state.eval_params, jax.random.fold_in(rng, i), len(keep), {k: batch[k] for k in task.conditions})
        images.append(np.asarray(parallel.fetch(drawn))[keep])
        given.append({k: np.asarray(parallel.fetch(v))[keep] for k, v in batch.items() if k in ("label", "attributes", "boxes", "box_labels")})
    images = np.concatenate(images)
    cond = {k: np.concatenate([g[k] for g in given]) for k in given[0]}
    if kind == "caption":
        return condition_agreement.caption_agreement(images, cond["attributes"], cond["label"], classify, side)
    return condition_agreement.layout_agreement(images, cond["boxes"], cond["box_labels"], classify, side)


def sample_conditions(config: ml_collections.ConfigDict, experiment: loop.Experiment) -> dict[str, np.ndarray]:
    """The conditions `--mode sample` passes, from the config's sample.* keys (labels, prompts, layouts,
    input images and masks: `data/sample_inputs.py`), the family's needed and optional ones; a condition the
    family needs and the config does not give is one error naming the key that gives it."""
    task = experiment.task
    return given_conditions(config.sample, experiment.train_source.spec, tuple(task.conditions), config.task,
                            tuple(getattr(task, "optional_conditions", ())))


def sample_batch_size(config: ml_collections.ConfigDict, num: int, mesh_size: int) -> int:
    """Images per compiled sampling call: `sample.batch_size` (0: min(num, data.eval_batch_size)), rounded up
    to a multiple of the mesh so every device generates its share."""
    batch = config.sample.get("batch_size", 0) or min(num, config.data.eval_batch_size)
    return -(-batch // mesh_size) * mesh_size


def condition_batches(cond: dict[str, np.ndarray], batch: int) -> Iterator[dict[str, jax.Array]]:
    """The given conditions in batches of `batch`, the last one padded by repeating its final row."""
    num = len(next(iter(cond.values())))
    for start in range(0, num, batch):
        rows = np.minimum(np.arange(start, start + batch), num - 1)
        yield {k: jnp.asarray(np.asarray(v)[rows]) for k, v in cond.items()}


def fresh_folder(parent: pathlib.Path, name: str) -> pathlib.Path:
    """`parent/name`, or `parent/name-2`, `-3`, ... when it already holds files: a later call never writes
    over an earlier one's samples (other conditions or another number of them under the same step and seed)."""
    folder, copy = parent / name, 1
    while folder.is_dir() and any(folder.iterdir()):
        copy += 1
        folder = parent / f"{name}-{copy}"
    return folder


def sample(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> np.ndarray:
    """Samples from the latest checkpoint, generated in batches split over the mesh: `sample.num` of them,
    or one per given label or input image. Written to `samples/<step>_<seed>/` (`<step>_<seed>-2/`, ... when
    that one exists): one PNG per image (`000000.png`, ... -- what clean-fid, torch-fidelity and pytorch-fid
    read), `samples.npz` (all images as uint8, the step and the conditions) and `grid.png`. Returns the
    images, float32 in [0, 1]."""
    experiment, state = restored(config, workdir)
    cond = sample_conditions(config, experiment)
    num = len(next(iter(cond.values()))) if cond else config.sample.num
    batch = sample_batch_size(config, num, experiment.mesh.size)
    step, seed = int(state.step), config.sample.seed
    folder = fresh_folder(experiment.workdir / "samples", f"{step}_{seed}")
    writing = jax.process_index() == 0
    if writing:
        folder.mkdir(parents=True, exist_ok=True)
    generated = sample_quality.sample_batches(
        experiment.task.sample, state.eval_params, jax.random.PRNGKey(seed), num, batch, experiment.mesh,
        condition_batches(cond, batch) if cond else None,
    )
    images, pixels = [], []
    with tqdm.tqdm(total=num, unit="image", desc="sample", disable=not (writing and config.train.progress_bar)) as bar:
        for index, (images_batch, mask) in enumerate(generated):
            kept = np.asarray(parallel.fetch(images_batch))[mask > 0]
            images.append(kept)
            pixels.append(to_uint8(kept))
            if writing:
                for offset, image in enumerate(pixels[-1]):
                    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{index * batch + offset:06d}.png")
            bar.update(len(kept))
    images = np.concatenate(images)
    if writing:
        save_grid(folder / "grid.png", images[: config.train.num_grid_samples], metadata={"step": step, "seed": seed})
        np.savez_compressed(folder / "samples.npz", images=np.concatenate(pixels), step=step, seed=seed, **{f"cond_{k}": v for k, v in cond.items()})
        logging.info("wrote %d samples (step %d, seed %d) to %s", num, step, seed, folder)
    return images


def main(
    config: ml_collections.ConfigDict | None, workdir: str | pathlib.Path, mode: str = "train", overrides: Sequence[str] = (),
    defaults: ml_collections.ConfigDict | None = None,
) -> Any:
    """Run `mode` in `workdir`. Training needs `config`; sampling and evaluating rebuild the run from its
    config.json, where `config` (optional) and the `key=value` `overrides` may change only the reload keys
    (`run_config.RELOAD_KEYS`); `defaults` fills shared keys a run predates."""
    if mode not in MODES:
        raise ConfigError(f"unknown --mode '{mode}'; choose one of: {', '.join(MODES)}")
    workdir = pathlib.Path(workdir)
    if mode == "train":
        if config is None:
            raise ConfigError("--mode train needs --config (e.g. --config configs/vae.py:demo)")
        if overrides:
            raise ConfigError("overrides in training go in --config (configs/x.py:preset,key=value or --config.key=value)")
    else:
        config = reload_config(workdir, config, overrides, defaults)
    tasks.validate(config)
    enable_compilation_cache(config.train.compilation_cache_dir)
    logging.info("%s %s (preset %s) in %s; the whole config: %s", mode, config.task, config.preset or "-", workdir, workdir / "config.json")
    if mode == "train":
        state = train(config, workdir)
        if config.train.eval_at_end:
            evaluate(config, workdir)
        return state
    if mode == "sample":
        return sample(config, workdir)
    return evaluate(config, workdir)
