"""Noise schedules beta_1..beta_T and every quantity derived from them.

Indexing: arrays are 0-based, entry t holds the paper's timestep t + 1. So `alpha_bar[t]` is
alpha_bar_{t+1} = prod_{s <= t+1} (1 - beta_s), and `alpha_bar_prev[t]` is alpha_bar_t with
alpha_bar_0 = 1. Everything is computed in float64 with numpy, then stored as float32.
"""
from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Schedule:
    """A fixed variance schedule (a pytree: pass it to jitted functions or close over it)."""

    betas: jax.Array
    alphas: jax.Array
    alpha_bar: jax.Array
    alpha_bar_prev: jax.Array
    sqrt_alpha_bar: jax.Array
    sqrt_one_minus_alpha_bar: jax.Array
    # posterior q(x_{t-1} | x_t, x_0) = N(coef_x0 * x_0 + coef_xt * x_t, tilde_beta)
    posterior_variance: jax.Array
    posterior_log_variance: jax.Array  # log tilde_beta, with tilde_beta_1 (= 0) replaced by tilde_beta_2
    posterior_coef_x0: jax.Array
    posterior_coef_xt: jax.Array

    @property
    def num_steps(self) -> int:
        return self.betas.shape[0]


def from_betas(betas: np.ndarray) -> Schedule:
    """The schedule of given betas (each in (0, 1))."""
    b = np.asarray(betas, np.float64)
    if b.ndim != 1 or not np.all((b > 0) & (b < 1)):
        raise ValueError(f"betas must be a 1-D array of values in (0, 1), got shape {b.shape}, range [{b.min()}, {b.max()}]")
    alphas = 1.0 - b
    alpha_bar = np.cumprod(alphas)
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    variance = b * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    log_variance = np.log(np.concatenate([variance[1:2], variance[1:]])) if len(b) > 1 else np.log(b)
    arrays = dict(
        betas=b,
        alphas=alphas,
        alpha_bar=alpha_bar,
        alpha_bar_prev=alpha_bar_prev,
        sqrt_alpha_bar=np.sqrt(alpha_bar),
        sqrt_one_minus_alpha_bar=np.sqrt(1.0 - alpha_bar),
        posterior_variance=variance,
        posterior_log_variance=log_variance,
        posterior_coef_x0=b * np.sqrt(alpha_bar_prev) / (1.0 - alpha_bar),
        posterior_coef_xt=(1.0 - alpha_bar_prev) * np.sqrt(alphas) / (1.0 - alpha_bar),
    )
    return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in arrays.items()})


def linear_schedule(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """Ho et al. 2020: betas linear from 1e-4 to 0.02 over T = 1000 steps (the endpoints stay as given
    for other T)."""
    return from_betas(np.linspace(beta_start, beta_end, num_steps, dtype=np.float64))


def scaled_linear_schedule(num_steps: int = 1000, beta_start: float = 0.0015, beta_end: float = 0.0195) -> Schedule:
    """Latent diffusion's 'linear' schedule (Rombach et al. 2022, the LDM configs' linear_start/linear_end):
    sqrt(beta_t) linear from sqrt(beta_start) to sqrt(beta_end), so betas grow quadratically."""
    return from_betas(np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_steps, dtype=np.float64) ** 2)


def cosine_schedule(num_steps: int = 1000, offset: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal 2021: alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t / T + s) / (1 + s)) pi / 2),
    betas clipped at `max_beta` to avoid the singularity at t = T."""

    def f(t: float) -> float:
        return math.cos((t / num_steps + offset) / (1 + offset) * math.pi / 2) ** 2

    betas = [min(1 - f(t + 1) / f(t), max_beta) for t in range(num_steps)]
    return from_betas(np.asarray(betas))
