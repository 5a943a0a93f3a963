"""The in-domain classifier behind FID-D and class coverage: `--config configs/classifier.py:PRESET`.

Train it once per dataset, then point generative runs at it:
  python launch.py --config configs/classifier.py:mnist5k --workdir runs/classifier-mnist5k
  python launch.py --config configs/vae.py:demo,eval.feature_network=classifier,\
eval.classifier_workdir=runs/classifier-mnist5k --workdir runs/vae-demo --mode eval

Presets (2-core CPU, 2026-11-28):
  smoke          a few steps on mnist5k: the test suite's one-step check.
  mnist5k        CNN 32-64-128 (stride 2) + 128-d features on the built-in digits, +-2 px shifts,
                 dropout 0.3, Adam 1e-3 with cosine decay, batch 128, 3000 steps: ~85 s, test
                 accuracy 0.976 (cross-entropy 0.093 nats) on the 500 held-out digits.
  mnist, fashion_mnist   the same network on the full tfds datasets (60k training images).
"""
from __future__ import annotations

import ml_collections

from configs import common


def _classifier_base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "classifier"
    c.model = ml_collections.ConfigDict()
    c.model.conv_features = (32, 64, 128)  # 3x3 convs at stride 2
    c.model.feature_dim = 128  # the embedding FID-D compares
    c.model.dropout = 0.3  # on the features, before the logits
    c.model.max_shift = 2  # random translation augmentation, pixels
    c.data.preprocess = "scale01"
    c.data.batch_size = 128
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.train.num_steps = 3000
    c.train.log_every = 200
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.train.eval_at_end = True
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _classifier_base()
    c.model.conv_features = (4, 8)
    c.model.feature_dim = 16
    c.data.batch_size = 16
    c.data.eval_batch_size = 64
    c.train.num_steps = 3
    c.train.log_every = 1
    c.train.checkpoint_every = 3
    c.train.sample_every = 3
    c.train.eval_at_end = False
    c.eval.num_examples = 64
    return c


def mnist5k() -> ml_collections.ConfigDict:
    return _classifier_base()


def mnist() -> ml_collections.ConfigDict:
    c = _classifier_base()
    c.data.name = "mnist"
    c.train.num_steps = 10_000
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    return c


def fashion_mnist() -> ml_collections.ConfigDict:
    c = mnist()
    c.data.name = "fashion_mnist"
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "mnist5k": mnist5k, "mnist": mnist, "fashion_mnist": fashion_mnist}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="mnist5k")
