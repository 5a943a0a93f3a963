"""SIFID: InceptionV3's first layers at any size (the stem against the same convolutions written with lax, its
parameters InceptionV3's), and the distance against scipy's matrix square root on the location features."""
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from jaxgen.eval import sifid
from jaxgen.nn.inception import InceptionStem, InceptionV3


def stem_by_hand(params, x):
    """conv(3x3, stride 2) -> conv(3x3) -> conv(3x3, pad 1) -> max-pool(3x3, stride 2), each conv with bias and ReLU."""
    for name, stride, pad in (("conv", 2, 0), ("conv_1", 1, 0), ("conv_2", 1, 1)):
        kernel, bias = params[name]["Conv_0"]["kernel"], params[name]["Conv_0"]["bias"]
        x = jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jnp.maximum(x + bias, 0.0)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")


def test_the_stem_is_inceptions_first_layers_at_any_size():
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 37, 53, 3))
    params = InceptionStem().init(jax.random.PRNGKey(1), x)["params"]
    whole = jax.eval_shape(lambda: InceptionV3().init(jax.random.PRNGKey(1), jnp.zeros((1, 299, 299, 3))))["params"]
    assert jax.tree.map(lambda a: a.shape, sifid.stem_params_of(whole)) == jax.tree.map(lambda a: a.shape, params)
    out = InceptionStem().apply({"params": params}, x)
    assert out.shape == (2, 7, 11, 64)  # 37 -> 18 -> 16 -> 16 -> 7 and 53 -> 26 -> 24 -> 24 -> 11
    np.testing.assert_allclose(out, stem_by_hand(params, x), rtol=1e-5, atol=1e-5)


def frechet_by_scipy(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def test_sifid_is_the_frechet_distance_of_location_features():
    """Zero for the image itself; otherwise the Frechet distance of the 64-d features over the map's locations."""
    k = jax.random.split(jax.random.PRNGKey(2), 3)
    real = jax.random.uniform(k[0], (1, 40, 48, 3))
    fakes = jnp.concatenate([real, jnp.clip(real + 0.2 * jax.random.normal(k[1], real.shape), 0, 1)])
    params = InceptionStem().init(k[2], real)["params"]
    scores = np.asarray(jax.jit(sifid.sifid)(params, real, fakes))
    features = np.asarray(sifid.location_features(params, jnp.concatenate([real, fakes])), np.float64)
    assert features.shape == (3, 8 * 10, 64)  # 40 -> 19 -> 17 -> 17 -> 8 and 48 -> 23 -> 21 -> 21 -> 10
    assert abs(scores[0]) < 1e-3
    np.testing.assert_allclose(scores[1], frechet_by_scipy(features[0], features[2]), rtol=1e-3)
    assert scores[1] > 10 * abs(scores[0])
