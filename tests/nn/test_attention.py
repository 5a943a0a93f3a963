"""The spatial transformer's attention against closed forms and a brute-force computation; the zero-started
output and grounding gate."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.attention import Attention, SpatialTransformer, TransformerBlock

HEADS, HEAD_DIM = 2, 4


def init_attention(x, context):
    layer = Attention(HEADS, HEAD_DIM)
    return layer, layer.init(jax.random.PRNGKey(0), x, context)["params"]


def value_path(params, token):
    """to_out(W_V token): what attention returns when every weight falls on values equal to W_V token."""
    return token @ params["to_v"]["kernel"] @ params["to_out"]["kernel"] + params["to_out"]["bias"]


def test_cross_attention_to_a_constant_context_is_the_value_path_for_every_query():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 6))
    token = jax.random.normal(jax.random.PRNGKey(2), (2, 1, 3))
    layer, params = init_attention(x, jnp.repeat(token, 7, axis=1))
    out = layer.apply({"params": params}, x, jnp.repeat(token, 7, axis=1))
    chex.assert_shape(out, (2, 5, 6))
    np.testing.assert_allclose(out, jnp.broadcast_to(value_path(params, token), out.shape), rtol=1e-5, atol=1e-6)


def test_one_context_token_gives_every_query_the_same_output():
    x = jax.random.normal(jax.random.PRNGKey(3), (3, 9, 6))
    token = jax.random.normal(jax.random.PRNGKey(4), (3, 1, 5))
    layer, params = init_attention(x, token)
    out = layer.apply({"params": params}, x, token)
    np.testing.assert_allclose(out, jnp.broadcast_to(out[:, :1], out.shape), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[:, 0], value_path(params, token)[:, 0], rtol=1e-5, atol=1e-6)


def test_attention_equals_a_head_by_head_softmax_written_out():
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (2, 4, 6)), np.float64)
    context = np.asarray(jax.random.normal(jax.random.PRNGKey(6), (2, 3, 5)), np.float64)
    layer, params = init_attention(jnp.asarray(x, jnp.float32), jnp.asarray(context, jnp.float32))
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    heads = []
    for head in range(HEADS):
        cols = slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)
        q, k, v = x @ p["to_q"]["kernel"][:, cols], context @ p["to_k"]["kernel"][:, cols], context @ p["to_v"]["kernel"][:, cols]
        logits = q @ k.transpose(0, 2, 1) / np.sqrt(HEAD_DIM)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        heads.append(weights / weights.sum(-1, keepdims=True) @ v)
    expected = np.concatenate(heads, -1) @ p["to_out"]["kernel"] + p["to_out"]["bias"]
    out = layer.apply({"params": params}, jnp.asarray(x, jnp.float32), jnp.asarray(context, jnp.float32))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_the_spatial_transformer_starts_as_the_identity_and_then_reads_the_context():
    x = jax.random.normal(jax.random.PRNGKey(7), (2, 4, 4, 16))
    context = jax.random.normal(jax.random.PRNGKey(8), (2, 3, 12))
    block = SpatialTransformer(heads=2, head_dim=8, depth=1)
    params = block.init(jax.random.PRNGKey(9), x, context)["params"]
    np.testing.assert_array_equal(block.apply({"params": params}, x, context), x)  # zero-initialised proj_out
    params["proj_out"]["kernel"] = jax.random.normal(jax.random.PRNGKey(10), params["proj_out"]["kernel"].shape)
    out = block.apply({"params": params}, x, context)
    chex.assert_shape(out, x.shape)
    chex.assert_type(out, jnp.float32)
    assert float(jnp.abs(out - block.apply({"params": params}, x, context + 1.0)).max()) > 1e-3
    half = SpatialTransformer(heads=2, head_dim=8, depth=1, dtype=jnp.bfloat16).apply({"params": params}, x.astype(jnp.bfloat16), context)
    chex.assert_type(half, jnp.bfloat16)


def test_grounding_at_gate_zero_is_the_block_without_grounding():
    x = jax.random.normal(jax.random.PRNGKey(11), (2, 6, 8))
    context = jax.random.normal(jax.random.PRNGKey(12), (2, 3, 5))
    grounding = jax.random.normal(jax.random.PRNGKey(13), (2, 2, 7))
    block = TransformerBlock(heads=2, head_dim=4)
    params = block.init(jax.random.PRNGKey(14), x, context, grounding)["params"]
    without = {k: v for k, v in params.items() if k != "grounding"}
    np.testing.assert_array_equal(
        block.apply({"params": params}, x, context, grounding), block.apply({"params": without}, x, context)
    )
    params["grounding"]["gate"] = jnp.asarray(0.5)
    assert float(jnp.abs(block.apply({"params": params}, x, context, grounding) - block.apply({"params": without}, x, context)).max()) > 1e-4


@pytest.mark.slow  # tests/tasks/test_ldm.py follows the same UNet through the second stage in the default suite
def test_a_unet_with_spatial_transformers_reads_its_context_at_every_attention_resolution():
    from jaxgen.nn.unet import UNet

    net = UNet(channels=16, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,), dropout=0.0,
               out_channels=3, transformer_depth=1, attention_heads=2)
    x, t = jax.random.normal(jax.random.PRNGKey(15), (2, 8, 8, 3)), jnp.array([3, 700])
    context = jax.random.normal(jax.random.PRNGKey(16), (2, 5, 12))
    params = net.init(jax.random.PRNGKey(17), x, t, context=context)["params"]
    transformers = sorted(k for k in params if k.startswith("SpatialTransformer"))
    assert transformers == [f"SpatialTransformer_{i}" for i in range(4)]  # 4x4: one down block, the middle, two up blocks
    assert params["SpatialTransformer_0"]["TransformerBlock_0"]["cross_attention"]["to_k"]["kernel"].shape == (12, 32)
    params["head"]["kernel"] = jax.random.normal(jax.random.PRNGKey(18), params["head"]["kernel"].shape)
    for name in transformers:
        params[name]["proj_out"]["kernel"] = 0.1 * jax.random.normal(jax.random.PRNGKey(19), params[name]["proj_out"]["kernel"].shape)
    out = net.apply({"params": params}, x, t, context=context)
    chex.assert_shape(out, (2, 8, 8, 3))
    assert float(jnp.abs(out - net.apply({"params": params}, x, t, context=2.0 * context)).max()) > 1e-4


def test_masked_keys_are_as_if_they_were_not_there():
    x = jax.random.normal(jax.random.PRNGKey(20), (2, 4, 6))
    context = jax.random.normal(jax.random.PRNGKey(21), (2, 5, 3))
    layer, params = init_attention(x, context)
    mask = jnp.array([[True, True, False, True, False]] * 2)
    np.testing.assert_allclose(
        layer.apply({"params": params}, x, context, mask), layer.apply({"params": params}, x, context[:, [0, 1, 3]]), rtol=1e-5, atol=1e-6
    )
