"""SinGAN: the objectives by hand, the noise amplitude, what one step trains (and what it leaves), the start from
the coarser scale's weights, one compile per scale and exact resume, the uses of a trained pyramid (samples of
another size, injection, super-resolution), the diversity measure, --mode sample, and the config errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from benchmarks import singan_super_resolution
from configs import singan as singan_configs
from jaxgen import run, tasks
from jaxgen.eval import sifid
from jaxgen.eval.feature_metrics import frechet_distance, gaussian_stats
from jaxgen.nn.singan import resize_to
from jaxgen.tasks import singan
from jaxgen.validation import ConfigError
from tests.helpers import init_state, make_config, task_and_first_batch, train_stopped_then_resumed
from tests.train.test_loop import assert_same_params

SGD = {"optim.name": "sgd", "optim.b1": 0.0, "optim.schedule": "constant"}


def smoke_task(**overrides):
    return task_and_first_batch(make_config(singan_configs, "smoke", **overrides))


@pytest.fixture(scope="module")
def task_state_batch(tmp_path_factory):
    task, batch = smoke_task(**SGD, **{"optim.lr": 0.01, "eval.cache_dir": str(tmp_path_factory.mktemp("cache"))})
    return task, init_state(task, 0), batch


def model_space(batch):
    return np.asarray(batch["image"], np.float32) / 127.5 - 1.0


def test_the_smoke_pyramid(task_state_batch):
    task, state, batch = task_state_batch
    assert batch["image"].shape == (1, 21, 32, 3)  # rocket.jpg (427x640) at a longer side of 32
    assert task.shapes == ((21, 32), (16, 24), (12, 18)) and task.phase_starts == (0, 1, 2)
    assert set(state.params) == {"generator_0", "generator_1", "generator_2", "discriminator_0", "discriminator_1",
                                 "discriminator_2", "pyramid"}
    assert state.params["pyramid"]["z_rec"].shape == (1, 12, 18, 3) and int(state.params["pyramid"]["scale"]) == 2


def test_the_critic_objective_by_hand(task_state_batch):
    """E D(x~) - E D(x) + 0.1 E_pixels (||grad sum D(x^)||_2 over channels - 1)^2 over the patch maps, assembled in
    numpy, at the same interpolate (U[0, 1])."""
    task, state, batch = task_state_batch
    n, rng = 1, jax.random.PRNGKey(3)
    real = resize_to(jnp.asarray(model_space(batch)), task.shapes[n])
    fake = jax.random.uniform(jax.random.PRNGKey(4), real.shape, minval=-1.0, maxval=1.0)
    params_d = state.params["discriminator_1"]
    loss, terms = task.critic_objective(params_d, n, real, fake, rng)
    alpha = float(jax.random.uniform(rng, (1, 1, 1, 1))[0, 0, 0, 0])
    point = alpha * real + (1 - alpha) * fake
    grad = np.asarray(jax.grad(lambda x: jnp.sum(task.criticise(params_d, n, x)))(point))
    penalty = np.mean((np.sqrt(np.sum(grad**2, axis=-1)) - 1.0) ** 2)
    d_real, d_fake = np.asarray(task.criticise(params_d, n, real)), np.asarray(task.criticise(params_d, n, fake))
    assert d_real.shape == (1, 16 - 10, 24 - 10)  # one score per 11x11 patch
    np.testing.assert_allclose(loss, d_fake.mean() - d_real.mean() + 0.1 * penalty, rtol=1e-4)
    np.testing.assert_allclose(terms["gradient_penalty"], penalty, rtol=1e-4)


def test_the_generator_objective_by_hand(task_state_batch):
    """-E D(G(z, prev)) + 10 mean (G(z_rec, prev_rec) - x)^2."""
    task, state, batch = task_state_batch
    n = 1
    real = resize_to(jnp.asarray(model_space(batch)), task.shapes[n])
    noise, previous, rec_previous = jax.random.normal(jax.random.PRNGKey(5), (3,) + real.shape)
    params = state.params
    loss, terms = task.generator_objective(params["generator_1"], params["discriminator_1"], n, real, noise, previous,
                                           jnp.zeros_like(real), rec_previous)
    fake = task.generate(params, n, noise, previous)
    reconstruction = np.mean((np.asarray(task.generate(params, n, jnp.zeros_like(real), rec_previous)) - np.asarray(real)) ** 2)
    adversarial = -np.asarray(task.criticise(params["discriminator_1"], n, fake)).mean()
    np.testing.assert_allclose(loss, adversarial + 10.0 * reconstruction, rtol=1e-5)
    np.testing.assert_allclose(terms["reconstruction"], reconstruction, rtol=1e-5)


def reconstruction_by_hand(task, params, down_to):
    """x^rec_N = G_N(z*, 0), then x^rec_k = G_k(0, up(x^rec_{k+1})) down to `down_to`, one generator at a time."""
    x = task.generate(params, task.coarsest, params["pyramid"]["z_rec"], jnp.zeros_like(params["pyramid"]["z_rec"]))
    for k in range(task.coarsest - 1, down_to - 1, -1):
        up = resize_to(x, task.shapes[k])
        x = task.generate(params, k, jnp.zeros_like(up), up)
    return x


def test_one_step_trains_its_scale_alone_and_records_the_noise_amplitude(task_state_batch):
    """A step of phase 1 (scale n = 1): D_1 and G_1 change, every other network is bit-identical; sigma_1 =
    0.1 RMSE(up(x^rec_2), x_1) is recorded and the pyramid's scale is 1."""
    task, state, batch = task_state_batch
    state = state.replace(step=jnp.asarray(1, state.step.dtype))  # the start of phase 1
    after, metrics = jax.jit(lambda s, b: task.train_step(s, b, 1))(state, batch)
    for name in state.params:
        same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params[name]), jax.tree.leaves(after.params[name])))
        assert same == (name not in ("generator_1", "discriminator_1", "pyramid")), name
    real = resize_to(jnp.asarray(model_space(batch)), task.shapes[1])
    up = resize_to(reconstruction_by_hand(task, state.params, 2), task.shapes[1])
    sigma = 0.1 * np.sqrt(np.mean((np.asarray(up) - np.asarray(real)) ** 2))
    np.testing.assert_allclose(after.params["pyramid"]["noise_amplitude"], [1.0, sigma, 1.0], rtol=1e-5)
    assert int(after.params["pyramid"]["scale"]) == 1 and float(metrics["scale"]) == 1.0
    assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


