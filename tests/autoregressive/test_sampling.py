"""The pixel-by-pixel sampler: site order, completion, and the first site's marginal."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.autoregressive import PixelLikelihood, model_input, sample_levels
from jaxgen.autoregressive.sampling import guided_logits, num_sites, sample_levels_cached, sample_levels_gated_cached
from jaxgen.nn.pixelcnn import GatedPixelCNN, PixelCNN

CERTAIN = 100.0  # a logit gap that makes a categorical draw deterministic


def counting_network(shape):
    """A stand-in network whose every site predicts (the previous site's level + 1) mod 256, with the
    previous site in raster order and colour order: the sampler must visit the sites in that order."""
    h, w, c = shape

    def network(x):
        levels = jnp.round((x + 1.0) * 255.0 / 2.0).astype(jnp.int32).reshape(x.shape[0], -1)
        previous = jnp.concatenate([jnp.full((x.shape[0], 1), -1), levels[:, :-1]], axis=1)
        return CERTAIN * jax.nn.one_hot((previous + 1) % 256, 256).reshape(x.shape[0], h, w, c, 256)

    return network


def test_sites_are_drawn_in_raster_then_colour_order():
    shape = (3, 4, 3)
    out = sample_levels(counting_network(shape), PixelLikelihood("categorical", 3), jax.random.PRNGKey(0),
                        jnp.zeros((2,) + shape, jnp.int32))
    np.testing.assert_array_equal(out, np.broadcast_to(np.arange(36).reshape(shape), (2,) + shape))


def test_completion_keeps_the_known_sites_and_continues_from_them():
    shape = (4, 2, 1)
    known = jnp.full((1,) + shape, 200, jnp.int32)
    out = sample_levels(counting_network(shape), PixelLikelihood("categorical", 1), jax.random.PRNGKey(0), known, 4)
    np.testing.assert_array_equal(out[0, :, :, 0], [[200, 200], [200, 200], [201, 202], [203, 204]])


def test_first_site_follows_the_models_marginal():
    """The first pixel's conditional does not depend on the image: draws of it must match softmax(logits)."""
    shape, n = (4, 4, 1), 8_000
    for kind, levels in (("bernoulli", 1), ("categorical", 256)):
        model = PixelCNN(8, 1, 1, levels, output_features=8, first_kernel=3)
        params = model.init(jax.random.PRNGKey(1), jnp.zeros((1,) + shape))
        likelihood = PixelLikelihood(kind, 1)
        network = jax.jit(lambda x: model.apply(params, x))
        logits = network(jnp.zeros((1,) + shape))[0, 0, 0, 0]
        draws = sample_levels(network, likelihood, jax.random.PRNGKey(2), jnp.zeros((n,) + shape, jnp.int32))[:, 0, 0, 0]
        if kind == "bernoulli":
            p = float(jax.nn.sigmoid(logits[0]))
            assert abs(float(draws.mean()) - p) < 4 * np.sqrt(p * (1 - p) / n)
        else:
            probs = np.asarray(jax.nn.softmax(logits), np.float64)
            values = np.arange(256)
            mean, var = (probs * values).sum(), (probs * (values - (probs * values).sum()) ** 2).sum()
            assert abs(float(draws.mean()) - mean) < 4 * np.sqrt(var / n)
            assert abs(float(draws.var()) / var - 1) < 0.05


def test_mixture_sites_are_whole_pixels_and_the_loop_is_traced_once():
    """With the logistic mixture one network call draws all colours of a pixel: H*W sites, not H*W*C."""
    calls = []
    shape = (2, 2, 3)

    def network(x):
        calls.append(1)
        return jnp.zeros(x.shape[:3] + (10,))

    out = jax.jit(lambda key: sample_levels(network, PixelLikelihood("logistic_mixture", 3), key,
                                            jnp.zeros((2,) + shape, jnp.int32)))(jax.random.PRNGKey(0))
    assert out.shape == (2,) + shape and out.dtype == jnp.int32
    assert int(out.min()) >= 0 and int(out.max()) <= 255
    assert len(calls) == 1  # traced once: the loop over the sites is a fori_loop, not Python
    assert num_sites(PixelLikelihood("logistic_mixture", 3), shape) == 4
    assert num_sites(PixelLikelihood("categorical", 3), shape) == 12
    assert model_input(jnp.array([0, 255]), 256).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("kind, colours, start_site", [("bernoulli", 1, 0), ("categorical", 3, 0), ("bernoulli", 1, 13)])
def test_cached_pixelcnn_sampler_draws_what_the_full_sampler_draws(kind, colours, start_site):
    """One pixel's activations per site from the caches give the same logits as the whole network, so
    with the same key both samplers draw the same images (completion included)."""
    shape = (5, 4, colours)
    likelihood = PixelLikelihood(kind, colours)
    model = PixelCNN(12, 2, colours, likelihood.output_levels(), output_features=9, first_kernel=5)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + shape))["params"]
    params = jax.tree.map(lambda p: 3.0 * p, params)  # sharper, input-dependent conditionals
    start = jax.random.randint(jax.random.PRNGKey(1), (6,) + shape, 0, likelihood.num_levels)
    key = jax.random.PRNGKey(2)
    full = sample_levels(lambda x: model.apply({"params": params}, x), likelihood, key, start, start_site)
    cached = jax.jit(sample_levels_cached, static_argnums=(0, 2))(model, params, likelihood, key, start, start_site)
    np.testing.assert_array_equal(cached, full)
    assert len(np.unique(np.asarray(full))) > 1


