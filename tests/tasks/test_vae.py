"""The AE/VAE family: shapes and dtypes, the ELBO against a direct computation, pictures, and IWAE."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

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


def mixture_params(params, seed=9):
    """The mixture prior's parameters away from their start: random weights, means and precision factors."""
    k_logits, k_mean, k_tril = jax.random.split(jax.random.PRNGKey(seed), 3)
    shapes = {k: v.shape for k, v in params["prior"].items()}
    return {**params, "prior": {
        "logits": jax.random.normal(k_logits, shapes["logits"]),
        "mean": 2.0 * jax.random.normal(k_mean, shapes["mean"]),
        "precision_tril": 0.3 * jax.random.normal(k_tril, shapes["precision_tril"]),
    }}


def precision_factors(raw):
    raw = np.asarray(raw, np.float64)
    return np.tril(raw, -1) + np.exp(np.diagonal(raw, axis1=-2, axis2=-1))[..., None] * np.eye(raw.shape[-1])


PRIOR_CASES = [(False, "standard_normal"), (True, "standard_normal"), (True, "class_gaussian"), (False, "gaussian_mixture")]


@pytest.mark.parametrize("class_conditional, prior", PRIOR_CASES)
def test_elbo_matches_a_direct_computation(class_conditional, prior):
    task, params, batch = make(**{"model.class_conditional": class_conditional, "model.prior": prior})
    labels = batch["label"] if class_conditional else None
    if prior == "class_gaussian":  # away from its N(0, I) start, so that the prior's KL is not the standard one
        params = dict(params)
        k_mean, k_tril = jax.random.split(jax.random.PRNGKey(9))
        params["prior"] = {
            "mean": jax.random.normal(k_mean, params["prior"]["mean"].shape),
            "precision_tril": 0.3 * jax.random.normal(k_tril, params["prior"]["precision_tril"].shape),
        }
    if prior == "gaussian_mixture":
        params = mixture_params(params)
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    rng = jax.random.PRNGKey(5)
    terms = task.loss_terms(params, x, rng, labels)
    mean, log_var = task.encode(params, x, labels)
    z = mean + np.exp(0.5 * np.asarray(log_var)) * np.asarray(jax.random.normal(rng, mean.shape))
    logits = task.decoder_output(params, jnp.asarray(z, jnp.float32), labels)
    p = np.asarray(jax.nn.sigmoid(logits), np.float64).reshape(B, -1)
    xs = np.asarray(x, np.float64).reshape(B, -1)
    log_px_z = np.sum(xs * np.log(p) + (1 - xs) * np.log1p(-p), axis=1)
    if prior == "standard_normal":
        kl = 0.5 * np.sum(np.square(mean) + np.exp(log_var) - log_var - 1, axis=1)
    elif prior == "gaussian_mixture":  # no closed form: log q(z|x) - log p(z) at the sampled z, p by scipy
        a = precision_factors(params["prior"]["precision_tril"])
        log_pi = np.asarray(jax.nn.log_softmax(params["prior"]["logits"]), np.float64)
        m = np.asarray(params["prior"]["mean"], np.float64)
        log_p = np.logaddexp.reduce(
            [log_pi[k] + stats.multivariate_normal(m[k], np.linalg.inv(a[k].T @ a[k])).logpdf(z) for k in range(len(m))], axis=0
        )
        kl = stats.norm.logpdf(z, np.asarray(mean), np.exp(0.5 * np.asarray(log_var))).sum(-1) - log_p
        np.testing.assert_allclose(terms["kl"], kl, rtol=1e-3, atol=1e-3)
    else:  # KL(q || p(z|y)) as the expectation under q of log q - log p, p a full-covariance Gaussian per class
        a = precision_factors(params["prior"]["precision_tril"])[np.asarray(labels)]
        cov = np.linalg.inv(a.transpose(0, 2, 1) @ a)  # S_y = (A_y^T A_y)^-1
        m_y = np.asarray(params["prior"]["mean"], np.float64)[np.asarray(labels)]
        eps = np.random.default_rng(0).normal(size=(100_000,) + mean.shape)
        zq = np.asarray(mean) + np.exp(0.5 * np.asarray(log_var)) * eps
        log_q = stats.norm.logpdf(zq, np.asarray(mean), np.exp(0.5 * np.asarray(log_var))).sum(-1)
        log_p = np.stack([stats.multivariate_normal(m_y[i], cov[i]).logpdf(zq[:, i]) for i in range(B)], -1)
        kl = (log_q - log_p).mean(0)
        np.testing.assert_allclose(terms["kl"], kl, rtol=0.02)
        kl = np.asarray(terms["kl"])  # the recon and ELBO checks below stay exact
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


