"""Training losses and the variational bound.

- L_simple (Ho et al. eq. 14): E_{t, x_0, eps} || target - f_theta(x_t, t) ||^2, the target being eps, x_0
  or v by parameterisation, averaged over pixels; `weights` (per example, e.g. a function of t) is the
  per-timestep weighting hook, and `timestep_weights` gives the weightings of the literature.
- The bound L = L_T + sum_{t=2}^T L_{t-1} + L_0 (Ho et al. eq. 5) in nats per example, with
  L_T = KL(q(x_T | x_0) || N(0, I)), L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)) and
  L_0 = -log p_theta(x_0 | x_1) under the discretised Gaussian decoder over 256 levels of [-1, 1].
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from jaxgen.diffusion import process
from jaxgen.diffusion.schedules import Schedule

DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t, t) -> network output
VARIANCES = ("beta", "tilde_beta")
WEIGHTINGS = ("none", "min_snr", "truncated_snr", "vlb")


def simple_loss(output: jax.Array, target: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Per-example mean squared error over pixels, times `weights` (B,) when given: (B,)."""
    per_example = jnp.mean(jnp.square(output.astype(jnp.float32) - target), axis=tuple(range(1, output.ndim)))
    return per_example if weights is None else per_example * weights


def signal_to_noise(schedule: Schedule, t: jax.Array) -> jax.Array:
    """SNR(t) = alpha_bar_t / (1 - alpha_bar_t): (B,)."""
    return schedule.alpha_bar[t] / (1.0 - schedule.alpha_bar[t])


def timestep_weights(
    weighting: str, schedule: Schedule, t: jax.Array, parameterisation: str, *, num_dims: int = 1,
    variance: str = "beta", min_snr_gamma: float = 5.0,
) -> jax.Array:
    """Per-example weights (B,) for `simple_loss` of a `parameterisation` network, so that the weighted
    loss is lambda(t) || x_0 - x_0_hat ||^2 averaged over pixels, with lambda(t):

    - none: the unweighted L_simple of the parameterisation (lambda = SNR for eps, 1 for x0, SNR + 1 for v);
    - min_snr: min(SNR, gamma) (Hang et al. 2023, gamma = `min_snr_gamma`);
    - truncated_snr: max(SNR, 1) (Salimans & Ho 2022);
    - vlb: coef_x0_t^2 / (2 sigma_t^2) * num_dims, so that for t > 0 (0-based) the weighted loss differs from
      the bound's L_{t-1} (in nats summed over the `num_dims` dimensions, sigma_t^2 from `variance`) only by a
      constant: Ho et al.'s "true variational bound" ablation, eq. 12 for eps.

    The network's squared error is || x_0 - x_0_hat ||^2 times SNR (eps), 1 (x0) or SNR + 1 (v) at the same
    x_t, so each weight is lambda(t) divided by that factor.
    """
    snr = signal_to_noise(schedule, t)
    factor = {"eps": snr, "x0": jnp.ones_like(snr), "v": snr + 1.0}.get(parameterisation)
    if factor is None:
        raise ValueError(f"unknown parameterisation '{parameterisation}'; choose one of {process.PARAMETERISATIONS}")
    if weighting == "none":
        return jnp.ones_like(snr)
    if weighting == "min_snr":
        lam = jnp.minimum(snr, min_snr_gamma)
    elif weighting == "truncated_snr":
        lam = jnp.maximum(snr, 1.0)
    elif weighting == "vlb":
        lam = num_dims * jnp.square(schedule.posterior_coef_x0[t]) * 0.5 * jnp.exp(-model_log_variance(schedule, variance)[t])
    else:
        raise ValueError(f"unknown loss weighting '{weighting}'; choose one of {WEIGHTINGS}")
    return lam / factor


def normal_kl(mean1: jax.Array, log_var1: jax.Array, mean2: jax.Array, log_var2: jax.Array) -> jax.Array:
    """Elementwise KL(N(mean1, var1) || N(mean2, var2))."""
    return 0.5 * (log_var2 - log_var1 + jnp.exp(log_var1 - log_var2) + jnp.square(mean1 - mean2) * jnp.exp(-log_var2) - 1.0)


