"""L_simple, the discretised Gaussian decoder and the full variational bound against closed forms."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.diffusion import from_betas, losses, process

LEVELS = np.linspace(-1.0, 1.0, 256)


def test_simple_loss_is_the_pixel_mean_squared_error_with_weights():
    out, target = jnp.ones((2, 3, 3, 1)), jnp.zeros((2, 3, 3, 1))
    np.testing.assert_allclose(losses.simple_loss(out, target), [1.0, 1.0])
    np.testing.assert_allclose(losses.simple_loss(out, target, jnp.array([0.5, 2.0])), [0.5, 2.0])


def _network_errors(parameterisation, seed=0):
    """A 20-step schedule, x_0, t, x_t and two arbitrary network outputs with their regression target."""
    schedule = from_betas(np.linspace(0.01, 0.3, 20))
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    x0 = jax.random.uniform(keys[0], (6, 4, 4, 1), minval=-1.0, maxval=1.0)
    eps = jax.random.normal(keys[1], x0.shape)
    t = jnp.array([1, 2, 5, 9, 14, 19])
    outputs = [jax.random.normal(k, x0.shape) for k in keys[2:]]
    return schedule, x0, t, eps, outputs, process.regression_target(parameterisation, schedule, x0, t, eps)


@pytest.mark.parametrize("parameterisation", ["eps", "x0", "v"])
@pytest.mark.parametrize("weighting", ["none", "min_snr", "truncated_snr"])
def test_timestep_weights_give_lambda_times_the_x0_error(weighting, parameterisation):
    """weights * L_simple equals lambda(t) * mean || x_0 - x_0_hat ||^2, with x_0_hat implied by the output
    and lambda from the papers in float64 (the none row: L_simple itself in x_0 units)."""
    schedule, x0, t, eps, (out, _), target = _network_errors(parameterisation)
    weights = losses.timestep_weights(weighting, schedule, t, parameterisation, min_snr_gamma=5.0)
    weighted = weights * losses.simple_loss(out, target)
    alpha_bar = np.cumprod(1.0 - np.linspace(0.01, 0.3, 20))[np.asarray(t)]
    snr = alpha_bar / (1.0 - alpha_bar)
    lam = {
        "none": {"eps": snr, "x0": np.ones_like(snr), "v": snr + 1.0}[parameterisation],
        "min_snr": np.minimum(snr, 5.0),
        "truncated_snr": np.maximum(snr, 1.0),
    }[weighting]
    xt = process.q_sample(schedule, x0, t, eps)
    x0_hat, _ = process.predict_x0_eps(parameterisation, schedule, out, xt, t)
    x0_error = np.mean(np.square(np.asarray(x0 - x0_hat, np.float64)), axis=(1, 2, 3))
    np.testing.assert_allclose(weighted, lam * x0_error, rtol=2e-4)


@pytest.mark.parametrize("variance", ["beta", "tilde_beta"])
@pytest.mark.parametrize("parameterisation", ["eps", "x0", "v"])
def test_vlb_weights_reproduce_the_bound_terms(parameterisation, variance):
    """With the vlb weighting, the weighted loss of two different outputs differs exactly as the bound's
    L_{t-1} terms (t > 0) do: the weight is the bound's up to the model-free variance terms."""
    schedule, x0, t, eps, outputs, target = _network_errors(parameterisation, seed=1)
    dims = int(np.prod(x0.shape[1:]))
    weights = losses.timestep_weights("vlb", schedule, t, parameterisation, num_dims=dims, variance=variance)
    weighted = [weights * losses.simple_loss(out, target) for out in outputs]
    terms = [losses.bound_term(lambda x, tt, o=out: o, schedule, x0, t, eps, parameterisation, variance) for out in outputs]
    np.testing.assert_allclose(weighted[0] - weighted[1], terms[0] - terms[1], rtol=1e-3, atol=1e-3)


def test_unknown_weighting_is_one_clear_error():
    schedule = from_betas(np.linspace(0.01, 0.3, 20))
    with pytest.raises(ValueError, match="unknown loss weighting 'snr2'"):
        losses.timestep_weights("snr2", schedule, jnp.array([1]), "eps")


