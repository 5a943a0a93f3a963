"""Latent diffusion, the second stage (Rombach et al. 2022): `--config configs/ldm.py:PRESET[,key=value...]`.

DDPM on the latents of a trained first stage (configs/ldm_autoencoder.py), given as
`init_from.autoencoder=WORKDIR`; `ldm.conditioning` picks tau_theta and how it enters the UNet:
  none              unconditional
  class             class tokens, cross-attention (label dropout -> the null label, guidance)
  text              our byte-level text transformer over `caption` tokens, cross-attention
                    (data.name=captioned_mnist5k)
  layout            GLIGEN's grounding tokens of `boxes` / `box_labels`, gated self-attention
                    (data.name=layout_mnist5k)
  super_resolution  concat: the 4x bicubic down-sampled image (data.pair=downsample4) beside z_t; the
                    first stage must reduce by f = 4
  inpainting        concat: E(masked image) and the mask at the latents' size (data.pair=masked[_boxes|
                    _strokes|_random])
`sample.guidance_scale` is Ho & Salimans' w (LDM's s = 1 + w: the paper's text-to-image s = 1.5 is w = 0.5).

`ldm.objective=regression` trains the same network to give z_0 from the input alone in one call: the
lecture's baseline for super-resolution and inpainting (expected to win PSNR and lose FID; at the demo
scale it wins both, see below).

Presets (times on a quiet 2-core CPU; every demo reads the configs/ldm_autoencoder.py:demo first stage,
KL f = 4: 32x32 digits -> 8x8x3 latents; FID-D etc. through a classifier of mnist5k at 32x32, see README):
  smoke_<conditioning>   the test suite's tiny runs.
  demo_class     class tokens by cross-attention, UNet width 32 (8x8, 4x4; attention at 4x4), cosine / v,
                 batch 64, 2,500 steps, DDIM 50 with guidance w = 0.3 (LDM's s = 1.3):
                 python launch.py --config configs/ldm.py:demo_class,init_from.autoencoder=runs/ae-kl-demo,\
eval.feature_network=classifier,eval.classifier_workdir=runs/clf32 --workdir runs/ldm-class
                 7.8 min of training (5.8 steps/s) + 4 min of evaluation; 5,000 samples: 96.1% recognised,
                 95.9% of the class asked for, all 10 classes, FID-D 37.5 (w = 1: 99.2%, 99.5%, FID-D 57).
  demo_none      the same network unconditional: 6.2 min; 78% recognised, FID-D 119.
  demo_super_resolution, demo_super_resolution_regression   the 8x8 bicubic image concatenated to z_t,
                 diffusion (5.9 min) and the regression baseline (5.4 min); one sample per held-out digit:
                 PSNR 20.4 / 21.2 dB, SSIM 0.79 / 0.82, FID-D 36 / 31 against the originals (bicubic 15.8 dB).
  demo_inpainting  E(masked image) and the mask concatenated, random boxes and strokes: 7.3 min; PSNR 22.6 dB
                 (15.1 dB in the holes), SSIM 0.83, FID-D 34, the known pixels exact.
  demo_text      captions of captioned_mnist5k (48x48 canvases -> 12x12x3 latents on the configs/
                 ldm_autoencoder.py:captions first stage) by our byte-level text transformer and cross-attention at
                 6x6 (attending at 12x12 too halves the speed), 5,000 steps, guidance w = 3:
                 python launch.py --config configs/ldm.py:demo_text,init_from.autoencoder=runs/ae-captions,\
eval.judge_workdir=runs/clf32 --workdir runs/ldm-text
                 2.3 steps/s alone: about 36 min; one sample per held-out caption: all five right 41%
                 (chance 0.06%), position 98%, size 94%, slant 77%, thickness 77%, digit 72% (w = 1: 28%,
                 digit 57%; 2,500 steps at w = 1: 6%, digit 22%).
  demo_layout    boxes of layout_mnist5k (64x64 canvases of 1-3 digits -> 16x16x3 latents on the configs/
                 ldm_autoencoder.py:layouts first stage) as GLIGEN's grounding tokens, gated self-attention at
                 8x8, 2,000 steps, w = 3:
                 python launch.py --config configs/ldm.py:demo_layout,init_from.autoencoder=runs/ae-layouts,\
eval.judge_workdir=runs/clf32 --workdir runs/ldm-layout
                 0.95 steps/s alone: about 35 min; one sample per held-out layout (1,008 boxes): the box's
                 digit read right 19% (chance 10%; real scenes 94%), box IoU 0.65 (real 0.85); w = 1: 17%, 0.65.
                 The ink goes where the boxes are; the digits are not yet legible at this budget.
  ldm4_celeba64, ldm8_cifar10_class, sr4_celeba, inpainting_celeba   the LDM repository configs' second
                 stages (celebahq-ldm-vq-4, cin-ldm-vq-f8, bsr_sr; inpainting on the LDM-4 UNet), each on a
                 VQ first stage of configs/ldm_autoencoder.py (vq_f4, or vq_f8 with data.name=cifar10) on
                 tfds data at 64x64; not run here (accelerator work). The paper's numbers: CelebA-HQ 256
                 FID 5.11 (LDM-4), x4 SR on ImageNet FID 2.8 / 4.8 and PSNR 24.4, text-to-image LDM-KL-8-G
                 FID 12.63 at s = 1.5 (no text preset: no captioned tfds source here).
"""
from __future__ import annotations

