"""pix2pix's U-Net: depth from the image size, the paper's widths and normalisation placement, skips, and
dropout as the noise that stays on when sampling; CycleGAN's ResNet generator and instance norm."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.layers import instance_norm
from jaxgen.nn.translation import ResnetGenerator, UNetGenerator, unet_depth


def test_depth_takes_the_image_to_a_1x1_bottleneck():
    assert unet_depth(256) == 8 and unet_depth(32) == 5 and unet_depth(4) == 2
    for size in (28, 2, 0, 48):
        with pytest.raises(ValueError, match="power of two"):
            unet_depth(size)


@pytest.fixture(scope="module")
def net_and_params():
    net = UNetGenerator(out_channels=3, num_downs=5, features=4)
    source = jax.random.uniform(jax.random.PRNGKey(0), (4, 32, 32, 1), minval=-1.0, maxval=1.0)
    params = jax.jit(net.init)({"params": jax.random.PRNGKey(1), "dropout": jax.random.PRNGKey(2)}, source)["params"]
    return net, params, source


def test_widths_double_to_eight_times_and_norms_skip_the_first_and_innermost_layers(net_and_params):
    _, params, _ = net_and_params
    encoder = [params[f"Conv_{i}"]["kernel"].shape for i in range(5)]
    assert [s[-1] for s in encoder] == [4, 8, 16, 32, 32]  # features * min(2^level, 8)
    assert [s[-2] for s in encoder] == [1, 4, 8, 16, 32]
    # decoder input channels: the bottleneck, then each level's output concatenated with its skip
    decoder = [params[f"TransposedConv_{i}"]["kernel"].shape for i in range(5)]
    assert [s[-2] for s in decoder] == [32, 64, 32, 16, 8]
    assert [s[-1] for s in decoder] == [32, 16, 8, 4, 3]
    # BatchNorm after the 3 middle encoder layers and the 4 inner decoder layers; biases only where no norm follows
    assert sum(name.startswith("BatchStatNorm") for name in params) == 3 + 4
    assert "bias" in params["Conv_0"] and "bias" in params["Conv_4"] and "bias" not in params["Conv_2"]


def test_output_shape_range_and_test_time_dropout(net_and_params):
    net, params, source = net_and_params
    apply = jax.jit(lambda rng: net.apply({"params": params}, source, rngs={"dropout": rng}))
    a, b, a_again = apply(jax.random.PRNGKey(3)), apply(jax.random.PRNGKey(4)), apply(jax.random.PRNGKey(3))
    chex.assert_shape(a, (4, 32, 32, 3))
    chex.assert_type(a, jnp.float32)
    assert float(jnp.max(jnp.abs(a))) < 1.0
    np.testing.assert_array_equal(a, a_again)
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4  # dropout is G's noise: another draw, another output


def test_the_outermost_skip_carries_the_input_around_the_bottleneck(net_and_params):
    """A pixel of the output depends on the input pixel under it by a path that does not pass the 1x1
    bottleneck: with the innermost up-convolution zeroed (no signal from the bottleneck), the derivative is
    still non-zero. Without skips it would be exactly 0."""
    net, params, source = net_and_params
    no_dropout = UNetGenerator(out_channels=3, num_downs=5, features=4, dropout_layers=0)
    cut = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if any(getattr(k, "key", "") == "TransposedConv_0" for k in path) else x, params
    )

    def pixel(x):
        return no_dropout.apply({"params": cut}, x)[0, 10, 10, 0]

    grad = jax.jit(jax.grad(pixel))(source)
    assert float(jnp.abs(grad[0, 10, 10, 0])) > 0.0


def test_instance_norm_normalises_each_example_and_channel_over_its_positions():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 6, 4)) * jnp.arange(1.0, 5.0) + jnp.arange(4.0)[:, None, None, None][:3]
    y = np.asarray(instance_norm(x), np.float64)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-3)
    one = np.asarray(instance_norm(x[1:2]))  # no example's output depends on another
    np.testing.assert_allclose(one, y[1:2], rtol=1e-5, atol=1e-6)


def test_resnet_generator_has_the_papers_parameter_count_and_keeps_the_image_size():
    """The paper's 256x256 generator (9 blocks, 64 features, RGB): 11,378,179 parameters, the count the
    CycleGAN code prints for its G_A ("11.378 M")."""
    net = ResnetGenerator(out_channels=3, features=64, num_blocks=9)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1, 256, 256, 3)))
    assert sum(x.size for x in jax.tree.leaves(shapes)) == 11_378_179
    small = ResnetGenerator(out_channels=3, features=4, num_blocks=2)
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 12, 16, 1), minval=-1.0, maxval=1.0)
    params = small.init(jax.random.PRNGKey(2), x)
    y = small.apply(params, x)
    chex.assert_shape(y, (2, 12, 16, 3))
    assert float(jnp.max(jnp.abs(y))) <= 1.0
