"""The first-stage family: steps for KL and VQ (trained and EMA codebooks), the discriminator's start, the
adaptive weight against a direct computation, the perceptual term from a frozen classifier run, evaluation."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgen import run, tasks
from jaxgen.compression.objectives import MAX_ADAPTIVE_WEIGHT
from jaxgen.gan import losses as gan_losses
from jaxgen.nn.ldm_autoencoder import FirstStageAutoencoder
from jaxgen.train.state import counting
from jaxgen.validation import ConfigError
from tests.helpers import classifier_config, init_state, ldm_autoencoder_config, task_and_first_batch


def smoke_task(preset="smoke", **overrides):
    config = ldm_autoencoder_config(preset, **overrides)
    task, batch = task_and_first_batch(config)
    return task, config, batch


@pytest.mark.parametrize("preset, overrides", [
    ("smoke", {}), ("smoke_vq", {}),
    # the codebook learnt by its loss: the quantiser's own tests (tests/compression) cover its maths
    pytest.param("smoke_vq", {"model.ema_codebook": False}, marks=pytest.mark.slow),
])
def test_steps_are_finite_traced_once_and_lower_the_reconstruction(preset, overrides):
    chex.clear_trace_counter()
    task, _, batch = smoke_task(preset, **{"loss.disc_start": 1000, "optim.lr": 2e-3, **overrides})
    state = init_state(task, 0)
    step = jax.jit(chex.assert_max_traces(counting(task.train_step), n=1))
    first = None
    for _ in range(12):
        state, metrics = step(state, batch)
        first = first or float(metrics["rec_loss"])
    chex.assert_tree_all_finite(metrics)
    assert float(metrics["rec_loss"]) < 0.8 * first


def test_the_discriminator_waits_for_disc_start():
    task, _, batch = smoke_task(**{"loss.disc_start": 2})
    state = init_state(task, 0)
    step = jax.jit(counting(task.train_step))
    before = state.params["discriminator"]
    for expected_on in (False, False, True):
        state, metrics = step(state, batch)
        changed = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(state.params["discriminator"])))
        assert changed == expected_on and (float(metrics["adaptive_weight"]) > 0) == expected_on
        before = state.params["discriminator"]


def test_the_adaptive_weight_equals_a_direct_computation_through_the_whole_network():
    task, config, batch = smoke_task(**{"loss.disc_start": 0})
    state = init_state(task, 0)
    _, metrics = jax.jit(counting(task.train_step))(state, batch)
    x = batch["image"].astype(jnp.float32) / 127.5 - 1.0
    k_post = jax.random.split(state.step_rng())[0]
    params_d = state.params["discriminator"]

    def decoded(net):  # the same posterior sample, every parameter differentiable
        from jaxgen.compression.objectives import DiagonalGaussian

        moments = task.net.apply({"params": net}, x, method=FirstStageAutoencoder.encode)
        z = DiagonalGaussian.from_moments(moments).sample(k_post)
        return task.head.apply({"params": net["head"]}, task.net.apply({"params": net}, z, method=FirstStageAutoencoder.decode_features))

    @jax.jit
    def direct_ratio(net):
        g_rec = jax.grad(lambda n: jnp.sum(jnp.abs(x - decoded(n))) / x.shape[0])(net)["head"]
        g_adv = jax.grad(lambda n: gan_losses.generator_loss("hinge", task.discriminator.apply({"params": params_d}, decoded(n))))(net)["head"]
        return optax.global_norm(g_rec) / (optax.global_norm(g_adv) + 1e-4)

    expected = direct_ratio(state.params["autoencoder"]["net"])
    expected = config.loss.disc_weight * min(float(expected), MAX_ADAPTIVE_WEIGHT)
    assert float(metrics["adaptive_weight"]) == pytest.approx(expected, rel=1e-4)


def test_a_frozen_classifier_run_gives_the_perceptual_term(tmp_path):
    judge = classifier_config("smoke", **{"data.image_size": 32, "model.conv_features": (4,)})
    run.train(judge, tmp_path / "judge", devices=jax.devices()[:1])
    config = ldm_autoencoder_config("smoke", **{"loss.perceptual": "classifier", "init_from.perceptual": str(tmp_path / "judge"),
                                                "loss.disc_start": 100, "loss.perceptual_weight": 1.0})
    experiment = run.build_experiment(config, tmp_path / "ae", devices=jax.devices()[:1])
    experiment.checkpointer.close()
    state = experiment.init_state()  # the loop carries frozen parts the same way (tests/train/test_contracts.py)
    assert "perceptual" in state.frozen
    x = jnp.asarray(experiment.test_source.read(np.arange(4))["image"], jnp.float32) / 127.5 - 1.0
    params = state.eval_params
    term = experiment.task._perceptual(params, x, experiment.task.reconstruct(params, x))
    assert float(term) > 0 and float(experiment.task._perceptual(params, x, x)) == 0.0
    with pytest.raises(ConfigError, match="go together"):
        tasks.validate(ldm_autoencoder_config("smoke", **{"loss.perceptual": "classifier"}))


def test_evaluation_reports_reconstruction_the_scale_factor_and_codebook_use(tmp_path):
    config = ldm_autoencoder_config("smoke_vq")
    one_device = jax.devices()[:1]
    experiment = run.initialise(config, tmp_path, devices=one_device)  # an untrained run, saved
    report = run.evaluate(config, tmp_path, devices=one_device)["metrics"]
    assert report["num_examples"] == 32 and 0 < report["l1"] < 1 and np.isfinite(report["psnr"])
    assert report["scale_factor"] == pytest.approx(1.0 / report["latent_std"])
    assert 0 < report["codebook_usage"] <= 1 and 1 <= report["perplexity"] <= 16
    experiment, state = run.restored(config, tmp_path, one_device)
    images = experiment.test_source.read(np.arange(4))["image"]
    recon = experiment.task.sample(state.eval_params, jax.random.PRNGKey(0), 4, {"image": jnp.asarray(images)})
    chex.assert_shape(recon, (4, 32, 32, 1))
    x = jnp.asarray(images, jnp.float32) / 127.5 - 1.0
    np.testing.assert_allclose(recon, jnp.clip((experiment.task.reconstruct(state.eval_params, x) + 1) / 2, 0, 1), atol=1e-6)


@pytest.mark.parametrize("override, message", [
    ("model.regulariser=ae", "model.regulariser"),
    ("data.preprocess=scale01", "data.preprocess='scale11'"),
    ("model.channel_mults=(1,1,1,1,1,1)", "f = 2"),
    ("loss.disc_loss=wgan", "loss.disc_loss"),
    ("model.codebook_decay=1.0", "model.codebook_decay"),
])
def test_config_errors_name_the_key(override, message):
    from configs import ldm_autoencoder

    with pytest.raises(ConfigError, match=message):
        tasks.validate(ldm_autoencoder.get_config(f"smoke,{override}"))


def test_image_sizes_the_model_cannot_halve_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="f = 4: H and W must be divisible by it; the images are 30x30"):
        run.build_experiment(ldm_autoencoder_config("smoke", **{"data.image_size": 30}), tmp_path)


def test_lpips_from_weight_files_is_a_frozen_part_with_its_record(tmp_path):
    from tests.torch_archive_writer import write_tiny_lpips

    vgg_path, lin_path, _, _ = write_tiny_lpips(tmp_path)
    config = ldm_autoencoder_config("smoke", **{"loss.perceptual": "lpips", "loss.lpips_vgg": str(vgg_path),
                                                "loss.lpips_lin": str(lin_path), "loss.disc_start": 100})
    experiment = run.build_experiment(config, tmp_path / "ae", devices=jax.devices()[:1])
    experiment.checkpointer.close()
    state = experiment.init_state()
    assert set(state.frozen) == {"lpips"}
    x = jnp.asarray(experiment.test_source.read(np.arange(4))["image"], jnp.float32) / 127.5 - 1.0
    params = state.eval_params
    assert float(experiment.task._perceptual(params, x, experiment.task.reconstruct(params, x))) > 0
    assert experiment.frozen_records()["lpips"]["lin"] == str(lin_path)
    with pytest.raises(ConfigError, match="loss.lpips_vgg"):
        tasks.validate(ldm_autoencoder_config("smoke", **{"loss.perceptual": "lpips"}))
