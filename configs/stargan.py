"""StarGAN (Choi et al. 2018): `--config configs/stargan.py:PRESET[,key=value...]`.

One generator G(x, c) for every target domain c, a WGAN-GP critic with a domain classifier head, lambda_cls = 1,
lambda_rec = 10, lambda_gp = 10, five D updates per G update, Adam 1e-4 with b1 0.5 held for the first half
and decayed linearly to 0 over the second (jaxgen/tasks/stargan.py).

Presets (times on a quiet 2-core CPU):
  smoke    tiny networks on 16x16 mnist5k digits with their ink attributes, 2 steps.
  demo     mnist5k at 32x32, domains = the two ink attributes measured from each digit (thick, slanted;
           data.pair='ink_attributes', each true of about half the digits); features 32, 4 residual blocks,
           a four-layer D, minibatch 8 per update (data.batch_size 40 = 5 D updates), 2,000 steps.
           python launch.py --config configs/stargan.py:demo --workdir runs/stargan-demo
           16 min (963 s, the CPU mostly alone). On the 500 held-out digits, each attribute flipped in turn: the
           flipped thickness reads as its target 94.2% of the time (the slant kept 99.0%), the flipped slant
           65.4% (the thickness kept 100%); translations to random target domains: FID-D 26.0 (the held-out
           digits themselves: 15.7), 93.4% recognised, the digit kept 95.6%; reconstruction L1 0.035.
  folder   the paper's RaFD setting for a user's folder of domains (PATH/<domain>/images, e.g. RaFD's eight
           expressions): label domains, 128x128, 6 residual blocks, a six-layer D, minibatch 16; the paper's
           200,000 iterations (one D update each, G every fifth) are 40,000 steps here, the lr decaying over
           the second half as in its code.
           python launch.py --config configs/stargan.py:folder,data.name=folder:PATH --workdir runs/stargan-faces
           Not run here (an accelerator). Published: AMT preference studies on CelebA and, on RaFD, the error
           of an expression classifier on the translations (the paper's table 3).
  celeb_a  the paper's CelebA setting: five attribute domains (black, blond, brown hair, male, young: tfds
           celeb_a's labels through data.attributes), 128x128 (our CelebA crop is the 140x140 face region, the
           paper centre-crops 178x178), the folder preset's networks and schedule. Needs tfds celeb_a
           (prepared with internet) and an accelerator; not run here.
           python launch.py --config configs/stargan.py:celeb_a --workdir runs/stargan-celeba
           then e.g. --mode sample --set sample.input_dir=FACES --set 'sample.attributes=(0, 1, 0, 1, 1)'.

Evaluate (reconstruction L1; per attribute: how often the flipped attribute reads as the target and the other
as before, by the same ink measurement; FID-D of translations to random targets, source_class_agreement):
  python launch.py --workdir runs/stargan-demo --mode eval --set eval.feature_network=classifier \\
      --set eval.classifier_workdir=runs/clf32
Translate a folder of your own digits into one target domain (thick, not slanted):
  python launch.py --workdir runs/stargan-demo --mode sample --set sample.input_dir=DIGITS --set 'sample.attributes=(1, 0)'
"""
from __future__ import annotations

import ml_collections

from configs import common


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "stargan"
    c.stargan = ml_collections.ConfigDict()
    c.stargan.domains = "attributes"  # attributes (binary, several at once: the `attributes` feature) | label (one class)
    c.stargan.lambda_cls = 1.0
    c.stargan.lambda_rec = 10.0
    c.stargan.lambda_gp = 10.0
    c.stargan.n_critic = 5  # D updates per G update, each on its own slice of the batch

    c.model = ml_collections.ConfigDict()
    c.model.features = 64  # G's first width (x2, x4 after the down-samplings); D's first width, doubling per layer
    c.model.num_blocks = 6
    c.model.d_layers = 6  # D's stride-2 layers: 6 for 128x128 (a 2x2 critic map)

    c.optim.lr = 1e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.999
    c.optim.schedule = "hold_then_linear"
    c.optim.generator = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.optim.discriminator.ema_decay = 0.0

    c.data.preprocess = "scale11"
    c.data.pair = "ink_attributes"
    c.data.batch_size = 80  # 5 x the paper's minibatch 16
    c.data.eval_batch_size = 64
    c.sample.attributes = ()  # --mode sample: the target domain of every input image, one 0/1 per attribute
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 16
    c.model.features = 4
    c.model.num_blocks = 1
    c.model.d_layers = 2
    c.stargan.n_critic = 2
    c.data.batch_size = 16
    c.data.eval_batch_size = 8
    common.set_schedule(c, 2, 1, 2)
    c.sample.num = 4
    c.eval.num_examples = 16
    return c


def demo() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 32
    c.model.features = 32
    c.model.num_blocks = 4
    c.model.d_layers = 4
    c.data.batch_size = 40
    common.set_schedule(c, 2000, 100, 500)
    c.eval.num_samples = 500  # one translation per held-out digit, to a random target domain
    c.eval.kid_subset_size = 500
    c.eval.num_reference = 5000
    return c


def folder() -> ml_collections.ConfigDict:
    c = _base()
    c.stargan.domains = "label"
    c.data.name = "folder:~/datasets/rafd"
    c.data.pair = ""
    c.data.image_size = 128
    c.data.eval_batch_size = 16
    common.set_schedule(c, 40_000, 1000, 10_000)
    c.sample.num = 8
    return c


def celeb_a() -> ml_collections.ConfigDict:
    c = _base()
    c.data.name = "celeb_a"
    c.data.pair = ""
    c.data.attributes = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    c.data.image_size = 128
    c.data.eval_batch_size = 16
    common.set_schedule(c, 40_000, 1000, 10_000)
    c.sample.num = 8
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "demo": demo, "folder": folder, "celeb_a": celeb_a}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