def test_a_scale_starts_from_the_coarser_scales_weights_at_its_first_step(task_state_batch):
    """Scale 1 has scale 2's width: at phase 1's first step its networks become scale 2's; at a later step of the
    phase they are left as they are. (train_step calls this once per phase: the loop test below counts it.)"""
    task, state, _ = task_state_batch
    at = lambda step: state.replace(step=jnp.asarray(step, state.step.dtype))  # noqa: E731
    first, later = task.start_from_coarser(at(1), 1, 1), task.start_from_coarser(at(2), 1, 1)
    assert task.widths[1] == task.widths[2]
    for kind in ("generator", "discriminator"):
        for a, b in zip(jax.tree.leaves(first.params[f"{kind}_1"]), jax.tree.leaves(state.params[f"{kind}_2"])):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(jax.tree.leaves(later.params[f"{kind}_1"]), jax.tree.leaves(state.params[f"{kind}_1"])):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(task.start_from_coarser(at(0), 2, 0).params), jax.tree.leaves(state.params)):  # nothing coarser
        np.testing.assert_array_equal(a, b)


def test_samples_are_drawn_at_the_scale_reached(task_state_batch):
    """Before training past the coarsest scale, samples are x~_N resized to the image's size; at the finest, x~_0;
    the pictures' reconstruction is x^rec at the scale reached."""
    task, state, batch = task_state_batch
    params = state.eval_params
    rng = jax.random.PRNGKey(0)
    samples = jax.jit(task.random_samples, static_argnums=2)
    cascade = np.asarray(jax.jit(lambda p: jnp.stack([resize_to(x, task.shapes[0]) for x in task.random_cascade(p, rng, 2, 0)]))(params))
    np.testing.assert_allclose(samples(params, rng, 2), cascade[0], atol=1e-6)
    at_finest = {**params, "pyramid": {**params["pyramid"], "scale": jnp.int32(0)}}
    np.testing.assert_allclose(samples(at_finest, rng, 2), cascade[-1], atol=1e-6)
    pictures = jax.jit(task.pictures)(at_finest, rng, batch)
    by_hand = jax.jit(lambda p: reconstruction_by_hand(task, p, 0))(params)
    np.testing.assert_allclose(pictures["reconstruction"][0][1], np.clip((by_hand[0] + 1) / 2, 0, 1), atol=1e-5)
    assert pictures["samples"][0].shape == (4, 21, 32, 3)


