"""The in-domain classifier: augmentation, learning on real digits, and its feature-network handle."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data, run
from jaxgen.tasks.classifier import random_shift
from jaxgen.train.evaluation import evaluate_task
from tests.helpers import classifier_config


def test_random_shift_translates_each_image_within_bounds():
    images = jnp.zeros((64, 9, 9, 1)).at[:, 4, 4, 0].set(1.0)  # one bright centre pixel
    shifted = random_shift(jax.random.PRNGKey(0), images, 2)
    chex.assert_shape(shifted, images.shape)
    flat = np.asarray(shifted[..., 0]).reshape(64, -1).argmax(axis=1)
    offsets = np.stack([flat // 9 - 4, flat % 9 - 4], axis=1)
    assert np.asarray(shifted).sum() == 64  # nothing lost: every pixel moved, not cropped away
    assert np.abs(offsets).max() == 2 and len({tuple(o) for o in offsets}) > 10
    np.testing.assert_array_equal(random_shift(jax.random.PRNGKey(0), images, 0), images)


def test_classifier_learns_digits_and_serves_as_a_feature_network(tmp_path):
    config = classifier_config(
        "smoke",
        **{"model.conv_features": (16, 32), "model.feature_dim": 32, "data.batch_size": 64, "train.num_steps": 150,
           "train.checkpoint_every": 150, "train.sample_every": 150, "train.log_every": 50, "eval.num_examples": 0},
    )
    run.train(config, tmp_path)
    experiment, state = run.restored(config, tmp_path)
    metrics = evaluate_task(experiment.task, state.eval_params, experiment.test_batches(), config.sample.seed)
    assert metrics["num_examples"] == 500 and metrics["accuracy"] > 0.8  # chance is 0.1
    loaded = run.load_run(tmp_path)
    network = loaded.task.feature_network(loaded.state.eval_params, loaded.record)
    images = data.open_source(config.data, "test").read(np.arange(4))["image"] / 255.0
    features, logits = network.apply_fn(network.params, jnp.asarray(images, jnp.float32))
    chex.assert_shape([features, logits], [(4, 32), (4, 10)])
    assert network.identity["step"] == 150 and len(network.identity["params_sha1"]) == 40
