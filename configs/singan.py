"""SinGAN (Shaham et al. 2019), a GAN of one image: `--config configs/singan.py:PRESET[,key=value...]`.

A pyramid of fully convolutional patch GANs trained coarse to fine on the one image `data.name=image:PATH`
(a file of yours, or `image:scikit-image/FILE` for a photograph scikit-image ships); data.image_size is the
image's longer side. One phase per scale of singan.steps_per_scale steps (the paper's iterations: 3 critic
updates then 3 generator updates), the finest scale to train.num_steps; jaxgen/tasks/singan.py has the maths.

Presets (times on a quiet 2-core CPU):
  smoke     rocket.jpg at 32 pixels (3 scales), 8-channel networks, one step per scale.
  demo      rocket.jpg at 96x64 (6 scales from 16 pixels), the paper's losses and networks at 32 channels
            throughout, 400 iterations per scale (2,400 steps).
            python launch.py --config configs/singan.py:demo --workdir runs/singan-demo
            8 min 8 s on a quiet 2-core CPU (6 compiles of ~10-17 s; the finest scale's step ~0.35 s). Samples
            rearrange the rocket, the towers and the lights into new launch pads (README "Single-image GAN";
            docs/singan_demo.png); --mode eval: reconstruction PSNR 36.9 dB (RMSE 0.028 on [-1, 1]), diversity 0.26,
            SIFID 2.76 (the image's mirror image: 3.03; other scikit-image photos: 68-136).
  paper     the paper's setting: the longer side 250, the coarsest 25 pixels, r ~ 3/4, 2,000 iterations per scale,
            32 channels doubling every 4 scales up to 128, Adam 5e-4 (0.5, 0.999) dropping x0.1 after 1,600,
            lambda 0.1, alpha 10, noise 0.1 RMSE. Hours on a CPU (the paper: ~1 hour on a GPU for a 250x250 image).
            python launch.py --config configs/singan.py:paper,data.name=image:PATH,train.num_steps=S --workdir runs/singan-paper
            S = (number of scales) x 2,000 for your image: 16,000 is rocket.jpg's eight (README "Single-image GAN").
  super_resolution  the paper's SR setting: trained with r = 2^(-1/3), min_side 18 and alpha 100 on the image to
            enlarge, then
            `--mode sample --set sample.input_dir=DIR` enlarges DIR's images x4 through the finest generator
            (the paper's Table 3: SinGAN on BSD100, NIQE 3.71, RMSE 16.22). At demo scale (README "Single-image
            GAN": rocket.jpg at 64x43, data.image_size=64,singan.min_side=16,singan.steps_per_scale=300,
            train.num_steps=1800,model.max_width=32, 4 min 12 s), x4 scored by benchmarks/singan_super_resolution.py
            against the photograph at 256x172: PSNR 22.8 dB (bicubic 29.1), sharpness 1.07 of the photograph's
            (bicubic 0.35).

Use a trained pyramid (--mode sample, the paper's section 4):
  random samples of another size:  --set sample.width_scale=2.0 (and/or sample.height_scale)
  paint-to-image / harmonisation:  --set sample.input_dir=DIR --set sample.inject_scale=2 (scales above the coarsest)
  editing:  the same with --set sample.mask_dir=MASKS (named as DIR's images, white on the edited region)
Evaluate (reconstruction RMSE / PSNR at the scale reached, the paper's diversity and SIFID over 50 samples):
  python launch.py --workdir runs/singan-demo --mode eval
"""
from __future__ import annotations

import ml_collections

from configs import common


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "singan"
    c.data.name = "image:scikit-image/rocket.jpg"
    c.data.image_size = 250  # the image's longer side
    c.data.preprocess = "scale11"
    c.data.batch_size = 1
    c.data.eval_batch_size = 1
    c.mesh.devices = 1  # a batch of one image does not split over devices

    c.singan = ml_collections.ConfigDict()
    c.singan.min_side = 25  # the coarsest scale's shorter side
    c.singan.scale_factor = 0.75  # r before it is adjusted to reach min_side exactly
    c.singan.steps_per_scale = 2000
    c.singan.critic_steps = 3
    c.singan.generator_steps = 3
    c.singan.penalty_weight = 0.1  # lambda of WGAN-GP
    c.singan.reconstruction_weight = 10.0  # alpha
    c.singan.noise_amplitude = 0.1  # sigma_n = this * RMSE(up(x^rec_{n+1}), x_n)
    # What `sample` draws (reload keys: --mode sample may change them).
    c.sample.height_scale = 1.0  # random samples of another size: every scale's noise map stretched
    c.sample.width_scale = 1.0
    c.sample.given_image = "inject"  # what `sample` does with a given image (sample.input_dir): inject | super_resolve
    c.sample.inject_scale = 1  # the scale it enters at, counted from the coarsest (0)
    c.sample.super_resolution_factor = 4.0
    c.sample.edit_dilation = 7  # editing: the edited region grown by this many pixels (the paper's code, ~250-pixel images)
    c.sample.edit_blur = 5.0  # then blurred by a Gaussian of this std in pixels
    c.eval.diversity_samples = 50
    c.eval.sifid = True  # SIFID of those samples: needs the FID Inception weights (eval.inception_weights)

    c.model = ml_collections.ConfigDict()
    c.model.width_base = 32  # channels at the coarsest scale, doubling every 4 scales
    c.model.max_width = 128

    c.optim.lr = 5e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.999
    c.optim.schedule = "step"
    c.optim.decay_rate = 0.1
    c.optim.decay_at = 0.8  # 1,600 of 2,000 iterations
    c.optim.generator = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.train.num_grid_samples = 16
    c.sample.num = 16
    return c


def _scales(c: ml_collections.ConfigDict, num_scales: int, steps_per_scale: int) -> None:
    c.singan.steps_per_scale = steps_per_scale
    common.set_schedule(c, num_scales * steps_per_scale, max(1, steps_per_scale // 10), steps_per_scale)


def smoke() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 32
    c.singan.min_side = 12
    c.singan.critic_steps = c.singan.generator_steps = 2
    c.eval.diversity_samples = 4
    c.model.width_base, c.model.max_width = 8, 16
    _scales(c, 3, 1)
    c.train.num_grid_samples = 4
    c.sample.num = 4
    return c


def demo() -> ml_collections.ConfigDict:
    c = _base()
    c.data.image_size = 96
    c.singan.min_side = 16
    c.model.max_width = 32  # the paper's width would double to 64 at the two finest scales: 4x the compute
    _scales(c, 6, 400)
    return c


def paper() -> ml_collections.ConfigDict:
    c = _base()
    _scales(c, 8, 2000)  # rocket.jpg at 250x167: 8 scales from 25 pixels (r = 0.76)
    return c


def super_resolution() -> ml_collections.ConfigDict:
    c = paper()
    c.singan.scale_factor = 0.5 ** (1.0 / 3.0)  # three scales an octave: x4 is six passes of G_0
    c.singan.min_side = 18  # the paper's code for SR
    c.singan.reconstruction_weight = 100.0  # alpha of the paper's code for SR
    c.sample.given_image = "super_resolve"
    _scales(c, 11, 2000)  # rocket.jpg at 250x167: 11 scales from 18 pixels
    return c


PRESETS: dict[str, common.Preset] = {"smoke": smoke, "demo": demo, "paper": paper, "super_resolution": super_resolution}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
