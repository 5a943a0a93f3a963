"""The GAN loss family as pure functions of discriminator outputs (the seed's table).

Conventions: `real` and `fake` are the discriminator's raw outputs on data and on G(z), shape (B,) --
logits for the GAN/LSGAN/ACGAN/infoGAN rows (D(x) = sigmoid(logit)), critic values for WGAN and hinge, and the
autoencoder's reconstruction energies for EBGAN/BEGAN. Every function returns a scalar to *minimise*.

| loss      | discriminator                                  | generator                          |
| --------- | ---------------------------------------------- | ---------------------------------- |
| minimax   | -E log D(x) - E log(1 - D(G(z)))               | E log(1 - D(G(z)))                 |
| standard  | same                                           | -E log D(G(z)) (non-saturating)    |
| lsgan     | 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2           | 1/2 E (D(G(z)) - 1)^2              |
| wgan      | E D(G(z)) - E D(x)  (+ clipping or a penalty)  | -E D(G(z))                         |
| hinge     | E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))     | -E D(G(z))                         |
| ebgan     | E D(x) + E max(0, m - D(G(z)))                 | E D(G(z)) (+ pulling-away term)    |
| began     | E D(x) - k_t E D(G(z))                         | E D(G(z))                          |

(LSGAN's D is the raw output, a = 0, b = c = 1 of Mao et al.) CGAN, ACGAN and infoGAN use the standard
rows plus their own terms (`auxiliary_classification`, `info_categorical`, `info_continuous`).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

ADVERSARIAL_LOSSES = ("minimax", "standard", "lsgan", "wgan", "hinge", "ebgan", "began")


def _mean(x: jax.Array) -> jax.Array:
    return jnp.mean(x.astype(jnp.float32))


def discriminator_loss(kind: str, real: jax.Array, fake: jax.Array, *, label_smoothing: float = 0.0,
                       margin: float = 1.0, k: jax.Array | float = 0.0) -> jax.Array:
    """The discriminator's (critic's) loss for `kind`. `label_smoothing` s makes the real target 1 - s
    (one-sided, Salimans et al. 2016); `margin` is EBGAN's m; `k` is BEGAN's k_t."""
    if kind in ("minimax", "standard"):
        target = 1.0 - label_smoothing
        # -[t log sigmoid(r) + (1 - t) log(1 - sigmoid(r))] - log(1 - sigmoid(f)), with log sigmoid(-u) = -softplus(u)
        real_term = target * jax.nn.softplus(-real) + (1.0 - target) * jax.nn.softplus(real)
        return _mean(real_term) + _mean(jax.nn.softplus(fake))
    if kind == "lsgan":
        return 0.5 * _mean(jnp.square(real - (1.0 - label_smoothing))) + 0.5 * _mean(jnp.square(fake))
    if kind == "wgan":
        return _mean(fake) - _mean(real)
    if kind == "hinge":  # Lim & Ye 2017; the discriminator of VQGAN and LDM's first stage
        return _mean(jax.nn.relu(1.0 - real)) + _mean(jax.nn.relu(1.0 + fake))
    if kind == "ebgan":
        return _mean(real) + _mean(jax.nn.relu(margin - fake))
    if kind == "began":
        return _mean(real) - k * _mean(fake)
    raise ValueError(f"unknown GAN loss '{kind}'; choose one of {ADVERSARIAL_LOSSES}")


def generator_loss(kind: str, fake: jax.Array) -> jax.Array:
    """The generator's adversarial loss for `kind` on the discriminator's outputs for G(z)."""
    if kind == "minimax":
        return _mean(-jax.nn.softplus(fake))  # log(1 - sigmoid(f))
    if kind == "standard":
        return _mean(jax.nn.softplus(-fake))  # -log sigmoid(f)
    if kind == "lsgan":
        return 0.5 * _mean(jnp.square(fake - 1.0))
    if kind in ("wgan", "hinge"):
        return -_mean(fake)
    if kind in ("ebgan", "began"):
        return _mean(fake)
    raise ValueError(f"unknown GAN loss '{kind}'; choose one of {ADVERSARIAL_LOSSES}")


def auxiliary_classification(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """ACGAN's class term: mean cross-entropy of the auxiliary classifier's (B, K) logits."""
    log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=-1))


def info_categorical(logits: jax.Array, codes: jax.Array) -> jax.Array:
    """-E log Q(c | G(z, c)) for a categorical code c (B,) under Q's (B, K) logits. With the code's entropy
    H(c) = log K, log K minus this is infoGAN's lower bound on the mutual information I(c; G(z, c))."""
    return auxiliary_classification(logits, codes)


