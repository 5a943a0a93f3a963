"""The autoregressive task: exact likelihoods that normalise, evaluation, pictures, conditioning, config errors."""
import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import run
from jaxgen.data import DatasetSpec
from jaxgen.tasks.pixelcnn import PixelCNNTask
from jaxgen.validation import ConfigError
from jaxgen.train.evaluation import evaluate_task
from tests.helpers import init_state, pixelcnn_config

SHARPEN = 3.0  # scale the initial weights so the conditionals are far from uniform and input-dependent


def tiny_task(shape, num_classes=0, **overrides) -> PixelCNNTask:
    config = pixelcnn_config("smoke", **{"model.first_kernel": 3, **overrides})
    return PixelCNNTask(config, DatasetSpec.of_images("tiny", shape, num_classes))


def all_images(shape, levels: int) -> jnp.ndarray:
    values = np.array(list(itertools.product(range(levels), repeat=int(np.prod(shape)))), np.int32)
    return jnp.asarray(values.reshape((-1,) + shape))


@pytest.mark.parametrize(
    "arch, shape, num_classes",
    [("pixelcnn", (2, 2, 1), 0), ("pixelcnn", (1, 2, 3), 0), ("gated", (2, 2, 1), 3), ("gated", (1, 2, 3), 3),
     ("row_lstm", (2, 2, 1), 0), ("row_lstm", (1, 2, 3), 0)],
)
def test_binary_models_sum_to_one_over_every_image(arch, shape, num_classes):
    """sum_x p(x) = 1 over all 2^D binary images: the conditionals are normalised and causal, colour order
    included (a leak of the predicted site into its own conditional breaks the sum)."""
    task = tiny_task(shape, num_classes, **{"model.arch": arch, "model.class_conditional": num_classes > 0})
    params = jax.tree.map(lambda p: SHARPEN * p, init_state(task, 0).eval_params)
    images = all_images(shape, 2)
    for label in range(max(num_classes, 1)):
        labels = jnp.full(images.shape[0], label) if num_classes else None
        nll = task.nll(params["model"], images, labels)
        np.testing.assert_allclose(jnp.exp(-nll).sum(), 1.0, atol=1e-5)
        assert float(nll.std()) > 0.1  # the model is not uniform, so the check has teeth


def test_pixelcnn_pp_sums_to_one_over_every_8bit_image():
    shape = (1, 2, 1)
    task = tiny_task(shape, **{"model.arch": "pixelcnn_pp", "model.likelihood": "logistic_mixture",
                               "data.preprocess": "scale11", "model.num_scales": 1, "model.num_mixtures": 3})
    params = jax.tree.map(lambda p: SHARPEN * p, init_state(task, 0).eval_params)
    images = all_images(shape, 256)
    nll = jax.jit(task.nll)(params["model"], images, None)
    np.testing.assert_allclose(jnp.exp(-nll).sum(), 1.0, atol=1e-4)


def test_evaluate_reports_the_exact_test_nll_in_nats_and_bits(tmp_path):
    config = pixelcnn_config("smoke")
    experiment = run.build_experiment(config, tmp_path)
    state = init_state(experiment.task, 0)
    results = evaluate_task(experiment.task, state.eval_params, experiment.test_batches(), config.sample.seed)
    assert results["num_examples"] == config.eval.num_examples
    assert results["bits_per_dim"] == pytest.approx(results["nll_nats"] / (28 * 28 * math.log(2)))
    # the same numbers straight from the model on the same (binarised) images
    totals = []
    for i, batch in enumerate(experiment.test_batches()):
        key = jax.random.fold_in(jax.random.PRNGKey(config.sample.seed), i)
        nll = experiment.task.nll(state.params["model"], experiment.task.levels(batch, key), None)
        totals.append(np.asarray(nll)[np.asarray(batch["mask"]) > 0])
    assert results["nll_nats"] == pytest.approx(np.concatenate(totals).mean(), rel=1e-5)


def test_pictures_samples_and_completions():
    task = tiny_task((6, 4, 1))
    params = init_state(task, 0).eval_params
    batch = {"image": jax.random.randint(jax.random.PRNGKey(1), (8, 6, 4, 1), 0, 256).astype(jnp.uint8)}
    chex.assert_max_traces(task.pictures, 1)
    pictures = jax.jit(task.pictures)(params, jax.random.PRNGKey(2), batch)
    samples, _ = pictures["samples"]
    chex.assert_shape(samples, (task.config.train.num_grid_samples, 6, 4, 1))
    assert set(np.unique(np.asarray(samples))) <= {0.0, 1.0}
    rows, columns = pictures["completions"]
    assert columns == 5
    shown = task.config.train.num_grid_samples  # completions are limited to as many test images
    rows = np.asarray(rows).reshape(shown, 5, 6, 4, 1)
    for completion in rows[:, 2:].transpose(1, 0, 2, 3, 4):
        np.testing.assert_array_equal(completion[:, :3], rows[:, 0, :3])  # the top half is kept
    assert np.all(rows[:, 1, 3:] == 0.5)  # the occluded picture greys out the bottom half


def test_class_conditional_samples_depend_on_the_label():
    task = tiny_task((4, 4, 1), 3, **{"model.arch": "gated", "model.class_conditional": True})
    params = jax.tree.map(lambda p: SHARPEN * p, init_state(task, 0).eval_params)
    key = jax.random.PRNGKey(3)
    first = task.sample(params, key, 16, {"label": jnp.zeros(16, jnp.int32)})
    second = task.sample(params, key, 16, {"label": jnp.full(16, 2)})
    chex.assert_shape(first, (16, 4, 4, 1))
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    np.testing.assert_array_equal(task.sample(params, key, 16, {"label": jnp.zeros(16, jnp.int32)}), first)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.preprocess": "scale11"}, "binarised data"),
        ({"model.likelihood": "categorical"}, "data.preprocess='scale11'"),
        ({"model.arch": "pixelcnn_pp"}, "model.arch='pixelcnn_pp'"),
        ({"model.likelihood": "logistic_mixture", "data.preprocess": "scale11"}, "logistic_mixture"),
        ({"model.class_conditional": True}, "model.class_conditional"),
        ({"model.arch": "gated", "model.kernel_size": 4}, "model.kernel_size"),
        ({"model.dropout": 1.0}, "model.dropout"),
        ({"model.arch": "unet"}, "model.arch"),
        ({"model.arch": "gated", "sample.sampler": "cached"}, "sample.sampler='cached'"),
    ],
)
def test_config_errors_name_the_key(overrides, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run.build_experiment(pixelcnn_config("smoke", **overrides), tmp_path)


def test_unlabelled_data_cannot_be_class_conditional(tmp_path):
    config = pixelcnn_config("smoke_rgb", **{"model.arch": "gated", "model.class_conditional": True})
    with pytest.raises(ConfigError, match="needs labels"):
        run.build_experiment(config, tmp_path)


def test_the_task_samples_a_pixelcnn_with_the_cached_sampler_by_default():
    cached, full = tiny_task((5, 4, 1)), tiny_task((5, 4, 1), **{"sample.sampler": "full"})
    assert cached.cached_sampling and not full.cached_sampling
    params = jax.tree.map(lambda p: SHARPEN * p, init_state(cached, 0).eval_params)
    key = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(cached.sample(params, key, 8), full.sample(params, key, 8))
