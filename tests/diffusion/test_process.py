"""Schedules, the forward process and its posterior against closed forms and brute-force Gaussians."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import cosine_schedule, from_betas, linear_schedule, process, scaled_linear_schedule


def test_scaled_linear_schedule_is_the_ldm_configs():
    """linear_start 0.0015, linear_end 0.0195 over 1000 steps: beta_t = (sqrt(0.0015) + t / 999 (sqrt(0.0195) -
    sqrt(0.0015)))^2, e.g. the middle one by hand; alpha_bar_T is the product of the alphas."""
    s = scaled_linear_schedule()
    betas = np.asarray(s.betas, np.float64)
    assert betas[0] == pytest.approx(0.0015, rel=1e-5) and betas[-1] == pytest.approx(0.0195, rel=1e-5)
    middle = (np.sqrt(0.0015) + 500 / 999 * (np.sqrt(0.0195) - np.sqrt(0.0015))) ** 2
    assert betas[500] == pytest.approx(middle, rel=1e-5)
    np.testing.assert_allclose(np.diff(np.sqrt(betas)), (np.sqrt(0.0195) - np.sqrt(0.0015)) / 999, rtol=1e-3)
    assert float(np.prod(1 - betas)) == pytest.approx(float(s.alpha_bar[-1]), rel=1e-4)


def test_linear_schedule_is_ho_et_al():
    s = linear_schedule()
    assert s.num_steps == 1000
    np.testing.assert_allclose([s.betas[0], s.betas[-1]], [1e-4, 0.02], rtol=1e-6)
    expected = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(s.alpha_bar, expected, rtol=1e-5)
    assert float(s.alpha_bar[-1]) == pytest.approx(4.04e-5, rel=0.01)  # x_T is almost pure noise


def test_cosine_schedule_follows_its_alpha_bar_formula():
    s = cosine_schedule(100)
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = np.array([f(t + 1) / f(0) for t in range(100)])
    np.testing.assert_allclose(s.alpha_bar[:-1], expected[:-1], rtol=1e-4)  # the last beta is clipped at 0.999
    assert float(s.betas.max()) == pytest.approx(0.999)


def test_bad_betas_are_refused():
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        from_betas(np.array([0.1, 1.0]))


def test_q_sample_marginals_match_alpha_bar():
    s = linear_schedule()
    n = 200_000
    x0 = jnp.full((n, 1), 0.7)
    for t_index in (0, 300, 999):
        t = jnp.full((n,), t_index)
        xt = process.q_sample(s, x0, t, jax.random.normal(jax.random.PRNGKey(t_index), x0.shape))
        ab = float(s.alpha_bar[t_index])
        assert float(xt.mean()) == pytest.approx(math.sqrt(ab) * 0.7, abs=4 / math.sqrt(n))
        assert float(xt.var()) == pytest.approx(1 - ab, rel=0.02, abs=2e-5)


def test_posterior_matches_gaussian_conditioning():
    """q(x_{t-1} | x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0, conditioned in float64."""
    s = linear_schedule(50, 1e-3, 0.2)
    betas = np.linspace(1e-3, 0.2, 50)
    ab = np.cumprod(1 - betas)
    x0, xt_value = 0.3, -0.8
    for t in (1, 10, 49):  # 0-based: x_t is the paper's x_{t+1}, x_{t-1} the paper's x_t
        mean_prev, var_prev = math.sqrt(ab[t - 1]) * x0, 1 - ab[t - 1]
        a = 1 - betas[t]
        mean_t, var_t, cov = math.sqrt(a) * mean_prev, a * var_prev + betas[t], math.sqrt(a) * var_prev
        expected_mean = mean_prev + cov / var_t * (xt_value - mean_t)
        expected_var = var_prev - cov**2 / var_t
        mean, var, _ = process.q_posterior(s, jnp.array([[x0]]), jnp.array([[xt_value]]), jnp.array([t]))
        assert float(mean[0, 0]) == pytest.approx(expected_mean, rel=1e-5)
        assert float(var[0, 0]) == pytest.approx(expected_var, rel=1e-5)


@pytest.mark.parametrize("parameterisation", ["eps", "x0", "v"])
def test_parameterisations_recover_x0_and_eps(parameterisation):
    s = linear_schedule()
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.uniform(k1, (6, 4, 4, 1), minval=-1, maxval=1)
    eps = jax.random.normal(k2, x0.shape)
    t = jnp.array([0, 1, 100, 500, 900, 999])
    xt = process.q_sample(s, x0, t, eps)
    output = process.regression_target(parameterisation, s, x0, t, eps)
    x0_hat, eps_hat = process.predict_x0_eps(parameterisation, s, output, xt, t)
    chex.assert_trees_all_close((x0_hat, eps_hat), (x0, eps), atol=2e-3)
