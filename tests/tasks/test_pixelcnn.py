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
        ({"model.arch": "row_lstm", "sample.sampler": "cached"}, "sample.sampler='cached'"),
        ({"sample.temperature": 0.0}, "sample.temperature"),
        ({"model.label_dropout": 0.1}, "model.class_conditional=True"),
        ({"model.arch": "gated", "model.class_conditional": True, "model.label_dropout": 1.0}, "model.label_dropout"),
        ({"model.arch": "gated", "model.class_conditional": True, "sample.guidance_scale": 1.0}, "model.label_dropout > 0"),
        ({"model.arch": "gated", "model.class_conditional": True, "model.label_dropout": 0.1,
          "sample.guidance_scale": -0.5}, "sample.guidance_scale"),
        ({"model.arch": "pixelcnn_pp", "model.likelihood": "logistic_mixture", "data.preprocess": "scale11",
          "sample.temperature": 0.8}, "samples at 1.0 only"),
    ],
)
def test_config_errors_name_the_key(overrides, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run.build_experiment(pixelcnn_config("smoke", **overrides), tmp_path)


def test_unlabelled_data_cannot_be_class_conditional(tmp_path):
    config = pixelcnn_config("smoke_rgb", **{"model.arch": "gated", "model.class_conditional": True})
    with pytest.raises(ConfigError, match="needs labels"):
        run.build_experiment(config, tmp_path)


@pytest.mark.parametrize("arch, num_classes", [("pixelcnn", 0), ("gated", 3)])
def test_the_task_samples_with_the_cached_sampler_by_default(arch, num_classes):
    overrides = {"model.arch": arch, "model.class_conditional": bool(num_classes)}
    cached = tiny_task((5, 4, 1), num_classes, **overrides)
    full = tiny_task((5, 4, 1), num_classes, **overrides, **{"sample.sampler": "full"})
    assert cached.cached_sampling and not full.cached_sampling
    params = jax.tree.map(lambda p: SHARPEN * p, init_state(cached, 0).eval_params)
    key = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(cached.sample(params, key, 8), full.sample(params, key, 8))


@pytest.mark.parametrize("arch, sampler", [("pixelcnn", "cached"), ("gated", "cached"), ("row_lstm", "full")])
def test_sample_temperature_reaches_every_sampler(arch, sampler):
    """Near T = 0 every site takes its most likely level, whatever the key; at T = 1 the keys differ."""
    cold = tiny_task((4, 4, 1), **{"model.arch": arch, "sample.sampler": sampler, "sample.temperature": 1e-4})
    warm = tiny_task((4, 4, 1), **{"model.arch": arch, "sample.sampler": sampler})
    params = init_state(cold, 0).eval_params
    leaves, tree = jax.tree.flatten(params)  # non-zero biases: no logit exactly 0, where every T draws a coin flip
    keys = jax.random.split(jax.random.PRNGKey(3), len(leaves))
    params = tree.unflatten([p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    a, b = (cold.sample(params, jax.random.PRNGKey(k), 8) for k in (1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(*(np.asarray(warm.sample(params, jax.random.PRNGKey(k), 8)) for k in (1, 2)))



def test_label_dropout_trains_the_null_label_and_guidance_samples_through_it():
    """With model.label_dropout p the network embeds K + 1 labels and each training label becomes the null
    label K with probability p; sample.guidance_scale then samples the guided logits (the cached sampler
    drawing what the full one draws)."""
    overrides = {"model.arch": "gated", "model.class_conditional": True, "model.label_dropout": 0.25}
    task = tiny_task((4, 4, 1), 3, **overrides)
    assert task.null_label == 3
    params = init_state(task, 0).eval_params
    assert params["model"]["layers_0"]["class_bias"]["embedding"].shape[0] == 4
    labels = task._training_labels({"label": jnp.zeros(20_000, jnp.int32)}, jax.random.PRNGKey(0))
    assert set(np.unique(np.asarray(labels))) == {0, 3}
    assert abs(float(jnp.mean(labels == 3)) - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 20_000)
    guided = {**overrides, "sample.guidance_scale": 2.0}
    cached, full = tiny_task((4, 4, 1), 3, **guided), tiny_task((4, 4, 1), 3, **guided, **{"sample.sampler": "full"})
    params = jax.tree.map(lambda p: SHARPEN * p, params)
    key = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(cached.sample(params, key, 6), full.sample(params, key, 6))
    assert not np.array_equal(np.asarray(cached.sample(params, key, 6)), np.asarray(task.sample(params, key, 6)))
