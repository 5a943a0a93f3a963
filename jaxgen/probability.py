"""Log-densities and divergences shared by the families (all in nats, summed where stated).

Notation follows Kingma & Welling 2014: q(z|x) = N(mu, diag(sigma^2)) with log_var = log sigma^2,
prior p(z) = N(0, I).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl_to_standard(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, exp(log_var)) || N(0, I)), summed over the last axis (K&W eq. 10)."""
    return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - log_var - 1.0, axis=-1)


def gaussian_log_density(x: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """Elementwise log N(x; mean, exp(log_var))."""
    return -0.5 * (LOG_2PI + log_var + jnp.square(x - mean) * jnp.exp(-log_var))


def standard_normal_log_density(z: jax.Array) -> jax.Array:
    """log N(z; 0, I), summed over the last axis."""
    return jnp.sum(-0.5 * (LOG_2PI + jnp.square(z)), axis=-1)


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Elementwise log Bernoulli(x; sigmoid(logits)) = x * l - softplus(l), stable for large |l|."""
    return x * logits - jax.nn.softplus(logits)


def sum_except_batch(x: jax.Array) -> jax.Array:
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)
