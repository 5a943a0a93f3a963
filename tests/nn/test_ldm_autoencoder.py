"""The first-stage autoencoder's shapes for every f, and the PatchGAN's receptive field."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.gan import PatchDiscriminator, patch_grid_size, receptive_field
from jaxgen.nn.ldm_autoencoder import FirstStageAutoencoder


@pytest.mark.parametrize("mults", [(1,), (1, 2), (1, 2, 2), (1, 2, 2, 2), (1, 1, 2, 2, 2)])
def test_the_latent_is_f_times_smaller_for_every_f(mults):
    f = 2 ** (len(mults) - 1)
    net = FirstStageAutoencoder(8, mults, 1, True, latent_channels=3, moments=True, out_channels=1)
    x = jnp.zeros((2, 32, 32, 1))
    params = net.init(jax.random.PRNGKey(0), x)["params"]
    moments = net.apply({"params": params}, x, method=FirstStageAutoencoder.encode)
    assert moments.shape == (2, 32 // f, 32 // f, 6)
    assert net.apply({"params": params}, x).shape == (2, 32, 32, 1)


def test_the_three_layer_patchgan_sees_70x70_patches():
    assert receptive_field(3) == 70 and receptive_field(1) == 16
    d = PatchDiscriminator(features=4, num_layers=3, norm="none")
    x = jnp.zeros((1, 160, 160, 1))
    params = d.init(jax.random.PRNGKey(0), x)["params"]
    out = d.apply({"params": params}, x)
    assert out.shape[1:] == (patch_grid_size(160, 3),) * 2
    centre = (out.shape[1] // 2, out.shape[2] // 2)
    grad = jax.grad(lambda image: d.apply({"params": params}, image)[0, centre[0], centre[1]])(
        jax.random.normal(jax.random.PRNGKey(1), x.shape))
    rows = np.flatnonzero(np.abs(np.asarray(grad[0, :, :, 0])).sum(1))
    cols = np.flatnonzero(np.abs(np.asarray(grad[0, :, :, 0])).sum(0))
    assert rows[-1] - rows[0] + 1 == 70 and cols[-1] - cols[0] + 1 == 70
