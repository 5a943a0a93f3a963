"""Deterministic, resumable, per-process batch streams.

The order of the training stream is a function of (seed, epoch) alone: epoch e visits the
examples in `permutation(seed, e)` and drops the last incomplete global batch. Global batch g
is therefore fixed, and its position `g` is all a checkpoint needs to resume the same stream.
Process p of P reads only rows [p * B/P, (p + 1) * B/P) of every global batch of size B.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Iterator

import numpy as np

from jaxgen.data.sources import ArraySource, Source
from jaxgen.errors import DataError

Batch = dict[str, np.ndarray]


def process_rows(global_batch: int, process_index: int, process_count: int) -> slice:
    """The rows of a global batch that one process reads."""
    if global_batch % process_count:
        raise DataError(f"data.batch_size={global_batch} is not divisible by the {process_count} processes")
    per_process = global_batch // process_count
    return slice(process_index * per_process, (process_index + 1) * per_process)


class TrainStream:
    """Infinite stream of process-local training batches; `position` counts global batches read.

    With `group` > 1 each item stacks `group` consecutive batches on a new leading axis, for a
    step function that scans over several batches per call. With `indices_only` an item is
    {"index": int32 dataset indices} instead of the rows, for a dataset held on the devices whose
    batches are gathered there (`in_memory_arrays`).
    """

    def __init__(
        self,
        source: Source,
        global_batch: int,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
        position: int = 0,
        prefetch: int = 2,
        put: Callable[[Batch], Any] | None = None,
        group: int = 1,
        indices_only: bool = False,
    ):
        """`put` (e.g. the transfer to the device mesh) runs in the prefetch thread on each batch."""
        if len(source) < global_batch:
            raise DataError(
                f"data.batch_size={global_batch} is larger than the {len(source)} training examples of "
                f"'{source.spec.name}'"
            )
        self.source, self.global_batch, self.seed = source, global_batch, seed
        self.rows = process_rows(global_batch, process_index, process_count)
        self.batches_per_epoch = len(source) // global_batch
        self.position = position
        self._put = put
        self.group = group
        self.indices_only = indices_only
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, permutation) of the latest epoch read
        self._prefetch = prefetch
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1) if prefetch else None
        self._pending: dict[int, concurrent.futures.Future] = {}

    def indices(self, g: int) -> np.ndarray:
        """Dataset indices of this process's rows of global batch g."""
        epoch, offset = divmod(g, self.batches_per_epoch)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(len(self.source)))
        order = self._order[1]
        start = offset * self.global_batch
        return order[start : start + self.global_batch][self.rows]

    def read(self, g: int) -> Batch:
        """This process's rows of global batch g (row ordinals g * B + i for sources that pair by them)."""
        ordinals = np.arange(g * self.global_batch, (g + 1) * self.global_batch)[self.rows]
        return self.source.read(self.indices(g), ordinals)

    def _batch(self, g: int) -> Batch:
        return {"index": self.indices(g).astype(np.int32)} if self.indices_only else self.read(g)

    def _item(self, g: int) -> Any:
        if self.group == 1:
            item = self._batch(g)
        else:
            batches = [self._batch(g + i) for i in range(self.group)]
            item = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
        return self._put(item) if self._put else item

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Any:
        g = self.position
        if self._pool is None:
            item = self._item(g)
        else:
            for ahead in range(g, g + (self._prefetch + 1) * self.group, self.group):
                if ahead not in self._pending:
                    self._pending[ahead] = self._pool.submit(self._item, ahead)
            item = self._pending.pop(g).result()
        self.position = g + self.group
        return item

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def in_memory_arrays(source: Source, max_bytes: int) -> dict[str, np.ndarray] | None:
    """The arrays of an in-memory source (the built-in datasets, a folder of images) of at most `max_bytes`
    in all, which a training loop may keep on the devices; None for sources read or computed per batch."""
    if not isinstance(source, ArraySource):
        return None
    return source.arrays if sum(a.nbytes for a in source.arrays.values()) <= max_bytes else None


def eval_batches(
    source: Source,
    global_batch: int,
    num_examples: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    spread: bool = False,
) -> Iterator[Batch]:
    """One ordered pass over a split in fixed-size batches (so one compiled program serves all).

    `num_examples` (0: all) are the first ones, or with `spread` evenly spaced over the split
    (a subset of a class-sorted split then still holds every class). The last batch is padded by
    repeating its first example; `mask` is 1.0 on real rows and `position` (int32) is each row's place
    in the pass (a family that evaluates an expensive number on the first rows only selects by it).
    """
    total = min(num_examples, len(source)) if num_examples else len(source)
    positions = np.linspace(0, len(source) - 1, total).astype(np.int64) if spread else np.arange(total)
    rows = process_rows(global_batch, process_index, process_count)
    for start in range(0, total, global_batch):
        index = np.arange(start, start + global_batch)
        mask = (index < total).astype(np.float32)
        index = positions[np.where(index < total, index, start)]
        batch = source.read(index[rows])
        batch["mask"] = mask[rows]
        batch["position"] = np.arange(start, start + global_batch, dtype=np.int32)[rows]
        yield batch

