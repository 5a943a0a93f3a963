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
  inpainting        concat: E(masked image) and the mask at the latents' size (data.pair=masked)
`sample.guidance_scale` is Ho & Salimans' w (LDM's s = 1 + w: the paper's text-to-image s = 1.5 is w = 0.5).

Presets: smoke_<conditioning> (the test suite's tiny runs). The demos with measured numbers and the LDM
paper presets are not written yet (issue 16).
"""
from __future__ import annotations

import ml_collections

from configs import common
from configs.ddpm import _ddpm_base


def _ldm_base() -> ml_collections.ConfigDict:
    c = _ddpm_base()
    c.task = "ldm"
    for section, key in (("model", "class_conditional"), ("model", "label_dropout"), ("eval", "bound_examples")):
        del c[section][key]  # the DDPM's own keys: conditioning is ldm.*, and there is no pixel-space bound
    c.init_from.autoencoder = ""  # WORKDIR[:STEP] of a trained configs/ldm_autoencoder.py run
    c.ldm = ml_collections.ConfigDict()
    c.ldm.conditioning = "class"  # none | class | text | layout | super_resolution | inpainting
    c.ldm.scale_factor = 0.0  # 0: the first stage's scale_factor from its eval.json (--mode eval there)
    c.ldm.cond_dropout = 0.1  # probability of the null condition in training (classifier-free guidance)
    c.ldm.context_dim = 64  # width of tau_theta's tokens
    c.ldm.text_depth = 2
    c.ldm.text_heads = 4
    c.model.transformer_depth = 1  # spatial transformer blocks where the UNet attends (cross-attention)
    c.model.attention_heads = 4
    c.model.attention_resolutions = (4,)
    c.sample.clip_x0 = False  # latents are not bounded like pixels
    return c


def _smoke(conditioning: str, attention: tuple[int, ...] = (8,), **data: object) -> ml_collections.ConfigDict:
    c = _ldm_base()
    c.model.attention_resolutions = attention
    c.ldm.conditioning = conditioning
    c.ldm.scale_factor = 1.0
    c.ldm.context_dim = 16
    c.ldm.text_depth = 1
    c.model.channels = 16
    c.model.channel_mults = (1,)  # one level at the latents' size: the fewest blocks to compile
    c.model.attention_heads = 2
    c.diffusion.num_steps = 50
    c.data.name = "mnist5k"
    c.data.image_size = 32
    for key, value in data.items():
        c.data[key] = value
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


PRESETS: dict[str, common.Preset] = {
    "smoke_none": lambda: _smoke("none"),
    "smoke_class": lambda: _smoke("class"),
    "smoke_text": lambda: _smoke("text", (12,), name="captioned_mnist5k", image_size=0),  # 48x48 -> 12x12 latents
    "smoke_layout": lambda: _smoke("layout", (16,), name="layout_mnist5k", image_size=0),  # 64x64 -> 16x16 latents
    "smoke_super_resolution": lambda: _smoke("super_resolution", pair="downsample4"),
    "smoke_inpainting": lambda: _smoke("inpainting", pair="masked"),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, "smoke_class")
