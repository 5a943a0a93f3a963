"""Denoising diffusion (Ho et al. 2020): `--config configs/ddpm.py:PRESET[,key=value...]`.

Presets:
  smoke        tiny UNet, T = 50, a few steps on mnist5k: the test suite's one-step check.
  demo_cond    the digits demo: the demo's network class-conditional (label dropout 0.1), 1600 steps,
               sampled with classifier-free guidance w = 0.3 (50 DDIM steps).
               `python launch.py --config configs/ddpm.py:demo_cond --workdir runs/ddpm-demo-cond`: 10.2 min
               from launch to the last step on a quiet 2-core CPU (compilation and pictures included; 8.0 min
               under tcmalloc, jaxgen/host_allocator.py, 2026-12-08), then
               11 min of evaluation when the classifier is given. 5,000 samples, the mnist5k classifier (README
               "Results"): FID-D 16.6, 95.2% recognised, every class (the rarest at 0.84 of its share), 93.7%
               drawn as the asked-for class. From the workdir alone (another w: --set sample.guidance_scale=W):
               python launch.py --workdir runs/ddpm-demo-cond --mode eval --set eval.feature_network=classifier \
                   --set eval.classifier_workdir=runs/classifier-mnist5k
  demo         small UNet (channels 16, mults (1, 2, 2), attention at 7x7), unconditional, on the built-in
               mnist5k digits: v-prediction on the cosine schedule (T = 1000), Adam 1e-3 with 100 warm-up
               steps, batch 64, EMA 0.995, 1200 steps; pictures with 50 DDIM steps.
               `python launch.py --config configs/ddpm.py:demo --workdir runs/ddpm-demo`: about 8 min alone;
               FID-D 114.6 (2,000 samples), 70.9% recognised, every class (the rarest at 0.64 of its share):
               most samples are digits, a third malformed strokes. At 4,500 steps (demo,train.num_steps=4500,
               24 min): FID-D 43.7, 81.9% recognised (README "What the demos draw"). (Before
               model.norm_min_group_size the 16- and 32-channel GroupNorms erased t and the class: FID-D
               125, and a conditional model that ignored its labels.)
  mnist        the demo network at channels 64 with 2 res blocks on real MNIST (tfds).
  cifar10      the paper's CIFAR-10 model and training: channels 128, mults (1, 2, 2, 2), 2 res blocks,
               attention at 16x16, dropout 0.1 (35.7M parameters); Adam 2e-4, batch 128, warm-up 5000,
               gradient clipping 1, EMA 0.9999, random horizontal flips, 800k steps, T = 1000 linear
               1e-4..0.02, eps prediction, L_simple. Published: FID 3.17, IS 9.46, NLL <= 3.75 bits/dim.
  cifar10_cond the same, class-conditional with label dropout 0.1, guidance w = 0.3.
  celeba64     CelebA 64x64 (DDIM paper's model: mults (1, 2, 2, 2, 4), attention at 16x16).
Loss: `diffusion.parameterisation` eps | x0 | v; `diffusion.loss_weighting` none (L_simple) | min_snr
(gamma `diffusion.min_snr_gamma`) | truncated_snr | vlb (the bound's own per-timestep weights).
Sampling: `--config.sample.sampler=ddim --config.sample.steps=50 --config.sample.eta=0.0`
(`sample.sampler=ddpm` runs all T ancestral steps; `sample.guidance_scale` for conditional models).

Example: python launch.py --config configs/ddpm.py:demo_cond --workdir runs/ddpm-demo-cond
"""
from __future__ import annotations

import ml_collections

from configs import common


