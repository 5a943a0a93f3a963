"""pix2pix (Isola et al. 2017): `--config configs/pix2pix.py:PRESET[,key=value...]`.

U-Net generator with dropout (down to a 1x1 bottleneck), PatchGAN discriminator on the (input, output) pair,
lambda = 100 on the L1 term, Adam 2e-4 with b1 0.5 for both networks (jaxgen/tasks/pix2pix.py). The paper's
ablations: pix2pix.gan_weight=0 (L1 alone: the regression baseline of the same network), pix2pix.l1_weight=0
(cGAN alone), pix2pix.conditional_d=False (D sees the output only).

Presets (times on a quiet 2-core CPU):
  smoke    a tiny U-Net (16x16 digits, 4 levels) and a one-layer PatchGAN, 2 steps: the suite's one-step check.
  demo     edges -> digit: the Sobel edge map of each mnist5k digit at 32x32 to the digit, features 32, a
           three-layer PatchGAN, batch 32, 1,500 steps.
           python launch.py --config configs/pix2pix.py:demo --workdir runs/pix2pix-demo
           11 min (2.4 steps/s); on the 500 held-out digits, one translation each: PSNR 26.5 dB, SSIM 0.965,
           L1 0.017; FID-D 16.5 (the held-out targets themselves: 15.7), recognised 96.6% (targets 98.0%),
           the input's class kept 97.4% (targets 98.2%). Ablations (README): L1 alone 27.3 dB / FID-D 16.0,
           cGAN alone 23.6 dB / 21.8, unconditional D 23.6 dB / 18.4.
  colour   grey -> colour on the photos32 crops (the paper's colourisation task at 32x32), as demo otherwise.
           python launch.py --config configs/pix2pix.py:colour --workdir runs/pix2pix-colour
           Not a success at this budget: on the 1,091 held-out crops (another photo) PSNR 18.0 dB but SSIM 0.54
           (copying the grey input: 15.0 dB, 0.76) -- the colours come, the input's texture is lost -- and
           Inception FID 190 (L1 alone, gan_weight=0: 18.0 dB, 0.60, FID 158). 28 min while sharing the CPU.
  facades  the paper's facades setting: labels -> photo at 256x256, batch 1, the 70x70 PatchGAN, 200 epochs of
           the 400 training pairs (80,000 steps), lr held for 100 epochs and decayed linearly to 0 over the
           next 100 (the paper's code). Data: the pix2pix facades pairs come as A|B side by side; put the
           label halves in PATH/A and the photo halves in PATH/B under the same file names and run
           python launch.py --config configs/pix2pix.py:facades,data.name=folder:PATH --workdir runs/pix2pix-facades
           The paper's random jitter (enlarged to 286 -- bilinear here, bicubic in their code -- and a random
           256 crop) and mirroring are on. Not run here (an accelerator; the paper trains it in about 2 hours on
           a Titan X). Published: per-pixel accuracy
           of FCN-8s on the outputs (cityscapes), AMT fooling rates (maps); facades is shown qualitatively.

Evaluate (L1, PSNR, SSIM; FID-D, recognised fraction and source_class_agreement with a classifier):
  python launch.py --workdir runs/pix2pix-demo --mode eval --set eval.feature_network=classifier \\
      --set eval.classifier_workdir=runs/clf32      (runs/clf32: configs/classifier.py:mnist5k,data.image_size=32)
Translate a folder of your own inputs (edge maps for the demo):
  python launch.py --workdir runs/pix2pix-demo --mode sample --set sample.input_dir=EDGES
"""
from __future__ import annotations

import ml_collections

from configs import common


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "pix2pix"
    c.pix2pix = ml_collections.ConfigDict()
    c.pix2pix.loss = "gan"  # gan (the log loss, non-saturating G) | lsgan
    c.pix2pix.gan_weight = 1.0
    c.pix2pix.l1_weight = 100.0  # lambda
    c.pix2pix.conditional_d = True  # D judges (input, output); False: the output alone
    c.pix2pix.random_jitter = 0  # training pairs enlarged by this many pixels a side, then randomly cropped back
    c.pix2pix.random_mirror = False  # training pairs flipped left-right with probability 1/2

    c.model = ml_collections.ConfigDict()
    c.model.features = 64  # the U-Net's first width (doubling to 8x) and the PatchGAN's
    c.model.d_layers = 3  # PatchGAN stride-2 layers: 3 sees 70x70 patches, 1 sees 16x16
    c.model.dropout = 0.5
    c.model.dropout_layers = 3  # the innermost decoder layers with dropout (G's noise)

    c.optim.lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.generator = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.optim.discriminator.ema_decay = 0.0

    c.data.preprocess = "scale11"
    c.data.pair = "edges"
    c.data.image_size = 32
    c.data.batch_size = 32
    c.data.eval_batch_size = 256
    common.set_schedule(c, 1500, 100, 500)
    c.eval.num_samples = 500  # one translation per held-out input: more draws of the same inputs shrink recall's radii to 0
    c.eval.kid_subset_size = 500
    c.eval.num_reference = 5000
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _base()
    c.model.features = 8
    c.model.d_layers = 1
    c.data.image_size = 16
    c.data.batch_size = 8
    c.data.eval_batch_size = 16
    common.set_schedule(c, 2, 1, 2)
    c.sample.num = 4
    c.eval.num_examples = 16
    return c


def demo() -> ml_collections.ConfigDict:
    c = _base()
    c.model.features = 32
    return c


def colour() -> ml_collections.ConfigDict:
    c = demo()
    c.data.name = "photos32"
    c.data.pair = "grey"
    return c


def facades() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name = "folder:~/datasets/facades"
    c.data.pair = ""
    c.data.image_size = 256
    c.data.batch_size = 1
    c.data.eval_batch_size = 8
    c.optim.schedule = "hold_then_linear"
    c.pix2pix.random_jitter = 30  # the paper's resize to 286 and random 256 crop
    c.pix2pix.random_mirror = True
    common.set_schedule(c, 80_000, 400, 4000)
    c.sample.num = 8
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "demo": demo, "colour": colour, "facades": facades}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
