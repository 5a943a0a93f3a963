"""One device mesh for every machine shape, and the one boundary where batches enter it.

Shared by `train/`, `eval/` and `tasks/` (none of them owns it).
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from jaxgen.errors import ConfigError

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D `data` mesh over `devices` (default: all devices of all processes).

    Axes are `Auto`: the compiler propagates shardings from the inputs' and outputs' annotations.
    """
    auto = (AxisType.Auto,)
    if devices is None:
        return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=auto)
    return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=auto)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh, stacked: bool = False) -> NamedSharding:
    """Batch axis split over `data`, other axes whole; `stacked` batches have a leading step axis."""
    return NamedSharding(mesh, P(None, DATA_AXIS) if stacked else P(DATA_AXIS))


def check_batch_divisible(global_batch: int, mesh: Mesh, key: str = "data.batch_size") -> None:
    if global_batch % mesh.size:
        raise ConfigError(f"{key}={global_batch} is not divisible by the {mesh.size} devices of the mesh")


def to_global(local_batch: dict[str, np.ndarray], mesh: Mesh, stacked: bool = False) -> dict[str, jax.Array]:
    """Assemble process-local rows into global arrays sharded over `data`.

    Each process passes the rows it read (its slice of the global batch, in process order);
    `stacked` batches carry a leading axis of consecutive steps, (steps, rows, ...).
    """
    sharding = batch_sharded(mesh, stacked)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}


def fetch(tree: Any) -> Any:
    """Global arrays -> numpy on every process (gathers the shards other processes hold)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)
