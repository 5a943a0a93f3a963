"""One-step training of every config preset through the real loop (paper presets on tfds mock data)."""
import contextlib
import json

import jax
import numpy as np
import pytest
from PIL import Image
import tensorflow_datasets as tfds

from jaxgen import run
from tests.helpers import CONFIG_MODULES, make_config

ONE_STEP = {
    "train.num_steps": 1, "train.log_every": 1, "train.checkpoint_every": 1, "train.sample_every": 1,
    "train.eval_at_end": False, "optim.warmup_steps": 0, "train.steps_per_call": 1,
}
# paper-scale diffusion models: a small batch and 2 sampling steps keep one step to seconds on a CPU
FAMILY_ONE_STEP = {
    "ddpm": {"data.batch_size": 8, "data.eval_batch_size": 8, "sample.steps": 2, "train.num_grid_samples": 4},
    # pixel-by-pixel sampling costs H*W(*C) network calls: 8x8 images and 2 grid samples keep the pictures cheap
    "pixelcnn": {"data.batch_size": 8, "data.eval_batch_size": 8, "data.image_size": 8, "train.num_grid_samples": 2},
    "ldm_autoencoder": {"data.batch_size": 8, "data.eval_batch_size": 8, "train.num_grid_samples": 4},
    # StarGAN's 128x128 preset: five D updates (each with the gradient penalty's second derivatives) of two images
    "stargan": {"data.batch_size": 10, "data.eval_batch_size": 8},
}


# The default suite trains one step of the smoke presets that no other default test trains through the
# loop; every other preset (the demos, which the slow quality tests train for minutes, and the paper-scale
# presets, 5-320 s each on 2 cores, mostly compiling) is checked here under `-m slow`. Every preset is
# validated in the default suite (tests/test_configs.py).
# The other PixelCNN architectures' likelihoods, causality and samples have default tests of their own
# (tests/tasks/test_pixelcnn.py, tests/nn/test_autoregressive_nets.py); their trip through the loop is slow.
DEFAULT = {("vae", "ae_smoke"), ("vae", "conv_smoke"), ("vae", "cond_smoke"), ("vae", "photos_smoke"), ("pixelcnn", "smoke"), ("pixelcnn", "smoke_rgb"),
           ("pix2pix", "smoke"), ("cyclegan", "smoke"), ("stargan", "smoke")}
ALL_PRESETS = [
    pytest.param(family, preset, marks=[] if (family, preset) in DEFAULT else [pytest.mark.slow])
    for family, module in CONFIG_MODULES.items()
    for preset in sorted(module.PRESETS)
]


def image_folder(root, seed, count=10):
    """A folder of `count` random 32x32 RGB images named 0.png, 1.png, ..."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def paired_folder(root):
    """PATH/A and PATH/B holding ten 32x32 RGB pairs under the same names."""
    for seed, side in enumerate(("A", "B")):
        image_folder(root / side, seed)
    return root


@pytest.mark.parametrize("family, preset", ALL_PRESETS)
def test_every_preset_trains_one_step(tmp_path, family, preset):
    config = make_config(CONFIG_MODULES[family], preset, **ONE_STEP, **FAMILY_ONE_STEP.get(family, {}))
    if config.data.second.startswith("folder:"):  # a preset for the user's two unpaired domains: ten made-up images each
        with config.unlocked():
            config.data.name = "folder:" + str(image_folder(tmp_path / "A", 0))
            config.data.second = "folder:" + str(image_folder(tmp_path / "B", 1))
    elif config.task == "stargan" and config.data.name.startswith("folder:"):  # the user's domains: two sub-folders
        with config.unlocked():
            config.data.name = "folder:" + str(tmp_path / "domains")
        for seed, domain in enumerate(("calm", "happy")):  # 90 training images: more than one batch of 5 x 16
            image_folder(tmp_path / "domains" / domain, seed, count=50)
    elif config.data.name.startswith("folder:"):  # a preset for the user's own pairs: ten made-up ones
        with config.unlocked():
            config.data.name = "folder:" + str(paired_folder(tmp_path / "pairs"))
    real_dataset = config.data.name in ("mnist", "fashion_mnist", "cifar10", "celeb_a")
    mock = tfds.testing.mock_data(num_examples=2 * config.data.batch_size) if real_dataset else contextlib.nullcontext()
    with mock:  # one device: the loop's sharding is tested in tests/train/test_loop.py; here, the preset
        state = run.train(config, tmp_path, devices=jax.devices()[:1])
    assert int(state.step) == 1
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    losses = [v for k, v in record.items() if k.endswith("loss")]  # a GAN logs d_loss and g_loss
    assert losses and all(np.isfinite(losses))
    assert (tmp_path / "checkpoints" / "1").is_dir()
    assert list((tmp_path / "images").glob("*.png"))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(jax.device_get(state.params)))
