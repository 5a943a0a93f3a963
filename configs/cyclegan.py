"""CycleGAN (Zhu et al. 2017): `--config configs/cyclegan.py:PRESET[,key=value...]`.

Domain A is data.name, domain B data.second, unpaired. ResNet generators G_ab, G_ba (instance norm,
reflection padding), PatchGAN discriminators D_a, D_b with instance norm, least-squares GAN loss, cycle loss
lambda = 10, identity loss 0.5 lambda, 50-image history pools, Adam 2e-4 with b1 0.5 held for the first half
of training and decayed linearly to 0 over the second (jaxgen/tasks/cyclegan.py).

Presets (times on a quiet 2-core CPU):
  smoke    tiny generators (one residual block) and a one-layer PatchGAN on 16x16 digits, 2 steps.
  demo     scikit-learn's 8x8 digits (upscaled to 32x32: blurred blobs, 17 grey levels) <-> mnist5k at 32x32;
           features 32, 6 residual blocks, a three-layer PatchGAN, batch 8, 3,000 steps.
           python launch.py --config configs/cyclegan.py:demo --workdir runs/cyclegan-demo
           ~25 min alone (2.0 steps/s in its quiet stretches; 48 min here while tests shared the CPU). On the 300
           held-out sklearn digits: A -> B FID-D 98 against mnist5k (the untranslated inputs: 1,101; 300 real
           mnist5k test digits: 36), recognised 85.7% (inputs 76.0%), the input's class kept 69.7% (inputs
           49.7%); B -> A (mnist5k -> sklearn style, a classifier of the 32x32 sklearn digits) FID-D 128 (inputs
           1,887; real: 46), class kept 67.7% (inputs 29.0%); cycle L1 0.034 (A) / 0.028 (B), identity L1
           0.015 / 0.018.
  photos   photos32 <-> stylised_photos32 (the same scikit-image crops sepia-toned and posterised to 4 levels a
           channel, each domain shuffled on its own), the demo's networks, 2,000 steps. Because B is a known
           restyling of A, the evaluation also scores G_ab(a) against the true stylised a (style_l1, style_psnr).
           python launch.py --config configs/cyclegan.py:photos --workdir runs/cyclegan-photos
           Does not learn at this budget: 33 min here beside another run; on the 1,091 crops of the held-out
           photo, style L1 0.194 against 0.157 for the untranslated photos (style PSNR 13.1 dB), cycle L1
           0.169 / 0.197: G_ba collapsed to a flat red and G_ab draws green textures (README).
  paper    the paper's 256x256 setting (horse2zebra and the other unpaired sets): 9 residual blocks, features
           64, batch 1, 200 epochs (the paper's 100 at lr, 100 decaying) of a 1,067-image domain A (horse2zebra's
           trainA), the 286 -> random 256 crop and flip. Put each domain's images in PATH/train and PATH/test
           (horse2zebra's trainA, testA -> A/train, A/test; trainB, testB -> B/train, B/test) and run
           python launch.py --config configs/cyclegan.py:paper,data.name=folder:H2Z/A,data.second=folder:H2Z/B \\
               --workdir runs/cyclegan-h2z
           Not run here (an accelerator). Published: the paper reports FCN scores and AMT perceptual studies
           (Cityscapes labels <-> photos, maps <-> aerial photos); horse2zebra is shown qualitatively.

Evaluate (cycle L1 and PSNR both ways, identity L1; FID-D and recognised fraction of the translations into the
direction's target domain, source_class_agreement: how often they keep their input's digit):
  python launch.py --workdir runs/cyclegan-demo --mode eval --set eval.feature_network=classifier \\
      --set eval.classifier_workdir=runs/clf32     (runs/clf32: configs/classifier.py:mnist5k,data.image_size=32;
                                                     direction a_to_b: the translations are judged as mnist5k digits)
  python launch.py --workdir runs/cyclegan-demo --mode eval --set sample.direction=b_to_a \\
      --set eval.feature_network=classifier --set eval.classifier_workdir=runs/clf-digits32
      (runs/clf-digits32: configs/classifier.py:mnist5k,data.name=digits,data.image_size=32, 99.3% accurate)
Translate a folder of your own images (sample.direction=a_to_b reads domain A images, b_to_a domain B's):
  python launch.py --workdir runs/cyclegan-demo --mode sample --set sample.input_dir=DIGITS
"""
from __future__ import annotations

import ml_collections

from configs import common

PARTS = ("g_ab", "g_ba", "d_a", "d_b")


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "cyclegan"
    c.cyclegan = ml_collections.ConfigDict()
    c.cyclegan.loss = "lsgan"  # lsgan | gan (the log loss, non-saturating G)
    c.cyclegan.cycle_weight = 10.0  # lambda
    c.cyclegan.identity_weight = 0.5  # lambda_id, a fraction of lambda; 0 turns the identity loss off
    c.cyclegan.pool_size = 50  # generated images each D's history keeps; 0: D sees the newest fakes only
    c.cyclegan.random_jitter = 0  # training images enlarged by this many pixels a side, then randomly cropped back
    c.cyclegan.random_mirror = False  # training images flipped left-right with probability 1/2

    c.model = ml_collections.ConfigDict()
    c.model.features = 64  # G's first width (x2, x4 after the down-samplings) and the PatchGAN's
    c.model.num_blocks = 9  # residual blocks: 6 for 128x128, 9 for 256x256
    c.model.d_layers = 3  # PatchGAN stride-2 layers: 3 sees 70x70 patches

    c.optim.lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.schedule = "hold_then_linear"
    for part in PARTS:
        c.optim[part] = common.part_optim(c.optim)
    c.optim.d_a.ema_decay = 0.0
    c.optim.d_b.ema_decay = 0.0

    c.data.preprocess = "scale11"
    c.data.batch_size = 1
    c.data.eval_batch_size = 64
    c.sample.direction = "a_to_b"  # which generator `sample` and the sample-quality protocol use: a_to_b | b_to_a
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name, c.data.second = "digits", "mnist5k"
    c.data.image_size = 16
    c.model.features = 4
    c.model.num_blocks = 1
    c.model.d_layers = 1
    c.cyclegan.pool_size = 3
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    common.set_schedule(c, 2, 1, 2)
    c.sample.num = 4
    c.eval.num_examples = 16
    return c


def demo() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name, c.data.second = "digits", "mnist5k"
    c.data.image_size = 32
    c.model.features = 32
    c.model.num_blocks = 6
    c.data.batch_size = 8
    common.set_schedule(c, 3000, 100, 1000)
    # one translation per held-out digit (300) against the mnist5k digits met beside domain A's 1,497 training images
    c.eval.num_samples = 300
    c.eval.num_reference = 0
    c.eval.kid_subset_size = 300
    return c


def photos() -> ml_collections.ConfigDict:
    c = demo()
    c.data.name, c.data.second = "photos32", "stylised_photos32"
    c.data.image_size = 0
    common.set_schedule(c, 2000, 100, 1000)
    c.train.eval_at_end = True
    return c


def paper() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name, c.data.second = "folder:~/datasets/horse2zebra/A", "folder:~/datasets/horse2zebra/B"
    c.data.image_size = 256
    c.data.eval_batch_size = 8
    c.cyclegan.random_jitter = 30  # the paper's resize to 286 and random 256 crop
    c.cyclegan.random_mirror = True
    common.set_schedule(c, 200 * 1067, 1000, 10_000)
    c.sample.num = 8
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "demo": demo, "photos": photos, "paper": paper}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
