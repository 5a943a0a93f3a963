"""CycleGAN: the objectives by hand, the cycle loss of an identity pair, one step against an independently
written update, sampling each way, the evaluation against the target domain, and the config errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import cyclegan as cyclegan_configs
from jaxgen import data, run
from jaxgen.errors import InputError
from jaxgen.gan.history_pool import query_pool
from jaxgen.validation import ConfigError
from tests.helpers import classifier_config, init_state, make_config, task_and_first_batch

EVAL = {"eval.num_samples": 16, "eval.num_reference": 32, "eval.kid_subsets": 2, "eval.kid_subset_size": 8,
        "eval.num_examples": 16, "data.eval_batch_size": 8}


def smoke_task(**overrides):
    return task_and_first_batch(make_config(cyclegan_configs, "smoke", **overrides))


@pytest.fixture(scope="module")
def task_state_batch():
    task, batch = smoke_task()
    return task, init_state(task, 0), batch


def scaled(images):
    return np.asarray(images, np.float64) / 127.5 - 1.0


def test_the_objectives_by_hand(task_state_batch):
    """G's loss: the least-squares terms (D(G(x)) - 1)^2 unhalved, as the paper writes them, + 10 x (cycle + 0.5
    identity) per-pixel L1 means; D's: 1/2 (mean (D(real) - 1)^2 + mean D(fake)^2)."""
    task, state, batch = task_state_batch
    params = state.params
    a, b = jnp.asarray(scaled(batch["image"]), jnp.float32), jnp.asarray(scaled(batch["second_image"]), jnp.float32)
    g = {name: (lambda x, name=name: np.asarray(task.translate(params, name, jnp.asarray(x, jnp.float32)), np.float64))
         for name in ("g_ab", "g_ba")}
    d = {name: (lambda x, name=name: np.asarray(task.patch_logits(params[name], jnp.asarray(x, jnp.float32)), np.float64))
         for name in ("d_a", "d_b")}
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    fake_b, fake_a = g["g_ab"](a64), g["g_ba"](b64)
    cycle = np.mean(np.abs(g["g_ba"](fake_b) - a64)) + np.mean(np.abs(g["g_ab"](fake_a) - b64))
    identity = np.mean(np.abs(g["g_ab"](b64) - b64)) + np.mean(np.abs(g["g_ba"](a64) - a64))
    expected = np.mean((d["d_b"](fake_b) - 1) ** 2) + np.mean((d["d_a"](fake_a) - 1) ** 2) + 10.0 * (cycle + 0.5 * identity)
    params_g = {name: params[name] for name in ("g_ab", "g_ba")}
    loss, out = task.generator_objective(params_g, params, a, b)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(out["fake_b"], fake_b, atol=1e-5)
    d_loss, _ = task.discriminator_objective(params["d_a"], a, jnp.asarray(fake_a, jnp.float32))
    np.testing.assert_allclose(d_loss, 0.5 * (np.mean((d["d_a"](a64) - 1) ** 2) + np.mean(d["d_a"](fake_a) ** 2)), rtol=1e-5)


def test_the_cycle_loss_of_an_identity_pair_is_zero(task_state_batch, monkeypatch):
    task, state, batch = task_state_batch
    a, b = jnp.asarray(scaled(batch["image"]), jnp.float32), jnp.asarray(scaled(batch["second_image"]), jnp.float32)
    params_g = {name: state.params[name] for name in ("g_ab", "g_ba")}
    monkeypatch.setattr(task, "translate", lambda params, name, x: x)
    _, out = task.generator_objective(params_g, state.params, a, b)
    assert float(out["terms"]["cycle_a"]) == 0.0 and float(out["terms"]["cycle_b"]) == 0.0 and float(out["terms"]["identity"]) == 0.0
    monkeypatch.setattr(task, "translate", lambda params, name, x: -x)  # inverse of each other: cycle-consistent, not identity
    _, out = task.generator_objective(params_g, state.params, a, b)
    assert float(out["terms"]["cycle_a"]) == 0.0 and float(out["terms"]["cycle_b"]) == 0.0
    np.testing.assert_allclose(out["terms"]["identity"], 2 * np.mean(np.abs(a)) + 2 * np.mean(np.abs(b)), rtol=1e-5)
    monkeypatch.setattr(task, "translate", lambda params, name, x: x / 2)  # not inverses: G_ba(G_ab(a)) = a / 4
    _, out = task.generator_objective(params_g, state.params, a, b)
    np.testing.assert_allclose(out["terms"]["cycle_a"], 0.75 * np.mean(np.abs(a)), rtol=1e-5)


