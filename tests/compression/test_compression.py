"""Vector quantisation, the diagonal Gaussian posterior and the adaptive weight against independent computations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.compression import quantizer
from jaxgen.compression.objectives import DiagonalGaussian, adaptive_weight


def test_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    moments = jnp.asarray(rng.normal(scale=0.7, size=(2, 3, 3, 4)), jnp.float32)
    q = DiagonalGaussian.from_moments(moments)
    z = q.mean[None] + jnp.exp(0.5 * q.log_var)[None] * jax.random.normal(jax.random.PRNGKey(1), (200_000,) + q.mean.shape)
    log_q = -0.5 * (jnp.square(z - q.mean) / jnp.exp(q.log_var) + q.log_var + jnp.log(2 * jnp.pi))
    log_p = -0.5 * (jnp.square(z) + jnp.log(2 * jnp.pi))
    monte_carlo = jnp.mean(jnp.sum((log_q - log_p).reshape(z.shape[0], 2, -1), -1), 0)
    np.testing.assert_allclose(q.kl(), monte_carlo, rtol=0.02)
    np.testing.assert_allclose(DiagonalGaussian(jnp.zeros((1, 2)), jnp.zeros((1, 2))).kl(), [0.0])


def test_quantize_picks_the_nearest_code_by_brute_force_and_passes_gradients_straight_through():
    rng = np.random.default_rng(1)
    codebook = jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)
    z = jnp.asarray(rng.normal(size=(2, 4, 4, 3)), jnp.float32)
    q = quantizer.quantize(z, codebook)
    brute = np.argmin(np.linalg.norm(np.asarray(z)[..., None, :] - np.asarray(codebook), axis=-1), axis=-1)
    np.testing.assert_array_equal(q.indices, brute)
    np.testing.assert_allclose(q.z_q, np.asarray(codebook)[brute], atol=1e-6)
    assert int(jnp.sum(q.counts)) == 32 and np.array_equal(q.counts, np.bincount(brute.ravel(), minlength=7))
    weights = jnp.asarray(rng.normal(size=z.shape), jnp.float32)
    grad = jax.grad(lambda x: jnp.sum(weights * quantizer.quantize(x, codebook).z_q))(z)
    np.testing.assert_allclose(grad, weights)  # the straight-through estimator is the identity
    e = np.asarray(codebook)[brute]
    np.testing.assert_allclose(q.codebook_loss, np.mean((np.asarray(z) - e) ** 2), rtol=1e-5)
    codebook_grad = jax.grad(lambda c: quantizer.quantize(z, c).codebook_loss)(codebook)
    assert float(jnp.abs(codebook_grad).sum()) > 0  # the codebook loss trains the codes ...
    np.testing.assert_allclose(jax.grad(lambda x: quantizer.quantize(x, codebook).codebook_loss)(z), 0.0)  # ... not z


def test_perplexity_is_k_for_uniform_use_and_one_for_a_single_code():
    assert float(quantizer.perplexity(jnp.full(8, 5.0))) == pytest.approx(8.0, rel=1e-5)
    assert float(quantizer.perplexity(jnp.asarray([0.0, 9.0, 0.0]))) == pytest.approx(1.0)


def test_ema_codebook_update_by_hand():
    ema = quantizer.EMACodebook(jnp.asarray([2.0, 1.0]), jnp.asarray([[2.0, 0.0], [0.0, 1.0]]))  # codes (1, 0), (0, 1)
    z = jnp.asarray([[3.0, 0.0], [5.0, 0.0], [0.0, 4.0]])
    updated = ema.update(z, jnp.asarray([0, 0, 1]), decay=0.5)
    # N = 0.5 [2, 1] + 0.5 [2, 1] = [2, 1]; m_0 = 0.5 (2, 0) + 0.5 (8, 0) = (5, 0); m_1 = 0.5 (0, 1) + 0.5 (0, 4) = (0, 2.5)
    np.testing.assert_allclose(updated.cluster_size, [2.0, 1.0])
    np.testing.assert_allclose(updated.embed_sum, [[5.0, 0.0], [0.0, 2.5]])
    np.testing.assert_allclose(updated.codebook(), [[2.5, 0.0], [0.0, 2.5]], rtol=1e-4)  # m / N (smoothing ~1e-5)
    held = quantizer.EMACodebook.holding(jnp.asarray([[1.0, 2.0], [3.0, 4.0]]), jnp.asarray([1.0, 3.0]))
    np.testing.assert_allclose(held.codebook(), [[1.0, 2.0], [3.0, 4.0]], rtol=1e-6)


def test_dead_codes_restart_at_encoder_outputs_and_live_ones_stay():
    codebook = jnp.zeros((4, 2)).at[:, 0].set(jnp.arange(4.0))
    z = jnp.asarray([[10.0, 10.0], [20.0, 20.0]])
    new, dead = quantizer.restart_dead_codes(codebook, jnp.asarray([1.0, 0.0, 2.0, 0.01]), z, jax.random.PRNGKey(0), 0.03)
    np.testing.assert_array_equal(dead, [False, True, False, True])
    np.testing.assert_array_equal(new[jnp.asarray([0, 2])], codebook[jnp.asarray([0, 2])])
    assert all(row.tolist() in ([10.0, 10.0], [20.0, 20.0]) for row in np.asarray(new)[[1, 3]])


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer():
    w = jnp.asarray([[1.0, -2.0], [0.5, 3.0]])
    h = jnp.asarray([1.0, 2.0])
    rec = lambda k: jnp.sum(jnp.square(h @ k - 1.0))  # noqa: E731
    adv = lambda k: -jnp.sum(h @ k)  # noqa: E731
    # by hand: grad rec = 2 h (h k - 1)^T = 2 [1, 2]^T [1, 3] -> ||.|| = 2 sqrt(5) sqrt(10); grad adv = -h 1^T -> sqrt(10)
    expected = 2 * np.sqrt(5) * np.sqrt(10) / (np.sqrt(10) + 1e-4)
    assert float(adaptive_weight(rec, adv, w)) == pytest.approx(expected, rel=1e-5)
    assert float(adaptive_weight(rec, lambda k: 0.0 * jnp.sum(k), w)) == pytest.approx(1e4)  # clipped
    assert jax.grad(lambda k: adaptive_weight(rec, adv, k))(w).sum() == 0  # not differentiated
