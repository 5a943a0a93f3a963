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

DATA_AXIS, FSDP_AXIS, TENSOR_AXIS = "data", "fsdp", "tensor"
MESH_AXES = (DATA_AXIS, FSDP_AXIS, TENSOR_AXIS)
# Rows of a batch are split over `data` x `fsdp`: fsdp devices share one copy of the parameters but
# each computes its own rows; `tensor` devices compute the same rows with parts of a layer.
BATCH_AXES = (DATA_AXIS, FSDP_AXIS)


def make_mesh(devices: Sequence[jax.Device] | None = None, fsdp: int = 1, tensor: int = 1) -> Mesh:
    """The (data, fsdp, tensor) mesh over `devices` (default: all devices of all processes): `fsdp` and
    `tensor` devices per group (`mesh.fsdp`, `mesh.tensor`), `data` the number of groups.

    Axes are `Auto`: the compiler propagates shardings from the inputs' and outputs' annotations.
    """
    count = jax.device_count() if devices is None else len(devices)
    if fsdp < 1 or tensor < 1 or count % (fsdp * tensor):
        raise ConfigError(
            f"config keys 'mesh.fsdp'={fsdp} and 'mesh.tensor'={tensor}: their product must divide the {count} devices"
        )
    shape = (count // (fsdp * tensor), fsdp, tensor)
    auto = (AxisType.Auto,) * len(MESH_AXES)
    if devices is None:
        return jax.make_mesh(shape, MESH_AXES, axis_types=auto)
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=auto)


def first_devices(devices: Sequence[jax.Device] | None, count: int) -> Sequence[jax.Device] | None:
    """The first `count` of `devices` (default: all devices), or `devices` unchanged when `count` is 0
    (`mesh.devices`)."""
    if not count:
        return devices
    if jax.process_count() > 1:
        raise ConfigError(f"config key 'mesh.devices'={count} picks devices of one process; a run over "
                          f"{jax.process_count()} processes uses all of them (set mesh.devices=0)")
    available = list(jax.devices() if devices is None else devices)
    if count > len(available):
        raise ConfigError(f"config key 'mesh.devices'={count} asks for more than the {len(available)} devices there are")
    return available[:count]


def batch_shards(mesh: Mesh) -> int:
    """How many devices hold different rows of a batch (data x fsdp)."""
    return int(np.prod([mesh.shape[axis] for axis in BATCH_AXES]))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh, stacked: bool = False) -> NamedSharding:
    """Batch axis split over `data` x `fsdp`, other axes whole; `stacked` batches have a leading step axis."""
    return NamedSharding(mesh, P(None, BATCH_AXES) if stacked else P(BATCH_AXES))


def check_batch_divisible(global_batch: int, mesh: Mesh, key: str = "data.batch_size") -> None:
    if global_batch % batch_shards(mesh):
        raise ConfigError(f"{key}={global_batch} is not divisible by the {batch_shards(mesh)} batch shards of the mesh (data x fsdp)")


def to_global(local_batch: dict[str, np.ndarray], mesh: Mesh, stacked: bool = False) -> dict[str, jax.Array]:
    """Assemble process-local rows into global arrays sharded over `data` x `fsdp`.

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
