"""Per-pixel output distributions of the autoregressive models, on integer levels 0 .. L-1.

  bernoulli         L = 2, one logit per channel: log p = x l - softplus(l)
  categorical       L = 256, a softmax over the levels per channel (PixelCNN, PixelRNN)
  logistic_mixture  L = 256, the discretised mixture of logistics of PixelCNN++ (Salimans et al. 2017):
                    the level x (in [-1, 1], bins of width 2/255) of colour c has probability
                    sum_m pi_m [sigma((x + 1/255 - mu_mc) / s_mc) - sigma((x - 1/255 - mu_mc) / s_mc)],
                    the edge bins taking the whole tail; the colours of a pixel are one mixture
                    component with means shifted linearly by the earlier colours:
                    mu_G = mu_G' + a x_R, mu_B = mu_B' + b x_R + c x_G (a, b, c = tanh of outputs).

All log-probabilities are in nats. Models see levels through `model_input`: levels / (L-1) in [-1, 1].
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

KINDS = ("bernoulli", "categorical", "logistic_mixture")
MIN_LOG_SCALE = -7.0
LEVELS_8BIT = 256


def model_input(levels: jax.Array, num_levels: int) -> jax.Array:
    """Integer levels -> the float input of the networks, in [-1, 1]."""
    return levels.astype(jnp.float32) * (2.0 / (num_levels - 1)) - 1.0


def split_mixture_params(params: jax.Array, colours: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(..., M (1 + 2C + C(C-1)/2)) -> mixture logits (..., M), means and log-scales (..., M, C), and the
    colour coefficients tanh(.) (..., M, C(C-1)/2)."""
    per_component = 1 + 2 * colours + colours * (colours - 1) // 2
    m = params.shape[-1] // per_component
    logits = params[..., :m]
    rest = params[..., m:].reshape(params.shape[:-1] + (m, per_component - 1))
    means = rest[..., :colours]
    log_scales = jnp.maximum(rest[..., colours : 2 * colours], MIN_LOG_SCALE)
    coeffs = jnp.tanh(rest[..., 2 * colours :])
    return logits, means, log_scales, coeffs


def _conditioned_means(means: jax.Array, coeffs: jax.Array, x: jax.Array) -> jax.Array:
    """Means of every colour with the linear dependence on the pixel's earlier colours x (..., C)."""
    colours = means.shape[-1]
    shifted, k = [means[..., 0]], 0
    for c in range(1, colours):
        shift = sum(coeffs[..., k + j] * x[..., None, j] for j in range(c))
        k += c
        shifted.append(means[..., c] + shift)
    return jnp.stack(shifted, axis=-1)


def logistic_mixture_log_prob(params: jax.Array, x: jax.Array, num_levels: int = LEVELS_8BIT) -> jax.Array:
    """log P(pixel) for x (..., C) on the `num_levels` grid of [-1, 1]; params (..., P) -> (...,)."""
    colours = x.shape[-1]
    logits, means, log_scales, coeffs = split_mixture_params(params, colours)
    xm = x[..., None, :]  # (..., 1, C) against M components
    centred = xm - _conditioned_means(means, coeffs, x)
    inv_scale = jnp.exp(-log_scales)
    half_bin = 1.0 / (num_levels - 1)
    upper = inv_scale * (centred + half_bin)
    lower = inv_scale * (centred - half_bin)
    log_cdf_upper = upper - jax.nn.softplus(upper)  # log sigma(upper): the bottom bin's mass
    log_survival_lower = -jax.nn.softplus(lower)  # log (1 - sigma(lower)): the top bin's mass
    mid = inv_scale * centred
    # an interior bin: log(sigma(upper) - sigma(lower)), or density x width where that difference underflows
    delta = jax.nn.sigmoid(upper) - jax.nn.sigmoid(lower)
    log_density_mid = mid - log_scales - 2.0 * jax.nn.softplus(mid) + math.log(2.0 * half_bin)
    log_mid = jnp.where(delta > 1e-5, jnp.log(jnp.maximum(delta, 1e-12)), log_density_mid)
    log_bin = jnp.where(xm < -1.0 + half_bin, log_cdf_upper, jnp.where(xm > 1.0 - half_bin, log_survival_lower, log_mid))
    return jax.nn.logsumexp(jnp.sum(log_bin, axis=-1) + jax.nn.log_softmax(logits, axis=-1), axis=-1)


