"""Config checks shared by every family, and typed `key=value` overrides: each failure is one ConfigError line
naming the key."""
from __future__ import annotations

import ast
import pathlib
from typing import Any, Iterable

import ml_collections

from jaxgen.errors import ConfigError

__all__ = ["ConfigError", "apply_override", "check", "check_choice", "check_positive", "get_key", "parse_source", "validate_common"]


def get_key(config: ml_collections.ConfigDict, key: str) -> Any:
    node = config
    for part in key.split("."):
        if part not in node:
            raise ConfigError(f"config is missing the key '{key}'")
        node = node[part]
    return node


def check_choice(config: ml_collections.ConfigDict, key: str, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    value = get_key(config, key)
    if value not in choices:
        raise ConfigError(f"config key '{key}' is '{value}'; choose one of: {', '.join(choices)}")


def check_positive(config: ml_collections.ConfigDict, key: str, allow_zero: bool = False) -> None:
    value = get_key(config, key)
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key '{key}' must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_scale11(config: ml_collections.ConfigDict, why: str) -> None:
    """data.preprocess must be 'scale11' (data in [-1, 1]); `why` says what needs it."""
    check(config.data.preprocess == "scale11", f"{why}: set data.preprocess='scale11' (got '{config.data.preprocess}')")


def _parse_value(key: str, text: str, current: object) -> object:
    """Parse `text` as the type of the value it replaces."""
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"config key '{key}' expects true/false, got '{text}'")
    if isinstance(current, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(f"config key '{key}' expects {type(current).__name__}, got '{text}'") from None
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if isinstance(current, tuple) and isinstance(value, (int, float)):
        value = (value,)
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    if type(value) is not type(current):
        raise ConfigError(f"config key '{key}' expects {type(current).__name__}, got '{text}'")
    return value


def apply_override(config: ml_collections.ConfigDict, key: str, text: str) -> None:
    """Set dotted `key` from `text`; unknown keys and wrong types raise ConfigError."""
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise ConfigError(f"unknown config key '{key}'")
        node = node[part]
    if leaf not in node or isinstance(node[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"unknown config key '{key}'")
    current = node[leaf]
    if current is None:  # an unset typed placeholder (optim.<part>.*): parse as its type
        current = node.get_ref(leaf).get_type()()
    with node.unlocked():
        node[leaf] = _parse_value(key, text, current)


def _validate_optim(settings: ml_collections.ConfigDict, prefix: str, num_steps: int) -> None:
    """One part's optimiser settings (`optim` merged with `optim.<part>`), errors naming `prefix`.<key>."""
    from jaxgen.train.optim import OPTIMIZERS, SCHEDULES

    for key, choices in (("name", OPTIMIZERS), ("schedule", SCHEDULES)):
        if settings[key] not in choices:
            raise ConfigError(f"config key '{prefix}.{key}' is '{settings[key]}'; choose one of: {', '.join(choices)}")
    check(0.0 < settings.decay_rate <= 1.0, f"config key '{prefix}.decay_rate' must be in (0, 1], got {settings.decay_rate}")
    check(settings.lr > 0, f"config key '{prefix}.lr' must be > 0, got {settings.lr}")
    if settings.schedule == "step":
        check(0.0 < settings.decay_at < 1.0, f"config key '{prefix}.decay_at' must be in (0, 1), got {settings.decay_at}")
    for key in ("warmup_steps", "grad_clip_norm", "weight_decay"):
        check(settings[key] >= 0, f"config key '{prefix}.{key}' must be >= 0, got {settings[key]}")
    check(0.0 <= settings.ema_decay < 1.0, f"config key '{prefix}.ema_decay' must be in [0, 1), got {settings.ema_decay}")
    check(
        settings.warmup_steps < num_steps or settings.warmup_steps == 0,
        f"{prefix}.warmup_steps={settings.warmup_steps} is not below train.num_steps={num_steps}",
    )


def validate_common(config: ml_collections.ConfigDict) -> None:
    """Checks of the keys every family shares (see configs/common.py)."""
    from jaxgen.data import MODES, is_known_dataset
    from jaxgen.data.combinators import PAIRINGS
    from jaxgen.train.optim import part_settings
    from jaxgen.train.sharding import ShardingRules

    check(
        is_known_dataset(config.data.name),
        f"config key 'data.name' is '{config.data.name}'; choose a built-in or tfds dataset, folder:PATH or image:PATH",
    )
    check_choice(config, "data.preprocess", MODES)
    check(
        config.data.pair in ("",) + tuple(PAIRINGS),
        f"config key 'data.pair' is '{config.data.pair}'; choose one of: {', '.join(PAIRINGS)} (or '' for none)",
    )
    check(
        not config.data.second or is_known_dataset(config.data.second),
        f"config key 'data.second' is '{config.data.second}'; choose a built-in or tfds dataset or folder:PATH",
    )
    on_device = config.data.get("on_device_max_mb", 0)  # a run saved before the key existed streamed its rows
    check(on_device >= 0, f"config key 'data.on_device_max_mb' must be >= 0 (0: always send the rows), got {on_device}")
    batch = config.sample.get("batch_size", 0)  # a run saved before the key existed samples as it did
    check(batch >= 0, f"config key 'sample.batch_size' must be >= 0 (0: min(sample.num, data.eval_batch_size)), got {batch}")
    _validate_optim(part_settings(config.optim, ""), "optim", config.train.num_steps)
    for part, section in config.optim.items():
        if isinstance(section, ml_collections.ConfigDict):
            _validate_optim(part_settings(config.optim, part), f"optim.{part}", config.train.num_steps)
    check_choice(config, "train.compute_dtype", ("float32", "bfloat16"))
    if "mesh" in config:  # a run saved before the key existed was replicated
        check_positive(config, "mesh.fsdp")
        check_positive(config, "mesh.tensor")
        check_positive(config, "mesh.devices", allow_zero=True)
        check_positive(config, "mesh.min_shard_size", allow_zero=True)
        ShardingRules.from_config(config)
    for key in ("data.batch_size", "data.eval_batch_size", "train.num_steps", "train.log_every",
                "train.checkpoint_every", "train.keep_checkpoints", "train.sample_every", "sample.num"):
        check_positive(config, key)
    for key in ("data.image_size", "eval.num_examples", "train.num_grid_samples"):
        check_positive(config, key, allow_zero=True)
    check_choice(config, "eval.feature_network", ("none", "classifier", "inception"))
    check_choice(config, "eval.reference_split", ("train", "test"))
    for key in ("eval.num_samples", "eval.kid_subsets", "eval.kid_subset_size", "eval.pr_neighbours", "eval.is_splits"):
        check_positive(config, key)
    threshold = config.eval.get("recognised_threshold", 0.9)  # a run saved before the key existed
    check(0.0 <= threshold < 1.0, f"config key 'eval.recognised_threshold' must be in [0, 1), got {threshold}")
    check_positive(config, "eval.num_reference", allow_zero=True)
    check_positive(config, "eval.feature_batch_size", allow_zero=True)
    check(
        config.eval.feature_network != "classifier" or bool(config.eval.classifier_workdir),
        "eval.feature_network='classifier' needs eval.classifier_workdir (a trained configs/classifier.py run)",
    )
    k = config.train.steps_per_call
    check(k >= 1, f"config key 'train.steps_per_call' must be >= 1, got {k}")
    check(
        config.train.num_steps % k == 0,
        f"config key 'train.num_steps' must be a multiple of train.steps_per_call={k}, got {config.train.num_steps}",
    )
    for name, source in config.get("init_from", {}).items():
        check(isinstance(source, str), f"config key 'init_from.{name}' must be a string WORKDIR[:STEP], got {source!r}")


def parse_source(text: str) -> tuple[pathlib.Path, int | None]:
    """'WORKDIR[:STEP]' -> (workdir, step or None for the latest)."""
    path, _, step = text.rpartition(":")
    if path and step.isdigit():
        return pathlib.Path(path).expanduser(), int(step)
    return pathlib.Path(text).expanduser(), None
