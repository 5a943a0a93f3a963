"""IWAE bound: exact on a linear-Gaussian model with its true posterior, below log p and rising in k otherwise."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.eval.likelihood import discrete_bits_per_dim, importance_weighted_log_likelihood, nats_to_bits_per_dim
from jaxgen.probability import full_gaussian_log_density, gaussian_log_density

SIGMA2 = 0.25  # decoder variance of p(x|z) = N(W z + b, SIGMA2 I)


def linear_gaussian(seed=0, x_dim=3, z_dim=2):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(x_dim, z_dim)).astype(np.float32)
    b = rng.normal(size=(x_dim,)).astype(np.float32)
    x = rng.normal(size=(5, x_dim)).astype(np.float32) * 2.0
    # Exact marginal p(x) = N(b, W W^T + SIGMA2 I) and posterior p(z|x) = N(S W^T (x - b) / SIGMA2, S).
    log_px = stats.multivariate_normal(b, w @ w.T + SIGMA2 * np.eye(x_dim)).logpdf(x)
    s = np.linalg.inv(np.eye(z_dim) + w.T @ w / SIGMA2)
    post_mean = (x - b) @ w @ s.T / SIGMA2
    return jnp.asarray(w), jnp.asarray(b), jnp.asarray(x), log_px, post_mean, s


def likelihood_fn(w, b):
    def log_likelihood(x, z):
        return jnp.sum(gaussian_log_density(x, z @ w.T + b, jnp.full_like(x, math.log(SIGMA2))), axis=-1)

    return log_likelihood


def test_iwae_with_the_true_posterior_is_exact_for_every_k():
    w, b, x, _, _, _ = linear_gaussian()
    # Orthogonal columns of W make the exact posterior covariance S diagonal, as q's is.
    q, _ = np.linalg.qr(np.asarray(w))
    w = jnp.asarray(q * np.array([1.5, 0.7], np.float32))
    cov = np.asarray(w) @ np.asarray(w).T + SIGMA2 * np.eye(3)
    log_px = stats.multivariate_normal(np.asarray(b), cov).logpdf(np.asarray(x))
    s = np.linalg.inv(np.eye(2) + np.asarray(w).T @ np.asarray(w) / SIGMA2)
    post_mean = (np.asarray(x) - np.asarray(b)) @ np.asarray(w) @ s.T / SIGMA2
    np.testing.assert_allclose(s, np.diag(np.diag(s)), atol=1e-5)

    def posterior(x_):
        return jnp.asarray(post_mean, jnp.float32), jnp.broadcast_to(jnp.log(jnp.diag(jnp.asarray(s, jnp.float32))), post_mean.shape)

    for k, chunk in [(1, 1), (8, 4), (64, 16)]:
        bound = importance_weighted_log_likelihood(jax.random.PRNGKey(k), x, posterior, likelihood_fn(w, b), k, chunk)
        chex.assert_shape(bound, (5,))
        np.testing.assert_allclose(bound, log_px, atol=2e-4)


def test_iwae_with_a_learned_prior_is_exact_with_the_true_posterior():
    """Prior p(z) = N(m, C) given to the bound as a density: p(x) = N(W m + b, W C W^T + SIGMA2 I), posterior
    N(S (C^-1 m + W^T (x - b) / SIGMA2), S) with S = (C^-1 + W^T W / SIGMA2)^-1 -- diagonal for diagonal C and
    orthogonal columns of W, so q can be the true posterior."""
    w, b, x, _, _, _ = linear_gaussian(seed=3)
    q, _ = np.linalg.qr(np.asarray(w))
    w = q * np.array([1.2, 0.5])
    m, c = np.array([0.7, -1.5]), np.diag([2.0, 0.3])
    xs, bs = np.asarray(x, np.float64), np.asarray(b, np.float64)
    log_px = stats.multivariate_normal(w @ m + bs, w @ c @ w.T + SIGMA2 * np.eye(3)).logpdf(xs)
    s = np.linalg.inv(np.linalg.inv(c) + w.T @ w / SIGMA2)
    np.testing.assert_allclose(s, np.diag(np.diag(s)), atol=1e-6)
    post_mean = (np.linalg.inv(c) @ m + (xs - bs) @ w / SIGMA2) @ s.T
    precision_tril = jnp.asarray(np.linalg.inv(np.sqrt(c)), jnp.float32)  # A = C^-1/2 for a diagonal C

    def posterior(x_):
        return jnp.asarray(post_mean, jnp.float32), jnp.broadcast_to(jnp.log(jnp.diag(jnp.asarray(s, jnp.float32))), post_mean.shape)

    def prior(z):
        return full_gaussian_log_density(z, jnp.asarray(m, jnp.float32), precision_tril)

    w32 = jnp.asarray(w, jnp.float32)
    bound = importance_weighted_log_likelihood(jax.random.PRNGKey(0), x, posterior, likelihood_fn(w32, b), 16, 8, prior)
    np.testing.assert_allclose(bound, log_px, atol=3e-4)


def test_iwae_rises_with_k_and_stays_below_log_p():
    w, b, x, log_px, post_mean, s = linear_gaussian()

    def rough_posterior(x_):  # a deliberately poor q: a shifted mean, the prior's scale
        return jnp.asarray(post_mean + 0.5, jnp.float32), jnp.zeros_like(jnp.asarray(post_mean))

    bounds = []
    for k in (1, 10, 100, 1000):
        estimates = [
            importance_weighted_log_likelihood(
                jax.random.PRNGKey(seed), x, rough_posterior, likelihood_fn(w, b), k, min(k, 100)
            )
            for seed in range(10)
        ]
        bounds.append(np.mean(estimates, axis=0))
    bounds = np.stack(bounds)
    gaps = log_px[None] - bounds  # (k, example): KL-like gap, >= 0 in expectation
    assert np.all(gaps > -0.05), gaps
    assert np.all(np.diff(bounds, axis=0) > -0.05), bounds
    assert np.all(gaps[1] < gaps[0]) and np.all(gaps[-1] < 0.25 * gaps[0])


def test_bits_per_dim_of_a_uniform_byte_is_eight():
    assert math.isclose(nats_to_bits_per_dim(784 * math.log(256.0), 784), 8.0)


def test_discrete_bits_per_dim_of_a_known_distribution():
    """A density constant on each 1/256 bin of [0, 1]: its dequantised NLL plus D log 256 is exactly
    the NLL of the discrete distribution it induces (the change-of-variables log-determinant)."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(256))
    levels = rng.integers(0, 256, size=(1000, 3))  # 3 independent dimensions
    exact_nats = -np.log(probs[levels]).sum(axis=1)
    density = probs * 256.0  # p(y) on the bin of level x has mass probs[x]
    dequantised_nats = -np.log(density[levels]).sum(axis=1)
    from jaxgen.data.preprocess import DEQUANTIZE_LOG_SCALE

    bits = discrete_bits_per_dim(dequantised_nats.mean(), 3, DEQUANTIZE_LOG_SCALE)
    assert bits == pytest.approx(exact_nats.mean() / (3 * math.log(2)))
    assert discrete_bits_per_dim(3 * math.log(256.0), 3) == pytest.approx(8.0)  # uniform over 256 levels
