"""Where training numbers go: console progress bar, TensorBoard events (scalars, pictures, the config),
metrics.jsonl."""
from __future__ import annotations

import json
import logging
import pathlib
import time
from typing import Mapping

import jax
import numpy as np
import tqdm


def mean_metrics(history: list[Mapping[str, jax.Array]]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Fetch a window of per-call metric dicts; return their means and the raw per-step values.

    Entries are scalars (one step per call) or (k,) vectors (k steps per call). `device_get` on
    the whole window starts every copy before waiting on any.
    """
    fetched = jax.device_get(history)
    raw = {k: np.concatenate([np.atleast_1d(np.asarray(m[k], np.float64)) for m in fetched]) for k in fetched[0]}
    return {k: float(v.mean()) for k, v in raw.items()}, raw


def first_non_finite(raw: Mapping[str, np.ndarray], first_step: int) -> tuple[int, str, float] | None:
    """(step, metric, value) of the first non-finite loss-like metric in a window, else None."""
    bad = [(int(np.argmin(np.isfinite(v))), k) for k, v in raw.items() if "loss" in k and not np.isfinite(v).all()]
    if not bad:
        return None
    index, key = min(bad)
    return first_step + index, key, float(raw[key][index])


def drop_records_after(path: pathlib.Path, step: int) -> None:
    """Remove the records of steps after `step` from a metrics.jsonl (a resumed run repeats the steps
    between its checkpoint and the kill, so each step appears once)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(kept))
        tmp.replace(path)


class MetricWriter:
    """Writes scalars to `metrics.jsonl` and TensorBoard (process 0 only) and drives the progress bar.
    `resumed_from` (training) drops the file's records after that step first."""

    def __init__(
        self, workdir: str | pathlib.Path, total_steps: int, initial_step: int, progress_bar: bool,
        resumed_from: int | None = None,
    ):
        self.enabled = jax.process_index() == 0
        self._jsonl = None
        self._tb = None
        self._bar = None
        if not self.enabled:
            return
        workdir = pathlib.Path(workdir)
        if resumed_from is not None:
            drop_records_after(workdir / "metrics.jsonl", resumed_from)
        self._jsonl = open(workdir / "metrics.jsonl", "a")
        from tensorboardX import SummaryWriter

        self._tb = SummaryWriter(str(workdir / "tensorboard"))
        if progress_bar:
            self._bar = tqdm.tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True)
        self._last_time, self._last_step = time.perf_counter(), initial_step

    def write(self, step: int, scalars: Mapping[str, float], prefix: str = "train") -> dict[str, float]:
        """Record `scalars` at `step` under `prefix`/; returns them (training adds steps_per_sec)."""
        if not self.enabled:
            return dict(scalars)
        now = time.perf_counter()
        if prefix == "train" and step > self._last_step:
            scalars = {**scalars, "steps_per_sec": (step - self._last_step) / (now - self._last_time)}
            self._last_time, self._last_step = now, step
        record = {"step": step, **{f"{prefix}/{k}": v for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for k, v in scalars.items():
            self._tb.add_scalar(f"{prefix}/{k}", v, step)
        if self._bar is not None and prefix == "train":
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items() if "loss" in k or k == "elbo"})
        return dict(scalars)

    def log(self, line: str) -> None:
        """`line` to the log (absl's stderr and log file), drawn above the progress bar, not through it."""
        if self._bar is not None:
            self._bar.clear()
        logging.info("%s", line)
        if self._bar is not None:
            self._bar.refresh()

    def image(self, step: int, name: str, png: pathlib.Path) -> None:
        """The PNG file `png` in TensorBoard's images tab, as its bytes (`add_image` would encode it again)."""
        if self.enabled:
            from PIL import Image
            from tensorboardX.proto.summary_pb2 import Summary

            with Image.open(png) as picture:
                size = {"height": picture.height, "width": picture.width, "colorspace": len(picture.getbands())}
            image = Summary.Image(encoded_image_string=png.read_bytes(), **size)
            self._tb.file_writer.add_summary(Summary(value=[Summary.Value(tag=f"pictures/{name}", image=image)]), step)

    def text(self, name: str, text: str, step: int) -> None:
        if self.enabled:
            self._tb.add_text(name, text, step)

    def advance(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        self._tb.close()
        self._jsonl.close()
