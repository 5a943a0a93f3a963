"""Linear probe: how linearly separable the classes are in a representation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def linear_probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    l2: float = 1e-4,
    steps: int = 500,
) -> float:
    """Test accuracy of multinomial logistic regression fitted by L-BFGS on standardised features."""
    mu, sd = train_features.mean(0), train_features.std(0) + 1e-6
    xtr = jnp.asarray((train_features - mu) / sd, jnp.float32)
    xte = jnp.asarray((test_features - mu) / sd, jnp.float32)
    ytr = jnp.asarray(train_labels)

    def loss(params: dict[str, jax.Array]) -> jax.Array:
        logits = xtr @ params["w"] + params["b"]
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, ytr).mean()
        return nll + l2 * jnp.sum(jnp.square(params["w"]))

    params = {"w": jnp.zeros((xtr.shape[1], num_classes)), "b": jnp.zeros((num_classes,))}
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def fit(params: dict[str, jax.Array]) -> dict[str, jax.Array]:
        def step(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=loss)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, solver.init(params)), None, length=steps)
        return params

    params = fit(params)
    predictions = np.asarray(jnp.argmax(xte @ params["w"] + params["b"], axis=-1))
    return float(np.mean(predictions == test_labels))
