"""Latent diffusion's second stage: every conditioning path on a tiny trained first stage, the identity first
stage against the pixel-space DDPM, guidance at w = 0 and -1, the config errors."""
import json
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from configs import ldm as ldm_configs
from jaxgen import run, tasks
from jaxgen.data.text import decode_text
from jaxgen.tasks.ddpm import DDPMTask
from jaxgen.tasks.ldm import LDMTask
from jaxgen.train.evaluation import evaluate_task
from jaxgen.train.state import TrainState, counting
from jaxgen.validation import ConfigError
from tests.helpers import classifier_config, ddpm_config, init_state, ldm_autoencoder_config, make_config


@pytest.fixture(scope="module")
def first_stage(tmp_path_factory):
    """An untrained KL first stage (f = 4, 3 latent channels, 32x32 mnist5k) saved as a run: what the second
    stage reads of it is its config and its checkpoint."""
    workdir = tmp_path_factory.mktemp("first_stage")
    config = ldm_autoencoder_config("smoke")
    run.initialise(config, workdir, devices=jax.devices()[:1])
    return workdir


def ldm_config(preset, first_stage, **overrides):
    return make_config(ldm_configs, preset, **{"init_from.autoencoder": str(first_stage), **overrides})


# paper preset -> the first stage it reads (configs/ldm_autoencoder.py preset and keys)
PAPER_PRESETS = {"ldm4_celeba64": ("vq_f4", {}), "ldm8_cifar10_class": ("vq_f8", {"data.name": "cifar10"}),
                 "sr4_celeba": ("vq_f4", {}), "inpainting_celeba": ("vq_f4", {})}


@pytest.mark.slow  # paper-scale UNets: a minute or more of compiling each
@pytest.mark.parametrize("preset", sorted(PAPER_PRESETS))
def test_paper_presets_train_one_step_on_mock_data(tmp_path, preset):
    first_preset, first_keys = PAPER_PRESETS[preset]
    small = {"data.batch_size": 4, "data.eval_batch_size": 4, "train.num_grid_samples": 4}
    with tfds.testing.mock_data(num_examples=8):
        first = ldm_autoencoder_config(first_preset, **first_keys, **small)
        run.initialise(first, tmp_path / "first", devices=jax.devices()[:1])
        config = ldm_config(preset, tmp_path / "first", **small, **{
            "train.num_steps": 1, "train.log_every": 1, "train.checkpoint_every": 1, "train.sample_every": 1,
            "train.eval_at_end": False, "sample.steps": 2})
        state = run.train(config, tmp_path / "ldm", devices=jax.devices()[:1])
    assert int(state.step) == 1
    assert np.isfinite(json.loads((tmp_path / "ldm" / "metrics.jsonl").read_text().splitlines()[-1])["train/loss"])


def test_every_preset_validates():
    for preset in ldm_configs.PRESETS:
        config = ldm_configs.get_config(f"{preset},init_from.autoencoder=/some/run")
        tasks.validate(config)
        assert config.task == "ldm" and "class_conditional" not in config.model


def opened_gates_state(state):
    """The state's eval parameters with `opened_gates` applied to the denoiser."""
    return {**state.eval_params, "denoiser": opened_gates(state.eval_params["denoiser"])}


def opened_gates(params):
    """The denoiser's parameters with its zero-initialised output convolutions (the UNet's head, each spatial
    transformer's proj_out) set to random values and GLIGEN's gates opened, so that conditions reach the output."""
    params = jax.tree_util.tree_map_with_path(lambda path, x: x + 0.5 if path[-1].key == "gate" else x, params)
    unet = dict(params["unet"])
    for i, name in enumerate(k for k in unet if k.startswith("SpatialTransformer") or k == "head"):
        layer = "proj_out" if name != "head" else None
        leaf = unet[name][layer] if layer else unet[name]
        leaf = {**leaf, "kernel": 0.3 * jax.random.normal(jax.random.PRNGKey(i), leaf["kernel"].shape)}
        unet[name] = {**unet[name], layer: leaf} if layer else leaf
    return {**params, "unet": unet}


