"""The one error base class: every failure a user can cause is a `JaxgenError`, which `launch.py`
prints as one line. Each subclass names what went wrong (a config key, a dataset, a checkpoint, a run)."""
from __future__ import annotations


class JaxgenError(Exception):
    """A failure the user can fix, reported as one line that says what to do."""


class ConfigError(JaxgenError, ValueError):
    """A config problem, reported as one line that names the key."""


class DataError(JaxgenError, RuntimeError):
    """A dataset that cannot be read, with what to do about it."""


class NonFiniteLossError(JaxgenError, RuntimeError):
    """The loss became NaN or Inf; the message names the step and the last good checkpoint."""


class CheckpointMismatchError(JaxgenError, RuntimeError):
    """The workdir's checkpoint holds a different model, optimiser or frozen source than the config builds."""


class RunNotFoundError(JaxgenError, FileNotFoundError):
    """A workdir without the run (config.json, checkpoint) an operation needs."""


class InputError(JaxgenError, TypeError):
    """An argument of a public function of the wrong kind (a sample count, an image dtype), named."""


class WorkdirError(JaxgenError, OSError):
    """A workdir (or a folder in it) that cannot be created or written to."""


class InterruptedRun(JaxgenError, RuntimeError):
    """Training stopped by a signal (Ctrl-C, a scheduler's SIGTERM) after saving; `signal_number` lets the
    launcher exit with 128 + it, the status a scheduler reads as "interrupted"."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.signal_number = signal_number
