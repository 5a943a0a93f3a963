"""LPIPS from weight files written in torch's format: the conversion against a direct convolution, the
distance against its formula, and the files' absence as one error."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.errors import RunNotFoundError
from jaxgen.eval import lpips
from jaxgen.nn.vgg import VGG16Features
from tests.torch_archive_writer import WIDTHS, write_tiny_lpips as write_weights

def test_the_first_convolution_matches_a_direct_cross_correlation_of_the_torch_weights(tmp_path):
    vgg_path, lin_path, backbone, _ = write_weights(tmp_path)
    params = lpips.load_params(vgg_path, lin_path)
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 3)).astype(np.float32)
    weight, bias = backbone["features.0.weight"], backbone["features.0.bias"]  # OIHW
    padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    first = np.zeros((6, 6, WIDTHS[0]))
    for i in range(6):
        for j in range(6):
            first[i, j] = np.einsum("hwc,ochw->o", padded[i : i + 3, j : j + 3], weight) + bias
    first = np.maximum(first, 0)
    # the first tap follows two convolutions: make the second the identity (its centre tap) to see the first
    inner = {**params["vgg"], "conv_1": {"kernel": jnp.zeros((3, 3, WIDTHS[0], WIDTHS[0])).at[1, 1].set(jnp.eye(WIDTHS[0])),
                                         "bias": jnp.zeros(WIDTHS[0])}}
    tap = VGG16Features(WIDTHS).apply({"params": inner}, jnp.asarray(x))[0][0]
    np.testing.assert_allclose(tap, first, rtol=1e-4, atol=1e-5)


def test_the_distance_follows_its_formula_and_is_zero_for_equal_images(tmp_path):
    vgg_path, lin_path, _, heads = write_weights(tmp_path)
    params = lpips.load_params(vgg_path, lin_path)
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
    y = jnp.asarray(rng.uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
    d = lpips.lpips(params, x, y)
    np.testing.assert_allclose(lpips.lpips(params, x, x), 0.0, atol=1e-6)
    np.testing.assert_allclose(d, lpips.lpips(params, y, x), rtol=1e-5)
    net = VGG16Features(WIDTHS)
    taps_x = net.apply({"params": params["vgg"]}, (np.asarray(x) - lpips.SHIFT) / lpips.SCALE)
    taps_y = net.apply({"params": params["vgg"]}, (np.asarray(y) - lpips.SHIFT) / lpips.SCALE)
    expected = np.zeros(2)
    for l, (fx, fy) in enumerate(zip(taps_x, taps_y)):
        fx, fy = np.asarray(fx, np.float64), np.asarray(fy, np.float64)
        ux = fx / (np.linalg.norm(fx, axis=-1, keepdims=True) + 1e-10)
        uy = fy / (np.linalg.norm(fy, axis=-1, keepdims=True) + 1e-10)
        w = heads[f"lin{l}.model.1.weight"].reshape(-1)
        expected += ((ux - uy) ** 2 @ w).mean(axis=(1, 2))
    np.testing.assert_allclose(d, expected, rtol=1e-4)
    grey = jnp.asarray(rng.uniform(-1, 1, (2, 16, 16, 1)), jnp.float32)
    np.testing.assert_allclose(lpips.lpips(params, grey, x), lpips.lpips(params, jnp.repeat(grey, 3, -1), x), rtol=1e-6)


def test_missing_weight_files_are_one_error_naming_the_key(tmp_path):
    with pytest.raises(RunNotFoundError, match="loss.lpips_vgg=.*is not a file"):
        lpips.load_params(tmp_path / "vgg16.pth", tmp_path / "lin.pth")
