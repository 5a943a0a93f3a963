"""Closed forms against independent computations (Monte Carlo, scipy, direct formulas)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxgen import probability


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 4)).astype(np.float32)
    log_var = rng.normal(scale=0.5, size=(3, 4)).astype(np.float32)
    closed = probability.gaussian_kl_to_standard(jnp.asarray(mean), jnp.asarray(log_var))
    chex.assert_shape(closed, (3,))
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.normal(size=(400_000, 3, 4))
    log_q = stats.norm.logpdf(z, mean, std).sum(-1)
    log_p = stats.norm.logpdf(z).sum(-1)
    monte_carlo = (log_q - log_p).mean(0)
    np.testing.assert_allclose(closed, monte_carlo, atol=0.02)


def test_kl_is_zero_only_at_the_prior():
    assert float(probability.gaussian_kl_to_standard(jnp.zeros((1, 5)), jnp.zeros((1, 5)))[0]) == 0.0
    assert float(probability.gaussian_kl_to_standard(jnp.full((1, 5), 0.1), jnp.zeros((1, 5)))[0]) > 0.0


def test_gaussian_log_density_matches_scipy():
    x, mean, log_var = jnp.array([0.3, -2.0]), jnp.array([0.0, 1.0]), jnp.array([0.5, -1.0])
    expected = stats.norm.logpdf(np.asarray(x), np.asarray(mean), np.exp(0.5 * np.asarray(log_var)))
    np.testing.assert_allclose(probability.gaussian_log_density(x, mean, log_var), expected, rtol=1e-6)
    np.testing.assert_allclose(
        probability.standard_normal_log_density(x[None]), stats.norm.logpdf(np.asarray(x)).sum(), rtol=1e-6
    )


def test_bernoulli_log_likelihood_matches_direct_formula_and_is_stable():
    logits = jnp.array([-3.0, 0.0, 2.5])
    x = jnp.array([1.0, 0.0, 1.0])
    p = jax.nn.sigmoid(logits)
    direct = x * jnp.log(p) + (1 - x) * jnp.log1p(-p)
    np.testing.assert_allclose(probability.bernoulli_log_likelihood(logits, x), direct, rtol=1e-5)
    extreme = probability.bernoulli_log_likelihood(jnp.array([200.0, -200.0]), jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(extreme, [-200.0, -200.0])


def _random_scale_tril(rng: np.random.Generator, batch: int, dim: int) -> np.ndarray:
    """Cholesky factors L of random covariances; the functions take A = L^-1, also lower-triangular."""
    a = rng.normal(size=(batch, dim, dim))
    return np.linalg.cholesky(a @ a.transpose(0, 2, 1) / dim + 0.3 * np.eye(dim))


def test_full_gaussian_log_density_matches_scipy():
    rng = np.random.default_rng(1)
    tril = _random_scale_tril(rng, 3, 4)
    mean, z = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    ours = probability.full_gaussian_log_density(jnp.asarray(z), jnp.asarray(mean), jnp.asarray(np.linalg.inv(tril)))
    chex.assert_shape(ours, (3,))
    expected = [stats.multivariate_normal(mean[i], tril[i] @ tril[i].T).logpdf(z[i]) for i in range(3)]
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_kl_to_a_full_gaussian_matches_monte_carlo_and_the_standard_case():
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(3, 4))
    log_var = rng.normal(scale=0.5, size=(3, 4))
    prior_mean, tril = rng.normal(size=(3, 4)), _random_scale_tril(rng, 3, 4)
    closed = probability.gaussian_kl_to_full(*map(jnp.asarray, (mean, log_var, prior_mean, np.linalg.inv(tril))))
    chex.assert_shape(closed, (3,))
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.normal(size=(200_000, 3, 4))
    log_q = stats.norm.logpdf(z, mean, std).sum(-1)
    log_p = np.stack([stats.multivariate_normal(prior_mean[i], tril[i] @ tril[i].T).logpdf(z[:, i]) for i in range(3)], -1)
    np.testing.assert_allclose(closed, (log_q - log_p).mean(0), atol=0.03)
    identity = jnp.broadcast_to(jnp.eye(4), (3, 4, 4))
    np.testing.assert_allclose(
        probability.gaussian_kl_to_full(jnp.asarray(mean), jnp.asarray(log_var), jnp.zeros((3, 4)), identity),
        probability.gaussian_kl_to_standard(jnp.asarray(mean), jnp.asarray(log_var)), rtol=1e-5,
    )
