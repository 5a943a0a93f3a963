"""Linear probe: how linearly separable the classes are in a representation."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen import parallel

Batch = dict[str, jax.Array]


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


RepresentationFn = Callable[[Any, Batch, jax.Array], jax.Array]  # (params, batch, rng) -> (B, D) codes


def probe_accuracy(
    represent: RepresentationFn, params: Any, train_batches: Iterable[Batch], test_batches: Iterable[Batch],
    num_classes: int, seed: int,
) -> float:
    """Test accuracy of a linear classifier fitted on the codes of `train_batches` (a representation's
    linear separability of the classes)."""
    codes_fn = jax.jit(represent)
    rng = jax.random.PRNGKey(seed)

    def labelled_codes(batches: Iterable[Batch], offset: int) -> tuple[np.ndarray, np.ndarray]:
        rows = []
        for i, batch in enumerate(batches):
            codes, host = parallel.fetch(
                (codes_fn(params, batch, jax.random.fold_in(rng, offset + i)), {"mask": batch["mask"], "label": batch["label"]})
            )
            keep = host["mask"] > 0
            rows.append((codes[keep], host["label"][keep]))
        return tuple(np.concatenate(part) for part in zip(*rows))

    test_codes, test_labels = labelled_codes(test_batches, 0)
    train_codes, train_labels = labelled_codes(train_batches, 1_000_000)
    return linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels, num_classes)
