"""The DDPM task: one trace per step, evaluation numbers, conditional sampling, config errors."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data, run, tasks
from jaxgen.train.state import counting
from jaxgen.validation import ConfigError
from tests.helpers import ddpm_config, init_state


def smoke_task(**overrides):
    config = ddpm_config("smoke", **overrides)
    return tasks.get_task(config, data.open_source(config.data, "train").spec), config


def test_train_step_traces_once_and_lowers_the_loss_on_a_fixed_batch():
    task, config = smoke_task(**{"optim.lr": 5e-3})
    state = init_state(task, 0)
    batch = data.open_source(config.data, "train").read(np.arange(16))
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    step = jax.jit(chex.assert_max_traces(counting(task.train_step), n=1))
    losses = []
    for _ in range(15):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])  # eps-prediction MSE starts near 1


def test_loss_weighting_reaches_the_train_step():
    """min-SNR weights for eps are min(SNR, gamma) / SNR: 1 everywhere when gamma exceeds every SNR (the
    step's loss is L_simple's), and below 1e-3 when gamma is 1e-9 times smaller than the smallest SNR."""
    def first_loss(**overrides):  # the plain case compiles the step of the test above (the compilation cache)
        task, config = smoke_task(**{"optim.lr": 5e-3, **overrides})
        state = init_state(task, 0)
        batch = data.open_source(config.data, "train").read(np.arange(16))
        return float(jax.jit(counting(task.train_step))(state, {k: jnp.asarray(v) for k, v in batch.items()})[1]["loss"])

    plain = first_loss()
    assert first_loss(**{"diffusion.loss_weighting": "min_snr", "diffusion.min_snr_gamma": 1e-9}) < 1e-3 * plain
    # gamma above every SNR: the weights the step multiplies in are 1, so its loss is L_simple's (checked on the
    # weights, which spares compiling a third step)
    task, _ = smoke_task(**{"diffusion.loss_weighting": "min_snr", "diffusion.min_snr_gamma": 1e9})
    np.testing.assert_allclose(task._loss_weights(jnp.arange(task.schedule.num_steps)), 1.0, rtol=1e-6)


def test_evaluate_reports_loss_and_bound_in_bits_per_dim(tmp_path):
    config = ddpm_config("smoke", **{"eval.num_examples": 16, "eval.bound_examples": 8, "data.eval_batch_size": 8})
    run.initialise(config, tmp_path, devices=jax.devices()[:1])  # an untrained run, saved
    report = run.evaluate(config, tmp_path, devices=jax.devices()[:1])
    m = report["metrics"]
    assert m["num_examples"] == 16 and m["bound_examples"] == 8  # the second batch skips the bound
    assert np.isfinite(m["loss"]) and np.isfinite(m["bits_per_dim"])
    # an untrained model on T = 50 steps: far from good, but a valid bound above 0 and below 2x the
    # 8 bits/dim of a uniform model over 256 levels
    assert 0.0 < m["bits_per_dim"] < 16.0
    assert m["bound_nats"] == pytest.approx(m["bits_per_dim"] * 784 * np.log(2), rel=1e-6)


def test_class_conditional_samples_follow_labels_and_guidance_traces_once():
    task, _ = smoke_task(**{"model.class_conditional": True, "sample.guidance_scale": 1.0})
    params = init_state(task, 0).eval_params
    sample = jax.jit(chex.assert_max_traces(task.sample, n=1), static_argnums=2)
    images = sample(params, jax.random.PRNGKey(1), 10, {"label": jnp.arange(10)})
    chex.assert_shape(images, (10, 28, 28, 1))
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    sample(params, jax.random.PRNGKey(2), 10, {"label": jnp.arange(10)[::-1]})
    pictures = jax.jit(task.pictures)(params, jax.random.PRNGKey(0), {})
    chex.assert_shape(pictures["reverse_process"][0], (8 * 10, 28, 28, 1))


def test_runs_saved_before_norm_min_group_size_are_rebuilt_as_trained():
    config = ddpm_config("smoke")
    assert tasks.get_task(config, data.open_source(config.data, "train").spec).net.norm_min_group_size == 2
    with config.unlocked():
        del config.model["norm_min_group_size"]
    assert tasks.get_task(config, data.open_source(config.data, "train").spec).net.norm_min_group_size == 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.name": "photos32", "model.class_conditional": True}, "needs labels"),
        ({"data.image_size": 30, "model.channel_mults": (1, 2, 2)}, "divisible by 4"),
    ],
)
def test_impossible_models_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        smoke_task(**overrides)


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.preprocess=scale01", "data.preprocess='scale11'"),
        ("sample.guidance_scale=2.0", "needs a class-conditional model"),
        ("sample.steps=60", "exceeds diffusion.num_steps=50"),
        ("diffusion.parameterisation=score", "diffusion.parameterisation"),
        ("diffusion.loss_weighting=snr", "diffusion.loss_weighting"),
        ("diffusion.min_snr_gamma=0.0", "diffusion.min_snr_gamma"),
        ("model.norm_min_group_size=0", "model.norm_min_group_size"),
        ("model.norm_min_group_size=9", r"model.channels=8\]"),
    ],
)
def test_config_errors(override, message):
    from configs import ddpm

    with pytest.raises(ConfigError, match=message):
        tasks.validate(ddpm.get_config(f"smoke,{override}"))