def _ddpm_base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "ddpm"
    c.model = ml_collections.ConfigDict()
    c.model.channels = 16
    c.model.channel_mults = (1, 2, 2)
    c.model.num_res_blocks = 1
    c.model.attention_resolutions = (7,)
    c.model.mid_attention = True
    c.model.dropout = 0.0
    c.model.norm_min_group_size = 2  # GroupNorm groups of at least 2 channels: 1 would erase t and the class (nn/unet.py)
    c.model.class_conditional = False
    c.model.label_dropout = 0.1  # probability of the null class in training (classifier-free guidance)

    c.diffusion = ml_collections.ConfigDict()
    c.diffusion.schedule = "linear"  # linear | cosine | scaled_linear (LDM's: sqrt(beta) linear)
    c.diffusion.num_steps = 1000
    c.diffusion.beta_start = 1e-4
    c.diffusion.beta_end = 0.02
    c.diffusion.parameterisation = "eps"  # eps | x0 | v
    c.diffusion.loss_weighting = "none"  # none (L_simple) | min_snr | truncated_snr | vlb (diffusion/losses.py)
    c.diffusion.min_snr_gamma = 5.0
    c.diffusion.random_flip = False

    c.data.preprocess = "scale11"
    c.data.batch_size = 64
    c.data.eval_batch_size = 128
    c.optim.lr = 2e-4
    c.optim.ema_decay = 0.999
    c.optim.ema_warmup = True
    c.train.num_steps = 3000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.train.eval_at_end = True

    c.sample.sampler = "ddim"  # ddpm | ddim
    c.sample.steps = 50  # DDIM steps
    c.sample.eta = 0.0  # DDIM noise: 0 deterministic (probability flow), 1 ~ DDPM
    c.sample.variance = "beta"  # DDPM sigma_t^2: beta | tilde_beta
    c.sample.clip_x0 = True
    c.sample.guidance_scale = 0.0  # w of classifier-free guidance (class-conditional models)
    c.eval.bound_examples = 0  # test images for the full variational bound (T network calls each)
    c.eval.num_samples = 2000
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _ddpm_base()
    c.model.channels = 8
    c.model.channel_mults = (1, 2)
    c.model.attention_resolutions = (14,)
    c.diffusion.num_steps = 50
    c.data.batch_size = 16
    c.data.eval_batch_size = 32
    c.train.num_steps = 3
    c.train.log_every = 1
    c.train.checkpoint_every = 3
    c.train.sample_every = 3
    c.train.num_grid_samples = 8
    c.train.eval_at_end = False
    c.sample.steps = 5
    c.sample.num = 8
    c.eval.num_examples = 32
    c.eval.bound_examples = 32
    return c


def demo() -> ml_collections.ConfigDict:
    c = _ddpm_base()
    c.diffusion.schedule = "cosine"
    c.diffusion.parameterisation = "v"
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 100
    c.optim.ema_decay = 0.995
    c.train.num_steps = 1200
    c.train.checkpoint_every = 600
    c.train.sample_every = 600
    return c


def demo_cond() -> ml_collections.ConfigDict:
    c = demo()
    c.model.class_conditional = True
    c.sample.guidance_scale = 0.3
    c.train.num_steps = 1600
    c.train.checkpoint_every = 800
    c.train.sample_every = 800
    c.eval.num_samples = 5000
    return c


def mnist() -> ml_collections.ConfigDict:
    c = _ddpm_base()
    c.data.name = "mnist"
    c.model.channels = 64
    c.model.num_res_blocks = 2
    c.data.batch_size = 128
    c.train.num_steps = 100_000
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.optim.ema_decay = 0.9999
    return c


def cifar10() -> ml_collections.ConfigDict:
    c = _ddpm_base()
    c.data.name = "cifar10"
    c.model.channels = 128
    c.model.channel_mults = (1, 2, 2, 2)
    c.model.num_res_blocks = 2
    c.model.attention_resolutions = (16,)
    c.model.dropout = 0.1
    c.diffusion.random_flip = True
    c.data.batch_size = 128
    c.optim.lr = 2e-4
    c.optim.warmup_steps = 5000
    c.optim.grad_clip_norm = 1.0
    c.optim.ema_decay = 0.9999
    c.optim.ema_warmup = False
    c.train.num_steps = 800_000
    c.train.log_every = 1000
    c.train.checkpoint_every = 10_000
    c.train.sample_every = 10_000
    c.eval.num_samples = 50_000
    c.eval.feature_network = "inception"
    return c


def cifar10_cond() -> ml_collections.ConfigDict:
    c = cifar10()
    c.model.class_conditional = True
    c.sample.guidance_scale = 0.3
    return c


def celeba64() -> ml_collections.ConfigDict:
    c = cifar10()
    c.data.name = "celeb_a"
    c.data.image_size = 64
    c.model.channel_mults = (1, 2, 2, 2, 4)
    c.diffusion.random_flip = True
    c.train.num_steps = 500_000
    return c


PRESETS: dict[str, common.Preset] = {
    "smoke": smoke,
    "demo": demo,
    "demo_cond": demo_cond,
    "mnist": mnist,
    "cifar10": cifar10,
    "cifar10_cond": cifar10_cond,
    "celeba64": celeba64,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
