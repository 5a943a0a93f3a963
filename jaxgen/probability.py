"""Log-densities and divergences shared by the families (all in nats, summed where stated).

Notation follows Kingma & Welling 2014: q(z|x) = N(mu, diag(sigma^2)) with log_var = log sigma^2,
prior p(z) = N(0, I); a full-covariance Gaussian N(m, S) is given by its precision factor A, S^-1 = A^T A
(lower-triangular, positive diagonal): A = L^-1 for the Cholesky factor L of S.
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


def full_gaussian_log_density(z: jax.Array, mean: jax.Array, precision_tril: jax.Array) -> jax.Array:
    """log N(z; mean, (A^T A)^-1) with A = precision_tril: z and mean (..., D), A (..., D, D); returns (...).

    A whitens, A (z - mean) ~ N(0, I), so the density is matrix products only: no triangular solve, which
    XLA:CPU (jax 0.10) deadlocks on when several loops of one program contain it (the IWAE bounds).
    """
    whitened = jnp.einsum("...ij,...j->...i", precision_tril, z - mean)
    log_det = jnp.sum(jnp.log(jnp.diagonal(precision_tril, axis1=-2, axis2=-1)), axis=-1)  # -1/2 log det S
    return -0.5 * (z.shape[-1] * LOG_2PI + jnp.sum(jnp.square(whitened), axis=-1)) + log_det


def gaussian_kl_to_full(mean: jax.Array, log_var: jax.Array, prior_mean: jax.Array, prior_precision_tril: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_var))) || N(prior_mean, S_p)) with S_p^-1 = A^T A, A = prior_precision_tril, (...):

        0.5 [tr(S_p^-1 S_q) + (m_p - m_q)^T S_p^-1 (m_p - m_q) - D + log det S_p - log det S_q],

    with tr(S_p^-1 S_q) = sum_ij A_ij^2 sigma_j^2, the Mahalanobis term ||A (m_p - m_q)||^2 and
    log det S_p = -2 sum_i log A_ii.
    """
    a = prior_precision_tril
    trace = jnp.sum(jnp.square(a) * jnp.exp(log_var)[..., None, :], axis=(-2, -1))
    whitened = jnp.einsum("...ij,...j->...i", a, prior_mean - mean)
    log_det_p = -2.0 * jnp.sum(jnp.log(jnp.diagonal(a, axis1=-2, axis2=-1)), axis=-1)
    return 0.5 * (trace + jnp.sum(jnp.square(whitened), axis=-1) - mean.shape[-1] + log_det_p - jnp.sum(log_var, axis=-1))


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Elementwise log Bernoulli(x; sigmoid(logits)) = x * l - softplus(l), stable for large |l|."""
    return x * logits - jax.nn.softplus(logits)


def sum_except_batch(x: jax.Array) -> jax.Array:
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)
