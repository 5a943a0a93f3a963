"""Orbax checkpoints of the TrainState and the data position, resumed automatically.

A checkpoint that fails to restore (half-written, truncated, corrupted) or restores non-finite values
(silent byte corruption; a state saved before this check existed) is moved to
`<workdir>/corrupt_checkpoints/` with a warning -- never deleted -- and the previous one is used.
"""
from __future__ import annotations

import logging
import pathlib
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from jaxgen.errors import CheckpointMismatchError, RunNotFoundError, WorkdirError
from jaxgen.train.state import TrainState, non_finite_paths

MISMATCH_MARKERS = ("tree structures do not match", "shape mismatch", "Requested shape")


def check_writable(folder: pathlib.Path) -> None:
    """Create `folder` if needed and write a probe file in it, so that a workdir (or its checkpoints/) that
    is a file or read-only fails now, in one line, not after training in orbax's background threads."""
    for path in (*reversed(folder.parents), folder):
        if path.exists() and not path.is_dir():
            raise WorkdirError(f"{path} is a file, not a folder: choose another --workdir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{jax.process_index()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise WorkdirError(f"{folder} is not writable ({e.strerror}): fix its permissions or choose another --workdir") from e


class Checkpointer:
    def __init__(self, workdir: str | pathlib.Path, keep: int, read_only: bool = False):
        """`read_only` opens another run's checkpoints for loading: nothing is created there."""
        self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
        self.keep = keep
        self.read_only = read_only
        if not read_only:
            check_writable(self.directory)
        self._manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=not self.read_only, read_only=self.read_only)
        return ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: TrainState, extra: dict[str, Any]) -> None:
        """Save asynchronously; `extra` is JSON (the data position and such)."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra))
        self._manager.save(step, args=args, force=True)

    def restore_latest(self, abstract_state: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, Any]] | None:
        """Restore the newest readable checkpoint (or the one at `step`, if it exists) onto `abstract_state`'s
        shapes and shardings."""
        if step is not None and step not in self._manager.all_steps():
            return None
        while (step := step if step is not None else self._manager.latest_step()) is not None:
            try:
                args = ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()
                )
                restored = self._manager.restore(step, args=args)
                bad = non_finite_paths(restored.state)
                if bad:
                    raise ValueError(f"it holds non-finite values ({len(bad)} leaves, e.g. {bad[0]})")
                return restored.state, dict(restored.extra)
            except Exception as e:  # noqa: BLE001 -- any failure to read means this checkpoint is unusable
                if any(marker in str(e) for marker in MISMATCH_MARKERS):
                    raise CheckpointMismatchError(
                        f"checkpoint {self.directory}/{step} holds a different model or optimiser state than "
                        "this config builds (the config changed?); use a new --workdir or the config it was "
                        "trained with"
                    ) from e
                if self.read_only:  # another run's checkpoint: never moved from here
                    raise RunNotFoundError(f"checkpoint {self.directory}/{step} cannot be read: {str(e).splitlines()[0][:200]}") from e
                self._set_aside(step, e)
                step = None
        return None

    def _set_aside(self, step: int, error: Exception) -> None:
        aside = self.directory.parent / "corrupt_checkpoints" / str(step)
        logging.warning(
            "checkpoint %s/%d cannot be restored (%s: %s); moved to %s, trying the previous one",
            self.directory, step, type(error).__name__, str(error).splitlines()[0][:200], aside,
        )
        self._manager.close()
        if jax.process_index() == 0:
            aside.parent.mkdir(parents=True, exist_ok=True)
            if aside.exists():
                shutil.rmtree(aside)
            shutil.move(str(self.directory / str(step)), aside)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"jaxgen-checkpoint-set-aside-{step}")
        self._manager = self._open()

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
