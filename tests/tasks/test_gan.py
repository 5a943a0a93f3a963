"""The GAN task: every loss trains, n_critic updates, clipping, conditioning, sharding with BatchNorm, configs."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgen import data, run, tasks
from jaxgen.nn import gan as nets
from jaxgen.tasks import gan
from jaxgen.train.optim import part_settings
from jaxgen.train.state import counting
from jaxgen.validation import ConfigError
from tests.helpers import gan_config, init_state, task_and_first_batch


def smoke_task(preset="smoke", **overrides):
    config = gan_config(preset, **overrides)
    task, batch = task_and_first_batch(config)
    return task, config, batch


def adam_counts(opt_state):
    return [int(s.count) for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
            if isinstance(s, optax.ScaleByAdamState)]


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_every_loss_takes_a_finite_step_and_traces_once(loss):
    chex.clear_trace_counter()
    task, _, batch = smoke_task(f"smoke,loss={loss}")
    state = init_state(task, 0)
    step = jax.jit(chex.assert_max_traces(counting(task.train_step), n=1))
    for _ in range(2):
        state, metrics = step(state, batch)
    assert int(state.step) == 2
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"):
        assert np.isfinite(float(metrics[name])), name
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))
    expected = {"wgan": "wasserstein", "wgan_gp": "wasserstein", "began": "m_global", "ebgan": "pulling_away",
                "infogan": "info_lower_bound"}
    if loss in expected:
        assert expected[loss] in metrics


def test_began_s_own_networks_train_with_the_energy_losses():
    """model.arch=began: G is BEGAN's decoder, D its ELU autoencoder (L1 energy for BEGAN -- the squared error
    with the paper's other target norm, gan.began_eta=2 -- and for EBGAN, which trains through the same step);
    k_t stays in [0, 1] and M_global is logged."""
    ebgan, _, _ = smoke_task("smoke,loss=ebgan,arch=began")
    assert isinstance(ebgan.discriminator, nets.BEGANDiscriminator) and ebgan.discriminator.energy == "l2"
    squared, _, _ = smoke_task("smoke,loss=began,arch=began", **{"gan.began_eta": 2})
    assert squared.discriminator.energy == "l2"
    task, _, batch = smoke_task("smoke,loss=began,arch=began", **{"gan.z_prior": "uniform"})
    assert isinstance(task.generator, nets.BEGANGenerator) and isinstance(task.discriminator, nets.BEGANDiscriminator)
    assert task.discriminator.energy == "l1"
    state = init_state(task, 0)
    state, metrics = jax.jit(task.train_step)(state, batch)
    assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))
    assert 0.0 <= float(state.model_state["began_k"]) <= 1.0 and np.isfinite(float(metrics["m_global"]))
    loud = jax.tree.map(lambda p: 50.0 * p, state.eval_params)  # a linear G far outside [-1, 1]
    raw = task.generate(loud["generator"], task.draw_latents(jax.random.PRNGKey(0), 8)[0], None)
    assert float(jnp.max(jnp.abs(raw))) > 1.0
    samples = np.asarray(task.sample(loud, jax.random.PRNGKey(0), 8))
    np.testing.assert_allclose(samples, np.clip((np.asarray(raw) + 1.0) / 2.0, 0.0, 1.0), atol=1e-6)


def test_the_uniform_prior_draws_z_in_the_unit_cube():
    task, _, _ = smoke_task(**{"gan.z_prior": "uniform"})
    z, _ = task.draw_latents(jax.random.PRNGKey(0), 512)
    z = np.asarray(z)
    assert z.min() >= -1.0 and z.max() <= 1.0 and abs(z.mean()) < 0.05 and abs(z.var() - 1.0 / 3.0) < 0.02
    normal, _ = smoke_task()[0].draw_latents(jax.random.PRNGKey(0), 512)
    assert np.abs(np.asarray(normal)).max() > 2.0


def test_one_step_makes_exactly_n_critic_discriminator_updates():
    task, config, batch = smoke_task("smoke,loss=wgan_gp")
    assert config.gan.n_critic == 5 and config.data.batch_size == 5 * 16
    state = init_state(task, 0)
    state, _ = jax.jit(task.train_step)(state, batch)
    assert adam_counts(state.parts["discriminator"].opt_state) == [5]
    assert adam_counts(state.parts["generator"].opt_state) == [1]


def test_weight_clipping_keeps_every_critic_weight_in_bounds():
    task, config, batch = smoke_task("smoke,loss=wgan", **{"optim.discriminator.lr": 1.0})  # steps far beyond the bound
    state = init_state(task, 0)
    state, _ = jax.jit(task.train_step)(state, batch)
    leaves = jax.tree.leaves(state.params["discriminator"])
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= config.gan.clip
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) == pytest.approx(config.gan.clip)  # the clip was active


@pytest.mark.parametrize("loss", ["cgan", "acgan"])
def test_conditional_samples_follow_the_labels_given(loss):
    task, _, batch = smoke_task(f"smoke,loss={loss}")
    params = init_state(task, 0).params
    sample = jax.jit(task.sample, static_argnums=2)
    images = sample(params, jax.random.PRNGKey(1), 10, {"label": jnp.arange(10)})
    chex.assert_shape(images, (10, 28, 28, 1))
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # the label changes the image: the same noise under two different labels
    other = sample(params, jax.random.PRNGKey(1), 10, {"label": (jnp.arange(10) + 1) % 10})
    assert float(jnp.max(jnp.abs(images - other))) > 1e-4
    pictures = jax.jit(task.pictures)(params, jax.random.PRNGKey(0), {})
    chex.assert_shape(pictures["samples"][0], (20, 28, 28, 1))  # 2 per class, one row per class
    assert pictures["samples"][1] == 2


def test_infogan_pictures_traverse_each_code():
    task, _, batch = smoke_task("smoke,loss=infogan")
    params = init_state(task, 0).params
    pictures = jax.jit(task.pictures)(params, jax.random.PRNGKey(0), {})
    assert {"traverse_continuous_0", "traverse_continuous_1", "traverse_categorical", "interpolation"} <= set(pictures)
    chex.assert_shape(pictures["traverse_continuous_0"][0], (10 * gan.TRAVERSAL_STEPS, 28, 28, 1))
    chex.assert_shape(pictures["interpolation"][0], (gan.INTERPOLATION_ROWS * gan.INTERPOLATION_STEPS, 28, 28, 1))


def test_slerp_keeps_the_ends_and_the_norm_between_equal_norm_vectors():
    a = jnp.array([1.0, 0.0, 0.0])
    b = jnp.array([0.0, 1.0, 0.0])
    path = gan.slerp(a, b, jnp.linspace(0.0, 1.0, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(path, axis=-1), 1.0, rtol=1e-6)


def test_batch_statistics_are_those_of_the_whole_batch():
    """BatchStatNorm normalises each channel to zero mean and unit variance over the batch it sees."""
    norm = nets.BatchStatNorm()
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 4, 4, 3)) * 5.0 + 2.0
    y = norm.apply(norm.init(jax.random.PRNGKey(1), x), x)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=(0, 1, 2)), 1.0, rtol=1e-3)


def test_one_device_and_eight_devices_give_the_same_gan_steps(tmp_path):
    """DCGAN with BatchNorm in G and D: the sharded step computes the statistics of the global batch, so
    8 devices follow the 1-device trajectory."""
    config = gan_config("smoke", **{"train.num_steps": 3, "train.sample_every": 1000, "train.checkpoint_every": 3})
    one = run.train(config, tmp_path / "one", devices=jax.devices()[:1])
    eight = run.train(config, tmp_path / "eight")
    for x, y in zip(jax.tree.leaves(jax.device_get(one.params)), jax.tree.leaves(jax.device_get(eight.params))):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)
    assert all(len(p.sharding.device_set) == 8 for p in jax.tree.leaves(eight.params))


def test_evaluate_reports_d_on_held_out_data_and_samples(tmp_path):
    config = gan_config("smoke")
    run.train(config, tmp_path)
    metrics = run.evaluate(config, tmp_path)["metrics"]
    assert metrics["num_examples"] == 32
    assert 0.0 < metrics["d_real_test"] < 1.0 and 0.0 < metrics["d_fake_test"] < 1.0


def test_dcgan_at_28x28_is_the_pytorch_examples_model():
    g = nets.DCGANGenerator((28, 28, 1))
    d = nets.DCGANDiscriminator()
    count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))  # noqa: E731
    assert count(g.init(jax.random.PRNGKey(0), jnp.zeros((2, 100)))) == 759_680
    assert count(d.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 1)))) == 138_624


@pytest.mark.parametrize(
    "arg, message",
    [
        ("smoke,gan.loss=hinge", "gan.loss"),
        ("smoke,loss=hinge", "loss='hinge' is not a GAN loss"),
        ("smoke,arch=resnet", "model.arch"),
        ("smoke,loss=wgan_gp,model.d_norm=batch", "set model.d_norm=layer or none"),
        ("smoke,loss=ebgan,arch=mlp", "set model.arch='dcgan' or 'began'"),
        ("smoke,arch=began", "set gan.loss='began' or 'ebgan'"),
        ("smoke,loss=began,arch=began,data.image_size=15", "even image side"),
        ("smoke,gan.z_prior=cauchy", "gan.z_prior"),
        ("smoke,loss=began,gan.began_eta=3", "gan.began_eta"),
        ("smoke,loss=began,model.minibatch_stddev=4", "set model.arch='began'"),
        ("smoke,loss=began,arch=began,model.minibatch_stddev=-1", "model.minibatch_stddev"),
        ("smoke,loss=began,arch=began,model.minibatch_stddev=3", "groups of 3: data.batch_size gives 16"),
        ("smoke,gan.n_critic=3", "multiple of gan.n_critic=3"),
        ("smoke,data.preprocess=scale01", "data.preprocess='scale11'"),
        ("smoke,data.image_size=48", "DCGAN supports 28x28, 32x32 and 64x64"),
        ("smoke,loss=cgan,data.name=photos32", "needs labels"),
    ],
)
def test_config_errors_name_the_key(arg, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        config = gan_config(arg)
        tasks.get_task(config, data.open_source(config.data, "train").spec)


def test_loss_choice_applies_the_paper_settings_before_overrides():
    from configs import gan as gan_configs

    c = gan_configs.get_config("mnist,loss=wgan_gp,optim.lr=3e-4")
    assert c.gan.loss == "wgan_gp" and c.gan.n_critic == 5 and c.gan.penalty_weight == 10.0
    d = part_settings(c.optim, "discriminator")
    assert (d.lr, d.b1, d.b2) == (3e-4, 0.0, 0.9)  # the override of the shared optim.lr wins, for both players
    assert part_settings(c.optim, "generator").lr == 3e-4
    assert c.data.batch_size == 5 * 64
    assert part_settings(gan_configs.get_config("demo,loss=wgan").optim, "discriminator").name == "rmsprop"
    infogan = gan_configs.get_config("demo,loss=infogan")
    assert (part_settings(infogan.optim, "generator").lr, part_settings(infogan.optim, "discriminator").lr) == (1e-3, 2e-4)


def test_a_generator_ema_is_what_samples_come_from():
    task, _, batch = smoke_task("smoke", **{"optim.generator.ema_decay": 0.5})
    state = init_state(task, 0)
    start = state.params["generator"]
    state, _ = jax.jit(counting(task.train_step))(state, batch)
    generator = state.parts["generator"]
    assert state.parts["discriminator"].ema_params is None
    for ema, raw, first in zip(*(jax.tree.leaves(t) for t in (generator.ema_params, generator.params, start))):
        np.testing.assert_allclose(ema, 0.5 * first + 0.5 * raw, rtol=1e-5, atol=1e-7)
    key = jax.random.PRNGKey(1)
    from_state = task.sample(state.eval_params, key, 4)
    from_ema = task.sample({**state.params, "generator": generator.ema_params}, key, 4)
    np.testing.assert_array_equal(np.asarray(from_state), np.asarray(from_ema))
    with pytest.raises(ConfigError, match="optim.discriminator.ema_decay"):
        tasks.validate(gan_config("smoke", **{"optim.discriminator.ema_decay": 0.5}))


def test_reusing_the_fakes_equals_a_d_update_on_g_z_then_g_differentiated_through_the_updated_d():
    task, _, batch = smoke_task("smoke", **{"gan.reuse_fakes": True})
    state = init_state(task, 0)
    after, metrics = jax.jit(task.train_step)(state, batch)

    # The same step written out with the plain objectives: G's gradient by differentiating G(z) -> D directly.
    @jax.jit
    def written_out(state, batch):
        k_critic, k_latent, k_g = jax.random.split(state.step_rng(), 3)
        latent, codes = task.draw_latents(k_latent, batch["image"].shape[0])
        params_g, params_d = state.params["generator"], state.params["discriminator"]
        fake = task.generate(params_g, latent, None)
        real = data.to_model_input(batch["image"], "scale11")
        _, k_d = jax.random.split(k_critic)
        zero = jnp.zeros(())
        d_grads = jax.grad(lambda p: task.discriminator_objective(p, real, fake, None, codes, k_d, zero, zero)[0])(params_d)
        state = state.apply_gradients("discriminator", d_grads)
        params_d = state.params["discriminator"]
        g_grads = jax.grad(lambda p: task.generator_objective(p, params_d, latent, codes, None, k_g)[0])(params_g)
        return state.apply_gradients("generator", g_grads)

    expected = written_out(state, batch)
    for a, b in zip(jax.tree.leaves(after.params), jax.tree.leaves(expected.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert adam_counts(after.parts["discriminator"].opt_state) == [1] and np.isfinite(float(metrics["g_loss"]))


def test_reusing_the_fakes_needs_one_critic_update():
    with pytest.raises(ConfigError, match="gan.reuse_fakes' needs gan.n_critic=1"):
        smoke_task("smoke,loss=wgan_gp", **{"gan.reuse_fakes": True})
