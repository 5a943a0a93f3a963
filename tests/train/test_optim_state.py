"""Optimisers and schedules from the config, and the TrainState's EMA, against hand computations."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import common
from jaxgen.train.optim import learning_rate_schedule, make_optimizer
from jaxgen.train.state import TrainState


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
        state = TrainState.create({"w": jnp.array(0.0)}, tx, jax.random.PRNGKey(0), ema_decay=0.9, ema_warmup=warmup)
        ema, w = 0.0, 0.0
        for n in range(5):
            state = state.apply_gradients({"w": jnp.array(-1.0)})  # w += 1 per step
            w += 1.0
            decay = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
            ema = decay * ema + (1 - decay) * w
            np.testing.assert_allclose(state.ema_params["w"], ema, rtol=1e-6)
        np.testing.assert_allclose(state.eval_params["w"], ema, rtol=1e-6)
    assert TrainState.create({"w": jnp.array(0.0)}, tx, jax.random.PRNGKey(0)).ema_params is None
