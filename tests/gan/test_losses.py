"""The GAN loss family against hand computations on fixed outputs, and the properties the papers argue."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.gan import losses

REAL = np.array([2.0, -0.5, 0.3], np.float32)  # discriminator outputs on data
FAKE = np.array([-1.0, 0.7, -3.0], np.float32)  # ... and on G(z)


def sigmoid(u):
    return 1.0 / (1.0 + np.exp(-np.asarray(u, np.float64)))


@pytest.mark.parametrize(
    "kind, kwargs, expected",
    [
        ("minimax", {}, -np.mean(np.log(sigmoid(REAL))) - np.mean(np.log(1 - sigmoid(FAKE)))),
        ("standard", {"label_smoothing": 0.1},
         -np.mean(0.9 * np.log(sigmoid(REAL)) + 0.1 * np.log(1 - sigmoid(REAL))) - np.mean(np.log(1 - sigmoid(FAKE)))),
        ("lsgan", {}, 0.5 * np.mean((REAL - 1) ** 2) + 0.5 * np.mean(FAKE**2)),
        ("wgan", {}, np.mean(FAKE) - np.mean(REAL)),
        # hinge by hand: max(0, 1 - [2, -0.5, 0.3]) = [0, 1.5, 0.7]; max(0, 1 + [-1, 0.7, -3]) = [0, 1.7, 0]
        ("hinge", {}, (0 + 1.5 + 0.7) / 3 + (0 + 1.7 + 0) / 3),
        ("ebgan", {"margin": 0.5}, np.mean(REAL) + np.mean(np.maximum(0, 0.5 - FAKE))),
        ("began", {"k": 0.25}, np.mean(REAL) - 0.25 * np.mean(FAKE)),
    ],
)
def test_discriminator_losses_match_hand_computation(kind, kwargs, expected):
    value = losses.discriminator_loss(kind, jnp.asarray(REAL), jnp.asarray(FAKE), **kwargs)
    assert float(value) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("minimax", np.mean(np.log(1 - sigmoid(FAKE)))),
        ("standard", -np.mean(np.log(sigmoid(FAKE)))),
        ("lsgan", 0.5 * np.mean((FAKE - 1) ** 2)),
        ("wgan", -np.mean(FAKE)),
        ("hinge", -np.mean(FAKE)),
        ("ebgan", np.mean(FAKE)),
        ("began", np.mean(FAKE)),
    ],
)
def test_generator_losses_match_hand_computation(kind, expected):
    assert float(losses.generator_loss(kind, jnp.asarray(FAKE))) == pytest.approx(float(expected), rel=1e-5)


def test_minimax_generator_gradient_vanishes_where_d_is_confident_and_non_saturating_does_not():
    """Goodfellow et al. sec. 3: early on D rejects G(z) confidently (logit -> -inf); log(1 - D(G(z)))
    then saturates while -log D(G(z)) keeps a gradient of magnitude ~1 per example."""
    confident = jnp.array([-10.0, -12.0, -15.0])
    minimax = jax.grad(lambda f: losses.generator_loss("minimax", f))(confident)
    non_saturating = jax.grad(lambda f: losses.generator_loss("standard", f))(confident)
    assert float(jnp.max(jnp.abs(minimax))) < 1e-4 / 3
    np.testing.assert_allclose(np.abs(non_saturating), 1.0 / 3, rtol=1e-4)


def test_cross_entropy_terms_match_hand_computation():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = jnp.array([0, 2])
    log_p = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    expected = -(log_p[0, 0] + log_p[1, 2]) / 2
    assert float(losses.auxiliary_classification(logits, labels)) == pytest.approx(float(expected), rel=1e-6)
    assert float(losses.info_categorical(logits, labels)) == pytest.approx(float(expected), rel=1e-6)


def test_info_continuous_is_the_gaussian_negative_log_likelihood():
    mean, log_std, codes = jnp.array([[0.0, 1.0]]), jnp.array([[0.0, math.log(2.0)]]), jnp.array([[0.5, -1.0]])
    from scipy import stats

    expected = -(stats.norm.logpdf(0.5, 0.0, 1.0) + stats.norm.logpdf(-1.0, 1.0, 2.0))
    assert float(losses.info_continuous(mean, log_std, codes)) == pytest.approx(expected, rel=1e-5)


def test_pulling_away_term_brute_force():
    s = np.random.default_rng(0).normal(size=(5, 7))
    unit = s / np.linalg.norm(s, axis=1, keepdims=True)
    brute = np.mean([(unit[i] @ unit[j]) ** 2 for i in range(5) for j in range(5) if i != j])
    assert float(losses.pulling_away_term(jnp.asarray(s, jnp.float32))) == pytest.approx(brute, rel=1e-5)
    assert float(losses.pulling_away_term(jnp.eye(4))) == pytest.approx(0.0, abs=1e-7)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    """WGAN-GP: a linear critic w.x with ||w|| = 1 is 1-Lipschitz with gradient norm exactly 1 everywhere."""
    w = jax.random.normal(jax.random.PRNGKey(0), (4, 4, 1))
    w = w / jnp.linalg.norm(w)
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))  # noqa: E731
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    real, fake = jax.random.normal(k[0], (8, 4, 4, 1)), jax.random.normal(k[1], (8, 4, 4, 1))
    points = losses.interpolates(k[2], real, fake)
    assert float(losses.gradient_penalty(critic, points)) == pytest.approx(0.0, abs=1e-8)
    # scaled by 3 the gradient norm is 3 everywhere: penalty (3 - 1)^2 = 4, R1 form (target 0) 9
    assert float(losses.gradient_penalty(lambda x: 3 * critic(x), points)) == pytest.approx(4.0, rel=1e-5)
    assert float(losses.gradient_penalty(lambda x: 3 * critic(x), points, target=0.0)) == pytest.approx(9.0, rel=1e-5)


def test_the_pixelwise_penalty_of_a_patch_critic():
    """A critic scoring each pixel by a.x_pixel, and one scoring 2x2 patches by their sum: the gradient of the
    summed scores at a pixel is a, resp. a times the patches covering it (1 at the corners, 2 on the edges, 4
    inside a 4x4 image); the penalty is the mean over pixels of (norm - 1)^2."""
    a = jnp.asarray([0.6, 0.0, 0.8])  # unit norm
    points = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3))
    per_pixel = lambda x: x @ a  # noqa: E731  (B, H, W) scores
    assert float(losses.pixelwise_gradient_penalty(per_pixel, points)) == pytest.approx(0.0, abs=1e-8)
    patches = lambda x: (x[:, 1:, 1:] + x[:, :-1, 1:] + x[:, 1:, :-1] + x[:, :-1, :-1]) @ a  # noqa: E731
    covered = np.outer([1, 2, 2, 1], [1, 2, 2, 1])
    expected = np.mean((covered - 1.0) ** 2)
    assert float(losses.pixelwise_gradient_penalty(patches, points)) == pytest.approx(expected, rel=1e-5)


def test_interpolates_lie_on_the_segments_and_dragan_points_near_the_data():
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    real, fake = jax.random.normal(k[0], (16, 3, 3, 1)), jax.random.normal(k[1], (16, 3, 3, 1))
    x = losses.interpolates(k[2], real, fake)
    alpha = (x - fake) / (real - fake)  # one alpha per example, in [0, 1]
    np.testing.assert_allclose(alpha, jnp.broadcast_to(alpha[:, :1, :1], alpha.shape), rtol=1e-3, atol=1e-4)
    assert float(alpha.min()) >= -1e-4 and float(alpha.max()) <= 1 + 1e-4
    near = losses.dragan_points(k[2], real)
    bound = 0.5 * float(jnp.std(real))
    assert float(jnp.min(near - real)) >= 0.0 and float(jnp.max(near - real)) <= bound


def test_began_equilibrium_update_and_convergence_measure():
    real, fake = jnp.array([0.2, 0.4]), jnp.array([0.1, 0.3])  # L(x) = 0.3, L(G(z)) = 0.2
    k, m_global = losses.began_update(jnp.float32(0.5), real, fake, gamma=0.5, lambda_k=0.1)
    assert float(k) == pytest.approx(0.5 + 0.1 * (0.15 - 0.2))
    assert float(m_global) == pytest.approx(0.3 + 0.05)
    k_low, _ = losses.began_update(jnp.float32(0.0), real, fake, gamma=0.5, lambda_k=0.1)
    assert float(k_low) == 0.0  # clipped to [0, 1]


def test_unknown_loss_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown GAN loss 'hinge2'"):
        losses.discriminator_loss("hinge2", jnp.zeros(2), jnp.zeros(2))
