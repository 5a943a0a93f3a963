"""The history pool of generated images: fills first, then returns an old image with probability 1/2 and
keeps its size; the returned images and the pool's contents account for every image seen."""
import collections

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.gan.history_pool import empty_pool, query_pool


def tagged(values):
    """(N, 2, 2, 1) images whose every pixel is the image's tag, so images can be followed by value."""
    return jnp.broadcast_to(jnp.asarray(values, jnp.float32)[:, None, None, None], (len(values), 2, 2, 1))


def tags(images):
    return [int(v) for v in np.asarray(images)[:, 0, 0, 0]]


def test_the_pool_passes_images_through_while_it_fills():
    pool = empty_pool(5, (2, 2, 1))
    returned, pool = query_pool(pool, tagged([1, 2, 3]), jax.random.PRNGKey(0))
    assert tags(returned) == [1, 2, 3] and int(pool["count"]) == 3
    returned, pool = query_pool(pool, tagged([4, 5]), jax.random.PRNGKey(1))
    assert tags(returned) == [4, 5] and int(pool["count"]) == 5
    assert sorted(tags(pool["images"])) == [1, 2, 3, 4, 5]


def test_a_full_pool_returns_old_images_half_the_time_and_keeps_its_size():
    size, rounds, batch = 10, 400, 8
    query = jax.jit(query_pool)
    pool = empty_pool(size, (2, 2, 1))
    _, pool = query(pool, tagged(range(1, size + 1)), jax.random.PRNGKey(0))
    old = 0
    for r in range(rounds):
        new = list(range(100 + r * batch, 100 + (r + 1) * batch))
        before = collections.Counter(tags(pool["images"]))
        returned, pool = query(pool, tagged(new), jax.random.PRNGKey(r + 1))
        after = collections.Counter(tags(pool["images"]))
        assert pool["images"].shape[0] == size and int(pool["count"]) == size
        # conservation: what was in the pool plus what came in is what is in the pool plus what went out
        assert before + collections.Counter(new) == after + collections.Counter(tags(returned))
        old += sum(t != n for t, n in zip(tags(returned), new))  # a stored image (perhaps one of this batch's) came back
    share = old / (rounds * batch)
    assert abs(share - 0.5) < 0.03, share  # 3,200 Bernoulli(1/2) draws: sd 0.009


def test_a_pool_of_size_zero_passes_everything_through():
    images = tagged([7, 8, 9])
    returned, pool = query_pool(empty_pool(0, (2, 2, 1)), images, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(returned, images)
    assert pool["images"].shape[0] == 0
