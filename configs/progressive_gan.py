"""Progressive growing of GANs (Karras et al. 2018): `--config configs/progressive_gan.py:PRESET[,key=value...]`.

Both networks start at 4x4 and grow a level at a time to data.image_size (4 * 2^L): level 0 trains for
progressive.phase_steps steps, then each level fades in over phase_steps steps and trains stable for as many;
the top level trains on to train.num_steps (choose num_steps > 2 L phase_steps to reach it). WGAN-GP with
the drift term, equalised learning rate, pixel norm in G, minibatch stddev in D, Adam lr 1e-3 / b1 0 /
b2 0.99, G's EMA 0.999 (jaxgen/tasks/progressive_gan.py). The step is compiled once for all phases.

Presets (times on a quiet 2-core CPU):
  smoke    mnist5k at 16x16, tiny networks, one step per phase: 4x4, fade to 8, 8, fade to 16, 16 (5 steps).
  demo     mnist5k at 32x32 (L = 3), widths 64, 64, 32, 16, batch 32, 500 steps per phase, 4,000 steps.
           python launch.py --config configs/progressive_gan.py:demo --workdir runs/pggan-demo
           9 min 40 s on a quiet 2-core CPU (7 phases compiled, 3-6 s each). 5,000 samples, the 32x32 mnist5k
           classifier: FID-D 473, 58.7% recognised, every class (the rarest at 0.15 of its share) -- worse
           than the DCGAN on the same 128,000 images (configs/gan.py:compare,data.image_size=32: FID-D 121,
           77.3%): 16,000 images per phase where the paper gives 800,000 (README "Progressive growing").
  photos32 the built-in 32x32 colour photos, the demo's schedule.
           python launch.py --config configs/progressive_gan.py:photos32 --workdir runs/pggan-photos32
  celeb_a  the paper's CelebA setting to 128x128 (L = 5): widths 512 up to 32x32, halving above
           (width_base 8192, max_width 512), z of 512, batch 16, 800k images per phase (50,000 steps), 11
           phases (550,000 steps). Needs tfds celeb_a (downloaded with internet) and an accelerator; not run
           here. Published: the paper trains CelebA-HQ to 1024x1024 (FID 7.30 with its 30k images; sliced
           Wasserstein distances on the 128x128 CelebA of its table 1); they are not reproduced.

Evaluate (the critic's held-out Wasserstein estimate; FID-D, recognised fraction and class coverage with the
32x32 mnist5k classifier, e.g. configs/classifier.py:mnist5k,data.image_size=32 trained into runs/clf32):
  python launch.py --workdir runs/pggan-demo --mode eval --set eval.feature_network=classifier \\
      --set eval.classifier_workdir=runs/clf32
"""
from __future__ import annotations

import ml_collections

from configs import common


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "progressive_gan"
    c.progressive = ml_collections.ConfigDict()
    c.progressive.phase_steps = 50_000  # steps of each fade-in and of each stable phase (the paper: 800k images)
    c.progressive.z_dim = 512
    c.progressive.penalty_weight = 10.0  # lambda of WGAN-GP
    c.progressive.drift_weight = 0.001  # epsilon_drift: keeps the critic's scores near 0
    c.progressive.group_size = 4  # minibatch stddev groups

    c.model = ml_collections.ConfigDict()
    c.model.width_base = 8192  # level k has min(width_base / 2^(k + 1), max_width) channels
    c.model.max_width = 512

    c.optim.lr = 1e-3
    c.optim.b1 = 0.0
    c.optim.b2 = 0.99
    c.optim.generator = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.optim.generator.ema_decay = 0.999

    c.data.preprocess = "scale11"
    c.data.batch_size = 16
    c.data.eval_batch_size = 512
    c.train.num_grid_samples = 64
    c.eval.num_samples = 5000
    return c


def _schedule(c: ml_collections.ConfigDict, levels: int, phase_steps: int, extra: int, save_every: int) -> None:
    """2 L + 1 phases of `phase_steps` (the last stable one `extra` steps longer)."""
    c.progressive.phase_steps = phase_steps
    common.set_schedule(c, (2 * levels + 1) * phase_steps + extra, max(1, phase_steps // 4), save_every)


def smoke() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 16
    c.progressive.z_dim = 16
    c.model.width_base, c.model.max_width = 32, 8
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    _schedule(c, 2, 1, 0, 5)
    c.train.num_grid_samples = 4
    c.sample.num = 4
    c.eval.num_examples = 16
    return c


def demo() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 32
    c.progressive.z_dim = 128
    c.model.width_base, c.model.max_width = 256, 64
    c.data.batch_size = 32
    _schedule(c, 3, 500, 500, 1000)
    return c


def photos32() -> ml_collections.ConfigDict:
    c = demo()
    c.data.name = "photos32"
    return c


def celeb_a() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name = "celeb_a"
    c.data.image_size = 128
    c.data.eval_batch_size = 64
    _schedule(c, 5, 50_000, 0, 10_000)
    c.eval.feature_network = "inception"
    c.eval.feature_batch_size = 64
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "demo": demo, "photos32": photos32, "celeb_a": celeb_a}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