def test_samples_of_another_size_injection_and_super_resolution(task_state_batch):
    """Wider noise maps give wider samples; an image injected at the finest scale is G_0(sigma_0 z, up(down(x)));
    super-resolution x2 at r = 0.756 is two passes of G_0, each on the image enlarged by sqrt(2)."""
    task, state, batch = task_state_batch
    params = state.eval_params
    rng = jax.random.PRNGKey(1)
    wide = smoke_task(**{"sample.width_scale": 2.0})[0]
    assert jax.eval_shape(lambda p: wide.sample(p, rng, 3), params).shape == (3, 21, 64, 3)
    image = batch["image"]  # uint8, as --mode sample reads it
    x = jnp.asarray(model_space(batch))
    sigma0 = params["pyramid"]["noise_amplitude"][0]

    inject = smoke_task(**{"sample.inject_scale": 2})[0]  # two above the coarsest: the finest scale, m = 0
    injected = jax.jit(lambda p: inject.sample(p, rng, 1, {"image": image}))(params)
    start = resize_to(resize_to(x, task.shapes[1]), task.shapes[0])
    z0 = sigma0 * jax.random.normal(jax.random.split(rng, 3)[0], start.shape)
    np.testing.assert_allclose(injected, np.clip((task.generate(params, 0, z0, start) + 1) / 2, 0, 1), atol=1e-5)
    with pytest.raises(ConfigError, match="sample.inject_scale"):
        smoke_task(**{"sample.inject_scale": 3})[0].sample(params, rng, 1, {"image": image})

    sr = smoke_task(**{"sample.given_image": "super_resolve", "sample.super_resolution_factor": 2.0})[0]
    enlarged = jax.jit(lambda p: sr.sample(p, rng, 1, {"image": image}))(params)
    r = task.factor
    assert round(math.log(2.0) / math.log(1.0 / r)) == 2
    y = x
    for i, key in enumerate(jax.random.split(rng, 2), start=1):
        y = resize_to(y, (round(21 * 2 ** (i / 2)), round(32 * 2 ** (i / 2))))
        y = task.generate(params, 0, sigma0 * jax.random.normal(key, y.shape), y)
    expected = np.clip((y + 1) / 2, 0, 1)
    assert enlarged.shape == (1, 42, 64, 3)
    np.testing.assert_allclose(enlarged, expected, atol=1e-5)


def test_the_edit_mask_grows_and_blurs_the_edited_region():
    """One edited pixel with dilation 1 and no blur is a 3x3 square; with blur, the dilated square smoothed by a
    Gaussian (scipy, edges repeated, the same 3-sigma support); the blend is (1 - m) x + m G."""
    known = np.ones((1, 9, 11, 1), np.uint8)
    known[0, 4, 5] = 0
    square = np.zeros((9, 11))
    square[3:6, 4:7] = 1.0
    np.testing.assert_array_equal(singan.soft_edit_mask(jnp.asarray(known), 1, 0.0)[0, ..., 0], square)
    blurred = singan.soft_edit_mask(jnp.asarray(known), 1, 1.0)[0, ..., 0]
    np.testing.assert_allclose(blurred, ndimage.gaussian_filter(square, 1.0, mode="nearest", truncate=3.0), atol=1e-6)
    x, g = jnp.zeros((1, 9, 11, 1)), jnp.ones((1, 9, 11, 1))
    np.testing.assert_allclose(singan.edit_blend(x, g, jnp.asarray(known), 1, 1.0)[0, ..., 0], blurred, atol=1e-6)


def test_an_edit_keeps_the_image_outside_the_edited_region(task_state_batch):
    """Injected with a mask (known = 0 on columns 10-15): far from the edit the output is the given image,
    inside it the injection's output; a mask with super-resolution is refused."""
    task, state, batch = task_state_batch
    params, rng = state.eval_params, jax.random.PRNGKey(4)
    known = np.ones((1, 21, 32, 1), np.uint8)
    known[:, :, 10:16] = 0
    inject = smoke_task(**{"sample.inject_scale": 2, "sample.edit_dilation": 1, "sample.edit_blur": 1.0})[0]
    edited = np.asarray(jax.jit(lambda p: inject.sample(p, rng, 1, {"image": batch["image"], "known": jnp.asarray(known)}))(params))
    plain = np.asarray(jax.jit(lambda p: inject.sample(p, rng, 1, {"image": batch["image"]}))(params))
    image = np.asarray(batch["image"], np.float32) / 255.0
    np.testing.assert_allclose(edited[:, :, :5], image[:, :, :5], atol=1e-6)  # 1 + 3 sigma = 4 pixels from the edit
    np.testing.assert_allclose(edited[:, :, 27:], image[:, :, 27:], atol=1e-6)
    np.testing.assert_allclose(edited[:, :, 12:14], plain[:, :, 12:14], atol=1e-6)  # fully inside the grown region
    sr = smoke_task(**{"sample.given_image": "super_resolve"})[0]
    with pytest.raises(ConfigError, match="sample.given_image=inject"):
        sr.sample(params, rng, 1, {"image": batch["image"], "known": jnp.asarray(known)})


