"""Config checks shared by every family: each failure is one ConfigError line naming the key."""
from __future__ import annotations

from typing import Any, Iterable

import ml_collections


class ConfigError(ValueError):
    """A config problem, reported as one line that names the key."""


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


def validate_common(config: ml_collections.ConfigDict) -> None:
    """Checks of the keys every family shares (see configs/common.py)."""
    from jaxgen.data import DATASETS, MODES
    from jaxgen.train.optim import OPTIMIZERS, SCHEDULES

    check_choice(config, "data.name", DATASETS)
    check_choice(config, "data.preprocess", MODES)
    check_choice(config, "optim.name", OPTIMIZERS)
    check_choice(config, "optim.schedule", SCHEDULES)
    rate = config.optim.decay_rate
    check(0.0 < rate <= 1.0, f"config key 'optim.decay_rate' must be in (0, 1], got {rate}")
    check_choice(config, "train.compute_dtype", ("float32", "bfloat16"))
    for key in ("data.batch_size", "data.eval_batch_size", "optim.lr", "train.num_steps", "train.log_every",
                "train.checkpoint_every", "train.keep_checkpoints", "train.sample_every", "sample.num"):
        check_positive(config, key)
    for key in ("optim.warmup_steps", "optim.grad_clip_norm", "optim.weight_decay", "data.image_size",
                "eval.num_examples", "train.num_grid_samples"):
        check_positive(config, key, allow_zero=True)
    check_choice(config, "eval.feature_network", ("none", "classifier", "inception"))
    check_choice(config, "eval.reference_split", ("train", "test"))
    for key in ("eval.num_samples", "eval.kid_subsets", "eval.kid_subset_size", "eval.pr_neighbours", "eval.is_splits"):
        check_positive(config, key)
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
    check(0.0 <= config.optim.ema_decay < 1.0, f"config key 'optim.ema_decay' must be in [0, 1), got {config.optim.ema_decay}")
    check(
        config.optim.warmup_steps < config.train.num_steps or config.optim.warmup_steps == 0,
        f"optim.warmup_steps={config.optim.warmup_steps} is not below train.num_steps={config.train.num_steps}",
    )