@pytest.mark.parametrize("class_conditional, prior", [(False, "standard_normal"), (True, "class_gaussian"), (False, "gaussian_mixture")])
def test_importance_weighted_bound_rises_with_k_on_the_vae(class_conditional, prior):
    task, params, batch = make("smoke", **{"model.class_conditional": class_conditional, "model.prior": prior})
    batch = {**batch, "mask": jnp.ones((B,))}
    eval_batch = jax.jit(task.eval_batch)
    runs = [eval_batch({"model": params}, batch, jax.random.PRNGKey(seed)) for seed in range(16)]
    mean = {k: np.mean([float(r[k]) for r in runs]) for k in ("elbo", "iwae_1", "iwae_4")}
    assert mean["iwae_4"] > mean["iwae_1"]
    np.testing.assert_allclose(mean["iwae_1"], mean["elbo"], rtol=0.03)  # L_1 is the ELBO


def test_conditional_vae_decodes_the_class_it_is_given():
    task, params, batch = make("conv_smoke", **{"model.class_conditional": True})
    x = to_model_input(batch["image"], task.mode, jax.random.PRNGKey(1))
    labels = batch["label"]
    # The class reaches both networks: another label moves q(z|x, y) and p(x|z, y).
    mean, _ = task.encode(params, x, labels)
    other_mean, _ = task.encode(params, x, (labels + 1) % 10)
    assert float(jnp.max(jnp.abs(mean - other_mean))) > 1e-4
    z = jnp.zeros((B, task.config.model.z_dim))
    assert float(jnp.max(jnp.abs(task.decode(params, z, labels) - task.decode(params, z, (labels + 1) % 10)))) > 1e-4
    # Analogies: one style z = code(x, y), decoded with every class k.
    analogies = task.analogies(params, x[:3], labels[:3])
    chex.assert_shape(analogies, (3, 10, 28, 28, 1))
    style = task.code(params, x[:3], labels[:3])
    np.testing.assert_allclose(analogies[:, 7], task.decode(params, style, jnp.full((3,), 7)), atol=1e-6)
    # sample() takes cond['label'] and otherwise cycles through the classes.
    rng = jax.random.PRNGKey(3)
    drawn = task.sample({"model": params}, rng, 4, {"label": jnp.array([2, 2, 5, 5])})
    by_hand = task.decode(params, jax.random.normal(rng, (4, task.config.model.z_dim)), jnp.array([2, 2, 5, 5]))
    np.testing.assert_allclose(drawn, by_hand, atol=1e-6)
    cycled = task.sample({"model": params}, rng, 4)
    np.testing.assert_allclose(cycled, task.sample({"model": params}, rng, 4, {"label": jnp.arange(4)}), atol=1e-6)
    pictures = jax.jit(task.pictures)({"model": params}, jax.random.PRNGKey(0), batch)
    assert set(pictures) == {"samples", "reconstructions", "interpolations", "traversal", "analogies"}
    assert pictures["analogies"][1] == 11 and pictures["samples"][1] == task.config.train.num_grid_samples // 10
    assert task.picture_captions["analogies"][:2] == ("original", "class 0")