@pytest.mark.parametrize(
    "kind, colours, num_classes, num_layers, start_site, guidance",
    [("bernoulli", 1, 3, 3, 0, 0.0), ("categorical", 3, 0, 2, 0, 0.0), ("bernoulli", 1, 0, 1, 0, 0.0),
     ("bernoulli", 1, 3, 2, 11, 0.0), ("bernoulli", 1, 3, 2, 0, 1.5), ("categorical", 3, 3, 2, 5, 2.0)],
)
def test_cached_gated_sampler_draws_what_the_full_sampler_draws(kind, colours, num_classes, num_layers, start_site, guidance):
    """The vertical stack once per row and the horizontal stack at one pixel give the whole Gated
    PixelCNN's logits, so with the same key both samplers draw the same images (class-conditional, colour,
    completion and classifier-free guidance -- the full network run on [x; x] with [y; null] -- included)."""
    shape = (5, 4, colours)
    likelihood = PixelLikelihood(kind, colours)
    embedded = num_classes + (guidance > 0)  # the null label K
    model = GatedPixelCNN(6, num_layers, colours, likelihood.output_levels(), embedded, output_features=9, first_kernel=5)
    labels = jnp.arange(6) % num_classes if num_classes else None
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((6,) + shape), labels)["params"]
    params = jax.tree.map(lambda p: 3.0 * p, params)
    start = jax.random.randint(jax.random.PRNGKey(1), (6,) + shape, 0, likelihood.num_levels)
    key = jax.random.PRNGKey(2)
    if guidance:
        both = jnp.concatenate([labels, jnp.full_like(labels, num_classes)])
        network = lambda x: guided_logits(model.apply({"params": params}, jnp.concatenate([x, x]), both), guidance)  # noqa: E731
    else:
        network = lambda x: model.apply({"params": params}, x, labels)  # noqa: E731
    full = sample_levels(network, likelihood, key, start, start_site)
    cached = jax.jit(sample_levels_gated_cached, static_argnums=(0, 2, 7))(
        model, params, likelihood, key, start, labels, start_site, guidance, num_classes
    )
    np.testing.assert_array_equal(cached, full)
    assert len(np.unique(np.asarray(full))) > 1
    if num_classes:
        other = sample_levels_gated_cached(model, params, likelihood, key, start, (labels + 1) % num_classes, start_site)
        assert not np.array_equal(np.asarray(other), np.asarray(full))


def test_guided_logits_are_the_conditional_model_at_zero_and_extrapolate_linearly():
    conditional, unconditional = jnp.array([[1.0, -2.0]]), jnp.array([[0.5, 1.0]])
    both = jnp.concatenate([conditional, unconditional])
    np.testing.assert_array_equal(guided_logits(both, 0.0), conditional)
    np.testing.assert_array_equal(guided_logits(both, -1.0), unconditional)
    np.testing.assert_allclose(guided_logits(both, 2.0), [[3 * 1.0 - 2 * 0.5, 3 * -2.0 - 2 * 1.0]])
