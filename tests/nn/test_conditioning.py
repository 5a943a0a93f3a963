"""Conditioning encoders: padding masked out of the text model, Fourier box features, null boxes and labels."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data.text import VOCAB_SIZE, encode_text
from jaxgen.nn.conditioning import ClassEmbedder, LayoutEncoder, TextTransformer, fourier_features


def test_class_tokens_have_a_null_label_for_guidance():
    embedder = ClassEmbedder(num_classes=10, dim=8)
    params = embedder.init(jax.random.PRNGKey(0), jnp.array([3]))["params"]
    tokens = embedder.apply({"params": params}, jnp.array([3, 10]))
    chex.assert_shape(tokens, (2, 1, 8))
    assert params["Embed_0"]["embedding"].shape == (11, 8)


def test_a_prompts_tokens_do_not_depend_on_its_padding():
    model = TextTransformer(VOCAB_SIZE, dim=16, depth=2, heads=2, max_length=64)
    short, long = encode_text(["a thin seven"], 16), encode_text(["a thin seven"], 64)
    params = model.init(jax.random.PRNGKey(1), jnp.asarray(long))["params"]
    a = model.apply({"params": params}, jnp.asarray(short))
    b = model.apply({"params": params}, jnp.asarray(long))
    chex.assert_shape(a, (1, 16, 16))
    np.testing.assert_allclose(a[0, :14], b[0, :14], rtol=1e-5, atol=1e-5)  # begin, 12 bytes, end
    other = model.apply({"params": params}, jnp.asarray(encode_text(["a thick seven"], 16)))
    assert float(jnp.abs(other - a).max()) > 1e-3


def test_fourier_features_are_sines_and_cosines_of_octaves():
    feats = fourier_features(jnp.array([[0.25, 0.5]]), 3)
    chex.assert_shape(feats, (1, 12))
    expected = [np.sin(np.pi * 0.25 * 2**k) for k in range(3)] + [np.cos(np.pi * 0.25 * 2**k) for k in range(3)]
    expected += [np.sin(np.pi * 0.5 * 2**k) for k in range(3)] + [np.cos(np.pi * 0.5 * 2**k) for k in range(3)]
    np.testing.assert_allclose(feats[0], expected, atol=1e-6)


def test_layout_tokens_follow_their_boxes_and_missing_boxes_are_the_null_token():
    encoder = LayoutEncoder(num_classes=10, dim=8)
    boxes = jnp.array([[[0.1, 0.1, 0.4, 0.5], [0.5, 0.5, 0.9, 0.9], [0.0, 0.0, 0.0, 0.0]]])
    labels = jnp.array([[7, 2, -1]])
    params = encoder.init(jax.random.PRNGKey(2), boxes, labels)["params"]
    tokens = encoder.apply({"params": params}, boxes, labels)
    chex.assert_shape(tokens, (1, 3, 8))
    np.testing.assert_array_equal(tokens[0, 2], params["null_token"])
    swapped = encoder.apply({"params": params}, boxes[:, [1, 0, 2]], labels[:, [1, 0, 2]])
    np.testing.assert_allclose(swapped[0, [1, 0, 2]], tokens[0], rtol=1e-6)  # one token per box, whatever the order
    moved = encoder.apply({"params": params}, boxes.at[0, 0, 0].set(0.2), labels)
    assert float(jnp.abs(moved[0, 0] - tokens[0, 0]).max()) > 1e-4 and jnp.array_equal(moved[0, 1], tokens[0, 1])
