"""The training state every family shares: parameters, optimiser state, EMA and randomness."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
    """step, params, opt_state, ema_params (None when EMA is off), model_state and rng.

    `model_state` holds non-trained collections such as BatchNorm statistics ({} when unused).
    Families with several optimised parts (a GAN's G and D) keep one optax state over a dict
    of their parameters. `rng` is a raw uint32[2] key: the step's randomness is
    `jax.random.fold_in(rng, step)`, so a resumed run draws the same numbers.
    """

    step: jax.Array
    params: PyTree
    opt_state: optax.OptState
    ema_params: PyTree | None
    model_state: PyTree
    rng: jax.Array
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)
    ema_warmup: bool = flax.struct.field(pytree_node=False, default=False)

    @classmethod
    def create(
        cls,
        params: PyTree,
        tx: optax.GradientTransformation,
        rng: jax.Array,
        model_state: PyTree | None = None,
        ema_decay: float = 0.0,
        ema_warmup: bool = False,
    ) -> "TrainState":
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            ema_params=jax.tree.map(jnp.copy, params) if ema_decay > 0 else None,
            model_state=model_state if model_state is not None else {},
            rng=rng,
            tx=tx,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
        )

    def step_rng(self) -> jax.Array:
        return jax.random.fold_in(self.rng, self.step)

    def apply_gradients(self, grads: PyTree, model_state: PyTree | None = None) -> "TrainState":
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        ema_params = None
        if self.ema_params is not None:
            decay = jnp.asarray(self.ema_decay, jnp.float32)
            if self.ema_warmup:
                n = self.step.astype(jnp.float32)
                decay = jnp.minimum(decay, (1.0 + n) / (10.0 + n))
            ema_params = optax.incremental_update(params, self.ema_params, 1.0 - decay)
        return self.replace(
            step=self.step + 1,
            params=params,
            opt_state=opt_state,
            ema_params=ema_params,
            model_state=self.model_state if model_state is None else model_state,
        )

    @property
    def eval_params(self) -> PyTree:
        """EMA parameters where kept, else the raw ones: what sampling and evaluation use."""
        return self.params if self.ema_params is None else self.ema_params