@pytest.mark.parametrize("mean, log_scale", [(0.1, math.log(0.05)), (0.9, math.log(0.3)), (-3.0, 0.0), (0.0, math.log(1e-3))])
def test_discretized_gaussian_sums_to_one_and_matches_brute_force(mean, log_scale):
    x = jnp.asarray(LEVELS, jnp.float32)
    log_p = np.asarray(losses.discretized_gaussian_log_likelihood(x, jnp.float32(mean), jnp.float32(log_scale)), np.float64)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-4)
    scale = math.exp(log_scale)
    upper = np.where(LEVELS > 0.999, np.inf, LEVELS + 1 / 255)
    lower = np.where(LEVELS < -0.999, -np.inf, LEVELS - 1 / 255)
    brute = stats.norm.cdf(upper, mean, scale) - stats.norm.cdf(lower, mean, scale)
    significant = brute > 1e-30
    np.testing.assert_allclose(np.exp(log_p[significant]), brute[significant], rtol=2e-3, atol=1e-6)


def test_variational_bound_of_a_trivial_model_equals_its_closed_form():
    """A model that always predicts x_0 = 0: every term is deterministic (the posterior-mean gap is
    coef_x0 * x_0 whatever x_t is), so the bound has a closed form, computed here in float64."""
    betas = np.linspace(0.01, 0.3, 20)
    schedule = from_betas(betas)
    x0 = jnp.asarray(LEVELS[[100, 120, 128, 140]].reshape(1, 2, 2, 1), jnp.float32)  # within ~3 sigma of the decoder mean 0
    bound = losses.variational_bound(lambda x, t: jnp.zeros_like(x), schedule, x0, jax.random.PRNGKey(0), "x0", "beta")

    x = np.asarray(x0, np.float64).ravel()
    ab = np.cumprod(1 - betas)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    tilde = betas * (1 - ab_prev) / (1 - ab)
    coef_x0 = betas * np.sqrt(ab_prev) / (1 - ab)

    def kl(m1, v1, m2, v2):
        return 0.5 * (np.log(v2 / v1) + v1 / v2 + (m1 - m2) ** 2 / v2 - 1)

    prior = kl(np.sqrt(ab[-1]) * x, 1 - ab[-1], 0.0, 1.0).sum()
    terms = [kl(coef_x0[t] * x, tilde[t], 0.0, betas[t]).sum() for t in range(1, 20)]
    sigma = math.sqrt(tilde[1])  # the decoder's variance at t = 1 (Ho et al.'s code)
    upper = np.where(x > 0.999, np.inf, x + 1 / 255)
    lower = np.where(x < -0.999, -np.inf, x - 1 / 255)
    decoder = -np.log(stats.norm.cdf(upper / sigma) - stats.norm.cdf(lower / sigma)).sum()
    assert float(bound["prior"][0]) == pytest.approx(prior, rel=1e-4)
    np.testing.assert_allclose(np.asarray(bound["terms"][1:, 0]), terms, rtol=1e-4, atol=1e-6)
    assert float(bound["decoder"][0]) == pytest.approx(decoder, rel=1e-4)
    assert float(bound["total"][0]) == pytest.approx(prior + sum(terms) + decoder, rel=1e-4)


def test_a_perfect_denoiser_has_zero_kl_terms():
    """If the model predicts the true x_0, p_theta's mean is the posterior mean: L_{t-1} is the variance
    mismatch alone, and zero with sigma_t^2 = tilde_beta_t."""
    schedule = from_betas(np.linspace(0.01, 0.3, 10))
    x0 = jnp.asarray(LEVELS[[3, 200]].reshape(2, 1, 1, 1), jnp.float32)
    bound = losses.variational_bound(lambda x, t: jnp.broadcast_to(x0, x.shape), schedule, x0, jax.random.PRNGKey(1), "x0", "tilde_beta")
    np.testing.assert_allclose(np.asarray(bound["terms"][1:]), 0.0, atol=1e-5)
