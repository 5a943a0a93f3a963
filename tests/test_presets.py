"""One-step training of every config preset through the real loop (paper presets on tfds mock data)."""
import contextlib
import json

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import vae
from jaxgen import run
from tests.helpers import vae_config

ONE_STEP = {
    "train.num_steps": 1, "train.log_every": 1, "train.checkpoint_every": 1, "train.sample_every": 1,
    "train.eval_at_end": False,
}


@pytest.mark.parametrize("preset", sorted(vae.PRESETS))
def test_every_vae_preset_trains_one_step(tmp_path, preset):
    config = vae_config(preset, **ONE_STEP)
    real_dataset = config.data.name in ("mnist", "fashion_mnist", "cifar10", "celeb_a")
    mock = tfds.testing.mock_data(num_examples=2 * config.data.batch_size) if real_dataset else contextlib.nullcontext()
    batches = (config.data.batch_size, config.data.eval_batch_size)
    devices = 8 if all(b % 8 == 0 for b in batches) else 4  # the paper's minibatch of 100 splits over 4
    with mock:
        state = run.train(config, tmp_path, devices=jax.devices()[:devices])
    assert int(state.step) == 1
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(record["train/loss"])
    assert (tmp_path / "checkpoints" / "1").is_dir()
    assert (tmp_path / "images" / "reconstructions.png").is_file()
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(jax.device_get(state.params)))
