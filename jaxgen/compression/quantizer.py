"""Vector quantisation (van den Oord et al. 2017; Esser et al. 2021).

z (..., D) is replaced by its nearest code e_k of the codebook E (K, D), k = argmin_j ||z - e_j||^2. The
straight-through estimator passes the decoder's gradient to the encoder unchanged:
z_q = z + sg(e_k - z). Losses: codebook ||sg(z) - e_k||^2 (not needed when the codebook follows an EMA)
and commitment beta ||z - sg(e_k)||^2, beta = 0.25. With EMA updates (Razavi et al. 2019, appendix of
van den Oord et al.), N_k <- g N_k + (1 - g) n_k and m_k <- g m_k + (1 - g) sum_{i: k_i = k} z_i, then
e_k = m_k / N~_k with N~ the Laplace-smoothed counts. Codes whose running usage falls below a threshold
are restarted at encoder outputs of the batch (dead-code restarts).
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

BETA = 0.25


@flax.struct.dataclass
class Quantized:
    z_q: jax.Array  # straight-through quantised latents, the shape of z
    indices: jax.Array  # nearest code per latent vector, z.shape[:-1]
    codebook_loss: jax.Array  # mean ||sg(z) - e||^2
    commitment_loss: jax.Array  # mean ||z - sg(e)||^2 (before beta)
    counts: jax.Array  # (K,) how many latent vectors chose each code


def nearest_codes(z: jax.Array, codebook: jax.Array) -> jax.Array:
    """argmin_k ||z - e_k||^2 for each vector of z (..., D): ||z||^2 - 2 z.e + ||e||^2, without the (N, K, D) tensor."""
    flat = z.reshape(-1, z.shape[-1])
    distances = jnp.sum(flat**2, -1, keepdims=True) - 2.0 * flat @ codebook.T + jnp.sum(codebook**2, -1)[None]
    return jnp.argmin(distances, axis=-1).reshape(z.shape[:-1])


def quantize(z: jax.Array, codebook: jax.Array) -> Quantized:
    indices = nearest_codes(z, codebook)
    e = codebook[indices]
    return Quantized(
        z_q=z + jax.lax.stop_gradient(e - z),
        indices=indices,
        codebook_loss=jnp.mean(jnp.square(jax.lax.stop_gradient(z) - e)),
        commitment_loss=jnp.mean(jnp.square(z - jax.lax.stop_gradient(e))),
        counts=jnp.bincount(indices.reshape(-1), length=codebook.shape[0]),
    )


def perplexity(counts: jax.Array) -> jax.Array:
    """exp of the entropy of the code histogram: K when every code is used equally, 1 for one code."""
    p = counts / jnp.maximum(jnp.sum(counts), 1)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


@flax.struct.dataclass
class EMACodebook:
    """The codebook as running averages: cluster sizes N (K,) and sums m (K, D); codebook = m / N~."""

    cluster_size: jax.Array
    embed_sum: jax.Array

    @classmethod
    def create(cls, codebook: jax.Array) -> "EMACodebook":
        return cls(jnp.ones(codebook.shape[0]), codebook)

    @staticmethod
    def smoothed(cluster_size: jax.Array, epsilon: float = 1e-5) -> jax.Array:
        """N~_k = (N_k + eps) / (n + K eps) * n: no division by an empty cluster."""
        n = jnp.sum(cluster_size)
        return (cluster_size + epsilon) / (n + cluster_size.shape[0] * epsilon) * n

    @classmethod
    def holding(cls, codebook: jax.Array, cluster_size: jax.Array) -> "EMACodebook":
        """The running averages whose codebook is `codebook` at these cluster sizes (after a restart)."""
        return cls(cluster_size, codebook * cls.smoothed(cluster_size)[:, None])

    def codebook(self) -> jax.Array:
        return self.embed_sum / self.smoothed(self.cluster_size)[:, None]

    def update(self, z: jax.Array, indices: jax.Array, decay: float) -> "EMACodebook":
        flat, codes = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
        one_hot = jax.nn.one_hot(codes, self.cluster_size.shape[0], dtype=flat.dtype)  # (N, K)
        counts, sums = jnp.sum(one_hot, 0), one_hot.T @ flat
        return EMACodebook(decay * self.cluster_size + (1 - decay) * counts, decay * self.embed_sum + (1 - decay) * sums)


def restart_dead_codes(codebook: jax.Array, usage: jax.Array, z: jax.Array, rng: jax.Array, threshold: float) -> tuple[jax.Array, jax.Array]:
    """Codes whose running usage is below `threshold` move to encoder outputs drawn from the batch z (..., D);
    returns (codebook, restarted mask (K,))."""
    flat = z.reshape(-1, z.shape[-1])
    dead = usage < threshold
    picks = flat[jax.random.randint(rng, (codebook.shape[0],), 0, flat.shape[0])]
    return jnp.where(dead[:, None], jax.lax.stop_gradient(picks), codebook), dead
