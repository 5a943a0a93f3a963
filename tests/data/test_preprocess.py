import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.data.preprocess import resize_uint8, to_model_input


@pytest.fixture
def images():
    return jnp.asarray(np.random.default_rng(0).integers(0, 256, size=(64, 8, 8, 3)), jnp.uint8)


def test_scalings_hit_their_ranges(images):
    x01, x11 = to_model_input(images, "scale01"), to_model_input(images, "scale11")
    assert x01.dtype == jnp.float32 and float(x01.min()) >= 0 and float(x01.max()) <= 1
    np.testing.assert_allclose(x11, 2 * x01 - 1, atol=1e-6)


def test_dynamic_binarisation_is_bernoulli_of_the_intensity(images):
    draws = jnp.stack([to_model_input(images, "binarize_dynamic", jax.random.PRNGKey(i)) for i in range(400)])
    assert set(np.unique(draws)) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0), images / 255.0, atol=0.1)
    assert not np.array_equal(draws[0], draws[1])


def test_dequantisation_stays_inside_each_bin(images):
    x = to_model_input(images, "dequantize01", jax.random.PRNGKey(0))
    bins = np.floor(np.asarray(x) * 256)
    np.testing.assert_array_equal(bins, np.asarray(images))


def test_unknown_mode_is_named(images):
    with pytest.raises(ValueError, match="unknown data.preprocess 'gamma'"):
        to_model_input(images, "gamma")


def test_resize_keeps_constant_images_constant():
    out = resize_uint8(np.full((3, 28, 28, 1), 77, np.uint8), 32)
    assert out.shape == (3, 32, 32, 1) and np.all(out == 77)
