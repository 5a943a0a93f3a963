"""Optimisers and schedules from the config, and the TrainState's EMA, against hand computations."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import common
from jaxgen.train.optim import learning_rate_schedule, make_optimizer
from jaxgen.train.optim import make_part
from jaxgen.train.state import Part, TrainState


def optim(**overrides):
    config = common.base_config().optim
    for key, value in overrides.items():
        config[key] = value
    return config


def test_warmup_then_constant_and_warmup_then_cosine():
    constant = learning_rate_schedule(optim(lr=1.0, warmup_steps=10), num_steps=100)
    np.testing.assert_allclose([constant(0), constant(5), constant(10), constant(99)], [0.0, 0.5, 1.0, 1.0])
    cosine = learning_rate_schedule(optim(lr=1.0, warmup_steps=10, schedule="cosine"), num_steps=110)
    np.testing.assert_allclose([cosine(5), cosine(10), cosine(60), cosine(110)], [0.5, 1.0, 0.5, 0.0], atol=1e-6)



def test_step_drops_the_rate_once_after_its_fraction_of_the_updates():
    """SinGAN's MultiStepLR: 5e-4 for 1,600 of 2,000 updates, then 5e-5 (after a warm-up, counted from its end)."""
    step = learning_rate_schedule(optim(lr=5e-4, schedule="step", decay_rate=0.1, decay_at=0.8), num_steps=2000)
    np.testing.assert_allclose([step(0), step(1599), step(1600), step(1999)], [5e-4, 5e-4, 5e-5, 5e-5], rtol=1e-6)
    warm = learning_rate_schedule(optim(lr=1.0, schedule="step", decay_rate=0.5, decay_at=0.5, warmup_steps=10), num_steps=100)
    np.testing.assert_allclose([warm(5), warm(10), warm(49), warm(50)], [0.5, 1.0, 1.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "adamw", "adagrad", "rmsprop", "sgd"])
def test_every_optimiser_decreases_a_quadratic(name):
    tx = make_optimizer(optim(name=name, lr=0.1), num_steps=100)
    params = {"w": jnp.array([3.0, -2.0])}
    state = tx.init(params)
    loss = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731
    for _ in range(50):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(loss(params)) < 0.5 * 13.0


def test_global_norm_clipping_bounds_the_update_of_sgd():
    tx = make_optimizer(optim(name="sgd", lr=1.0, b1=0.0, grad_clip_norm=1.0), num_steps=10)
    grads = {"w": jnp.array([30.0, 40.0])}  # norm 50
    updates, _ = tx.update(grads, tx.init(grads), grads)
    np.testing.assert_allclose(updates["w"], [-0.6, -0.8], rtol=1e-6)


def test_l2_weight_decay_adds_lambda_w_to_the_gradient():
    tx = make_optimizer(optim(name="sgd", lr=1.0, b1=0.0, weight_decay=0.5), num_steps=10)
    params = {"w": jnp.array([2.0])}
    updates, _ = tx.update({"w": jnp.array([0.0])}, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], [-1.0])


def test_ema_follows_its_recursion_with_and_without_warmup():
    tx = optax.sgd(1.0)
    for warmup in (False, True):
        part = Part.create({"w": jnp.array(0.0)}, tx, ema_decay=0.9, ema_warmup=warmup)
        state = TrainState.create({"model": part, "other": Part.create({"w": jnp.array(5.0)}, tx)}, jax.random.PRNGKey(0))
        ema, w = 0.0, 0.0
        for n in range(5):
            state = state.apply_gradients("model", {"w": jnp.array(-1.0)})  # w += 1 per update
            w += 1.0
            decay = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
            ema = decay * ema + (1 - decay) * w
            np.testing.assert_allclose(state.parts["model"].ema_params["w"], ema, rtol=1e-6)
        np.testing.assert_allclose(state.eval_params["model"]["w"], ema, rtol=1e-6)
        assert int(state.parts["model"].updates) == 5 and int(state.parts["other"].updates) == 0
        np.testing.assert_allclose(state.eval_params["other"]["w"], 5.0)  # no EMA: the raw parameters
    assert Part.create({"w": jnp.array(0.0)}, tx).ema_params is None


def test_each_part_takes_its_optimiser_from_its_own_section_defaulting_to_optim():
    from configs import gan as gan_configs

    config = gan_configs.get_config("smoke,loss=infogan,optim.discriminator.lr=3e-4,optim.generator.ema_decay=0.99")
    params = {"w": jnp.array([1.0])}
    generator = make_part(config, "generator", params)
    discriminator = make_part(config, "discriminator", params)
    grads = {"w": jnp.array([1.0])}
    # Adam's first update is -lr * sign(g): the step size shows each part's learning rate
    np.testing.assert_allclose(generator.apply_gradients(grads).params["w"], 1.0 - 1e-3, rtol=1e-5)  # infogan's G lr
    np.testing.assert_allclose(discriminator.apply_gradients(grads).params["w"], 1.0 - 3e-4, rtol=1e-5)
    assert generator.ema_decay == 0.99 and discriminator.ema_decay == 0.0 and discriminator.ema_params is None
