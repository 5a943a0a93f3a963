"""Where each leaf of the training state lives on the (data, fsdp, tensor) mesh.

With `mesh.fsdp` = 1 every leaf is replicated, as a model that fits one device wants. With `mesh.fsdp` = f
each large leaf -- parameters, their gradients inside the step, the optimiser's moments and the EMA
alike -- is split f ways (fully sharded data parallelism, ZeRO-3): the compiler gathers a layer's
weights where the step needs them and reduce-scatters its gradients, so per-device parameter and
optimiser bytes fall by f while the batch is split over data x fsdp.

Rules (`mesh.param_rules`) are ordered (regex, spec) pairs; the first regex found (`re.search`) in a
leaf's path, e.g. `parts/model/opt_state/0/mu/Dense_0/kernel`, decides its spec:
- `auto`: big_vision's fsdp strategy -- the largest dimension divisible by the fsdp size is split over
  `fsdp`; leaves under `mesh.min_shard_size` elements (biases, norm scales, counters) stay replicated;
- `replicated`;
- logical axis names, one per trailing dimension, `_` for a whole one (`_ mlp` splits a kernel's output
  features): `mesh.logical_axes` maps each name to a mesh axis, as maxdiffusion's logical axis rules do;
  a mesh axis name stands for itself.
Paths name the parameter, not the tree it sits in, so one regex places a weight, its moments and its EMA
together.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgen import parallel
from jaxgen.errors import ConfigError

AUTO, REPLICATED, WHOLE = "auto", "replicated", "_"


def leaf_path(path: tuple[Any, ...]) -> str:
    """A tree path as `parts/model/params/Dense_0/kernel`."""
    names = []
    for key in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                names.append(str(getattr(key, attribute)))
                break
    return "/".join(names)


@dataclasses.dataclass(frozen=True)
class ShardingRules:
    rules: tuple[tuple[str, str], ...] = ((".*", AUTO),)
    logical_axes: tuple[tuple[str, str], ...] = ()
    min_shard_size: int = 0

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "ShardingRules":
        """The `mesh` keys of `config`, checked: each rule a (regex, spec) pair, each name known. A config
        saved before the keys existed gets the defaults (every leaf replicated unless mesh.fsdp > 1)."""
        mesh = config.get("mesh")
        if mesh is None:
            return cls()
        rules = cls(tuple(tuple(rule) for rule in mesh.param_rules), tuple(tuple(pair) for pair in mesh.logical_axes), mesh.min_shard_size)
        for pair in rules.logical_axes:
            if len(pair) != 2 or pair[1] not in parallel.MESH_AXES:
                raise ConfigError(
                    f"config key 'mesh.logical_axes': {pair!r} must be (logical name, mesh axis) with the mesh axis "
                    f"one of {', '.join(parallel.MESH_AXES)}"
                )
        for rule in rules.rules:
            if len(rule) != 2:
                raise ConfigError(f"config key 'mesh.param_rules': {rule!r} must be a (regex, spec) pair")
            try:
                re.compile(rule[0])
            except re.error as e:
                raise ConfigError(f"config key 'mesh.param_rules': {rule[0]!r} is not a regular expression ({e})") from None
            if rule[1] not in (AUTO, REPLICATED):
                for name in rule[1].split():
                    rules.mesh_axis(name, rule)
        return rules

    def mesh_axis(self, name: str, rule: tuple[str, str]) -> str | None:
        if name == WHOLE:
            return None
        axis = dict(self.logical_axes).get(name, name)
        if axis not in parallel.MESH_AXES:
            known = sorted({*dict(self.logical_axes), *parallel.MESH_AXES})
            raise ConfigError(
                f"config key 'mesh.param_rules': rule {rule!r} names '{name}', which is neither a logical axis of "
                f"'mesh.logical_axes' nor a mesh axis (known: {', '.join(known)}; '_' keeps a dimension whole)"
            )
        return axis

    def spec(self, path: str, shape: tuple[int, ...], mesh: Mesh) -> P:
        """The PartitionSpec of the leaf at `path` with `shape`."""
        rule = next((rule for rule in self.rules if re.search(rule[0], path)), (".*", REPLICATED))
        if rule[1] == REPLICATED:
            return P()
        if rule[1] == AUTO:
            return self._auto(shape, mesh.shape[parallel.FSDP_AXIS])
        names = rule[1].split()
        if len(names) > len(shape):
            raise ConfigError(f"config key 'mesh.param_rules': rule {rule!r} names {len(names)} dimensions; {path} has shape {shape}")
        axes = [None] * (len(shape) - len(names)) + [self.mesh_axis(name, rule) for name in names]
        for size, axis in zip(shape, axes):
            if axis is not None and size % mesh.shape[axis]:
                raise ConfigError(
                    f"config key 'mesh.param_rules': rule {rule!r} splits {path} {shape} over '{axis}', whose "
                    f"{mesh.shape[axis]} devices do not divide {size}"
                )
        return P(*axes)

    def _auto(self, shape: tuple[int, ...], fsdp: int) -> P:
        if fsdp == 1 or int(np.prod(shape)) < max(self.min_shard_size, 1):
            return P()
        divisible = [d for d in range(len(shape)) if shape[d] % fsdp == 0]
        if not divisible:
            return P()
        largest = max(divisible, key=lambda d: (shape[d], d))
        return P(*[parallel.FSDP_AXIS if d == largest else None for d in range(len(shape))])


def tree_shardings(tree: Any, mesh: Mesh, rules: ShardingRules, prefix: str = "") -> Any:
    """A NamedSharding for each leaf of `tree` (arrays, tracers or ShapeDtypeStructs), by its path under `prefix`."""

    def place(path: tuple[Any, ...], leaf: Any) -> NamedSharding:
        name = "/".join(filter(None, (prefix, leaf_path(path))))
        return NamedSharding(mesh, rules.spec(name, tuple(leaf.shape), mesh))

    return jax.tree_util.tree_map_with_path(place, tree)


def bytes_per_device(tree: Any) -> int:
    """The largest number of bytes of `tree`'s arrays that any one device holds, read from their shardings."""
    held: dict[Any, int] = {}
    for leaf in jax.tree.leaves(tree):
        shard_shape = leaf.sharding.shard_shape(leaf.shape)
        for device in leaf.sharding.device_set:
            held[device] = held.get(device, 0) + int(np.prod(shard_shape)) * leaf.dtype.itemsize
    return max(held.values(), default=0)
