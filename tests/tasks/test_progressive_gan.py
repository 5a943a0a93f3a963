"""The progressive GAN: the growth schedule, the real images at each level, the critic's objective by hand, one
step against the written-out updates, one compile for every phase, exact resume in the middle of a fade-in,
sampling at the growth reached, and the config errors."""
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import progressive_gan as progressive_configs
from jaxgen import run
from jaxgen.train import loop
from jaxgen.nn.progressive import average_pool, upsample_nearest
from jaxgen.tasks import progressive_gan
from jaxgen.validation import ConfigError
from tests.helpers import init_state, make_config, task_and_first_batch, train_stopped_then_resumed
from tests.train.test_loop import assert_same_params


def smoke_task(**overrides):
    return task_and_first_batch(make_config(progressive_configs, "smoke", **overrides))


@pytest.fixture(scope="module")
def task_state_batch():
    task, batch = smoke_task(**{"optim.name": "sgd", "optim.b1": 0.0, "optim.lr": 0.01, "optim.generator.ema_decay": 0.0,
                                "progressive.phase_steps": 2})
    return task, init_state(task, 0), batch


def test_the_growth_schedule(task_state_batch):
    """T = 2, L = 2: level 0 for 2 steps, fade to 1 over 2, level 1 for 2, fade to 2 over 2, then level 2 (alpha
    None: a stable phase, no blend)."""
    task = task_state_batch[0]
    expected = [(0, None), (0, None), (1, 0.0), (1, 0.5), (1, None), (1, None), (2, 0.0), (2, 0.5), (2, None), (2, None), (2, None)]
    starts = (0, 2, 4, 6, 8)
    phases = [loop.phase_of(types.SimpleNamespace(phase_starts=starts), s) for s in range(11)]
    got = [progressive_gan.phase_growth(p, jnp.int32(s), 2) for s, p in enumerate(phases)]
    assert [(level, None if alpha is None else float(alpha)) for level, alpha in got] == expected
    assert task.phase_starts == starts  # the smoke preset (L = 2) at T = 2
    assert loop.phase_of(types.SimpleNamespace(), 5) is None  # a task without phases


def test_the_real_images_follow_the_networks():
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 1))
    np.testing.assert_array_equal(progressive_gan.real_at(x, 2, jnp.float32(1.0)), x)
    np.testing.assert_allclose(progressive_gan.real_at(x, 1, jnp.float32(1.0)), np.asarray(x).reshape(2, 8, 2, 8, 2, 1).mean((2, 4)), atol=1e-6)
    np.testing.assert_array_equal(progressive_gan.real_at(x, 2, jnp.float32(0.0)), upsample_nearest(average_pool(x)))
    np.testing.assert_array_equal(progressive_gan.real_at(x, 0, jnp.float32(0.3)), average_pool(x, 4))  # nothing fades at 4x4


def test_the_critic_objective_by_hand(task_state_batch):
    """E D(G(z)) - E D(x) + 10 E (||grad D(x^)|| - 1)^2 + 0.001 E D(x)^2 in numpy, at the same interpolates
    (U[0, 1] per example, Gulrajani et al.). Minibatch stddev ties the rows of a batch together, so grad D(x^_i)
    is taken as the paper's code takes it: the gradient of the batch's summed scores."""
    task, state, batch = task_state_batch
    level, alpha = 1, jnp.float32(0.25)
    real = progressive_gan.real_at(jnp.asarray(batch["image"], jnp.float32) / 127.5 - 1.0, level, alpha)
    fake = task.generate(state.params["generator"], task.draw_z(jax.random.PRNGKey(1), 8), level, alpha)
    params_d, rng = state.params["discriminator"], jax.random.PRNGKey(2)
    loss, terms = task.critic_objective(params_d, real, fake, level, alpha, rng)
    d_real = np.asarray(task.criticise(params_d, real, level, alpha), np.float64)
    d_fake = np.asarray(task.criticise(params_d, fake, level, alpha), np.float64)
    weights = jax.random.uniform(rng, (8, 1, 1, 1))
    points = weights * real + (1.0 - weights) * fake
    grad_sum = jax.grad(lambda p: jnp.sum(task.criticise(params_d, p, level, alpha)))(points)
    norms = np.sqrt(np.sum(np.asarray(grad_sum, np.float64).reshape(8, -1) ** 2, axis=1))
    penalty = np.mean((norms - 1.0) ** 2)
    expected = d_fake.mean() - d_real.mean() + 10.0 * penalty + 0.001 * np.mean(d_real**2)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_allclose(terms["gradient_penalty"], penalty, rtol=1e-4)
    np.testing.assert_allclose(terms["wasserstein"], d_real.mean() - d_fake.mean(), rtol=1e-4, atol=1e-6)


