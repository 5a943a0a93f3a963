"""Per-pixel likelihoods against hand computations, normalisation and their own samplers."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.autoregressive.likelihoods import (
    PixelLikelihood, logistic_mixture_log_prob, logistic_mixture_sample, model_input,
)
from jaxgen.eval.likelihood import discrete_bits_per_dim


def random_mixture_params(key, batch: int, mixtures: int, colours: int, scale: float = 1.0) -> jax.Array:
    per = 1 + 2 * colours + colours * (colours - 1) // 2
    return scale * jax.random.normal(key, (batch, mixtures * per))


def reference_mixture_probability(params: np.ndarray, x: np.ndarray, colours: int, num_levels: int) -> float:
    """The discretised logistic mixture of one pixel, written out in float64 from the paper's definition."""
    per = 1 + 2 * colours + colours * (colours - 1) // 2
    m = len(params) // per
    logits, rest = params[:m], params[m:].reshape(m, per - 1)
    pi = np.exp(logits - logits.max())
    pi /= pi.sum()
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    half = 1.0 / (num_levels - 1)
    total = 0.0
    for k in range(m):
        mu, log_s, coeff = rest[k, :colours], np.maximum(rest[k, colours : 2 * colours], -7.0), np.tanh(rest[k, 2 * colours :])
        prob, j = pi[k], 0
        for c in range(colours):
            mean = mu[c] + sum(coeff[j + i] * x[i] for i in range(c))
            j += c
            s = np.exp(log_s[c])
            upper = 1.0 if x[c] > 1 - half else sigmoid((x[c] + half - mean) / s)
            lower = 0.0 if x[c] < -1 + half else sigmoid((x[c] - half - mean) / s)
            prob *= upper - lower
        total += prob
    return total


def test_bernoulli_and_categorical_against_hand_computation():
    logits = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 3, 1, 1)) * 3
    levels = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (2, 3, 3, 1)).astype(jnp.int32)
    p = 1 / (1 + np.exp(-np.asarray(logits[..., 0], np.float64)))
    expected = np.where(np.asarray(levels) == 1, np.log(p), np.log1p(-p)).reshape(2, -1).sum(-1)
    np.testing.assert_allclose(PixelLikelihood("bernoulli", 1).log_prob(logits, levels), expected, rtol=1e-5)

    logits = jax.random.normal(jax.random.PRNGKey(2), (2, 2, 2, 3, 256))
    levels = jax.random.randint(jax.random.PRNGKey(3), (2, 2, 2, 3), 0, 256)
    lg = np.asarray(logits, np.float64)
    log_softmax = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, np.asarray(levels)[..., None], -1).reshape(2, -1).sum(-1)
    np.testing.assert_allclose(PixelLikelihood("categorical", 3).log_prob(logits, levels), expected, rtol=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_at_a_temperature_follow_the_renormalised_power_of_the_model(temperature):
    """A draw at temperature T follows p^(1/T) / sum p^(1/T), written here from the probabilities (not the
    logits); the log-probability stays the model's own."""
    n = 40_000
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    likelihood = PixelLikelihood("bernoulli", 1, temperature)
    p = 0.3
    draws = jax.vmap(lambda k: likelihood.sample_channel(k, jnp.full((1, 1), math.log(p / (1 - p))))[0])(keys)
    expected = p ** (1 / temperature) / (p ** (1 / temperature) + (1 - p) ** (1 / temperature))
    assert abs(float(draws.mean()) - expected) < 4 * math.sqrt(expected * (1 - expected) / n)

    probs = np.array([0.5, 0.3, 0.15, 0.05])
    likelihood = PixelLikelihood("categorical", 1, temperature)
    draws = jax.vmap(lambda k: likelihood.sample_channel(k, jnp.log(jnp.asarray(probs))[None])[0])(keys)
    expected = probs ** (1 / temperature) / (probs ** (1 / temperature)).sum()
    counts = np.bincount(np.asarray(draws), minlength=4) / n
    np.testing.assert_allclose(counts, expected, atol=4 * np.sqrt(expected * (1 - expected) / n).max())

    logits = jnp.array([[[[[0.7]]]]])
    np.testing.assert_allclose(likelihood_log_prob(temperature, logits), likelihood_log_prob(1.0, logits))


def likelihood_log_prob(temperature, logits):
    return PixelLikelihood("bernoulli", 1, temperature).log_prob(logits, jnp.ones(logits.shape[:-1], jnp.int32))


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0])
def test_greyscale_mixture_sums_to_one_over_the_256_levels(scale):
    params = random_mixture_params(jax.random.PRNGKey(4), 6, 5, 1, scale)
    x = model_input(jnp.arange(256), 256)[:, None]  # (256, 1)
    log_p = jax.vmap(lambda p: logistic_mixture_log_prob(jnp.broadcast_to(p, (256, p.shape[0])), x))(params)
    np.testing.assert_allclose(jnp.exp(log_p).sum(-1), 1.0, atol=2e-5)