def test_diversity_is_the_papers_normalised_pixel_spread(task_state_batch):
    """mean over pixels of std over samples, divided by the image's std; the reconstruction PSNR from its RMSE;
    SIFID, the mean over the samples of the Frechet distance of their Inception stem features to the image's."""
    task, state, batch = task_state_batch
    params = state.eval_params
    rng = jax.random.PRNGKey(2)
    rows = {"image": jnp.concatenate([batch["image"], jnp.zeros_like(batch["image"])]), "mask": jnp.asarray([1.0, 0.0])}
    totals = jax.jit(task.eval_batch)(params, rows, rng)
    samples = np.asarray(jax.jit(task.random_samples, static_argnums=2)(params, rng, 4))
    expected = samples.std(axis=0).mean() / model_space(batch).std()
    np.testing.assert_allclose(totals["diversity"], expected, rtol=1e-4)
    real = np.asarray(resize_to(jnp.asarray(model_space(batch)), task.shapes[2]))
    rec = np.asarray(jax.jit(lambda p: reconstruction_by_hand(task, p, 2))(params))
    error = np.sqrt(np.mean((rec - real) ** 2))
    np.testing.assert_allclose(totals["reconstruction_rmse"], error, rtol=1e-4)
    np.testing.assert_allclose(totals["reconstruction_psnr"], 10 * np.log10(4 / error**2), rtol=1e-4)
    features = np.asarray(sifid.location_features(task.sifid_stem, jnp.concatenate([batch["image"] / 255.0, (samples + 1) / 2])))
    distances = [frechet_distance(gaussian_stats(features[0]), gaussian_stats(f)) for f in features[1:]]
    np.testing.assert_allclose(totals["sifid"], np.mean(distances), rtol=1e-3)  # SIFID: the mean over the samples
    assert float(totals["count"]) == 1.0


def test_one_compile_per_scale_exact_resume_and_sampling_from_the_workdir(tmp_path, monkeypatch):
    """Two scales (a coarsest side of 16), two steps each, through the loop: each scale's step is traced once; a
    run stopped at step 1 (inside the coarsest scale) and resumed ends where the uninterrupted one does; it
    evaluates, --mode sample super-resolves a folder's image x2, and the super-resolution benchmark scores it."""
    config = make_config(singan_configs, "smoke", **{"singan.steps_per_scale": 2, "train.num_steps": 4, "train.checkpoint_every": 3,
                                                     "train.sample_every": 100, "train.log_every": 1, "singan.critic_steps": 1,
                                                     "singan.generator_steps": 1, "singan.min_side": 16,
                                                     "eval.sifid": False})  # SIFID: the eval_batch test below
    traced = []
    original = singan.SinGANTask.start_from_coarser

    def counting(self, state, n, phase):
        traced.append(n)
        return original(self, state, n, phase)

    monkeypatch.setattr(singan.SinGANTask, "start_from_coarser", counting)
    straight = run.train(config, tmp_path / "straight", devices=jax.devices()[:1])
    assert traced == [1, 0]
    monkeypatch.setattr(singan.SinGANTask, "start_from_coarser", original)
    resumed = train_stopped_then_resumed(config, tmp_path / "resumed", stop_at=1)
    assert int(resumed.step) == 4 and int(resumed.params["pyramid"]["scale"]) == 0
    assert_same_params(straight, resumed)
    report = run.evaluate(config, tmp_path / "resumed", devices=jax.devices()[:1])
    assert all(np.isfinite(report["metrics"][k]) for k in ("diversity", "reconstruction_psnr")) and "sifid" not in report["metrics"]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(inputs / "grey.png")
    images = run.main(None, tmp_path / "resumed", "sample", [f"sample.input_dir={inputs}", "sample.given_image=super_resolve",
                                                             "sample.super_resolution_factor=2.0"])
    assert images.shape == (1, 42, 64, 3)  # the input resized to the image's 21x32, then enlarged x2
    figures = singan_super_resolution.measure(tmp_path / "resumed", 2.0)  # the benchmark against bicubic
    assert figures["high"] == [42, 64] and set(figures["singan"]) == set(figures["bicubic"]) == {"psnr", "ssim", "sharpness"}
    assert 10 < figures["bicubic"]["psnr"] < 60 and figures["bicubic"]["sharpness"] < 1.0  # bicubic enlargement blurs


@pytest.mark.parametrize("override, message", [
    ({"data.batch_size": 2}, "data.batch_size must be 1"),
    ({"singan.scale_factor": 1.0}, "singan.scale_factor"),
    ({"sample.given_image": "paint"}, "sample.given_image"),
    ({"data.preprocess": "scale01"}, "data.preprocess='scale11'"),
    ({"optim.discriminator.ema_decay": 0.9}, "optim.discriminator.ema_decay"),
    ({"optim.decay_at": 1.5}, "optim.decay_at"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        tasks.validate(make_config(singan_configs, "smoke", **override))
