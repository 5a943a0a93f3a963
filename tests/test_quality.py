"""Slow quality checks: the demo presets learn what their docstrings promise (python -m pytest -m slow)."""
import json
import pathlib

import pytest

from jaxgen import run
from tests.helpers import vae_config

pytestmark = pytest.mark.slow


def test_vae_demo_reaches_its_documented_test_elbo(tmp_path):
    run.main(vae_config("demo"), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["elbo"] > -160.0
    assert metrics["iwae_1000"] > metrics["iwae_1"] + 2.0  # the bound tightens with k
    assert metrics["linear_probe_accuracy"] > 0.45  # 10 classes from a 2-D code; chance is 0.1
    assert (tmp_path / "images" / "manifold.png").is_file()


def test_autoencoder_demo_reconstructs(tmp_path):
    run.main(vae_config("ae_demo"), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["recon"] < 45.0  # summed squared error per 784-pixel image in [0, 1], z = 2


def test_classifier_preset_learns_digits_and_fid_d_tells_real_from_untrained(tmp_path):
    """The mnist5k classifier reaches its documented accuracy, and its FID-D puts held-out real digits
    far closer to the training digits than an untrained VAE's samples, with every class covered."""
    import jax
    import numpy as np

    from jaxgen.eval import sample_quality
    from tests.helpers import classifier_config

    run.main(classifier_config("mnist5k"), tmp_path / "classifier", "train")
    metrics = json.loads((tmp_path / "classifier" / "eval.json").read_text())["metrics"]
    assert metrics["accuracy"] > 0.95
    experiment = run.build_experiment(classifier_config("mnist5k"), tmp_path / "classifier")
    loaded = run.load_run(tmp_path / "classifier")
    network = loaded.task.feature_network(loaded.state.eval_params, loaded.record)
    experiment.checkpointer.close()

    def real(split):
        return ((b["image"], np.asarray(b["mask"])) for b in experiment.test_batches(split, 0))

    reference, _ = sample_quality.featurize(network, experiment.mesh, real("train"))
    protocol = sample_quality.Protocol(500, "train", len(reference), 20, 200, 3, 10, 0, 512)
    held_out, held_out_logits = sample_quality.featurize(network, experiment.mesh, real("test"))
    real_numbers = sample_quality.compare(network, reference, held_out, held_out_logits, protocol)
    vae = run.build_experiment(vae_config("demo"), tmp_path / "vae")
    batches = sample_quality.sample_batches(
        vae.task.sample, vae.init_state().eval_params, jax.random.PRNGKey(0), 500, 512, vae.mesh
    )
    untrained = sample_quality.compare(network, reference, *sample_quality.featurize(network, vae.mesh, batches), protocol)
    assert real_numbers["fid_d"] * 20 < untrained["fid_d"]
    assert real_numbers["classes_covered"] == 10 and real_numbers["class_kl_to_uniform"] < 0.05
    assert real_numbers["precision_d"] > 0.7 and real_numbers["recall_d"] > 0.7
    assert untrained["recall_d"] < real_numbers["recall_d"]


@pytest.fixture(scope="module")
def digit_judge(tmp_path_factory):
    """A trained mnist5k classifier's workdir: the FID-D judge of the generative demos."""
    from tests.helpers import classifier_config

    workdir = tmp_path_factory.mktemp("classifier")
    run.main(classifier_config("mnist5k"), workdir, "train")
    return str(workdir)


def judged(config, judge):
    with config.unlocked():
        config.train.eval_at_end = True
        config.eval.feature_network = "classifier"
        config.eval.classifier_workdir = judge
    return config


def assert_convincing(metrics: dict) -> None:
    """Issue 14's goal for a digits demo: >= 90% of samples recognised with confidence > 0.9, every class
    at least half its uniform share, FID-D <= 40."""
    assert metrics["recognised_fraction"] >= 0.9
    assert metrics["smallest_class_share"] >= 0.5
    assert metrics["fid_d"] <= 40.0


def judged_on_one_device(config, judge, workdir) -> dict:
    """Train and evaluate `config` on one device, as the demos' numbers were measured: a BatchNorm D over
    8 fake devices of the 2 cores would take hours."""
    import jax

    config = judged(config, judge)  # run.train ignores train.eval_at_end (run.main's business)
    run.train(config, workdir, devices=jax.devices()[:1])
    return run.evaluate(config, workdir, devices=jax.devices()[:1])["metrics"]


def test_conditional_dcgan_demo_convinces(tmp_path, digit_judge):
    """Measured: FID-D 17.9, 95.0% recognised, the rarest class at 0.96 of its share, 95.5% of the
    asked-for class (5,000 samples). 27 minutes under the tests' -O0 while sharing the CPU."""
    from tests.helpers import gan_config

    metrics = judged_on_one_device(gan_config("demo_cond"), digit_judge, tmp_path)
    assert_convincing(metrics)
    assert metrics["conditional_accuracy"] >= 0.9


def test_conditional_ddpm_demo_convinces(tmp_path, digit_judge):
    """Measured: FID-D 16.6, 95.2% recognised, the rarest class at 0.84 of its share, 93.7% of the
    asked-for class (5,000 samples at w = 0.3). 21 minutes under launch.py, 77 under the tests' -O0 while
    sharing the CPU (most of it the guided sampling)."""
    from tests.helpers import ddpm_config

    metrics = judged_on_one_device(ddpm_config("demo_cond"), digit_judge, tmp_path)
    assert_convincing(metrics)
    assert metrics["conditional_accuracy"] >= 0.9


def test_conditional_vae_demo_convinces(tmp_path, digit_judge):
    """Measured: FID-D 7.4, 97.4% recognised, the rarest class at 0.97 of its share, 98.2% of the asked-for
    class (5,000 samples); a learned prior per class, p(z|y), is what does it (N(0, I): FID-D 168). Here, under
    the tests' -O0 on a shared CPU: FID-D 8.1, 97.4%, 0.96, 97.8%; ~28 minutes with the judge's training."""
    metrics = judged_on_one_device(vae_config("demo_cond"), digit_judge, tmp_path)
    assert_convincing(metrics)
    assert metrics["conditional_accuracy"] >= 0.9
    assert (tmp_path / "images" / "analogies.png").is_file()


def test_unconditional_vae_demo_with_a_mixture_prior_convinces(tmp_path, digit_judge):
    """Measured: FID-D 15.9, 92.0% recognised, the rarest class at 0.89 of its share (5,000 samples). Here, under
    the tests' -O0 on a shared CPU: FID-D 16.0, 91.0% (a thin margin), 0.88; ~21 minutes."""
    assert_convincing(judged_on_one_device(vae_config("demo_mixture"), digit_judge, tmp_path))


def test_dcgan_loss_comparison_budget_draws_every_digit(tmp_path, digit_judge):
    """Measured: FID-D 167, all 10 classes, KL to uniform 0.08 (5,000 samples)."""
    from tests.helpers import gan_config

    run.main(judged(gan_config("compare"), digit_judge), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["fid_d"] < 250.0
    assert metrics["classes_covered"] == 10 and metrics["class_kl_to_uniform"] < 0.2


def test_ddpm_demo_draws_every_digit(tmp_path, digit_judge):
    """Measured: FID-D 125, all 10 classes, KL to uniform 0.02 (2,000 samples, 50 DDIM steps)."""
    from tests.helpers import ddpm_config

    run.main(judged(ddpm_config("demo"), digit_judge), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["fid_d"] < 200.0
    assert metrics["classes_covered"] == 10 and metrics["class_kl_to_uniform"] < 0.1


def test_pixelcnn_demo_reaches_its_documented_test_nll(tmp_path):
    """The PixelCNN demo's exact test NLL on the 500 held-out binarised digits (94.2 nats measured), and
    samples that are neither blank nor noise: on-pixel fractions near the data's (~0.13)."""
    import numpy as np

    from tests.helpers import pixelcnn_config

    run.main(pixelcnn_config("demo"), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["nll_nats"] < 100.0
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll_nats"] / (784 * np.log(2)))
    images = run.main(None, tmp_path, "sample")  # from the workdir alone
    assert 0.05 < images.mean() < 0.3


def test_conditional_pixelcnn_demo_convinces_and_guidance_is_what_lifts_it(tmp_path, digit_judge):
    """The Gated PixelCNN digits demo (`demo_cond`) against issue 14's goal at its guidance w = 0.3, and at w = 0
    (5,000 samples each; the metrics are printed for the README). 39 minutes here, most of it sampling."""
    launched(["--config", "configs/pixelcnn.py:demo_cond"], tmp_path)
    judge = ["--mode", "eval", "--set", "eval.feature_network=classifier", "--set", f"eval.classifier_workdir={digit_judge}"]
    guided = launched(judge, tmp_path)
    plain = launched(judge + ["--set", "sample.guidance_scale=0"], tmp_path)
    print("guided (w = 0.3):", guided, "\nplain (w = 0):", plain)
    assert guided["recognised_fraction"] >= 0.9 and guided["smallest_class_share"] >= 0.5 and guided["fid_d"] <= 40.0
    assert guided["conditional_accuracy"] >= 0.9
    assert plain["recognised_fraction"] < guided["recognised_fraction"]
    assert plain["conditional_accuracy"] < guided["conditional_accuracy"]


@pytest.mark.parametrize("preset", ["demo", "demo_vq"])
def test_first_stage_demos_reconstruct_better_than_bicubic_at_the_same_size(tmp_path, preset):
    """The f = 4 autoencoders' held-out reconstructions against bicubic down- and up-sampling by 4 (the same
    number of latent numbers as pixels kept, for c = 1; the autoencoders keep c = 3 per position)."""
    from tests.helpers import ldm_autoencoder_config

    run.main(ldm_autoencoder_config(preset), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["psnr"] > metrics["bicubic_psnr"] + 3.0
    assert metrics["ssim"] > metrics["bicubic_ssim"] + 0.1
    if preset == "demo_vq":
        assert metrics["codebook_usage"] > 0.5


def launched(arguments: list[str], workdir) -> dict:
    """Run `launch.py` as a user does, in a subprocess on one CPU device with XLA's default optimisation (the
    suite's LLVM -O0 makes these convolutional demos 10-20x slower: pix2pix's step 7.2 s against 0.42 s), and
    return its eval.json metrics when it wrote one."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, TEST_XLA_FLAGS

    flags = os.environ["XLA_FLAGS"].replace(TEST_XLA_FLAGS, "").replace("--xla_force_host_platform_device_count=8", "")
    done = subprocess.run([sys.executable, "launch.py", "--workdir", str(workdir), *arguments], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "XLA_FLAGS": flags})
    assert done.returncode == 0, done.stderr[-3000:]
    report = pathlib.Path(workdir) / "eval.json"
    return json.loads(report.read_text())["metrics"] if report.is_file() else {}


@pytest.fixture(scope="module")
def digit_judge32(tmp_path_factory):
    """The mnist5k classifier at 32x32: the judge of the translation demos (98.2% accurate on the test digits)."""
    workdir = tmp_path_factory.mktemp("classifier32")
    assert launched(["--config", "configs/classifier.py:mnist5k,data.image_size=32"], workdir)["accuracy"] > 0.97
    return str(workdir)


def launched_and_judged(preset: str, judge: str, workdir) -> dict:
    """Train `preset` (configs/FILE.py:NAME) with launch.py, then its --mode eval with the classifier `judge`."""
    launched(["--config", preset], workdir)
    return launched(["--mode", "eval", "--set", "eval.feature_network=classifier", "--set", f"eval.classifier_workdir={judge}"], workdir)


def test_pix2pix_demo_draws_digits_that_keep_their_edges_class(tmp_path, digit_judge32):
    """Measured: PSNR 26.5 dB, SSIM 0.965, FID-D 16.5 (the targets themselves: 15.7), 96.6% recognised, the
    input's class kept 97.4% (500 held-out edge maps); 11 minutes under launch.py."""
    metrics = launched_and_judged("configs/pix2pix.py:demo", digit_judge32, tmp_path)
    assert metrics["psnr"] > 25.0 and metrics["ssim"] > 0.95
    assert metrics["fid_d"] < 25.0 and metrics["recognised_fraction"] > 0.93
    assert metrics["source_class_agreement"] > 0.95


def test_cyclegan_demo_moves_sklearn_digits_most_of_the_way_to_mnist(tmp_path, digit_judge32):
    """Measured (A -> B, 300 held-out sklearn digits): FID-D 98 against the mnist5k training digits (the
    untranslated inputs 1,101, real held-out mnist5k digits 36), 85.7% recognised, the input's class kept
    69.7% (untranslated: 49.7%), cycle L1 0.034; ~25 minutes alone under launch.py."""
    metrics = launched_and_judged("configs/cyclegan.py:demo", digit_judge32, tmp_path)
    assert metrics["fid_d"] < 150.0 and metrics["recognised_fraction"] > 0.8
    assert metrics["source_class_agreement"] > 0.6
    assert metrics["cycle_l1_a"] < 0.05 and metrics["cycle_l1_b"] < 0.05


def test_stargan_demo_flips_the_stroke_thickness_and_keeps_the_digit(tmp_path, digit_judge32):
    """Measured: the flipped thickness read as its target 94.2% of the time (the slant kept 99.0%), the flipped
    slant 65.4%; translations to random domains FID-D 26.0, 93.4% recognised, the digit kept 95.6% (500
    held-out digits); 16 minutes under launch.py."""
    metrics = launched_and_judged("configs/stargan.py:demo", digit_judge32, tmp_path)
    assert metrics["flipped_thick"] > 0.85 and metrics["others_kept_thick"] > 0.95
    assert metrics["flipped_slanted"] > 0.45 and metrics["others_kept_slanted"] > 0.95
    assert metrics["fid_d"] < 40.0 and metrics["source_class_agreement"] > 0.9


def test_progressive_gan_demo_grows_to_32x32_and_draws_digits(tmp_path, digit_judge32):
    """Measured: grown to level 3 (32x32), FID-D 473, 58.7% of 5,000 samples recognised, all ten classes (the
    rarest at 0.15 of its share); below the DCGAN on the same 128,000 images (FID-D 121, 77.3%); ~10 minutes
    under launch.py."""
    metrics = launched_and_judged("configs/progressive_gan.py:demo", digit_judge32, tmp_path)
    assert metrics["recognised_fraction"] > 0.5 and metrics["classes_covered"] == 10
    assert metrics["fid_d"] < 600.0