def test_class_gaussian_prior_samples_m_y_plus_a_y_inverse_eps():
    task, params, _ = make("smoke", **{"model.class_conditional": True, "model.prior": "class_gaussian"})
    mean = jnp.arange(20.0).reshape(10, 2)
    raw = jnp.zeros((10, 2, 2)).at[:, 1, 0].set(0.5).at[:, 0, 0].set(jnp.log(2.0))
    params = {**params, "prior": {"mean": mean, "precision_tril": raw}}
    labels = jnp.array([3, 8])
    m_y, a_y = task.prior_moments(params, labels)
    np.testing.assert_allclose(a_y[0], [[2.0, 0.0], [0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(m_y, [[6.0, 7.0], [16.0, 17.0]])
    eps = jnp.array([[1.0, -1.0], [0.5, 2.0]])  # A^-1 = [[0.5, 0], [-0.25, 1]]
    rng = jax.random.PRNGKey(4)
    np.testing.assert_allclose(task.from_prior(params, rng, eps, labels), [[6.5, 5.75], [16.25, 18.875]], rtol=1e-6)
    drawn = task.sample({"model": params}, rng, 2, {"label": labels})
    z = task.from_prior(params, rng, jax.random.normal(rng, (2, 2)), labels)
    np.testing.assert_allclose(drawn, task.decode(params, z, labels), atol=1e-6)
    cooled, _, _ = make("smoke", **{"model.class_conditional": True, "model.prior": "class_gaussian", "sample.temperature": 0.5})
    z = task.from_prior(params, rng, 0.5 * jax.random.normal(rng, (2, 2)), labels)
    np.testing.assert_allclose(cooled.sample({"model": params}, rng, 2, {"label": labels}), task.decode(params, z, labels), atol=1e-6)


def test_mixture_prior_samples_its_components_by_weight():
    task, params, _ = make("smoke", **{"model.prior": "gaussian_mixture", "model.prior_components": 3})
    params = mixture_params(params)
    params["prior"]["logits"] = jnp.array([-1e9, -1e9, 0.0])  # all weight on component 2
    rng, eps = jax.random.PRNGKey(2), jnp.array([[1.0, -1.0], [0.5, 2.0]])
    a = precision_factors(params["prior"]["precision_tril"])[2]
    expected = np.asarray(params["prior"]["mean"])[2] + eps @ np.linalg.inv(a).T
    np.testing.assert_allclose(task.from_prior(params, rng, eps, None), expected, rtol=1e-5)
    params["prior"]["logits"] = jnp.array([0.0, np.log(3.0), -1e9])  # pi = (1/4, 3/4, 0)
    z = task.from_prior(params, rng, jnp.zeros((4000, 2)), None)  # eps = 0: each z is its component's mean
    chosen = np.argmin(np.linalg.norm(np.asarray(z)[:, None] - np.asarray(params["prior"]["mean"])[None], axis=-1), axis=1)
    np.testing.assert_allclose(np.bincount(chosen, minlength=3) / 4000, [0.25, 0.75, 0.0], atol=0.03)
    with pytest.raises(ConfigError, match="Gaussian prior"):
        task.latent_manifold(params)
    pictures = jax.jit(task.pictures)({"model": params}, jax.random.PRNGKey(0), make("smoke")[2])
    assert "manifold" not in pictures and "samples" in pictures


def test_conditional_two_latent_vae_draws_its_manifold_under_jit():
    task, params, batch = make("smoke", **{"model.class_conditional": True, "model.prior": "class_gaussian"})
    pictures = jax.jit(task.pictures)({"model": params}, jax.random.PRNGKey(0), batch)
    np.testing.assert_allclose(pictures["manifold"][0], task.latent_manifold(params, label=int(batch["label"][0])), atol=1e-6)


def test_conditional_vae_needs_labels_and_a_prior():
    with pytest.raises(ConfigError, match="needs a VAE"):
        make("ae_smoke", **{"model.class_conditional": True})
    with pytest.raises(ConfigError, match="needs model.class_conditional=True"):
        make("smoke", **{"model.prior": "class_gaussian"})
    with pytest.raises(ConfigError, match="model.prior"):
        make("smoke", **{"model.prior": "vamp"})
    with pytest.raises(ConfigError, match="model.prior_components"):
        make("smoke", **{"model.prior": "gaussian_mixture", "model.prior_components": 0})
    with pytest.raises(ConfigError, match="sample.temperature"):
        make("smoke", **{"sample.temperature": 0.0})
    with pytest.raises(ConfigError, match="model.class_conditional"):
        make("photos_smoke", **{"model.class_conditional": True})  # photos32 has no labels
    task, params, _ = make("smoke", **{"model.class_conditional": True})
    with pytest.raises(ConfigError, match="needs class labels"):
        task.decode(params, jnp.zeros((2, task.config.model.z_dim)))


def test_runs_saved_before_class_conditioning_build_unconditional_vaes():
    config = vae_config("smoke")
    with config.unlocked():
        del config.model["class_conditional"]
    task = tasks.get_task(config, data.open_source(config.data, "test").spec)
    assert task.num_classes == 0