import ml_collections

from configs import common
from configs.ddpm import _ddpm_base


def _ldm_base(conditioning: str, name: str, image_size: int, **data: object) -> ml_collections.ConfigDict:
    """The family's keys for `conditioning` on data.name `name` at `image_size` (0: as stored), with further
    data keys (pair=...)."""
    c = _ddpm_base()
    c.task = "ldm"
    c.data.name = name
    c.data.image_size = image_size
    for key, value in data.items():
        c.data[key] = value
    for section, key in (("model", "class_conditional"), ("model", "label_dropout"), ("eval", "bound_examples")):
        del c[section][key]  # the DDPM's own keys: conditioning is ldm.*, and there is no pixel-space bound
    c.init_from.autoencoder = ""  # WORKDIR[:STEP] of a trained configs/ldm_autoencoder.py run
    c.ldm = ml_collections.ConfigDict()
    c.ldm.conditioning = conditioning  # none | class | text | layout | super_resolution | inpainting
    c.ldm.scale_factor = 0.0  # 0: the first stage's scale_factor from its eval.json (--mode eval there)
    c.ldm.objective = "diffusion"  # diffusion | regression: z_0 from the input in one call (concat conditionings)
    c.ldm.cond_dropout = 0.1  # probability of the null condition in training (classifier-free guidance)
    c.ldm.context_dim = 64  # width of tau_theta's tokens
    c.ldm.text_depth = 2
    c.ldm.text_heads = 4
    c.model.transformer_depth = 1  # spatial transformer blocks where the UNet attends (cross-attention)
    c.model.attention_heads = 4
    c.model.attention_resolutions = (4,)
    c.sample.clip_x0 = False  # latents are not bounded like pixels
    return c


def _smoke(conditioning: str, attention: tuple[int, ...] = (8,), name: str = "mnist5k", image_size: int = 32,
           **data: object) -> ml_collections.ConfigDict:
    c = _ldm_base(conditioning, name, image_size, **data)
    c.model.attention_resolutions = attention
    c.ldm.scale_factor = 1.0
    c.ldm.context_dim = 16
    c.ldm.text_depth = 1
    c.model.channels = 16
    c.model.channel_mults = (1,)  # one level at the latents' size: the fewest blocks to compile
    c.model.attention_heads = 2
    c.diffusion.num_steps = 50
    c.data.batch_size = 8
    c.data.eval_batch_size = 16
    c.train.num_steps = 2
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_grid_samples = 8
    c.train.eval_at_end = False
    c.sample.steps = 3
    c.sample.num = 8
    c.eval.num_examples = 16
    return c


