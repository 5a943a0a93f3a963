"""Samplers: DDIM(eta=1, all steps) = DDPM(tilde beta); the scan = a Python loop of Algorithm 2;
guidance conventions; one trace; jit, vmap and a sharded batch."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import from_betas, samplers
from jaxgen import parallel

BETAS = np.linspace(1e-3, 0.2, 40)
SHAPE = (4, 3, 3, 1)


def toy_eps_model(x, t):
    """Some fixed, non-trivial function of (x_t, t) standing in for a trained network."""
    return jnp.tanh(x) * 0.7 + 0.01 * t[:, None, None, None].astype(x.dtype) * jnp.sin(x)


def test_ddim_with_eta_one_on_all_steps_is_ddpm_with_tilde_beta():
    schedule = from_betas(BETAS)
    rng = jax.random.PRNGKey(3)
    ddpm = samplers.ddpm_sample(toy_eps_model, schedule, rng, SHAPE, variance="tilde_beta")
    ddim = samplers.ddim_sample(toy_eps_model, schedule, rng, SHAPE, num_steps=len(BETAS), eta=1.0)
    np.testing.assert_allclose(np.asarray(ddim), np.asarray(ddpm), atol=2e-5)


def test_scan_sampler_equals_a_python_loop_of_algorithm_2():
    """Reference: x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + sigma_t z, sigma_t^2 = beta_t,
    written out step by step with the same noise; compared at every step of the trajectory."""
    schedule = from_betas(BETAS)
    rng = jax.random.PRNGKey(5)
    final, trajectory = samplers.ddpm_sample(toy_eps_model, schedule, rng, SHAPE, clip_x0=False, return_trajectory=True)
    chex.assert_shape(trajectory, (len(BETAS),) + SHAPE)
    ab = np.cumprod(1 - BETAS)
    x = np.asarray(jax.random.normal(jax.random.fold_in(rng, 0), SHAPE))
    for i, t in enumerate(range(len(BETAS) - 1, -1, -1)):
        eps = np.asarray(toy_eps_model(jnp.asarray(x, jnp.float32), jnp.full((SHAPE[0],), t)))
        x = (x - BETAS[t] / math.sqrt(1 - ab[t]) * eps) / math.sqrt(1 - BETAS[t])
        if t > 0:
            x = x + math.sqrt(BETAS[t]) * np.asarray(jax.random.normal(jax.random.fold_in(rng, t + 1), SHAPE))
        np.testing.assert_allclose(np.asarray(trajectory[i]), x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(final), x, rtol=1e-4, atol=1e-4)


def test_ddim_timesteps_and_determinism():
    taus = samplers.ddim_timesteps(1000, 50)
    assert len(taus) == 50 and taus[0] == 0 and taus[-1] == 999 and np.all(np.diff(taus) > 0)
    with pytest.raises(ValueError, match="num_steps"):
        samplers.ddim_timesteps(10, 11)
    schedule = from_betas(BETAS)
    a = samplers.ddim_sample(toy_eps_model, schedule, jax.random.PRNGKey(0), SHAPE, num_steps=10)
    b, trajectory = samplers.ddim_sample(toy_eps_model, schedule, jax.random.PRNGKey(0), SHAPE, num_steps=10, return_trajectory=True)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    chex.assert_shape(trajectory, (10,) + SHAPE)
    assert float(jnp.max(jnp.abs(a))) <= 1.0 + 1e-6  # the last step lands on the clipped x_0


def test_guidance_scale_conventions():
    def conditional(x, t, labels):
        return x * labels[:, None, None, None].astype(x.dtype) + 0.1

    labels, null = jnp.array([1, 2, 3, 4]), 0
    x, t = jnp.ones(SHAPE), jnp.zeros((4,), jnp.int32)
    cond = conditional(x, t, labels)
    uncond = conditional(x, t, jnp.zeros_like(labels))
    nulls = jnp.full_like(labels, null)
    np.testing.assert_array_equal(samplers.classifier_free_guidance(conditional, labels, nulls, 0.0)(x, t), cond)
    np.testing.assert_array_equal(samplers.classifier_free_guidance(conditional, labels, nulls, -1.0)(x, t), uncond)
    np.testing.assert_allclose(samplers.classifier_free_guidance(conditional, labels, nulls, 2.0)(x, t), 3 * cond - 2 * uncond)


def test_guidance_takes_any_pytree_of_conditions():
    def conditional(x, t, cond):  # a context of tokens and a layout, as latent diffusion's denoiser takes them
        return x * cond["context"].mean((1, 2))[:, None, None, None] + cond["boxes"].sum((1, 2))[:, None, None, None]

    cond = {"context": jnp.arange(24.0).reshape(4, 3, 2), "boxes": jnp.ones((4, 2, 4))}
    null = jax.tree.map(jnp.zeros_like, cond)
    x, t = jnp.ones(SHAPE), jnp.zeros((4,), jnp.int32)
    guided = samplers.classifier_free_guidance(conditional, cond, null, 0.5)(x, t)
    np.testing.assert_allclose(guided, 1.5 * conditional(x, t, cond) - 0.5 * conditional(x, t, null), rtol=1e-6)


def test_sampler_traces_once_and_works_under_jit_vmap_and_sharding():
    schedule = from_betas(BETAS)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(rng):
        return samplers.ddpm_sample(toy_eps_model, schedule, rng, (8, 3, 3, 1))

    first = sample(jax.random.PRNGKey(0))
    sample(jax.random.PRNGKey(1))  # a second key reuses the compiled program
    stacked = jax.vmap(sample)(jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)]))
    np.testing.assert_allclose(np.asarray(stacked[0]), np.asarray(first), atol=1e-6)
    mesh = parallel.make_mesh()
    sharded = jax.jit(
        lambda rng: samplers.ddpm_sample(toy_eps_model, schedule, rng, (8, 3, 3, 1)),
        out_shardings=parallel.batch_sharded(mesh),
    )(jax.random.PRNGKey(0))
    assert len(sharded.sharding.device_set) == 8
    np.testing.assert_allclose(np.asarray(sharded), np.asarray(first), atol=1e-6)