def test_one_step_equals_the_generators_then_the_discriminators_on_pooled_fakes(task_state_batch):
    """The step against the same update written out: both generators from the gradient of the whole G loss,
    then each D on its domain's real images against the history pool's answer for the fakes of that forward."""
    task, state, batch = task_state_batch
    new_state, metrics = jax.jit(task.train_step)(state, batch)

    @jax.jit
    def written_out(state, batch):
        a, b = batch["image"].astype(jnp.float32) / 127.5 - 1.0, batch["second_image"].astype(jnp.float32) / 127.5 - 1.0

        def g_loss(params_g):
            ab, ba = task.translate(params_g, "g_ab", a), task.translate(params_g, "g_ba", b)
            adversarial = (jnp.mean((task.patch_logits(state.params["d_b"], ab) - 1) ** 2)
                           + jnp.mean((task.patch_logits(state.params["d_a"], ba) - 1) ** 2))
            cycle = jnp.mean(jnp.abs(task.translate(params_g, "g_ba", ab) - a)) + jnp.mean(jnp.abs(task.translate(params_g, "g_ab", ba) - b))
            identity = jnp.mean(jnp.abs(task.translate(params_g, "g_ab", b) - b)) + jnp.mean(jnp.abs(task.translate(params_g, "g_ba", a) - a))
            return adversarial + 10.0 * cycle + 5.0 * identity, (ab, ba)

        (_, (ab, ba)), grads = jax.value_and_grad(g_loss, has_aux=True)({k: state.params[k] for k in ("g_ab", "g_ba")})
        for name in ("g_ab", "g_ba"):
            state = state.apply_gradients(name, grads[name])
        k_pool_a, k_pool_b, _, _ = jax.random.split(state.step_rng(), 4)
        pooled_a, pool_a = query_pool(state.model_state["pool_a"], ba, k_pool_a)
        pooled_b, pool_b = query_pool(state.model_state["pool_b"], ab, k_pool_b)
        for name, real, fake in (("d_a", a, pooled_a), ("d_b", b, pooled_b)):
            d_loss = lambda p, real=real, fake=fake: 0.5 * (jnp.mean((task.patch_logits(p, real) - 1) ** 2)  # noqa: E731
                                                            + jnp.mean(task.patch_logits(p, fake) ** 2))
            state = state.apply_gradients(name, jax.grad(d_loss)(state.params[name]))
        return state.replace(model_state={"pool_a": pool_a, "pool_b": pool_b})

    expected = written_out(state, batch)
    for x, y in zip(jax.tree.leaves(new_state.parts), jax.tree.leaves(expected.parts)):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-6)
    for x, y in zip(jax.tree.leaves(new_state.model_state), jax.tree.leaves(expected.model_state)):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert int(new_state.model_state["pool_a"]["count"]) == 3  # the smoke pool (3) is full after a batch of 8
    assert set(metrics) >= {"g_loss", "cycle_a", "cycle_b", "identity", "d_a_loss", "d_b_loss"}


def test_sample_translates_the_way_sample_direction_says(task_state_batch):
    task, state, batch = task_state_batch
    params = state.eval_params
    batch = {k: v[:4] for k, v in batch.items()}
    forward = task.sample(params, jax.random.PRNGKey(0), 4, {"image": batch["image"]})
    np.testing.assert_allclose(forward, (task.translate(params, "g_ab", batch["image"].astype(jnp.float32) / 127.5 - 1) + 1) / 2, atol=1e-6)
    backward_task, _ = smoke_task(**{"sample.direction": "b_to_a"})
    assert backward_task.conditions == ("second_image",) and backward_task.reference_feature == "image"
    assert backward_task.source_label_feature == "second_label"
    backward = backward_task.sample(params, jax.random.PRNGKey(0), 4, {"second_image": batch["second_image"]})
    np.testing.assert_allclose(backward, (task.translate(params, "g_ba", batch["second_image"].astype(jnp.float32) / 127.5 - 1) + 1) / 2,
                               atol=1e-6)
    with pytest.raises(InputError, match=r"pass cond=\{'image': images\}"):
        task.sample(params, jax.random.PRNGKey(0), 4)
    with pytest.raises(InputError, match=r"translates \(3,\) \+ \(16, 16, 1\) inputs"):
        task.sample(params, jax.random.PRNGKey(0), 3, {"image": batch["image"]})


