"""The AE/VAE family: shapes and dtypes, the ELBO against a direct computation, pictures, and IWAE."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data, tasks
from jaxgen.data.preprocess import to_model_input
from jaxgen.validation import ConfigError
from tests.helpers import init_state, vae_config

B = 8


def make(preset="smoke", **overrides):
    config = vae_config(preset, **overrides)
    source = data.open_source(config.data, "test")
    task = tasks.get_task(config, source.spec)
    params = task.init_params(jax.random.PRNGKey(0))
    batch = {k: jnp.asarray(v) for k, v in source.read(np.arange(B)).items()}
    return task, params, batch


@pytest.mark.parametrize(
    "preset, shape",
    [("smoke", (28, 28, 1)), ("conv_smoke", (28, 28, 1)), ("photos_smoke", (32, 32, 3)), ("ae_smoke", (28, 28, 1))],
)
def test_shapes_and_dtypes(preset, shape):
    task, params, batch = make(preset)
    z_dim = task.config.model.z_dim
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    code = jax.jit(task.code)(params, x)  # each under jit: one program instead of op-by-op dispatch
    chex.assert_shape(code, (B, z_dim))
    recon = jax.jit(task.reconstruct)(params, x)
    chex.assert_shape(recon, (B,) + shape)
    chex.assert_type(recon, jnp.float32)
    assert float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0
    terms = jax.jit(task.loss_terms)(params, x, jax.random.PRNGKey(2))
    chex.assert_tree_shape_prefix(terms, (B,))
    chex.assert_tree_all_finite(terms)
    if task.is_vae:
        samples = jax.jit(task.sample, static_argnums=2)({"model": params}, jax.random.PRNGKey(3), 5)
        chex.assert_shape(samples, (5,) + shape)
        chex.assert_shape(jax.jit(task.interpolate, static_argnums=3)(params, x[:2], x[2:4], 7), (2, 7) + shape)


def test_elbo_matches_a_direct_computation():
    task, params, batch = make()
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    rng = jax.random.PRNGKey(5)
    terms = task.loss_terms(params, x, rng)
    mean, log_var = task.encode(params, x)
    z = mean + np.exp(0.5 * np.asarray(log_var)) * np.asarray(jax.random.normal(rng, mean.shape))
    p = np.asarray(jax.nn.sigmoid(task.decoder_output(params, jnp.asarray(z, jnp.float32))), np.float64).reshape(B, -1)
    xs = np.asarray(x, np.float64).reshape(B, -1)
    log_px_z = np.sum(xs * np.log(p) + (1 - xs) * np.log1p(-p), axis=1)
    kl = 0.5 * np.sum(np.square(mean) + np.exp(log_var) - log_var - 1, axis=1)
    np.testing.assert_allclose(terms["recon"], -log_px_z, rtol=1e-4)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(terms["elbo"], log_px_z - kl, rtol=1e-4)


def test_gaussian_decoder_and_autoencoder_losses_are_their_formulas():
    task, params, batch = make("photos_smoke")
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    z = jnp.zeros((B, task.config.model.z_dim))
    mean, log_var = task.decoder_output(params, z)
    expected = -0.5 * np.sum(np.log(2 * np.pi) + log_var + (x - mean) ** 2 / np.exp(log_var), axis=(1, 2, 3))
    np.testing.assert_allclose(task.log_likelihood(params, x, z), expected, rtol=1e-4)

    ae, ae_params, ae_batch = make("ae_smoke")
    x = to_model_input(ae_batch["image"], ae.mode)
    x_hat = ae.reconstruct(ae_params, x)
    np.testing.assert_allclose(ae.loss_terms(ae_params, x, None)["recon"], np.sum((x - x_hat) ** 2, axis=(1, 2, 3)), rtol=1e-5)


def test_autoencoder_has_no_prior_to_sample():
    ae, params, _ = make("ae_smoke")
    with pytest.raises(ConfigError, match="no prior to sample from"):
        ae.sample({"model": params}, jax.random.PRNGKey(0), 4)


def test_traversal_moves_one_latent_at_a_time():
    task, params, batch = make("smoke", **{"model.z_dim": 3})
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    values = jnp.array([-2.0, 0.0, 2.0])
    out = task.traverse(params, x, values)
    chex.assert_shape(out, (3, 3, 28, 28, 1))
    z0 = task.code(params, x[:1])[0]
    z = z0.at[1].set(2.0)
    np.testing.assert_allclose(out[1, 2], task.decode(params, z[None])[0], atol=1e-6)


def test_latent_manifold_needs_two_latents():
    task, params, _ = make("smoke")
    chex.assert_shape(task.latent_manifold(params, 5), (25, 28, 28, 1))
    task3, params3, _ = make("smoke", **{"model.z_dim": 3})
    with pytest.raises(ConfigError, match="model.z_dim=2"):
        task3.latent_manifold(params3)


def test_pictures_are_images_in_unit_range():
    task, params, batch = make("smoke")
    pictures = jax.jit(task.pictures)({"model": params}, jax.random.PRNGKey(0), batch)
    assert set(pictures) == {"samples", "reconstructions", "interpolations", "traversal", "manifold"}
    for images, _ in pictures.values():
        assert images.ndim == 4 and float(images.min()) >= 0 and float(images.max()) <= 1


def test_bfloat16_compute_keeps_float32_parameters():
    task, params, batch = make("smoke", **{"train.compute_dtype": "bfloat16"})
    state = init_state(task, 0)
    chex.assert_trees_all_equal_dtypes(state.params, jax.tree.map(lambda p: p.astype(jnp.float32), state.params))
    state, metrics = jax.jit(task.train_step)(state, batch)
    chex.assert_tree_all_finite(metrics)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(state.params))
    hidden = task.encoder.apply({"params": params["encoder"]}, jnp.zeros((1, 28, 28, 1)))
    assert hidden.dtype == jnp.bfloat16


def test_conv_arch_rejects_sizes_it_cannot_halve():
    config = vae_config("conv_smoke", **{"data.name": "digits", "model.conv_features": (8, 16, 32, 64)})
    source = data.open_source(config.data, "train")
    with pytest.raises(ConfigError, match="needs H and W divisible by 16"):
        tasks.get_task(config, source.spec)


def test_importance_weighted_bound_rises_with_k_on_the_vae():
    task, params, batch = make("smoke")
    batch = {**batch, "mask": jnp.ones((B,))}
    eval_batch = jax.jit(task.eval_batch)
    runs = [eval_batch({"model": params}, batch, jax.random.PRNGKey(seed)) for seed in range(16)]
    mean = {k: np.mean([float(r[k]) for r in runs]) for k in ("elbo", "iwae_1", "iwae_4")}
    assert mean["iwae_4"] > mean["iwae_1"]
    np.testing.assert_allclose(mean["iwae_1"], mean["elbo"], rtol=0.03)  # L_1 is the ELBO