def test_one_step_is_one_critic_update_then_one_generator_update(task_state_batch):
    """Halfway through the fade to level 1 (T = 2, step 3), with SGD: D <- D - lr grad L_D, then G <- G - lr grad L_G
    against the new D; level 2's layers stay as they were."""
    task, state, batch = task_state_batch
    state = state.replace(step=jnp.int32(3))  # phase 1, alpha 1/2, level 1
    new_state, metrics = jax.jit(task.train_step, static_argnums=2)(state, batch, 1)
    assert float(metrics["level"]) == 1.0 and float(metrics["alpha"]) == 0.5
    k_fake, k_penalty, k_g = jax.random.split(state.step_rng(), 3)
    alpha = jnp.float32(0.5)
    real = progressive_gan.real_at(jnp.asarray(batch["image"], jnp.float32) / 127.5 - 1.0, 1, alpha)
    fake = task.generate(state.params["generator"], task.draw_z(k_fake, 8), 1, alpha)
    d_grads = jax.grad(lambda p: task.critic_objective(p, real, fake, 1, alpha, k_penalty)[0])(state.params["discriminator"])
    params_d = optax.apply_updates(state.params["discriminator"], jax.tree.map(lambda g: -0.01 * g, d_grads))
    g_grads = jax.grad(task.generator_objective)(state.params["generator"], params_d, task.draw_z(k_g, 8), 1, alpha)
    params_g = optax.apply_updates(state.params["generator"], jax.tree.map(lambda g: -0.01 * g, g_grads))
    chex.assert_trees_all_close(new_state.params["discriminator"], params_d, rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(new_state.params["generator"], params_g, rtol=1e-4, atol=1e-6)
    assert int(new_state.params["growth"]["level"]) == 1 and float(new_state.params["growth"]["alpha"]) == 0.5
    untouched = new_state.params["generator"]["to_rgb_2"], state.params["generator"]["to_rgb_2"]
    chex.assert_trees_all_equal(*untouched)  # level 2's layers wait for their phase


def test_samples_are_drawn_at_the_growth_reached(task_state_batch):
    task, state, _ = task_state_batch
    params = state.eval_params  # level 0: 4x4 images, upsampled to 16x16
    images = np.asarray(task.sample(params, jax.random.PRNGKey(0), 4))
    assert images.shape == (4, 16, 16, 1) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, np.repeat(np.repeat(images[:, ::4, ::4], 4, 1), 4, 2))
    at_top = {**params, "growth": {"level": jnp.int32(2), "alpha": jnp.float32(1.0)}}
    top = np.asarray(task.sample(at_top, jax.random.PRNGKey(0), 4))
    assert not np.array_equal(top, np.repeat(np.repeat(top[:, ::4, ::4], 4, 1), 4, 2))
    pictures = task.pictures(params, jax.random.PRNGKey(0), {})
    assert pictures["levels"][0].shape == (8 * 3, 16, 16, 1) and pictures["levels"][1] == 3


def test_one_compiled_step_for_every_phase_and_exact_resume_mid_fade(tmp_path, monkeypatch):
    """Grown to 8x8 (L = 1), T = 2 through its three phases (6 steps): each phase's step is traced once (not once
    per alpha); a run stopped at step 3 (halfway through the fade to 8x8) and resumed ends where the
    uninterrupted run does."""
    config = make_config(progressive_configs, "smoke", **{"progressive.phase_steps": 2, "train.num_steps": 6, "train.checkpoint_every": 3,
                                                          "train.sample_every": 100, "train.log_every": 1, "data.image_size": 8})
    traced = []
    original = progressive_gan.ProgressiveGANTask.step_at_level

    def counting(self, level, *args):
        traced.append(level)
        return original(self, level, *args)

    monkeypatch.setattr(progressive_gan.ProgressiveGANTask, "step_at_level", counting)
    straight = run.train(config, tmp_path / "straight", devices=jax.devices()[:1])
    assert traced == [0, 1, 1]  # one trace per phase: level 0, the fade to level 1, level 1
    monkeypatch.setattr(progressive_gan.ProgressiveGANTask, "step_at_level", original)
    resumed = train_stopped_then_resumed(config, tmp_path / "resumed", stop_at=3)
    assert int(resumed.step) == 6 and int(resumed.params["growth"]["level"]) == 1
    assert_same_params(straight, resumed)
    report = run.evaluate(config, tmp_path / "resumed", devices=jax.devices()[:1])
    assert np.isfinite(report["metrics"]["wasserstein_test"])


@pytest.mark.parametrize("override, message", [
    ({"data.image_size": 28}, r"4 \* 2\^L .* got 28 .* set data.image_size"),
    ({"data.batch_size": 6}, "data.batch_size=6 must split into minibatch-stddev groups"),
    ({"data.preprocess": "scale01"}, "data.preprocess='scale11'"),
    ({"optim.discriminator.ema_decay": 0.9}, "optim.discriminator.ema_decay"),
    ({"progressive.phase_steps": 0}, "progressive.phase_steps"),
    ({"model.width_base": 4}, "model.width_base=4 leaves level 2 without channels"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        smoke_task(**override)


def test_steps_per_call_must_not_straddle_two_phases(tmp_path):
    config = make_config(progressive_configs, "smoke", **{"train.steps_per_call": 2, "train.num_steps": 6})  # T = 1: a phase starts every step
    with pytest.raises(ConfigError, match=r"train.steps_per_call=2 must divide the first step of every training phase \(one starts at step 1\)"):
        run.train(config, tmp_path, devices=jax.devices()[:1])
