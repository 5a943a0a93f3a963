"""SinGAN's networks and pyramid: 11x11 receptive fields, the residual generator, the per-image normalisation,
the widths and the pyramid's scales against the paper's rule written out."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.singan import RECEPTIVE_FIELD, PatchCritic, ScaleGenerator, pyramid_shapes, resize_to, scale_width


def without_normalisation(next_fun, args, kwargs, context):
    """A flax interceptor that makes every GroupNorm the identity: the convolutions alone."""
    if isinstance(context.module, nn.GroupNorm) and context.method_name == "__call__":
        return args[0]
    return next_fun(*args, **kwargs)


def influence(f, x, at):
    """|d f(x)[0, at] / d x[0]| summed over channels: which input pixels the output at `at` reads."""
    jacobian = jax.grad(lambda x: jnp.sum(f(x)[(0, *at)]))(x)[0]
    return np.abs(np.asarray(jacobian)).sum(-1)


@pytest.mark.parametrize("network", ["critic", "generator"])
def test_the_convolutions_see_11x11_patches(network):
    """Without the normalisation (whose statistics span the image), an output pixel depends on exactly the 11x11
    input pixels around it: D's score (i, j) on the patch at (i, j), G's pixel on the input's centred patch."""
    assert RECEPTIVE_FIELD == 11
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 30, 34, 3))
    if network == "critic":
        module = PatchCritic(8)
        params = module.init(jax.random.PRNGKey(1), x)["params"]
        f, at, window = (lambda x: module.apply({"params": params}, x)), (7, 9), (slice(7, 18), slice(9, 20))
        assert module.apply({"params": params}, x).shape == (1, 30 - 10, 34 - 10)
    else:
        module = ScaleGenerator(8)
        params = module.init(jax.random.PRNGKey(1), x, x)["params"]
        f, at, window = (lambda z: module.apply({"params": params}, z, jnp.zeros_like(z))), (12, 20), (slice(7, 18), slice(15, 26))
    with nn.intercept_methods(without_normalisation):
        reads = influence(f, x, at)
    inside = np.zeros(reads.shape, bool)
    inside[window] = True
    assert np.all(reads[inside] > 0) and np.all(reads[~inside] == 0)


def test_the_generator_is_residual_and_keeps_the_size():
    """G_n(z, prev) = prev + tanh(psi(z + prev)): with the last convolution zeroed it returns prev exactly; the
    padding keeps the size of scale n."""
    noise, previous = jax.random.normal(jax.random.PRNGKey(0), (2, 2, 13, 17, 3))
    module = ScaleGenerator(8)
    params = module.init(jax.random.PRNGKey(1), noise, previous)["params"]
    out = module.apply({"params": params}, noise, previous)
    assert out.shape == previous.shape and not np.allclose(out, previous)
    last = max(k for k in params if k.startswith("Conv"))
    zeroed = {**params, last: jax.tree.map(jnp.zeros_like, params[last])}
    np.testing.assert_array_equal(module.apply({"params": zeroed}, noise, previous), previous)


def test_each_image_is_normalised_alone():
    """The paper's BatchNorm on a batch of one image: a sample's output does not depend on the rest of its batch."""
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 16, 16, 3))
    module = PatchCritic(8)
    params = module.init(jax.random.PRNGKey(1), x)["params"]
    together = module.apply({"params": params}, x)
    alone = jnp.concatenate([module.apply({"params": params}, x[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_widths_double_every_four_scales_up_to_the_cap():
    """Ten scales (N = 9): 32 at the four coarsest (9..6), 64 at 5..2, then 128 capped at 128 for 1..0."""
    assert [scale_width(n, 10, 32, 128) for n in range(10)] == [128, 128, 64, 64, 64, 64, 32, 32, 32, 32]
    assert [scale_width(n, 10, 32, 100) for n in (0, 5, 9)] == [100, 64, 32]


def test_the_pyramid_of_the_paper():
    """rocket.jpg at 250 pixels (167x250), coarsest shorter side 25, r0 = 3/4: N = ceil(log(25/167) / log(3/4)) = 7,
    r = (25/167)^(1/7), scale n at round(167 r^n) x round(250 r^n)."""
    shapes, r = pyramid_shapes(167, 250, 25, 0.75)
    n_coarsest = math.ceil(math.log(25 / 167) / math.log(0.75))
    assert n_coarsest == 7 and r == pytest.approx((25 / 167) ** (1 / 7))
    assert shapes == tuple((round(167 * r**n), round(250 * r**n)) for n in range(8))
    assert shapes[0] == (167, 250) and min(shapes[-1]) == 25
    assert shapes[-2] == (33, 49)  # the written-out table: 167x250, 127x191, 97x145, 74x111, 56x84, 43x64, 33x49, 25x37
    assert pyramid_shapes(20, 30, 25, 0.75) == (((20, 30),), 1.0)  # already small: one scale
    assert len(pyramid_shapes(64, 64, 16, 0.5)[0]) == 3  # 64, 32, 16: an exact power lands on min_side
    with pytest.raises(ValueError, match="scale factor"):
        pyramid_shapes(64, 64, 16, 1.0)


def test_resize_to_downsamples_with_antialiasing():
    """A 2x2 checkerboard of 1-pixel squares shrunk 4x is its mean (grey) with antialiasing, not aliased samples."""
    board = (np.indices((32, 32)).sum(0) % 2).astype(np.float32)[None, :, :, None]
    small = np.asarray(resize_to(jnp.asarray(board), (8, 8)))
    assert small.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(small[0, 2:-2, 2:-2], 0.5, atol=0.02)
