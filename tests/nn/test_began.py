"""BEGAN's own networks (Berthelot et al. 2017, Figure 1): scales, nearest-neighbour doubling, the encoder's
linearly widening filters, no normalisation, the L1 and squared energies by hand, the minibatch stddev map."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn import gan as nets


@pytest.mark.parametrize("size, expected", [(28, (7, 2)), (32, (8, 2)), (64, (8, 3)), (48, (6, 3)), (16, (8, 1))])
def test_scales_halve_the_side_down_to_at_most_eight(size, expected):
    assert nets.began_scales(size) == expected


def test_an_odd_or_small_side_is_refused_naming_the_key():
    for size in (7, 8, 15):
        with pytest.raises(ValueError, match="data.image_size"):
            nets.began_scales(size)


def test_nearest_neighbour_doubling_repeats_each_pixel_over_a_two_by_two_block():
    x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
    y = np.asarray(nets.upsample_nearest(x))
    chex.assert_shape(y, (2, 6, 8, 2))
    for dy in (0, 1):
        for dx in (0, 1):
            np.testing.assert_array_equal(y[:, dy::2, dx::2], np.asarray(x))


def test_networks_have_the_papers_shape_and_no_normalisation():
    width, h = 8, 16
    g = nets.BEGANGenerator((32, 32, 1), width)
    d = nets.BEGANDiscriminator(width, h)
    params_g = g.init(jax.random.PRNGKey(0), jnp.zeros((2, h)))["params"]
    params_d = d.init(jax.random.PRNGKey(1), jnp.zeros((2, 32, 32, 1)))["params"]
    names = {jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path((params_g, params_d))}
    assert all(name.endswith(("'kernel']", "'bias']")) for name in names)  # convolutions and dense layers only
    encoder = params_d["encoder"]
    # from_image to n, then per scale two convolutions of n (i + 1) and a stride-2 one to n (i + 2): n, 2n, 3n
    widths = [encoder[f"Conv_{i}"]["kernel"].shape[-1] for i in range(8)]
    assert widths == [8, 8, 16, 16, 16, 24, 24, 24]
    assert encoder["embed"]["kernel"].shape == (8 * 8 * 24, h)
    decoder = params_g["decoder"]
    assert decoder["project"]["kernel"].shape == (h, 8 * 8 * width)
    assert all(decoder[f"Conv_{i}"]["kernel"].shape == (3, 3, width, width) for i in range(6))  # 2 per scale x 3 scales


def test_generator_images_and_the_l1_energy_by_hand():
    g = nets.BEGANGenerator((28, 28, 1), 8)
    d = nets.BEGANDiscriminator(8, 16)
    z = jax.random.uniform(jax.random.PRNGKey(0), (4, 16), minval=-1.0, maxval=1.0)
    params_g = g.init(jax.random.PRNGKey(1), z)
    images = g.apply(params_g, z)
    chex.assert_shape(images, (4, 28, 28, 1))
    # G is the decoder itself, linear: no squashing that would keep it from the data's -1 background
    decoded = nets.BEGANDecoder((28, 28, 1), 8).apply({"params": params_g["params"]["decoder"]}, z)
    np.testing.assert_array_equal(np.asarray(images), np.asarray(decoded))
    params_d = d.init(jax.random.PRNGKey(2), images)
    out = d.apply(params_d, images)
    chex.assert_shape([out["energy"], out["embedding"], out["reconstruction"]], [(4,), (4, 16), (4, 28, 28, 1)])
    by_hand = np.abs(np.asarray(out["reconstruction"], np.float64) - np.asarray(images, np.float64)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(out["energy"]), by_hand, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(out["logit"]), np.asarray(out["energy"]))


def test_squared_energy_by_hand_and_the_minibatch_stddev_map_lets_d_see_its_batch():
    """energy 'l2' (the paper's eta = 2) is the mean squared error; without the stddev map each example's energy
    ignores its batch mates, with it a batch of copies is scored differently from the same image among others."""
    d = nets.BEGANDiscriminator(8, 16, "l2")
    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1), minval=-1.0, maxval=1.0)
    params = d.init(jax.random.PRNGKey(1), x)
    out = d.apply(params, x)
    by_hand = np.square(np.asarray(out["reconstruction"], np.float64) - np.asarray(x, np.float64)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(out["energy"]), by_hand, rtol=1e-5)
    copies = jnp.broadcast_to(x[:1], x.shape)
    np.testing.assert_allclose(d.apply(params, copies)["energy"][0], out["energy"][0], rtol=1e-6)
    spread = nets.BEGANDiscriminator(8, 16, "l2", stddev_group=4)
    params = spread.init(jax.random.PRNGKey(1), x)
    assert params["params"]["encoder"]["embed"]["kernel"].shape == (7 * 7 * (24 + 1), 16)  # one more map at 7x7
    assert abs(float(spread.apply(params, copies)["energy"][0]) - float(spread.apply(params, x)["energy"][0])) > 1e-4
