"""Causality of the autoregressive networks: exact zeros of d output / d input on and after each site."""
import jax
import numpy as np
import pytest

from jaxgen.nn.masked_conv import causal_kernel_mask, channel_groups
from jaxgen.nn.pixelcnn import GatedPixelCNN, PixelCNN
from jaxgen.nn.pixelcnn_pp import PixelCNNPlusPlus
from jaxgen.nn.pixelrnn import RowLSTMPixelRNN

BATCH = 4  # summing |jacobian| over a few random inputs keeps a dead ReLU from hiding a dependence


def site_dependence(model, shape, per_channel_output: bool, labels=None) -> np.ndarray:
    """|d out_site / d x_site'| summed over a batch of random inputs: (sites, input sites), where a site is
    (pixel, channel) for per-channel outputs and a pixel otherwise; inputs are always (pixel, channel)."""
    x = jax.random.normal(jax.random.PRNGKey(1), (BATCH,) + shape)
    params = model.init(jax.random.PRNGKey(0), x, labels)

    def out_one(xi, li):
        out = model.apply(params, xi[None], None if li is None else li[None])[0]
        return out.sum(-1)  # (H, W, C) or (H, W)

    jac = jax.jit(jax.vmap(jax.jacrev(out_one)))(x, labels)
    h, w, c = shape
    out_sites = h * w * c if per_channel_output else h * w
    return np.abs(np.asarray(jac)).sum(0).reshape(out_sites, h * w * c)


def future_inputs(out_sites: int, shape) -> np.ndarray:
    """For each output site, which input (pixel, channel) entries come at or after it."""
    h, w, c = shape
    in_pixel, in_channel = np.divmod(np.arange(h * w * c), c)
    if out_sites == h * w * c:
        out_pixel, out_channel = np.divmod(np.arange(out_sites), c)
        return (in_pixel[None] > out_pixel[:, None]) | (
            (in_pixel[None] == out_pixel[:, None]) & (in_channel[None] >= out_channel[:, None])
        )
    return in_pixel[None] >= np.arange(out_sites)[:, None]  # whole pixels: the mixture orders colours itself


MASKED = {
    "pixelcnn": lambda colours: PixelCNN(12, 2, colours, 3, output_features=9),
    "gated": lambda colours: GatedPixelCNN(12, 4, colours, 3, kernel_size=3, first_kernel=3, output_features=9),
    "row_lstm": lambda colours: RowLSTMPixelRNN(12, 2, colours, 3, output_features=9, first_kernel=3),
}


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("arch", sorted(MASKED))
def test_masked_models_never_see_the_site_they_predict_or_later_ones(arch, colours):
    shape = (5, 5, colours)
    dep = site_dependence(MASKED[arch](colours), shape, per_channel_output=True)
    future = future_inputs(dep.shape[0], shape)
    assert dep[future].max() == 0.0
    assert dep[~future].max() > 0.0


@pytest.mark.parametrize("colours", [1, 3])
def test_pixelcnn_pp_outputs_depend_only_on_earlier_pixels(colours):
    shape = (8, 8, colours)
    dep = site_dependence(PixelCNNPlusPlus(8, 1, 2, colours, 0.0, num_scales=2), shape, per_channel_output=False)
    future = future_inputs(dep.shape[0], shape)
    assert dep[future].max() == 0.0
    assert (dep[~future] > 0).mean() > 0.99  # down/up-sampling reaches nearly every earlier pixel of 8x8


@pytest.mark.parametrize("colours", [1, 3])
def test_gated_stacks_have_no_blind_spot(colours):
    """With enough layers to cover the image, every earlier (pixel, colour) reaches every site."""
    shape = (5, 5, colours)
    dep = site_dependence(MASKED["gated"](colours), shape, per_channel_output=True)
    earlier = ~future_inputs(dep.shape[0], shape)
    assert np.all(dep[earlier] > 0.0)


def test_pixelcnn_has_the_blind_spot_the_gated_stacks_remove():
    """A masked 3x3 layer steps up-left, up, up-right or left, so the pixel one row up and two columns
    right, (r-1, c+2), is never reached however deep the stack: the measurement above can fail, and does
    for the original PixelCNN."""
    shape = (5, 5, 1)
    model = PixelCNN(12, 4, 1, 3, output_features=9, first_kernel=3)
    dep = site_dependence(model, shape, per_channel_output=True)
    assert dep[4 * 5 + 1, 3 * 5 + 3] == 0.0  # pixel (4, 1) does not see (3, 3)
    assert dep[4 * 5 + 1, 3 * 5 + 2] > 0.0  # but sees (3, 2)


def test_centre_tap_masks_follow_the_colour_order():
    groups_in, groups_out = channel_groups(3, 3), channel_groups(6, 3)
    mask_a = causal_kernel_mask((3, 3), (1, 1), groups_in, groups_out, "A")
    mask_b = causal_kernel_mask((3, 3), (1, 1), groups_in, groups_out, "B")
    np.testing.assert_array_equal(mask_a[1, 1], [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(mask_b[1, 1], [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]])
    assert mask_a[0].min() == 1 and mask_a[1, 0].min() == 1  # rows above, the pixel to the left: all channels
    assert mask_a[2].max() == 0 and mask_a[1, 2].max() == 0  # below and to the right: nothing


def test_row_lstm_scan_equals_its_python_loop():
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 5, 3))
    scanned = RowLSTMPixelRNN(12, 2, 3, 4, output_features=9, first_kernel=3)
    looped = RowLSTMPixelRNN(12, 2, 3, 4, output_features=9, first_kernel=3, use_scan=False)
    params = scanned.init(jax.random.PRNGKey(0), x)
    np.testing.assert_allclose(scanned.apply(params, x), looped.apply(params, x), atol=1e-5)
