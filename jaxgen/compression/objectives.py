"""The KL-regularised latent and the adaptive weight of the first stage's adversarial term."""
from __future__ import annotations

from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

LOG_VAR_RANGE = (-30.0, 20.0)  # the LDM code clips the log-variance to this range
MAX_ADAPTIVE_WEIGHT = 1e4


@flax.struct.dataclass
class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(log_var))) from the encoder's 2c moment channels."""

    mean: jax.Array
    log_var: jax.Array

    @classmethod
    def from_moments(cls, moments: jax.Array) -> "DiagonalGaussian":
        mean, log_var = jnp.split(moments, 2, axis=-1)
        return cls(mean, jnp.clip(log_var, *LOG_VAR_RANGE))

    def sample(self, rng: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(0.5 * self.log_var) * jax.random.normal(rng, self.mean.shape)

    def mode(self) -> jax.Array:
        return self.mean

    def kl(self) -> jax.Array:
        """KL(q || N(0, I)) per example, summed over the latent's dimensions: (B,)."""
        terms = 0.5 * (jnp.square(self.mean) + jnp.exp(self.log_var) - 1.0 - self.log_var)
        return jnp.sum(terms.reshape(terms.shape[0], -1), axis=-1)


def adaptive_weight(reconstruction: Callable[[jax.Array], jax.Array], adversarial: Callable[[jax.Array], jax.Array],
                    last_layer: jax.Array) -> jax.Array:
    """lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_adv|| + 1e-4), clipped to [0, 1e4] and not differentiated
    (Esser et al. 2021, eq. 7): both losses as functions of the decoder's last-layer weights G_L."""
    g_rec = jax.grad(reconstruction)(last_layer)
    g_adv = jax.grad(adversarial)(last_layer)
    weight = optax.global_norm(g_rec) / (optax.global_norm(g_adv) + 1e-4)
    return jax.lax.stop_gradient(jnp.clip(weight, 0.0, MAX_ADAPTIVE_WEIGHT))
