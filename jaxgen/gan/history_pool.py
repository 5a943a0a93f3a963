"""A history of generated images for the discriminator (Shrivastava et al. 2017, sec. 2.3; CycleGAN's
image pool, Zhu et al. 2017 sec. 4).

D is updated on a mix of the newest fakes and older ones, so that it does not forget the regions of image
space G has left and G cannot oscillate between them. The pool holds up to `size` images. Each image of a
new batch, in order: while the pool is not full it is stored and passed through; once full, with
probability 1/2 it is passed through, and otherwise a uniformly chosen stored image is returned in its
place and the new image takes that slot. The pool lives in the training state (`state.model_state`), so a
resumed run draws the same mix.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

HistoryPool = dict[str, jax.Array]  # images (size, H, W, C) float32, count () int32: the slots filled


def empty_pool(size: int, image_shape: tuple[int, ...]) -> HistoryPool:
    return {"images": jnp.zeros((size,) + tuple(image_shape), jnp.float32), "count": jnp.zeros((), jnp.int32)}


def query_pool(pool: HistoryPool, images: jax.Array, rng: jax.Array) -> tuple[jax.Array, HistoryPool]:
    """(the images D sees in place of `images` (B, H, W, C), the pool after them). A pool of size 0 passes
    every image through."""
    size = pool["images"].shape[0]
    if size == 0:
        return images, pool

    def one(carry: tuple[jax.Array, jax.Array], item: tuple[jax.Array, jax.Array]) -> tuple[tuple, jax.Array]:
        stored, count = carry
        image, key = item
        k_swap, k_slot = jax.random.split(key)
        filling = count < size
        swap = jnp.logical_and(~filling, jax.random.bernoulli(k_swap, 0.5))
        slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, size))
        returned = jnp.where(swap, stored[slot], image)
        stored = stored.at[slot].set(jnp.where(filling | swap, image, stored[slot]))
        return (stored, count + filling.astype(jnp.int32)), returned

    keys = jax.random.split(rng, images.shape[0])
    (stored, count), returned = jax.lax.scan(one, (pool["images"], pool["count"]), (images.astype(jnp.float32), keys))
    return returned.astype(images.dtype), {"images": stored, "count": count}