def _demo(conditioning: str, guidance: float = 0.0, objective: str = "diffusion", name: str = "mnist5k",
          image_size: int = 32, steps: int = 2500, **data: object) -> ml_collections.ConfigDict:
    """A digits demo on the configs/ldm_autoencoder.py:demo first stage (KL, f = 4, c = 3): 32x32 mnist5k ->
    8x8x3 latents; a two-level UNet (8x8, 4x4) of width 32 with its (cross-)attention at 4x4."""
    c = _ldm_base(conditioning, name, image_size, **data)
    c.ldm.objective = objective
    c.model.channels = 32
    c.model.channel_mults = (1, 2)
    c.model.num_res_blocks = 1
    c.model.attention_resolutions = (4,)
    c.model.attention_heads = 4
    c.diffusion.schedule = "cosine"
    c.diffusion.parameterisation = "v"
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 200
    c.optim.ema_decay = 0.999
    c.data.batch_size = 64
    c.data.eval_batch_size = 250
    c.train.num_steps = steps
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = steps // 2
    c.sample.guidance_scale = guidance
    c.eval.num_samples = 5000
    c.eval.num_reference = 5000
    if conditioning in ("super_resolution", "inpainting"):  # one sample per held-out input, against its original
        c.eval.num_samples = c.eval.num_reference = 500
        c.eval.reference_split = "test"
    return c


def _scenes_demo(conditioning: str, name: str, attention: int, guidance: float, steps: int) -> ml_collections.ConfigDict:
    """The digits demo's UNet on a canvas of digit scenes (data/digit_scenes.py) and a first stage trained on
    them (configs/ldm_autoencoder.py:captions|layouts); judged by caption / layout agreement
    (eval.judge_workdir), one sample per held-out condition."""
    c = _demo(conditioning, guidance, name=name, image_size=0, steps=steps)
    c.data.eval_batch_size = 100
    c.model.attention_resolutions = (attention,)
    return c


def _paper(conditioning: str, channels: int, mults: tuple[int, ...], attention: tuple[int, ...], batch: int,
           base_lr: float, linear_end: float = 0.0195, name: str = "celeb_a", **data: object) -> ml_collections.ConfigDict:
    """A preset with the LDM repository configs' second stage: UNet width, multipliers and attention, 2 res
    blocks, T = 1000 with the scaled-linear schedule from 0.0015, eps-prediction, AdamW with lr = base lr x
    batch (the Lightning scaling), EMA 0.9999, VQ first stages read at scale 1."""
    c = _ldm_base(conditioning, name, 64, **data)
    c.ldm.scale_factor = 1.0
    c.model.channels = channels
    c.model.channel_mults = mults
    c.model.num_res_blocks = 2
    c.model.attention_resolutions = attention
    c.model.mid_attention = True
    c.diffusion.schedule = "scaled_linear"
    c.diffusion.beta_start = 0.0015
    c.diffusion.beta_end = linear_end
    c.diffusion.parameterisation = "eps"
    c.optim.name = "adamw"
    c.optim.weight_decay = 0.01
    c.optim.lr = base_lr * batch
    c.optim.ema_decay = 0.9999
    c.data.batch_size = batch
    c.data.eval_batch_size = 50
    c.train.num_steps = 400_000
    c.train.log_every = 1000
    c.train.checkpoint_every = 10_000
    c.train.sample_every = 10_000
    c.sample.steps = 200
    c.eval.feature_network = "inception"
    c.eval.num_samples = 10_000
    c.eval.num_reference = 10_000
    c.eval.feature_batch_size = 50
    return c