def test_colour_mixture_matches_the_definition_and_sums_to_one():
    colours, params = 3, random_mixture_params(jax.random.PRNGKey(5), 1, 3, 3)
    levels = jax.random.randint(jax.random.PRNGKey(6), (64, 3), 0, 256).at[:4].set(jnp.array([[0, 255, 7]] * 4))
    x = model_input(levels, 256)
    ours = logistic_mixture_log_prob(jnp.broadcast_to(params, (64, params.shape[1])), x)
    reference = [math.log(reference_mixture_probability(np.asarray(params[0], np.float64), np.asarray(xi, np.float64), colours, 256))
                 for xi in x]
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)

    grid = model_input(jnp.arange(256), 256)
    g, b = jnp.meshgrid(grid, grid, indexing="ij")

    def mass_given_red(red):
        xs = jnp.stack([jnp.full(g.size, red), g.ravel(), b.ravel()], axis=-1)
        return jnp.exp(logistic_mixture_log_prob(jnp.broadcast_to(params, (g.size, params.shape[1])), xs)).sum()

    total = jax.lax.map(mass_given_red, grid).sum()
    np.testing.assert_allclose(total, 1.0, atol=1e-4)


def test_mixture_sampler_draws_the_likelihood_including_the_colour_coupling():
    """On a coarse grid (8 levels, 2 colours: 64 joint values) the sampler's histogram matches exp(log p)."""
    levels_n, colours, n = 8, 2, 200_000
    params = random_mixture_params(jax.random.PRNGKey(7), 1, 2, colours)
    # layout: 2 mixture logits, then per component (mu_1, mu_2, log s_1, log s_2, coefficient)
    params = params.at[0, jnp.array([6, 11])].set(2.0)  # both components: mu_2 += tanh(2) x_1
    draws = logistic_mixture_sample(jax.random.PRNGKey(8), jnp.broadcast_to(params, (n, params.shape[1])), colours, levels_n)
    empirical = np.bincount(np.asarray(draws[:, 0] * levels_n + draws[:, 1]), minlength=levels_n**2) / n
    grid = jnp.array(list(itertools.product(range(levels_n), repeat=2)))
    exact = np.exp(logistic_mixture_log_prob(jnp.broadcast_to(params, (grid.shape[0], params.shape[1])),
                                             model_input(grid, levels_n), levels_n))
    np.testing.assert_allclose(exact.sum(), 1.0, atol=1e-5)
    assert 0.5 * np.abs(empirical - exact).sum() < 0.01


def test_bits_per_dim_of_a_uniform_8bit_model_is_8():
    dims = 32 * 32 * 3
    uniform_nats = dims * math.log(256)
    assert discrete_bits_per_dim(uniform_nats, dims) == pytest.approx(8.0)
    logits = jnp.zeros((1, 32, 32, 3, 256))
    nats = -PixelLikelihood("categorical", 3).log_prob(logits, jnp.zeros((1, 32, 32, 3), jnp.int32))[0]
    assert float(discrete_bits_per_dim(nats, dims)) == pytest.approx(8.0, rel=1e-5)