def discretized_gaussian_log_likelihood(x: jax.Array, mean: jax.Array, log_scale: jax.Array) -> jax.Array:
    """Elementwise log P(x) for x on the 256 levels of [-1, 1] (spacing 2/255) under N(mean, exp(log_scale)^2)
    integrated over each level's bin; the end bins extend to -inf and +inf so the masses sum to one."""
    inv_scale = jnp.exp(-log_scale)
    upper = (x - mean + 1.0 / 255.0) * inv_scale
    lower = (x - mean - 1.0 / 255.0) * inv_scale
    log_cdf_upper = log_ndtr(upper)
    log_survival_lower = log_ndtr(-lower)
    # log(Phi(upper) - Phi(lower)) computed as log Phi(u) + log(1 - Phi(l)/Phi(u)), stable in both tails
    log_mid = jnp.where(
        lower > 0,
        log_survival_lower + jnp.log1p(-jnp.exp(log_ndtr(-upper) - log_survival_lower)),
        log_cdf_upper + jnp.log1p(-jnp.exp(log_ndtr(lower) - log_cdf_upper)),
    )
    return jnp.where(x < -0.999, log_cdf_upper, jnp.where(x > 0.999, log_survival_lower, log_mid))


def model_log_variance(schedule: Schedule, variance: str) -> jax.Array:
    """log sigma_t^2 of p_theta(x_{t-1} | x_t) (Ho et al. sec. 3.2): `beta` (sigma^2 = beta_t, with
    tilde_beta_2 at t = 1 as in their code so the decoder is not too wide) or `tilde_beta`."""
    if variance == "beta":
        return jnp.log(jnp.concatenate([schedule.posterior_variance[1:2], schedule.betas[1:]]))
    if variance == "tilde_beta":
        return schedule.posterior_log_variance
    raise ValueError(f"unknown variance '{variance}'; choose one of {VARIANCES}")


def prior_kl(schedule: Schedule, x0: jax.Array) -> jax.Array:
    """L_T = KL(q(x_T | x_0) || N(0, I)) summed over dimensions: (B,)."""
    t = jnp.full((x0.shape[0],), schedule.num_steps - 1)
    mean = process.at(schedule.sqrt_alpha_bar, t, x0) * x0
    log_var = jnp.log(process.at(1.0 - schedule.alpha_bar, t, x0))
    return jnp.sum(normal_kl(mean, log_var, 0.0, 0.0), axis=tuple(range(1, x0.ndim)))


def bound_term(
    denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array, parameterisation: str, variance: str
) -> jax.Array:
    """L_{t-1} for t > 0 (0-based) or L_0 at t = 0, in nats summed over dimensions, at x_t = q_sample(x_0, eps): (B,)."""
    xt = process.q_sample(schedule, x0, t, eps)
    x0_hat, _ = process.predict_x0_eps(parameterisation, schedule, denoise_fn(xt, t), xt, t)
    mean_q, _, log_var_q = process.q_posterior(schedule, x0, xt, t)
    mean_p, _, _ = process.q_posterior(schedule, x0_hat, xt, t)
    log_var_p = process.at(model_log_variance(schedule, variance), t, xt)
    axes = tuple(range(1, x0.ndim))
    kl = jnp.sum(normal_kl(mean_q, log_var_q, mean_p, log_var_p), axis=axes)
    decoder_nll = -jnp.sum(discretized_gaussian_log_likelihood(x0, mean_p, 0.5 * log_var_p), axis=axes)
    return jnp.where(t == 0, decoder_nll, kl)


def variational_bound(
    denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, rng: jax.Array, parameterisation: str = "eps",
    variance: str = "beta",
) -> dict[str, jax.Array]:
    """The full bound per example, all T terms evaluated (one network call per timestep, a `lax.scan`).

    Returns nats per example: `total` (B,), `prior` (L_T, (B,)), `decoder` (L_0, (B,)) and `terms`
    (T, B) with terms[t] = L_t's contribution at 0-based t (terms[0] = L_0).
    """

    def one_step(_: None, t_key: tuple[jax.Array, jax.Array]) -> tuple[None, jax.Array]:
        t, key = t_key
        eps = jax.random.normal(key, x0.shape, jnp.float32)
        return None, bound_term(denoise_fn, schedule, x0, jnp.full((x0.shape[0],), t), eps, parameterisation, variance)

    steps = jnp.arange(schedule.num_steps)
    _, terms = jax.lax.scan(one_step, None, (steps, jax.random.split(rng, schedule.num_steps)))
    prior = prior_kl(schedule, x0)
    return {"total": prior + jnp.sum(terms, axis=0), "prior": prior, "decoder": terms[0], "terms": terms}
