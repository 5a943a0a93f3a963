"""The host-side evaluation loop, once for every family: the task's jitted `eval_batch` over the
evaluation batches, totals summed on the host, then the task's `finish_eval`."""
from __future__ import annotations

from typing import Any, Iterable

import jax
import numpy as np

from jaxgen import parallel
from jaxgen.train.contract import Batch, Task


def evaluate_task(task: Task, params: Any, batches: Iterable[Batch], seed: int) -> dict[str, float]:
    """`task.finish_eval` of the totals of `task.eval_batch` over `batches`; batch i draws from
    fold_in(PRNGKey(seed), i). Totals are summed in float64: scalars reach `finish_eval` as floats, arrays
    (a histogram) as numpy arrays."""
    eval_batch = jax.jit(task.eval_batch)
    rng = jax.random.PRNGKey(seed)
    totals: dict[str, Any] = {}
    for i, batch in enumerate(batches):
        for k, v in parallel.fetch(eval_batch(params, batch, jax.random.fold_in(rng, i))).items():
            totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
    return task.finish_eval({k: float(v) if np.ndim(v) == 0 else v for k, v in totals.items()})


def mean_totals(totals: dict[str, float]) -> dict[str, float]:
    """Per-example means of masked sums (`count` real rows), with `num_examples`: most families' report."""
    count = totals["count"]
    return {**{k: v / count for k, v in totals.items() if k != "count"}, "num_examples": count}