def ldm4_celeba64() -> ml_collections.ConfigDict:
    """celebahq-ldm-vq-4: channels 224, mults (1, 2, 3, 4), attention at 1/8, 1/4, 1/2 of the latent side
    (here 2, 4, 8 of 16), batch 48, base lr 2e-6; the first stage configs/ldm_autoencoder.py:vq_f4."""
    return _paper("none", 224, (1, 2, 3, 4), (2, 4, 8), 48, 2e-6)


def ldm8_cifar10_class() -> ml_collections.ConfigDict:
    """cin-ldm-vq-f8 (class-conditional ImageNet): channels 256, mults (1, 2, 4), spatial transformers of depth
    1 at every level (here 8, 4, 2 of 8x8 latents), 32-wide heads at the first level, class tokens of width
    512 by cross-attention, batch 48, base lr 1e-6; on cifar10 at 64x64 (ImageNet is not among our tfds
    sources) with the first stage configs/ldm_autoencoder.py:vq_f8,data.name=cifar10."""
    c = _paper("class", 256, (1, 2, 4), (8, 4, 2), 48, 1e-6, name="cifar10")
    c.model.attention_heads = 8
    c.model.transformer_depth = 1
    c.ldm.context_dim = 512
    c.sample.guidance_scale = 0.5  # LDM's s = 1.5
    return c


def sr4_celeba() -> ml_collections.ConfigDict:
    """bsr_sr (x4 super-resolution): channels 160, mults (1, 2, 2, 4), attention at the lowest level and the
    middle, schedule to 0.0155, base lr 1e-6, the 4x bicubic down-sample concatenated to z_t; batch 64 (not
    in the config we read); the first stage configs/ldm_autoencoder.py:vq_f4."""
    return _paper("super_resolution", 160, (1, 2, 2, 4), (2,), 64, 1e-6, linear_end=0.0155, pair="downsample4")


def inpainting_celeba() -> ml_collections.ConfigDict:
    """LDM-4 inpainting by concatenating E(masked image) and the mask (7 input channels): the UNet, schedule
    and optimiser of ldm4_celeba64 (the inpainting model's own config is not among our references) on
    LaMa-style random boxes and strokes; the first stage configs/ldm_autoencoder.py:vq_f4."""
    return _paper("inpainting", 224, (1, 2, 3, 4), (2, 4, 8), 48, 2e-6, pair="masked_random")


PRESETS: dict[str, common.Preset] = {
    "ldm4_celeba64": ldm4_celeba64,
    "ldm8_cifar10_class": ldm8_cifar10_class,
    "sr4_celeba": sr4_celeba,
    "inpainting_celeba": inpainting_celeba,
    "demo_none": lambda: _demo("none"),
    "demo_class": lambda: _demo("class", guidance=0.3),
    "demo_super_resolution": lambda: _demo("super_resolution", pair="downsample4"),
    "demo_super_resolution_regression": lambda: _demo("super_resolution", objective="regression", pair="downsample4"),
    "demo_inpainting": lambda: _demo("inpainting", pair="masked_random"),
    "demo_text": lambda: _scenes_demo("text", "captioned_mnist5k", 6, guidance=3.0, steps=5000),
    "demo_layout": lambda: _scenes_demo("layout", "layout_mnist5k", 8, guidance=3.0, steps=2000),
    "smoke_none": lambda: _smoke("none"),
    "smoke_class": lambda: _smoke("class"),
    "smoke_text": lambda: _smoke("text", (12,), name="captioned_mnist5k", image_size=0),  # 48x48 -> 12x12 latents
    "smoke_layout": lambda: _smoke("layout", (16,), name="layout_mnist5k", image_size=0),  # 64x64 -> 16x16 latents
    "smoke_super_resolution": lambda: _smoke("super_resolution", pair="downsample4"),
    "smoke_inpainting": lambda: _smoke("inpainting", pair="masked"),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, "smoke_class")