def logistic_mixture_sample(rng: jax.Array, params: jax.Array, colours: int, num_levels: int = LEVELS_8BIT) -> jax.Array:
    """One pixel's levels (..., C) int32: a component m ~ pi, then each colour in turn from its logistic
    (mean shifted by the colours already drawn), rounded to the nearest level and clipped."""
    k_component, k_noise = jax.random.split(rng)
    logits, means, log_scales, coeffs = split_mixture_params(params, colours)
    m = jax.random.categorical(k_component, logits, axis=-1)
    pick = lambda a: jnp.take_along_axis(a, m[..., None, None], axis=-2)[..., 0, :]  # noqa: E731
    means, log_scales, coeffs = pick(means), pick(log_scales), pick(coeffs)
    u = jax.random.uniform(k_noise, means.shape, minval=1e-5, maxval=1.0 - 1e-5)
    noise = jnp.exp(log_scales) * (jnp.log(u) - jnp.log1p(-u))
    levels = jnp.zeros(means.shape, jnp.int32)
    for c in range(colours):  # colour c's mean reads only the colours already drawn
        x = model_input(levels, num_levels)
        mean = _conditioned_means(means[..., None, :], coeffs[..., None, :], x)[..., 0, c]
        level = jnp.round((jnp.clip(mean + noise[..., c], -1.0, 1.0) + 1.0) * (num_levels - 1) / 2.0)
        levels = levels.at[..., c].set(level.astype(jnp.int32))
    return levels


@dataclasses.dataclass(frozen=True)
class PixelLikelihood:
    """The output distribution of a model over images of `colours` channels. `temperature` T reshapes
    the per-channel draws only (`sample_channel`: p^(1/T), renormalised, i.e. logits / T; T < 1 sharpens);
    log-probabilities are the model's own."""

    kind: str
    colours: int
    temperature: float = 1.0

    @property
    def num_levels(self) -> int:
        return 2 if self.kind == "bernoulli" else LEVELS_8BIT

    @property
    def per_channel(self) -> bool:
        """Whether each channel is its own site of the sampler (the masked models) or a pixel is one."""
        return self.kind != "logistic_mixture"

    def output_levels(self) -> int:
        """K, the per-channel output size of a masked model: 1 logit (Bernoulli) or 256 logits."""
        return 1 if self.kind == "bernoulli" else LEVELS_8BIT

    def log_prob(self, out: jax.Array, levels: jax.Array) -> jax.Array:
        """log p(image), summed over pixels and channels: (B,) in nats. `out` is (B, H, W, C, K) for the
        per-channel kinds and (B, H, W, P) for the mixture; `levels` (B, H, W, C) int."""
        if self.kind == "bernoulli":
            logits = out[..., 0]
            per_site = levels * logits - jax.nn.softplus(logits)
        elif self.kind == "categorical":
            log_p = jax.nn.log_softmax(out, axis=-1)
            per_site = jnp.take_along_axis(log_p, levels[..., None].astype(jnp.int32), axis=-1)[..., 0]
        else:
            per_site = logistic_mixture_log_prob(out, model_input(levels, self.num_levels), self.num_levels)
        return jnp.sum(per_site.reshape(levels.shape[0], -1), axis=-1)

    def sample_channel(self, rng: jax.Array, logits: jax.Array) -> jax.Array:
        """A level (B,) int32 from one channel's logits (B, K), at the likelihood's temperature."""
        logits = logits / self.temperature
        if self.kind == "bernoulli":
            return jax.random.bernoulli(rng, jax.nn.sigmoid(logits[:, 0])).astype(jnp.int32)
        return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)

    def sample_pixel(self, rng: jax.Array, params: jax.Array) -> jax.Array:
        """All colours of a pixel (B, C) int32 from its mixture parameters (B, P)."""
        return logistic_mixture_sample(rng, params, self.colours, self.num_levels)
