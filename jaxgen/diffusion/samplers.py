"""Samplers as pure functions `f(denoise_fn, schedule, rng, shape, ...) -> x_0`, each a `lax.scan`
over timesteps: the 1000-step sampler compiles like one step, and runs under jit, vmap and shardings.

`denoise_fn(x_t, t) -> output` is any closure (parameters bound, guidance applied); `t` is (B,) int32
of 0-based timesteps. Randomness: x_T from `fold_in(rng, 0)`, the noise added at step t from
`fold_in(rng, t + 1)`, so DDPM and DDIM with eta = 1 over all T steps draw the same numbers.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import process
from jaxgen.diffusion.losses import DenoiseFn, model_log_variance
from jaxgen.diffusion.schedules import Schedule

ConditionalDenoiseFn = Callable[[jax.Array, jax.Array, Any], jax.Array]  # (x_t, t, conditions) -> output


def _initial_noise(rng: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.normal(jax.random.fold_in(rng, 0), shape, jnp.float32)


def _step_noise(rng: jax.Array, t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.normal(jax.random.fold_in(rng, t + 1), shape, jnp.float32)


def ddpm_sample(
    denoise_fn: DenoiseFn,
    schedule: Schedule,
    rng: jax.Array,
    shape: tuple[int, ...],
    parameterisation: str = "eps",
    variance: str = "beta",
    clip_x0: bool = True,
    return_trajectory: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Ancestral sampling, Ho et al. Algorithm 2: x_{t-1} = mu_theta(x_t, t) + sigma_t z, no noise at the
    last step; sigma_t^2 = beta_t or tilde_beta_t (`variance`). mu_theta is the posterior mean at the
    predicted x_0 (clipped to [-1, 1] with `clip_x0`), equal to eq. 11 for an eps model without clipping.
    Returns x_0, and with `return_trajectory` also x_t for every step, (T, *shape) (x_{T-1} ... x_0)."""
    log_var = model_log_variance(schedule, variance)

    def step(x: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        tb = jnp.full((shape[0],), t, jnp.int32)
        x0, _ = process.predict_x0_eps(parameterisation, schedule, denoise_fn(x, tb), x, tb, clip_x0)
        mean, _, _ = process.q_posterior(schedule, x0, x, tb)
        noise = jnp.where(t > 0, jnp.exp(0.5 * log_var[t]), 0.0) * _step_noise(rng, t, shape)
        x = mean + noise
        return x, (x if return_trajectory else None)

    x, trajectory = jax.lax.scan(step, _initial_noise(rng, shape), jnp.arange(schedule.num_steps - 1, -1, -1))
    return (x, trajectory) if return_trajectory else x


def ddim_timesteps(num_train_steps: int, num_steps: int) -> np.ndarray:
    """The strided sub-sequence tau (0-based, increasing) of `num_steps` of the T training timesteps,
    evenly spaced from 0 to T - 1."""
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(f"DDIM needs 1 <= num_steps <= {num_train_steps}, got {num_steps}")
    return np.unique(np.round(np.linspace(0, num_train_steps - 1, num_steps)).astype(np.int32))


def ddim_sample(
    denoise_fn: DenoiseFn,
    schedule: Schedule,
    rng: jax.Array,
    shape: tuple[int, ...],
    num_steps: int = 50,
    eta: float = 0.0,
    parameterisation: str = "eps",
    clip_x0: bool = True,
    return_trajectory: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """DDIM (Song et al. 2021, eq. 12) over `num_steps` strided timesteps:
    x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps_hat + sigma z, with
    sigma = eta sqrt((1 - a_prev) / (1 - a) (1 - a / a_prev)). eta = 0 is the deterministic
    probability-flow path; eta = 1 on all T steps is DDPM with sigma_t^2 = tilde_beta_t."""
    taus = jnp.asarray(ddim_timesteps(schedule.num_steps, num_steps))
    prev = jnp.concatenate([jnp.array([-1], jnp.int32), taus[:-1]])  # -1: alpha_bar = 1 after the last step

    def step(x: jax.Array, t_prev: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array | None]:
        t, t_prev_index = t_prev
        tb = jnp.full((shape[0],), t, jnp.int32)
        x0, eps = process.predict_x0_eps(parameterisation, schedule, denoise_fn(x, tb), x, tb, clip_x0)
        a = schedule.alpha_bar[t]
        a_prev = jnp.where(t_prev_index >= 0, schedule.alpha_bar[jnp.maximum(t_prev_index, 0)], 1.0)
        sigma = eta * jnp.sqrt((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev))
        x = jnp.sqrt(a_prev) * x0 + jnp.sqrt(jnp.maximum(1.0 - a_prev - sigma**2, 0.0)) * eps
        x = x + sigma * _step_noise(rng, t, shape)
        return x, (x if return_trajectory else None)

    x, trajectory = jax.lax.scan(step, _initial_noise(rng, shape), (taus[::-1], prev[::-1]))
    return (x, trajectory) if return_trajectory else x


def classifier_free_guidance(denoise_fn: ConditionalDenoiseFn, cond: Any, null_cond: Any, scale: float) -> DenoiseFn:
    """Ho & Salimans 2022: eps~ = (1 + w) eps(x, c) - w eps(x, null), with `cond` and `null_cond` pytrees of
    batched conditions (labels, context tokens, boxes). w = 0 is the conditional model and w = -1 the
    unconditional one, exactly (one evaluation each); latent diffusion's s is 1 + w. Otherwise both
    evaluations run as one batch of 2B."""
    if scale == 0.0:
        return lambda x, t: denoise_fn(x, t, cond)
    if scale == -1.0:
        return lambda x, t: denoise_fn(x, t, null_cond)

    def guided(x: jax.Array, t: jax.Array) -> jax.Array:
        both = denoise_fn(
            jnp.concatenate([x, x]), jnp.concatenate([t, t]), jax.tree.map(lambda c, n: jnp.concatenate([c, n]), cond, null_cond)
        )
        conditional, unconditional = jnp.split(both, 2)
        return (1.0 + scale) * conditional - scale * unconditional

    return guided
