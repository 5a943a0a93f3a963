"""pix2pix: the objective by hand, the conditional D, one step against an independent two-forward update, the
ablations, sampling's inputs and the config errors."""
import jax
import ml_collections
import jax.numpy as jnp
import numpy as np
import pytest

from configs import pix2pix as pix2pix_configs
from jaxgen import tasks
from jaxgen.data import preprocess
from jaxgen.errors import InputError
from jaxgen.tasks import pix2pix
from jaxgen.train.optim import learning_rate_schedule
from jaxgen.validation import ConfigError
from tests.helpers import init_state, make_config, task_and_first_batch


def smoke_task(**overrides):
    return task_and_first_batch(make_config(pix2pix_configs, "smoke", **overrides))


@pytest.fixture(scope="module")
def task_state_batch():
    task, batch = smoke_task()
    return task, init_state(task, 0), batch


def test_the_objectives_by_hand(task_state_batch):
    task, state, batch = task_state_batch
    source = batch["source"].astype(jnp.float32) / 127.5 - 1.0
    target = batch["image"].astype(jnp.float32) / 127.5 - 1.0
    fake = jax.jit(task.translate)(state.params["generator"], source, jax.random.PRNGKey(5))
    real_logits = task.patch_logits(state.params["discriminator"], source, target)
    fake_logits = task.patch_logits(state.params["discriminator"], source, fake)
    assert real_logits.shape == (8, 6, 6)  # 16x16 halved once, then two 4x4 convolutions of stride 1 (16x16 patches)
    log_sigmoid = jax.nn.log_sigmoid
    d_expected = 0.5 * (-jnp.mean(log_sigmoid(real_logits)) - jnp.mean(log_sigmoid(-fake_logits)))
    d_loss, _ = task.discriminator_objective(state.params["discriminator"], source, target, fake)
    np.testing.assert_allclose(d_loss, d_expected, rtol=1e-5)
    g_expected = -jnp.mean(log_sigmoid(fake_logits)) + 100.0 * jnp.mean(jnp.abs(target - fake))
    g_loss, parts = task.generator_objective(fake, state.params["discriminator"], source, target)
    np.testing.assert_allclose(g_loss, g_expected, rtol=1e-5)
    np.testing.assert_allclose(parts["g_l1"], np.mean(np.abs(np.asarray(target) - np.asarray(fake))), rtol=1e-5)


def test_d_judges_the_input_output_pair_unless_unconditional(task_state_batch):
    task, state, batch = task_state_batch
    image = batch["image"].astype(jnp.float32) / 127.5 - 1.0
    source = batch["source"].astype(jnp.float32) / 127.5 - 1.0
    logits = task.patch_logits(state.params["discriminator"], source, image)
    other = task.patch_logits(state.params["discriminator"], -source, image)
    assert float(jnp.max(jnp.abs(logits - other))) > 1e-4
    unconditional, _ = smoke_task(**{"pix2pix.conditional_d": False})
    params_d = init_state(unconditional, 0).params["discriminator"]
    np.testing.assert_array_equal(unconditional.patch_logits(params_d, source, image), unconditional.patch_logits(params_d, -source, image))


def test_one_step_equals_d_then_g_with_two_forwards(task_state_batch):
    """The step draws G(x) once and differentiates G's loss through that forward (its VJP) after D's update;
    here the same update is computed with a fresh forward of G under the updated D, the textbook way."""
    task, state, batch = task_state_batch
    new_state, metrics = jax.jit(task.train_step)(state, batch)

    @jax.jit
    def two_forwards(state, batch):
        source = batch["source"].astype(jnp.float32) / 127.5 - 1.0
        target = batch["image"].astype(jnp.float32) / 127.5 - 1.0
        rng = state.step_rng()
        fake = task.translate(state.params["generator"], source, rng)
        d_grads = jax.grad(lambda p: task.discriminator_objective(p, source, target, fake)[0])(state.params["discriminator"])
        state = state.apply_gradients("discriminator", d_grads)

        def g_loss(params_g):
            return task.generator_objective(task.translate(params_g, source, rng), state.params["discriminator"], source, target)[0]

        loss, g_grads = jax.value_and_grad(g_loss)(state.params["generator"])
        return state.apply_gradients("generator", g_grads), loss

    manual, g_loss = two_forwards(state, batch)
    for part in ("generator", "discriminator"):
        for got, want in zip(jax.tree.leaves(new_state.params[part]), jax.tree.leaves(manual.params[part])):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics["g_loss"], g_loss, rtol=1e-5)


def test_l1_alone_leaves_d_untouched_and_logs_no_d_numbers():
    task, batch = smoke_task(**{"pix2pix.gan_weight": 0.0})
    state = init_state(task, 0)
    new_state, metrics = jax.jit(task.train_step)(state, batch)
    assert "d_loss" not in metrics and float(metrics["g_adversarial"]) == 0.0
    np.testing.assert_allclose(metrics["g_loss"], 100.0 * metrics["g_l1"], rtol=1e-6)
    for got, want in zip(jax.tree.leaves(new_state.params["discriminator"]), jax.tree.leaves(state.params["discriminator"])):
        np.testing.assert_array_equal(got, want)