def info_continuous(mean: jax.Array, log_std: jax.Array, codes: jax.Array) -> jax.Array:
    """-E log Q(c | G(z, c)) for continuous codes (B, L) under Q's factored Gaussian, summed over the L codes."""
    z = (codes - mean) * jnp.exp(-log_std)
    nll = 0.5 * jnp.square(z) + log_std + 0.5 * jnp.log(2.0 * jnp.pi)
    return jnp.mean(jnp.sum(nll.astype(jnp.float32), axis=-1))


def pulling_away_term(embeddings: jax.Array) -> jax.Array:
    """EBGAN's PT (Zhao et al. eq. 6): mean squared cosine similarity over distinct pairs of a batch's
    encoder embeddings (B, ...) -- zero for mutually orthogonal embeddings, pushing G away from one mode."""
    s = embeddings.reshape(embeddings.shape[0], -1).astype(jnp.float32)
    s = s / jnp.maximum(jnp.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    cosine = s @ s.T
    n = s.shape[0]
    return (jnp.sum(jnp.square(cosine)) - jnp.sum(jnp.square(jnp.diagonal(cosine)))) / (n * (n - 1))


def gradient_penalty(critic: Callable[[jax.Array], jax.Array], points: jax.Array, target: float = 1.0) -> jax.Array:
    """E (||grad_x D(x)||_2 - target)^2 over `points` (B, ...): WGAN-GP (target 1 on interpolates),
    DRAGAN (target 1 around perturbed data) and, with target 0, the zero-centred R1 penalty form."""
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(points)
    norms = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1) + 1e-12)
    return jnp.mean(jnp.square(norms - target))


def pixelwise_gradient_penalty(critic: Callable[[jax.Array], jax.Array], points: jax.Array) -> jax.Array:
    """E over pixels (||grad_x sum D(x)||_2 over channels - 1)^2 at `points` (B, H, W, C): WGAN-GP's penalty per
    pixel, for a critic that scores every patch (SinGAN's code). Taking the whole image's norm instead would hold
    the sum of hundreds of patch scores to slope 1, so each patch's to ~1/sqrt(pixels)."""
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(points)
    norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=-1) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def interpolates(rng: jax.Array, real: jax.Array, fake: jax.Array) -> jax.Array:
    """x_hat = alpha x + (1 - alpha) x_tilde with alpha ~ U[0, 1] per example (Gulrajani et al. Alg. 1)."""
    alpha = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1))
    return alpha * real + (1.0 - alpha) * fake


def dragan_points(rng: jax.Array, real: jax.Array, scale: float = 0.5) -> jax.Array:
    """DRAGAN's points around the data (Kodali et al.): x + alpha (x_p - x), x_p = x + scale * std(x) * U[0, 1)."""
    k_noise, k_alpha = jax.random.split(rng)
    perturbed = real + scale * jnp.std(real) * jax.random.uniform(k_noise, real.shape)
    return interpolates(k_alpha, perturbed, real)


def began_update(k: jax.Array, real: jax.Array, fake: jax.Array, gamma: float, lambda_k: float) -> tuple[jax.Array, jax.Array]:
    """BEGAN's equilibrium control (Berthelot et al. eq. 4) on the mean reconstruction losses L(x), L(G(z)):
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), and the convergence measure
    M_global = L(x) + |gamma L(x) - L(G(z))|."""
    balance = gamma * _mean(real) - _mean(fake)
    return jnp.clip(k + lambda_k * balance, 0.0, 1.0), _mean(real) + jnp.abs(balance)