# The default suite follows concatenation through the frozen encoder (inpainting) and the concatenated input
# image (super-resolution) end to end in the sampling and evaluation tests below and cross-attention (class)
# through the training test; each conditioning's effect on the denoiser is checked here, under -m slow.
@pytest.mark.slow
@pytest.mark.parametrize("preset", [p for p in sorted(ldm_configs.PRESETS) if p.startswith("smoke_")])
def test_each_conditioning_reaches_the_denoiser(first_stage, preset):
    """tau_theta's tokens, the grounding tokens or the concatenated channels change the output."""
    experiment = run.build_experiment(ldm_config(preset, first_stage), first_stage.parent / preset, devices=jax.devices()[:1])
    task, state = experiment.task, experiment.init_state()
    frozen, params = state.frozen["autoencoder"], opened_gates(state.params["denoiser"])
    last = len(experiment.train_source) - 1
    batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.array([0, last])).items()}  # two classes
    z = task.latents(frozen, jnp.zeros((2,) + experiment.train_source.spec.image_shape))
    chex.assert_shape(z, (2,) + task.latent_shape)
    t = jnp.array([3, 30])
    cond = task.batch_conditions(batch)
    denoise = jax.jit(lambda p, f, z, t, c: task.denoise(p, z, t, task.encode_conditions(p, f, c)))
    out = denoise(params, frozen, z, t, cond)
    chex.assert_shape(out, z.shape)
    if preset != "smoke_none":
        other = jax.tree.map(lambda c: c[::-1], cond)  # the two examples' conditions swapped
        assert float(jnp.abs(denoise(params, frozen, z, t, other) - out).max()) > 1e-6


def test_class_conditional_training_lowers_its_loss_and_traces_once(first_stage, tmp_path):
    config = ldm_config("smoke_class", first_stage, **{"optim.lr": 3e-3, "optim.ema_decay": 0.0})
    experiment = run.build_experiment(config, tmp_path, devices=jax.devices()[:1])
    task, state = experiment.task, experiment.init_state()
    batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(8)).items()}
    step = jax.jit(chex.assert_max_traces(counting(task.train_step), n=1))
    losses = []
    for _ in range(8):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.isfinite(losses).all() and np.mean(losses[-3:]) < np.mean(losses[:3])
    assert set(state.params["denoiser"]) == {"unet", "conditioner"}


def test_the_null_conditions_are_the_null_label_the_empty_prompt_and_no_boxes():
    null = {}
    for preset in ("smoke_class", "smoke_text", "smoke_layout"):
        config = ldm_configs.get_config(f"{preset},init_from.autoencoder=/unused")
        source = run.data.open_source(config.data, "train")
        task = LDMTask(config, source.spec, {"autoencoder": IdentityFirstStage()})
        batch = {k: jnp.asarray(v) for k, v in source.read(np.arange(2)).items()}
        null.update(task.null_conditions(task.batch_conditions(batch)))
    assert null["label"].tolist() == [10, 10]
    assert decode_text(np.asarray(null["caption"])) == ["", ""]
    assert null["box_labels"].tolist() == [[-1] * 3] * 2 and not null["boxes"].any()


@pytest.mark.slow  # the default suite samples through the identity first stage below
def test_class_conditional_samples_are_decoded_images(first_stage, tmp_path):
    experiment = run.build_experiment(ldm_config("smoke_class", first_stage), tmp_path, devices=jax.devices()[:1])
    state = experiment.init_state()
    images = jax.jit(experiment.task.sample, static_argnums=2)(state.eval_params, jax.random.PRNGKey(0), 4, {"label": jnp.arange(4)})
    chex.assert_shape(images, (4, 32, 32, 1))
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0


@pytest.mark.slow  # the mixing itself is tests/diffusion's; this follows it through the LDM denoiser
def test_guidance_mixes_the_conditional_and_null_class_outputs(first_stage, tmp_path):
    """w = 0 and w = -1 return the conditional and unconditional outputs themselves (tests/diffusion); here
    the null condition is the null label and w = 2 mixes 3 c - 2 u."""
    experiment = run.build_experiment(ldm_config("smoke_class", first_stage, **{"sample.guidance_scale": 2.0}), tmp_path,
                                      devices=jax.devices()[:1])
    task, state = experiment.task, experiment.init_state()
    frozen, params = state.frozen["autoencoder"], opened_gates(state.params["denoiser"])
    z, t, labels = jax.random.normal(jax.random.PRNGKey(2), (2,) + task.latent_shape), jnp.array([5, 25]), jnp.array([1, 4])
    assert task.null_conditions({"label": labels})["label"].tolist() == [10, 10]
    denoise = jax.jit(lambda p, f, z, t, c: task.denoise(p, z, t, task.encode_conditions(p, f, c)))
    conditional = denoise(params, frozen, z, t, {"label": labels})
    unconditional = denoise(params, frozen, z, t, {"label": jnp.full((2,), 10)})
    guided = jax.jit(lambda p, f, z, t, c: task.guided_denoiser(p, f, c)(z, t))(params, frozen, z, t, {"label": labels})
    np.testing.assert_allclose(guided, 3 * conditional - 2 * unconditional, rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(conditional - unconditional).max()) > 1e-6


class IdentityFirstStage:
    """f = 1 and no regulariser: E and D are the identity."""

    def create_state(self, rng):
        return TrainState.create({}, rng)

    def encode(self, params, x, rng=None):
        return x

    def decode(self, params, z):
        return z


