"""The DDPM UNet's conditioning reaches the network at every width."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.layers import norm_groups
from jaxgen.nn.unet import UNet


def test_norm_groups_keep_the_papers_32_and_never_one_channel_per_group():
    assert [norm_groups(c) for c in (8, 16, 32, 64, 128, 256)] == [8, 16, 32, 32, 32, 32]
    assert [norm_groups(c, 2) for c in (8, 16, 32, 48, 64, 128, 256)] == [4, 8, 16, 24, 32, 32, 32]
    assert norm_groups(17, 2) == 1


def perturbed(params, rng):
    """A fresh UNet's zero-initialised output convolutions make every output 0; noise on every weight
    makes it a generic network."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(rng, len(leaves))
    return treedef.unflatten([p + 0.2 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


@pytest.mark.parametrize("min_group_size", [1, 2])
def test_a_narrow_unet_sees_its_timestep_and_class_only_without_single_channel_groups(min_group_size):
    net = UNet(channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(), mid_attention=False,
               dropout=0.0, out_channels=1, num_classes=10, norm_min_group_size=min_group_size)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
    t, labels = jnp.array([10, 10]), jnp.array([3, 3])
    params = perturbed(net.init(jax.random.PRNGKey(1), x, t, labels)["params"], jax.random.PRNGKey(2))
    apply = jax.jit(lambda t, y: net.apply({"params": params}, x, t, y))
    base = apply(t, labels)
    other_t = float(jnp.abs(apply(jnp.array([700, 700]), labels) - base).max())
    other_class = float(jnp.abs(apply(t, jnp.array([7, 7])) - base).max())
    scale = float(jnp.abs(base).max())
    if min_group_size == 1:  # 8 and 16 channels in 8 and 16 groups: instance norm subtracts the embedding's shift
        np.testing.assert_array_less([other_t, other_class], 1e-5 * scale)
    else:
        assert other_t > 1e-2 * scale and other_class > 1e-2 * scale