def test_sample_reads_stored_or_model_space_inputs_and_refuses_none(task_state_batch):
    task, state, batch = task_state_batch
    rng = jax.random.PRNGKey(2)
    sample = jax.jit(task.sample, static_argnums=2)
    from_uint8 = sample(state.eval_params, rng, 4, {"source": batch["source"][:4]})
    from_float = sample(state.eval_params, rng, 4, {"source": batch["source"][:4].astype(jnp.float32) / 127.5 - 1.0})
    np.testing.assert_allclose(from_uint8, from_float, atol=1e-6)
    assert float(from_uint8.min()) >= 0.0 and float(from_uint8.max()) <= 1.0
    with pytest.raises(InputError, match="cond=\\{'source'"):
        task.sample(state.eval_params, rng, 4)
    with pytest.raises(InputError, match="inputs, got"):
        task.sample(state.eval_params, rng, 3, {"source": batch["source"][:4]})
    pictures = jax.jit(task.pictures)(state.eval_params, rng, batch)
    assert pictures["translations"][0].shape == (18, 16, 16, 1) and pictures["translations"][1] == 9  # 6 of the 8: whole rows


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.pair": ""}, "pix2pix translates paired images: set data.pair"),
        ({"data.preprocess": "scale01"}, "ends in tanh"),
        ({"model.d_layers": 3}, "needs data.image_size >= 24"),
        ({"data.image_size": 28}, "power of two"),
        ({"pix2pix.gan_weight": 0.0, "pix2pix.l1_weight": 0.0}, "both 0"),
        ({"pix2pix.loss": "wgan"}, "pix2pix.loss"),
        ({"data.pair": "downsample4"}, "same size"),
        ({"pix2pix.random_jitter": -1}, "pix2pix.random_jitter"),
    ],
)
def test_bad_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        smoke_task(**overrides)


def test_hold_then_linear_keeps_lr_for_half_then_decays_to_zero():
    config = make_config(pix2pix_configs, "facades")
    schedule = learning_rate_schedule(config.optim, 100)
    np.testing.assert_allclose([float(schedule(n)) for n in (0, 49, 50, 75, 100)], [2e-4, 2e-4, 2e-4, 1e-4, 0.0], rtol=1e-6, atol=1e-12)
    with_warmup = config.optim.to_dict()
    with_warmup["warmup_steps"] = 10  # the warm-up comes out of the held half: the decay still starts at 50
    schedule = learning_rate_schedule(ml_collections.ConfigDict(with_warmup), 100)
    np.testing.assert_allclose([float(schedule(n)) for n in (5, 50, 75, 100)], [1e-4, 2e-4, 1e-4, 0.0], rtol=1e-6, atol=1e-12)


def test_jitter_and_mirror_move_input_and_target_together():
    """Each example is a crop of its enlargement at one offset, flipped or not, the same for both images of
    its pair; both flips occur over a batch."""
    x = jax.random.uniform(jax.random.PRNGKey(0), (16, 8, 8, 1))
    y = jnp.concatenate([x, -x], axis=-1)  # a target with other channels, aligned with x
    jittered_x, jittered_y = jax.jit(preprocess.jitter_and_mirror, static_argnums=(2, 3))(jax.random.PRNGKey(1), (x, y), 4, True)
    assert jittered_x.shape == x.shape and jittered_y.shape == y.shape
    np.testing.assert_allclose(jittered_y, jnp.concatenate([jittered_x, -jittered_x], axis=-1), atol=1e-6)
    enlarged = np.asarray(jax.image.resize(x, (16, 12, 12, 1), "bilinear"))
    flips = []
    for i in range(16):
        candidates = {(oy, ox, flip): enlarged[i, oy : oy + 8, ox : ox + 8][:, ::-1 if flip else 1]
                      for oy in range(5) for ox in range(5) for flip in (False, True)}
        found = [key for key, crop in candidates.items() if np.allclose(crop, jittered_x[i], atol=1e-6)]
        assert found, f"example {i} is no crop of its enlargement"
        flips.append(found[0][2])
    assert 0 < sum(flips) < 16
    unchanged = preprocess.jitter_and_mirror(jax.random.PRNGKey(1), (x, y), 0, False)
    np.testing.assert_array_equal(unchanged[0], x)


def test_a_run_saved_before_the_augmentation_keys_reloads_without_them():
    config = make_config(pix2pix_configs, "smoke")
    with config.unlocked():
        del config.pix2pix["random_jitter"], config.pix2pix["random_mirror"]
    tasks.validate(config)
    assert pix2pix.augmentation(config) == (0, False)