def test_with_an_identity_first_stage_latent_diffusion_is_the_pixel_space_ddpm(first_stage):
    pixel = ddpm_config("smoke", **{"data.image_size": 32, "model.channel_mults": (1,), "model.attention_resolutions": (),
                                    "sample.clip_x0": False})
    spec = run.data.open_source(pixel.data, "train").spec
    ddpm = DDPMTask(pixel, spec)
    latent_config = ldm_config("smoke_none", first_stage, **{
        "model.channels": pixel.model.channels, "model.channel_mults": pixel.model.channel_mults,
        "model.attention_resolutions": (), "diffusion.num_steps": pixel.diffusion.num_steps, "sample.steps": pixel.sample.steps,
    })
    ldm = LDMTask(latent_config, spec, {"autoencoder": IdentityFirstStage()})
    params = opened_gates({"unet": init_state(ddpm, 3).params["denoiser"]})["unet"]
    latent = jax.jit(ldm.sample, static_argnums=2)({"denoiser": {"unet": params}, "autoencoder": {}}, jax.random.PRNGKey(5), 2)
    pixel = jax.jit(ddpm.sample, static_argnums=2)({"denoiser": params}, jax.random.PRNGKey(5), 2)
    assert float(jnp.abs(pixel - 0.5).max()) > 0.01  # the network does something
    np.testing.assert_allclose(latent, jnp.clip(pixel, 0.0, 1.0), atol=1e-6)


def test_config_errors_name_the_key(first_stage, tmp_path):
    with pytest.raises(ConfigError, match="init_from.autoencoder' must name"):
        tasks.validate(ldm_configs.get_config("smoke_class"))
    with pytest.raises(ConfigError, match=r"reads data.pair in \('downsample4',\)"):
        tasks.validate(ldm_configs.get_config("smoke_super_resolution,data.pair=,init_from.autoencoder=/x"))
    with pytest.raises(ConfigError, match="ldm.scale_factor=0 reads the first stage's scale_factor from .*eval.json"):
        run.build_experiment(ldm_config("smoke_class", first_stage, **{"ldm.scale_factor": 0.0}), tmp_path)
    with pytest.raises(ConfigError, match=r"reads \['label'\]; data.name='photos32' has no such feature"):
        run.build_experiment(ldm_config("smoke_class", first_stage, **{"data.name": "photos32", "data.image_size": 0}), tmp_path)


def text_or_layout_experiment(config):
    source = run.data.open_source(config.data, "train")
    return types.SimpleNamespace(task=LDMTask(config, source.spec, {"autoencoder": IdentityFirstStage()}), train_source=source)


def test_sample_mode_reads_prompts_and_layouts_for_the_family():
    for preset, keys, expected in (("smoke_text", {"sample.prompts": ("a thin one", "a large two")}, {"caption": (2, 64)}),
                                   ("smoke_layout", {"sample.layouts": ("1@0.1,0.1,0.4,0.4",)}, {"boxes": (1, 3, 4), "box_labels": (1, 3)})):
        config = make_config(ldm_configs, preset, **{"init_from.autoencoder": "/unused", **keys})
        conditions = run.sample_conditions(config, text_or_layout_experiment(config))
        assert {k: v.shape for k, v in conditions.items()} == expected
    config = ldm_configs.get_config("smoke_text,init_from.autoencoder=/unused")
    with pytest.raises(ConfigError, match="the ldm family samples from caption: set sample.prompts"):
        run.sample_conditions(config, text_or_layout_experiment(config))


