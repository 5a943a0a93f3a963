"""Progressive growing's networks: equalised layers against the He constant, pixel norm, minibatch stddev by
hand, the fade-in's exact ends, the level arithmetic and the paper's parameter counts."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn import layers
from jaxgen.nn import progressive as pg


def test_equalised_layers_scale_unit_weights_by_the_he_constant():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 6, 8))
    conv = pg.EqualizedConv(16, 3)
    params = conv.init(jax.random.PRNGKey(1), x)["params"]
    kernel = np.asarray(params["kernel"], np.float64)
    assert abs(kernel.std() - 1.0) < 0.05  # stored weights ~ N(0, 1): 1,152 of them
    c = math.sqrt(2.0) / math.sqrt(3 * 3 * 8)
    assert pg.he_constant(72) == pytest.approx(c)
    # the convolution by hand: sum over the 3x3 window of the zero-padded input times c W
    padded = np.pad(np.asarray(x, np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((4, 6, 6, 16))
    for i in range(6):
        for j in range(6):
            expected[:, i, j] = np.einsum("bhwc,hwco->bo", padded[:, i:i + 3, j:j + 3], c * kernel)
    np.testing.assert_allclose(np.asarray(conv.apply({"params": params}, x)), expected, rtol=1e-4, atol=1e-4)
    dense = pg.EqualizedDense(3, gain=1.0)
    v = jnp.arange(10.0).reshape(2, 5)
    p = dense.init(jax.random.PRNGKey(2), v)["params"]
    p = {"kernel": p["kernel"], "bias": jnp.array([1.0, 2.0, 3.0])}
    np.testing.assert_allclose(dense.apply({"params": p}, v), np.asarray(v) @ (np.asarray(p["kernel"]) / math.sqrt(5)) + [1, 2, 3], rtol=1e-5)


def test_pixel_norm_gives_each_feature_vector_unit_mean_square():
    x = 3.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 7))
    y = np.asarray(pg.pixel_norm(x), np.float64)
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-5)
    ratio = y / np.asarray(x)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[..., :1], ratio.shape), rtol=1e-5)  # one factor per position


@pytest.mark.parametrize("batch, group", [(8, 4), (6, 3), (3, 4)])
def test_minibatch_stddev_against_a_hand_computation(batch, group):
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(batch), (batch, 3, 2, 5)), np.float64)
    out = np.asarray(layers.minibatch_stddev(jnp.asarray(x, jnp.float32), group), np.float64)
    np.testing.assert_array_equal(out[..., :5], x.astype(np.float32))
    g = min(group, batch)
    m = batch // g
    for i in range(batch):
        members = x[[k * m + i % m for k in range(g)]]  # example i's group: i, i +- M, i +- 2M, ...
        std = np.sqrt(np.mean((members - members.mean(0)) ** 2, axis=0) + 1e-8)
        np.testing.assert_allclose(out[i, ..., 5], np.full((3, 2), std.mean()), rtol=1e-5)
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        layers.minibatch_stddev(jnp.zeros((6, 2, 2, 1)), 4)


def test_levels_and_widths():
    assert [pg.top_level(s) for s in (8, 16, 32, 128, 1024)] == [1, 2, 3, 5, 8]
    for bad in (4, 28, 48):
        with pytest.raises(ValueError, match=f"4 \\* 2\\^L .* got {bad}"):
            pg.top_level(bad)
    assert pg.level_widths(9, 8192, 512) == (512, 512, 512, 512, 256, 128, 64, 32, 16)


@pytest.fixture(scope="module")
def small_networks():
    widths = (8, 8, 4)
    g, d = pg.ProgressiveGenerator(widths, 3), pg.ProgressiveCritic(widths, 2)
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 16, 16, 3))
    params_g = g.init(jax.random.PRNGKey(2), z, method=pg.ProgressiveGenerator.every_level)["params"]
    params_d = d.init(jax.random.PRNGKey(3), x, method=pg.ProgressiveCritic.every_level)["params"]
    return g, d, params_g, params_d, z, x


@pytest.mark.parametrize("level", [1, 2])
def test_the_fade_in_is_exactly_the_previous_level_at_alpha_0_and_the_new_one_at_1(small_networks, level):
    g, d, params_g, params_d, z, x = small_networks
    own = g.apply({"params": params_g}, z, method=pg.ProgressiveGenerator.every_level)
    at = lambda a: np.asarray(g.apply({"params": params_g}, z, level, jnp.float32(a)))  # noqa: E731
    assert at(1.0).shape == (4, 4 * 2**level, 4 * 2**level, 3)
    np.testing.assert_array_equal(at(0.0), np.asarray(pg.upsample_nearest(own[level - 1])))
    np.testing.assert_array_equal(at(1.0), np.asarray(own[level]))
    halfway = 0.5 * np.asarray(pg.upsample_nearest(own[level - 1])) + 0.5 * np.asarray(own[level])
    np.testing.assert_allclose(at(0.5), halfway, rtol=1e-5, atol=1e-6)
    x_level = pg.average_pool(x, 2 ** (2 - level)) if level < 2 else x
    critic = lambda images, k, a: np.asarray(d.apply({"params": params_d}, images, k, jnp.float32(a)))  # noqa: E731
    np.testing.assert_array_equal(critic(x_level, level, 0.0), critic(pg.average_pool(x_level), level - 1, 1.0))
    assert not np.allclose(critic(x_level, level, 1.0), critic(pg.average_pool(x_level), level - 1, 1.0))


def test_the_paper_networks_have_its_parameter_counts():
    """Karras et al. table 2: G and D of the 1024x1024 CelebA-HQ network each have 23.1M parameters."""
    widths = pg.level_widths(9, 8192, 512)
    g, d = pg.ProgressiveGenerator(widths, 3), pg.ProgressiveCritic(widths, 4)
    count = lambda tree: sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))  # noqa: E731
    params_g = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((1, 512)), method=pg.ProgressiveGenerator.every_level))
    params_d = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((4, 1024, 1024, 3)), method=pg.ProgressiveCritic.every_level))
    assert round(count(params_g) / 1e6, 1) == 23.1
    assert round(count(params_d) / 1e6, 1) == 23.1
