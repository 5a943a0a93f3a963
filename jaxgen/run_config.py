"""A trained run's config read back from its `config.json`, and the keys a reload may change.

`--mode sample|eval` and `run.load_run` rebuild a run from its workdir alone. The model, the data it was
trained on and the training keys are the run's own; only keys that leave the trained parameters' meaning
alone -- how to sample and evaluate, where things are read from -- may be changed for a reload.
"""
from __future__ import annotations

import copy
import json
import pathlib
from typing import Any, Iterator, Sequence

import ml_collections

from jaxgen.errors import ConfigError, RunNotFoundError
from jaxgen.validation import apply_override

SHARED_SECTIONS = ("data", "optim", "mesh", "train", "sample", "eval")
# Dotted prefixes of the keys a reload may change: sampler, steps, guidance, conditions, eval protocol, I/O.
RELOAD_KEYS = (
    "sample", "eval", "data.eval_batch_size", "data.data_dir", "train.compilation_cache_dir", "train.progress_bar",
    "mesh.fsdp", "mesh.tensor", "mesh.devices",
)
RELOAD_KEYS_TEXT = ", ".join(k if "." in k else f"{k}.*" for k in RELOAD_KEYS)


def may_change_on_reload(key: str) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in RELOAD_KEYS)


def _as_tuples(value: Any) -> Any:
    """JSON lists back to the tuples the config held (ml-collections configs keep sequences as tuples)."""
    if isinstance(value, dict):
        return {k: _as_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value


def read_saved(workdir: pathlib.Path) -> dict[str, Any]:
    """The run's config.json as a plain dict (tuples restored); RunNotFoundError when there is none."""
    path = workdir / "config.json"
    if not path.is_file():
        raise RunNotFoundError(f"{workdir} holds no run (no config.json): train one there first")
    try:
        return _as_tuples(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise RunNotFoundError(f"{path} is not a readable config ({e}); it was not written by a finished start") from e


def with_shared_defaults(saved: dict[str, Any], current: ml_collections.ConfigDict | None) -> ml_collections.ConfigDict:
    """A run's saved config completed with the keys it lacks, taken from `current`, so that a run made before
    a key existed still loads; every key it has keeps its saved value. From a config of the same family
    (`task`) every section is completed, the model's and the family's own included; from another family's
    (a judge loaded for an evaluation) only the shared sections."""
    merged = copy.deepcopy(saved)
    merged.setdefault("init_from", {})  # another run's frozen parts are its own, never the caller's
    if current is not None:
        same_family = current.get("task") == saved.get("task")
        for section in current.keys() if same_family else SHARED_SECTIONS:
            value = current.get(section)
            if isinstance(value, ml_collections.ConfigDict) and section != "init_from":
                _fill_missing(merged.setdefault(section, {}), value.to_dict())
    return ml_collections.ConfigDict(merged)


def _fill_missing(saved: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if key not in saved:
            saved[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(saved[key], dict):
            _fill_missing(saved[key], value)


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def reload_config(
    workdir: str | pathlib.Path,
    given: ml_collections.ConfigDict | None = None,
    overrides: Sequence[str] = (),
    defaults: ml_collections.ConfigDict | None = None,
) -> ml_collections.ConfigDict:
    """The config of the run in `workdir`, from its config.json, for sampling or evaluating it.

    `given` (a config the caller built, e.g. from `--config`) may differ from the saved one only in the
    reload keys (RELOAD_KEYS), whose values it then sets; any other difference is a ConfigError naming the
    key. `overrides` are `key=value` strings, reload keys only. Shared keys the run predates come from
    `defaults` (else from `given`).
    """
    workdir = pathlib.Path(workdir).expanduser()
    config = with_shared_defaults(read_saved(workdir), defaults if defaults is not None else given)
    if given is not None:
        saved = dict(_leaves(config))
        for key, value in _leaves(_as_tuples(json.loads(json.dumps(given.to_dict())))):
            if key == "preset" or saved.get(key, value) == value:
                continue
            if not may_change_on_reload(key):
                raise ConfigError(
                    f"config key '{key}' is {value!r} here but the run in {workdir} was trained with "
                    f"{saved.get(key)!r}; leave --config out (the run's config.json is used) and change only "
                    f"{RELOAD_KEYS_TEXT}"
                )
            config.update_from_flattened_dict({key: value})
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        if not may_change_on_reload(key):
            raise ConfigError(
                f"config key '{key}' cannot change for a trained run (it changes the model or its training); "
                f"a reload may set only {RELOAD_KEYS_TEXT}"
            )
        apply_override(config, key, text.strip())
    config.lock()
    return config
