"""The transposed convolution against its definition, and its hand-written kernel gradient against autodiff."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.transposed_conv import TransposedConv, transposed_conv


def brute_force(x, w, stride, padding, output_padding=0):
    """out[s m + u - p] += x[m] w[u], per spatial axis (PyTorch's ConvTranspose2d), output_padding more zero
    positions at the far end before the cropping, in float64."""
    b, h, wd, _ = x.shape
    k, c_out = w.shape[0], w.shape[-1]
    q = output_padding
    full = np.zeros((b, stride * (h - 1) + k + q, stride * (wd - 1) + k + q, c_out))
    for m in range(h):
        for n in range(wd):
            for u in range(k):
                for v in range(k):
                    full[:, stride * m + u, stride * n + v] += np.asarray(x[:, m, n], np.float64) @ np.asarray(w[u, v], np.float64)
    end_h, end_w = full.shape[1] - padding, full.shape[2] - padding
    return full[:, padding:end_h, padding:end_w]


@pytest.mark.parametrize("kernel, stride, padding, output_padding", [(4, 2, 1, 0), (3, 2, 0, 0), (5, 3, 2, 0), (3, 1, 1, 0),
                                                                     (3, 2, 1, 1), (3, 2, 0, 1), (5, 3, 1, 2)])
def test_forward_matches_the_definition_and_the_gradients_match_autodiff(kernel, stride, padding, output_padding):
    kx, kw, kd = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (2, 4, 5, 3))
    w = jax.random.normal(kw, (kernel, kernel, 3, 2))
    y = transposed_conv(x, w, stride, padding, output_padding)
    np.testing.assert_allclose(y, brute_force(x, w, stride, padding, output_padding), rtol=1e-5, atol=1e-5)
    # the reference gradient: autodiff through XLA's own transposed convolution
    edges = (kernel - 1 - padding, kernel - 1 - padding + output_padding)
    reference = lambda x, w: jax.lax.conv_transpose(  # noqa: E731
        x, jnp.swapaxes(w, 2, 3), (stride, stride), [edges] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        transpose_kernel=True,
    )
    np.testing.assert_allclose(reference(x, w), y, rtol=1e-5, atol=1e-5)
    dy = jax.random.normal(kd, y.shape)
    ours = jax.vjp(lambda x, w: transposed_conv(x, w, stride, padding, output_padding), x, w)[1](dy)
    theirs = jax.vjp(reference, x, w)[1](dy)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_module_doubles_the_size_like_pytorch_with_kernel_4_stride_2_padding_1():
    layer = TransposedConv(5, use_bias=True)
    x = jnp.ones((2, 7, 7, 3))
    variables = layer.init(jax.random.PRNGKey(0), x)
    assert layer.apply(variables, x).shape == (2, 14, 14, 5)
    assert variables["params"]["kernel"].shape == (4, 4, 3, 5) and variables["params"]["bias"].shape == (5,)


def test_kernel_3_stride_2_padding_1_output_padding_1_doubles_the_size_like_cyclegans_upsampling():
    layer = TransposedConv(4, kernel_size=3, padding=1, output_padding=1)
    x = jnp.ones((1, 8, 8, 2))
    assert layer.apply(layer.init(jax.random.PRNGKey(0), x), x).shape == (1, 16, 16, 4)
