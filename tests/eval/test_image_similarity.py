"""PSNR and SSIM against hand-computed values and scikit-image's independent implementation."""
import chex
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from jaxgen.eval.image_similarity import psnr, region_psnr, ssim


def test_psnr_hand_computed():
    a = jnp.zeros((2, 4, 4, 1))
    b = a.at[0].set(0.1).at[1].set(0.5)  # MSE 0.01 -> 20 dB; 0.25 -> 6.0206 dB
    np.testing.assert_allclose(np.asarray(psnr(a, b)), [20.0, 10 * np.log10(4)], rtol=1e-5)
    assert float(psnr(a * 255, b * 255, max_val=255.0)[0]) == pytest.approx(20.0, rel=1e-5)
    assert np.isinf(np.asarray(psnr(a, a))).all()


def test_region_psnr_counts_only_the_region():
    a = jnp.zeros((2, 4, 4, 3))
    region = jnp.zeros((2, 4, 4, 1)).at[:, :2].set(1.0)  # the top half
    b = a.at[:, :2].set(0.1).at[:, 2:].set(0.9)  # error 0.1 in the region (20 dB), 0.9 outside it
    np.testing.assert_allclose(np.asarray(region_psnr(a, b, region)), [20.0, 20.0], rtol=1e-5)
    whole = jnp.ones((2, 4, 4, 1))
    np.testing.assert_allclose(np.asarray(region_psnr(a, b, whole)), np.asarray(psnr(a, b)), rtol=1e-5)
    assert np.isnan(np.asarray(region_psnr(a, b, jnp.zeros_like(region)))).all()


def test_ssim_of_identical_images_is_one_and_constant_images_by_hand():
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 16, 16, 3)), jnp.float32)
    np.testing.assert_allclose(np.asarray(ssim(x, x)), 1.0, rtol=1e-5)
    # constant images a and b: variances 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.2, 0.6, 0.01**2
    got = ssim(jnp.full((1, 12, 12, 1), a), jnp.full((1, 12, 12, 1), b))
    assert float(got[0]) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-4)


def test_ssim_matches_scikit_image():
    rng = np.random.default_rng(1)
    clean = rng.uniform(size=(3, 28, 28, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(scale=0.1, size=clean.shape), 0, 1).astype(np.float32)
    ours = np.asarray(ssim(jnp.asarray(clean), jnp.asarray(noisy)))
    chex.assert_shape(ours, (3,))
    theirs = [
        structural_similarity(
            c, n, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for c, n in zip(clean, noisy)
    ]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="at least"):
        ssim(jnp.zeros((1, 8, 8, 1)), jnp.zeros((1, 8, 8, 1)))
