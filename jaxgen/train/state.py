"""The training state every family shares: named parts, frozen parts, model state and randomness.

A *part* is one trained network (a VAE's `model`, a GAN's `generator` and `discriminator`, CycleGAN's
four): its parameters, its own optax state and optimiser, an optional EMA of its parameters and the
count of its updates. A *frozen part* holds the parameters of another run (`config.init_from.<name>`):
they sit in the state so that jitted steps read them as arguments, receive no gradients and are not
saved with the run's checkpoints (the checkpoint records where they came from instead).
"""
from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxgen import parallel

PyTree = Any


@flax.struct.dataclass
class Part:
    """One trained network: params, opt_state, ema_params (None when EMA is off) and `updates`, the
    number of optimiser updates applied (the EMA warm-up counts them)."""

    params: PyTree
    opt_state: optax.OptState
    ema_params: PyTree | None
    updates: jax.Array
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)
    ema_warmup: bool = flax.struct.field(pytree_node=False, default=False)

    @classmethod
    def create(cls, params: PyTree, tx: optax.GradientTransformation, ema_decay: float = 0.0, ema_warmup: bool = False) -> "Part":
        return cls(
            params=params,
            opt_state=tx.init(params),
            ema_params=jax.tree.map(jnp.copy, params) if ema_decay > 0 else None,
            updates=jnp.zeros((), jnp.int32),
            tx=tx,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
        )

    def apply_gradients(self, grads: PyTree) -> "Part":
        """One optimiser update, then the EMA: ema <- d ema + (1 - d) params, with d = min(decay,
        (1 + n) / (10 + n)) under warm-up (n = updates so far, TensorFlow's ExponentialMovingAverage)."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        ema_params = None
        if self.ema_params is not None:
            decay = jnp.asarray(self.ema_decay, jnp.float32)
            if self.ema_warmup:
                n = self.updates.astype(jnp.float32)
                decay = jnp.minimum(decay, (1.0 + n) / (10.0 + n))
            ema_params = optax.incremental_update(params, self.ema_params, 1.0 - decay)
        return self.replace(params=params, opt_state=opt_state, ema_params=ema_params, updates=self.updates + 1)

    @property
    def eval_params(self) -> PyTree:
        """EMA parameters where kept, else the raw ones: what sampling and evaluation use."""
        return self.params if self.ema_params is None else self.ema_params


@flax.struct.dataclass
class TrainState:
    """step, parts (name -> Part), frozen (name -> parameters of another run), model_state and rng.

    `model_state` holds non-trained quantities a family carries between steps (BEGAN's k_t; {} when
    unused). `rng` is a raw uint32[2] key: the step's randomness is `jax.random.fold_in(rng, step)`,
    so a resumed run draws the same numbers. `step` counts training steps (advanced by the loop, see
    `counting`), not optimiser updates: a GAN step updates its discriminator n_critic times.
    """

    step: jax.Array
    parts: dict[str, Part]
    frozen: dict[str, PyTree] | None
    model_state: PyTree
    rng: jax.Array

    @classmethod
    def create(cls, parts: dict[str, Part], rng: jax.Array, model_state: PyTree | None = None) -> "TrainState":
        return cls(
            step=jnp.zeros((), jnp.int32), parts=parts, frozen={}, model_state=model_state if model_state is not None else {},
            rng=rng,
        )

    def step_rng(self) -> jax.Array:
        return jax.random.fold_in(self.rng, self.step)

    def apply_gradients(self, part: str, grads: PyTree, model_state: PyTree | None = None) -> "TrainState":
        """Update part `part` with `grads` (its optimiser and EMA); the step count is the loop's."""
        parts = {**self.parts, part: self.parts[part].apply_gradients(grads)}
        return self.replace(parts=parts, model_state=self.model_state if model_state is None else model_state)

    def with_params(self, part: str, params: PyTree) -> "TrainState":
        """Part `part` with its parameters replaced (a projection after an update, such as WGAN's clipping)."""
        return self.replace(parts={**self.parts, part: self.parts[part].replace(params=params)})

    @property
    def params(self) -> dict[str, PyTree]:
        """The raw trained parameters, by part."""
        return {name: part.params for name, part in self.parts.items()}

    @property
    def eval_params(self) -> dict[str, PyTree]:
        """What sampling and evaluation use: each part's EMA (or raw) parameters, and the frozen parts'."""
        return {**{name: part.eval_params for name, part in self.parts.items()}, **(self.frozen or {})}

    @property
    def uses_ema(self) -> bool:
        return any(part.ema_params is not None for part in self.parts.values())


StepFn = Callable[[TrainState, Any], tuple[TrainState, Any]]


@jax.jit
def _finite_leaves(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: jnp.all(jnp.isfinite(x)) if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.bool_(True), tree)


def non_finite_paths(tree: PyTree) -> list[str]:
    """The paths of the leaves of `tree` (a state, parameters) that hold a NaN or an infinity, e.g.
    `.parts['model'].params['decoder']['kernel']`; one compiled reduction, one small transfer."""
    flags = parallel.fetch(_finite_leaves(tree))
    return [jax.tree_util.keystr(path) for path, ok in jax.tree_util.tree_flatten_with_path(flags)[0] if not bool(ok)]


def counting(step_fn: StepFn) -> StepFn:
    """A family's `train_step` followed by step <- step + 1: the one place steps are counted."""

    def counted(state: TrainState, batch: Any) -> tuple[TrainState, Any]:
        new_state, metrics = step_fn(state, batch)
        return new_state.replace(step=state.step + 1), metrics

    return counted
