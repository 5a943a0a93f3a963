"""The forward process q(x_t | x_0), its posterior q(x_{t-1} | x_t, x_0), and the conversions between
what a network predicts (eps, x_0 or v) and x_0 / eps.

`t` is a (B,) int array of 0-based indices (entry t is the paper's timestep t + 1, see schedules.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion.schedules import Schedule

PARAMETERISATIONS = ("eps", "x0", "v")


def at(values: jax.Array, t: jax.Array, like: jax.Array) -> jax.Array:
    """values[t] shaped (B, 1, ..., 1) to broadcast against `like` (B, ...)."""
    return values[t].reshape((t.shape[0],) + (1,) * (like.ndim - 1)).astype(like.dtype)


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, a draw of q(x_t | x_0) (Ho et al. eq. 4)."""
    return at(schedule.sqrt_alpha_bar, t, x0) * x0 + at(schedule.sqrt_one_minus_alpha_bar, t, x0) * eps


def q_posterior(schedule: Schedule, x0: jax.Array, xt: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Mean, variance tilde_beta_t and (clipped) log-variance of q(x_{t-1} | x_t, x_0) (Ho et al. eq. 6-7)."""
    mean = at(schedule.posterior_coef_x0, t, xt) * x0 + at(schedule.posterior_coef_xt, t, xt) * xt
    return mean, at(schedule.posterior_variance, t, xt), at(schedule.posterior_log_variance, t, xt)


def x0_from_eps(schedule: Schedule, xt: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    return (xt - at(schedule.sqrt_one_minus_alpha_bar, t, xt) * eps) / at(schedule.sqrt_alpha_bar, t, xt)


def eps_from_x0(schedule: Schedule, xt: jax.Array, t: jax.Array, x0: jax.Array) -> jax.Array:
    return (xt - at(schedule.sqrt_alpha_bar, t, xt) * x0) / at(schedule.sqrt_one_minus_alpha_bar, t, xt)


def v_target(schedule: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022)."""
    return at(schedule.sqrt_alpha_bar, t, x0) * eps - at(schedule.sqrt_one_minus_alpha_bar, t, x0) * x0


def regression_target(parameterisation: str, schedule: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """What the network is trained to output under `parameterisation`."""
    if parameterisation == "eps":
        return eps
    if parameterisation == "x0":
        return x0
    if parameterisation == "v":
        return v_target(schedule, x0, t, eps)
    raise ValueError(f"unknown parameterisation '{parameterisation}'; choose one of {PARAMETERISATIONS}")


def predict_x0_eps(
    parameterisation: str, schedule: Schedule, output: jax.Array, xt: jax.Array, t: jax.Array, clip: bool = False
) -> tuple[jax.Array, jax.Array]:
    """(x_0, eps) implied by the network `output` at (x_t, t). With `clip`, x_0 is clipped to [-1, 1]
    and eps re-derived from the clipped x_0, so that both stay consistent with x_t."""
    if parameterisation == "eps":
        x0 = x0_from_eps(schedule, xt, t, output)
    elif parameterisation == "x0":
        x0 = output
    elif parameterisation == "v":
        x0 = at(schedule.sqrt_alpha_bar, t, xt) * xt - at(schedule.sqrt_one_minus_alpha_bar, t, xt) * output
    else:
        raise ValueError(f"unknown parameterisation '{parameterisation}'; choose one of {PARAMETERISATIONS}")
    if clip:
        x0 = jnp.clip(x0, -1.0, 1.0)
    if parameterisation == "eps" and not clip:
        return x0, output
    return x0, eps_from_x0(schedule, xt, t, x0)