def test_inpainting_from_a_folder_keeps_the_known_pixels_exactly(first_stage, tmp_path):
    """`--mode sample` on the user's images and masks: the decoded sample fills the holes, and every known
    pixel is the input's (pasted back after decoding, as LDM's inpainting script does)."""
    config = ldm_config("smoke_inpainting", first_stage)
    experiment = run.initialise(config, tmp_path / "run", devices=jax.devices()[:1])
    images = experiment.test_source.read(np.arange(2))["image"]
    hole = np.zeros((32, 32), np.uint8)
    hole[4:20, 10:30] = 255
    for i, image in enumerate(images):
        for folder, picture in (("in", image[..., 0]), ("masks", hole)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(picture).save(tmp_path / folder / f"{i}.png")
    samples = run.main(None, tmp_path / "run", "sample", overrides=[f"sample.input_dir={tmp_path / 'in'}",
                                                                 f"sample.mask_dir={tmp_path / 'masks'}"])
    known = hole < 128
    np.testing.assert_allclose(samples[:, known], images[:, known] / 255.0, atol=1e-6)
    assert float(np.abs(samples[:, ~known] - images[:, ~known] / 255.0).max()) > 0.05  # the hole is drawn, not copied
    written = np.load(next((tmp_path / "run" / "samples").iterdir()) / "samples.npz")
    np.testing.assert_array_equal(written["cond_known"][..., 0], np.broadcast_to(known, (2, 32, 32)))
    metrics = run.main(None, tmp_path / "run", "eval")["metrics"]
    assert np.isfinite(metrics["hole_psnr"]) and metrics["psnr"] > metrics["hole_psnr"]  # the known pixels are exact


def test_super_resolution_eval_scores_one_sample_per_input_against_its_image(first_stage, tmp_path):
    """The regression baseline samples deterministically (one call of the same network), so the eval's PSNR
    must be the PSNR of `sample` on the same held-out inputs, computed here by hand."""
    config = ldm_config("smoke_super_resolution", first_stage, **{"ldm.objective": "regression"})
    experiment = run.build_experiment(config, tmp_path, devices=jax.devices()[:1])
    task, params = experiment.task, opened_gates_state(experiment.init_state())
    metrics = evaluate_task(task, params, experiment.test_batches(), seed=0)
    batch = experiment.test_source.read(np.arange(config.eval.num_examples))
    sample = jax.jit(task.sample, static_argnums=2)
    samples = np.asarray(sample(params, jax.random.PRNGKey(9), len(batch["image"]), {"source": batch["source"]}))
    swapped = np.asarray(sample(params, jax.random.PRNGKey(9), len(batch["image"]), {"source": batch["source"][::-1]}))
    np.testing.assert_allclose(swapped, samples[::-1], atol=1e-5)  # each image follows its own input ...
    assert float(np.abs(samples[0] - samples[1]).max()) > 1e-3  # ... and the inputs make a difference
    mse = np.mean((samples.astype(np.float64) - batch["image"] / 255.0) ** 2, axis=(1, 2, 3))
    assert metrics["psnr"] == pytest.approx(np.mean(10 * np.log10(1.0 / mse)), rel=1e-4)
    assert 5 < metrics["bicubic_psnr"] < 40 and 0 < metrics["bicubic_ssim"] <= 1 and np.isfinite(metrics["loss"])
    grid, columns = task.pictures(params, jax.random.PRNGKey(9), {k: jnp.asarray(v[:3]) for k, v in batch.items()})["conditioned_samples"]
    assert columns == 9 and task.picture_captions["conditioned_samples"] == ("input", "sample", "data")
    np.testing.assert_allclose(grid[1::3], samples[:3], atol=1e-6)  # input | sample | data, per example
    np.testing.assert_allclose(grid[2::3], batch["image"][:3] / 255.0, atol=1e-6)
    np.testing.assert_allclose(grid[0, ::4, ::4], batch["source"][0] / 255.0, atol=1e-6)  # the 8x8 input, enlarged
    with pytest.raises(ConfigError, match="ldm.objective='regression' maps an input image to its target"):
        tasks.validate(ldm_configs.get_config("smoke_class,ldm.objective=regression,init_from.autoencoder=/x"))


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    """A (barely trained) classifier of mnist5k: the digits of the captioned and layout scenes."""
    workdir = tmp_path_factory.mktemp("judge")
    run.train(classifier_config("smoke"), workdir, devices=jax.devices()[:1])
    return workdir


def test_the_judge_must_be_a_classifier_of_the_scenes_digits(judge, tmp_path):
    config = make_config(ldm_configs, "smoke_text", **{"init_from.autoencoder": "/unused", "eval.judge_workdir": str(tmp_path)})
    with pytest.raises(ConfigError, match=f"eval.judge_workdir={tmp_path} must hold a classifier of mnist5k, the digits of captioned_mnist5k"):
        run.load_judge(tmp_path, config)
    classify, side = run.load_judge(judge, config)
    assert side == 28 and classify(np.zeros((3, 28, 28, 1), np.uint8)).shape == (3,)
    with pytest.raises(ConfigError, match="judges captioned and layout digit scenes; data.name='mnist5k' is not one"):
        run.load_judge(judge, make_config(ldm_configs, "smoke_class", **{"init_from.autoencoder": "/unused"}))


@pytest.mark.slow  # compiles the text model's sampler; the agreement maths is tests/eval/test_condition_agreement.py
def test_text_eval_reports_caption_agreement(first_stage, judge, tmp_path):
    config = ldm_config("smoke_text", first_stage, **{"eval.judge_workdir": str(judge)})
    run.initialise(config, tmp_path, devices=jax.devices()[:1])
    metrics = run.main(None, tmp_path, "eval")["metrics"]
    for key in ("caption_match", "caption_digit_accuracy", "caption_position_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
