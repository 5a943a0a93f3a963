"""Small shared pieces: activations by name, initialisers, instance normalisation and the minibatch standard
deviation feature."""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "softplus": nn.softplus,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {tuple(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def kernel_init(std: float) -> nn.initializers.Initializer:
    """N(0, std^2) weights when std > 0 (Kingma & Welling use 0.01), else LeCun normal."""
    return nn.initializers.normal(std) if std > 0 else nn.initializers.lecun_normal()


def norm_groups(channels: int, min_group_size: int = 1) -> int:
    """GroupNorm's groups: 32 as in the DDPM and LDM networks, fewer for narrow layers (the largest divisor
    of `channels` <= 32 that leaves at least `min_group_size` channels in each group)."""
    return max(g for g in range(1, 33) if channels % g == 0 and channels // g >= min_group_size)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
    """(B, H, W, C) -> (B, fH, fW, C), each pixel repeated over an f x f block (f = 1: x itself)."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def instance_norm(x: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """Each example's each channel of (B, H, W, C) normalised over its H x W positions (Ulyanov et al. 2016),
    no affine parameters: CycleGAN's normalisation (PyTorch's InstanceNorm2d default)."""
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + epsilon)


def minibatch_stddev(x: jax.Array, group_size: int = 4, epsilon: float = 1e-8) -> jax.Array:
    """(N, H, W, C) -> (N, H, W, C + 1). Examples i = g M + m (g < G = min(group_size, N), M = N / G) form
    group m; the new map of each member of group m is the mean over (H, W, C) of the features' standard
    deviations sqrt(Var_g + epsilon) within the group."""
    n, h, w, c = x.shape
    groups = min(group_size, n)
    if n % groups:
        raise ValueError(f"minibatch stddev: a batch of {n} does not split into groups of {groups}")
    y = x.reshape(groups, n // groups, h, w, c).astype(jnp.float32)
    y = y - jnp.mean(y, axis=0)
    std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + epsilon)
    per_group = jnp.mean(std, axis=(1, 2, 3))
    feature = jnp.broadcast_to(jnp.tile(per_group, groups)[:, None, None, None], (n, h, w, 1)).astype(x.dtype)
    return jnp.concatenate([x, feature], axis=-1)