def test_training_evaluation_and_sampling_through_the_run(tmp_path, monkeypatch):
    """A run trains, evaluates its cycle errors and its translations A -> B against B's real images with a
    classifier of B (one of A is refused), and translates a folder of the user's images."""
    judge = tmp_path / "judge"
    run.train(classifier_config("smoke", **{"data.name": "mnist5k", "data.image_size": 16, "model.conv_features": (4,)}), judge,
              devices=jax.devices()[:1])
    config = make_config(cyclegan_configs, "smoke", **EVAL, **{"eval.feature_network": "classifier", "eval.classifier_workdir": str(judge),
                                                                "eval.cache_dir": str(tmp_path / "cache")})
    workdir = tmp_path / "run"
    run.train(config, workdir, devices=jax.devices()[:1])
    seen = []
    original = run.sample_quality.evaluate_samples

    def recording(*args, **kwargs):
        seen.append(next(iter(args[5](8)))[0])  # the first batch of reference images
        return original(*args, **kwargs)

    monkeypatch.setattr(run.sample_quality, "evaluate_samples", recording)
    report = run.evaluate(config, workdir, devices=jax.devices()[:1])
    metrics = report["metrics"]
    assert 0 < metrics["cycle_l1_a"] < 1 and 0 < metrics["identity_l1_b"] < 1 and metrics["cycle_psnr_b"] > 0
    assert "fid_d" in metrics and 0 <= metrics["source_class_agreement"] <= 1
    assert report["protocol"]["sample_quality"]["reference_dataset"].startswith("mnist5k (second_image beside digits")
    experiment, _ = run.restored(config, workdir, devices=jax.devices()[:1])
    spread = data.eval_batches(experiment.train_source, 8, 32, 0, 1, True)
    np.testing.assert_array_equal(np.asarray(seen[0]), next(iter(spread))["second_image"])  # B's images, not A's
    with config.unlocked():
        config.sample.direction = "b_to_a"  # now the samples are digits: the mnist5k classifier is the wrong judge
    with pytest.raises(ConfigError, match="trained on mnist5k .* the samples are of digits"):
        run.evaluate(config, workdir, devices=jax.devices()[:1])
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    mnist = experiment.test_source.read(np.arange(3))["second_image"]
    for i, image in enumerate(mnist):
        Image.fromarray(image[..., 0]).save(inputs / f"{i}.png")
    with config.unlocked():
        config.sample.input_dir = str(inputs)
    from_folder = run.sample(config, workdir)
    restored_experiment, state = run.restored(config, workdir, devices=jax.devices()[:1])
    direct = restored_experiment.task.sample(state.eval_params, jax.random.PRNGKey(0), 3, {"second_image": mnist})
    np.testing.assert_allclose(from_folder, np.asarray(direct), atol=1e-6)


@pytest.mark.parametrize("override, message", [
    ({"data.second": ""}, "set data.second"),
    ({"data.pair": "edges"}, "data.pair must be ''"),
    ({"data.preprocess": "scale01"}, "data.preprocess='scale11'"),
    ({"cyclegan.loss": "wgan"}, "cyclegan.loss"),
    ({"cyclegan.pool_size": -1}, "cyclegan.pool_size"),
    ({"sample.direction": "sideways"}, "sample.direction"),
    ({"optim.d_a.ema_decay": 0.99}, "optim.d_a.ema_decay"),
    ({"data.second": "photos32"}, "set cyclegan.identity_weight=0"),
    ({"data.image_size": 18}, "multiple of 4"),
    ({"model.d_layers": 3}, "data.image_size >= 24"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        smoke_task(**override)


def test_photos_to_their_stylised_selves_are_scored_against_the_true_style():
    """B = stylised photos32 (sepia, 4 levels): the eval compares G_ab(a) with stylise(a), and a itself with it."""
    from jaxgen.data import combinators

    pixel = np.asarray([[[[200, 100, 50]]]], np.uint8)  # sepia: (0.393*200 + 0.769*100 + 0.189*50, ...) -> 4 levels of 85
    toned = np.minimum(np.asarray([0.393 * 200 + 76.9 + 9.45, 0.349 * 200 + 68.6 + 8.4, 0.272 * 200 + 53.4 + 6.55]), 255)
    np.testing.assert_array_equal(combinators.stylise(pixel)[0, 0, 0], np.round(toned / 85) * 85)
    task, batch = smoke_task(**{"data.name": "photos32", "data.second": "stylised_photos32", "cyclegan.identity_weight": 0.5})
    state = init_state(task, 0)
    sums = jax.jit(task.eval_batch)(state.eval_params, {**batch, "mask": jnp.ones(8)}, jax.random.PRNGKey(0))
    a = np.asarray(batch["image"], np.float64) / 255.0
    truth = combinators.stylise(np.asarray(batch["image"])) / 255.0
    translated = (np.asarray(task.translate(state.eval_params, "g_ab", jnp.asarray(a * 2.0 - 1.0, jnp.float32)), np.float64) + 1.0) / 2.0
    np.testing.assert_allclose(sums["style_l1_untranslated"], np.abs(a - truth).mean(axis=(1, 2, 3)).sum(), rtol=1e-4)
    np.testing.assert_allclose(sums["style_l1"], np.abs(translated - truth).mean(axis=(1, 2, 3)).sum(), rtol=1e-4)
    assert smoke_task()[0].true_style is None  # digits <-> mnist5k: no ground truth for a translation
