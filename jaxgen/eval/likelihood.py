"""Likelihood estimates for latent-variable models and unit conversions."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from jaxgen.probability import gaussian_log_density, standard_normal_log_density

PosteriorFn = Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # x -> (mean, log_var) of q(z|x)
LikelihoodFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x, z) -> log p(x|z), shape (B,)
PriorDensityFn = Callable[[jax.Array], jax.Array]  # z (B, Z) -> log p(z), shape (B,)


def importance_weighted_log_likelihood(
    rng: jax.Array,
    x: jax.Array,
    posterior_fn: PosteriorFn,
    log_likelihood_fn: LikelihoodFn,
    num_samples: int,
    chunk: int,
    prior_log_density: PriorDensityFn = standard_normal_log_density,
) -> jax.Array:
    """The IWAE bound (Burda et al. 2016) L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i | x)], per example.

    L_1 is the ELBO; L_k rises with k towards log p(x). The k samples are drawn `chunk` at a
    time and combined with a running log-sum-exp, so memory is O(chunk * batch). The prior p(z) is
    N(0, I) unless `prior_log_density` says otherwise (a learned or class-conditional prior). Returns (B,).
    """
    if num_samples % chunk:
        raise ValueError(f"num_samples={num_samples} is not a multiple of chunk={chunk}")
    mean, log_var = posterior_fn(x)
    std = jnp.exp(0.5 * log_var)

    def log_weights(key: jax.Array) -> jax.Array:  # (chunk, B)
        eps = jax.random.normal(key, (chunk,) + mean.shape, mean.dtype)
        z = mean + std * eps
        log_q = jnp.sum(gaussian_log_density(z, mean, log_var), axis=-1)
        log_px = jax.vmap(log_likelihood_fn, in_axes=(None, 0))(x, z)
        return log_px + jax.vmap(prior_log_density)(z) - log_q

    def body(running: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        return jnp.logaddexp(running, jax.nn.logsumexp(log_weights(key), axis=0)), None

    keys = jax.random.split(rng, num_samples // chunk)
    total, _ = jax.lax.scan(body, jnp.full(mean.shape[:1], -jnp.inf, mean.dtype), keys)
    return total - math.log(num_samples)


def nats_to_bits_per_dim(nats: jax.Array | float, num_dims: int) -> jax.Array | float:
    """Negative log-likelihood per example in nats -> bits per dimension."""
    return nats / (num_dims * math.log(2.0))


def discrete_bits_per_dim(nll_nats: jax.Array | float, num_dims: int, log_scale: float = 0.0) -> jax.Array | float:
    """Bits/dim of the discrete data from a model's negative log-likelihood in nats, per example.

    A model of the integer levels themselves (PixelCNN's softmax, a discretised logistic) needs
    `log_scale` = 0. A density on rescaled, dequantised data y = (x + u) / s has, by the change of
    variables, -log P(x) <= -log p(y) + D log s (Theis et al. 2016): pass log s per dimension
    (jaxgen.data.preprocess.DEQUANTIZE_LOG_SCALE = log 256 for data in [0, 1]).
    """
    return nats_to_bits_per_dim(nll_nats + num_dims * log_scale, num_dims)
