"""Latent diffusion's first stage: `--config configs/ldm_autoencoder.py:PRESET[,key=value...]`.

A KL- (model.regulariser=kl) or VQ-regularised (vq) autoencoder with a PatchGAN, f = 2^(len(channel_mults) - 1),
c = model.latent_channels. The LDM configs' first-stage settings: Adam with b1 0.5, b2 0.9 and lr =
4.5e-6 x batch size (the Lightning scaling of base_learning_rate), hinge discriminator, adaptive weight.

Presets (times on a quiet 2-core CPU):
  smoke     a tiny KL f=4 model on mnist5k at 32x32, 2 steps: the test suite's one-step check.
  smoke_vq  the same with VQ and an EMA codebook.
  demo      KL, f = 4, c = 3 on mnist5k resized to 32x32 (the LDM kl-f4 shape at channels 16, one res block
            per level), batch 32, 1,500 steps, the discriminator from step 750:
            python launch.py --config configs/ldm_autoencoder.py:demo --workdir runs/ae-kl-demo
            7.2 min; on the 500 held-out digits PSNR 24.1 dB, SSIM 0.89 (bicubic by 4: 15.9 dB, 0.50),
            rFID-D 13.4, latent std 3.16.
  demo_vq   VQ, f = 4, 256 codes of c = 3 (EMA codebook, dead-code restarts), otherwise as demo:
            python launch.py --config configs/ldm_autoencoder.py:demo_vq --workdir runs/ae-vq-demo
            7.0 min; PSNR 22.4 dB, SSIM 0.84, rFID-D 12.9, every code used (perplexity 214).
  captions  the demo on the 48x48 canvases of captioned_mnist5k (one digit of 16-36 pixels in a 3 x 3 cell),
            the first stage of configs/ldm.py:demo_text:
            python launch.py --config configs/ldm_autoencoder.py:captions --workdir runs/ae-captions
            18.5 min; PSNR 28.8 dB, SSIM 0.84 (bicubic 21.3 dB, 0.82: the black canvas flatters both),
            scale factor 0.30.
  layouts   the demo on the 64x64 canvases of layout_mnist5k at batch 16 (the captions model reconstructs
            them badly: SSIM 0.27 -- its GroupNorm statistics and middle attention are those of 48x48
            canvases), the first stage of configs/ldm.py:demo_layout:
            python launch.py --config configs/ldm_autoencoder.py:layouts --workdir runs/ae-layouts
            1.24 steps/s alone before the discriminator starts (47 min measured while sharing the CPU with
            two other runs); PSNR 29.1 dB, SSIM 0.91 (bicubic 20.8 dB, 0.80), scale factor 0.33.
  photos    KL f = 4, c = 3 on the photos32 crops: python launch.py --config configs/ldm_autoencoder.py:photos --workdir runs/ae-photos
            (not measured yet: a demo of the colour path; expect reconstructions above bicubic's PSNR).
  kl_f4, kl_f8, vq_f4, vq_f8   the LDM first-stage models (ch 128, 2 res blocks; kl-f4: mults (1, 2, 4),
            c 3, disc_start 50001, kl_weight 1e-6, disc_weight 0.5; kl-f8: mults (1, 2, 4, 4), c 4; vq-f4:
            8192 codes of c 3, disc_start 0, disc_weight 0.75; vq-f8: 16384 codes of c 4, mults (1, 2, 2, 4))
            on tfds celeb_a at 64x64, batch 12. LPIPS, the LDM's perceptual term, reads weights this
            machine cannot download: give them with loss.perceptual=lpips,loss.lpips_vgg=PATH,loss.lpips_lin=PATH.
            Not run here (tfds celeb_a and an accelerator; hours at least); the anchors are the
            reconstruction rFID and PSNR of each first stage in Rombach et al. 2022's appendix.

Measured results are in README.md ("Latent diffusion: the first stage"), with the `--mode eval` command that
reproduces them from the workdir.
"""
from __future__ import annotations

import ml_collections

from configs import common

BASE_LR = 4.5e-6  # per image of the batch


def _base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "ldm_autoencoder"
    c.model = ml_collections.ConfigDict()
    c.model.regulariser = "kl"  # kl | vq
    c.model.channels = 128
    c.model.channel_mults = (1, 2, 4)
    c.model.num_res_blocks = 2
    c.model.attention = True  # self-attention in the middle block (the lowest resolution)
    c.model.latent_channels = 3
    c.model.num_codes = 8192  # VQ
    c.model.ema_codebook = False  # VQ: the codebook follows running averages instead of its loss
    c.model.codebook_decay = 0.99
    c.model.dead_code_threshold = 0.0  # VQ: restart codes used below this share of a uniform code's (0: never)
    c.model.disc_features = 64
    c.model.disc_layers = 3
    c.model.disc_norm = "batch"  # batch | none

    c.loss = ml_collections.ConfigDict()
    c.loss.kl_weight = 1e-6
    c.loss.codebook_weight = 1.0
    c.loss.disc_loss = "hinge"  # hinge | non_saturating
    c.loss.disc_weight = 0.5
    c.loss.disc_start = 50_001
    c.loss.adaptive_weight = True
    c.loss.perceptual = "none"  # none | lpips (the files below) | classifier (init_from.perceptual: a classifier run)
    c.loss.perceptual_weight = 1.0
    c.loss.lpips_vgg = ""  # torchvision's vgg16-397923af.pth
    c.loss.lpips_lin = ""  # the lpips package's weights/v0.1/vgg.pth
    c.init_from.perceptual = ""

    c.data.preprocess = "scale11"
    c.data.batch_size = 12
    c.data.eval_batch_size = 64
    c.optim.b1 = 0.5
    c.optim.b2 = 0.9
    c.optim.lr = BASE_LR * c.data.batch_size
    c.optim.autoencoder = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.train.num_steps = 100_000
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.train.num_grid_samples = 16
    c.eval.reference_split = "test"  # rFID: reconstructions of held-out images against those images
    c.eval.num_samples = 500
    c.eval.num_reference = 500
    return c


def _with(c: ml_collections.ConfigDict, settings: dict[str, object]) -> ml_collections.ConfigDict:
    c.update_from_flattened_dict(settings)
    return c


def smoke() -> ml_collections.ConfigDict:
    return _with(_base(), {
        "data.name": "mnist5k", "data.image_size": 32, "data.batch_size": 16, "data.eval_batch_size": 32,
        "model.channels": 8, "model.channel_mults": (1, 2, 2), "model.num_res_blocks": 1, "model.num_codes": 16,
        "model.disc_features": 8, "model.disc_layers": 2, "loss.disc_start": 1,
        "train.num_steps": 2, "train.log_every": 1, "train.checkpoint_every": 2, "train.sample_every": 2,
        "train.num_grid_samples": 8, "eval.num_examples": 32, "eval.num_samples": 32, "eval.num_reference": 32,
    })


def smoke_vq() -> ml_collections.ConfigDict:
    return _with(smoke(), {"model.regulariser": "vq", "model.ema_codebook": True, "model.dead_code_threshold": 0.03})


def demo() -> ml_collections.ConfigDict:
    return _with(_base(), {
        "data.name": "mnist5k", "data.image_size": 32, "data.batch_size": 32,
        "model.channels": 16, "model.num_res_blocks": 1, "model.disc_features": 16,
        # a demo of 1,500 steps: a larger rate than the per-image scaling gives
        "optim.lr": 2e-4, "loss.disc_start": 750,
        "train.num_steps": 1500, "train.log_every": 100, "train.checkpoint_every": 500, "train.sample_every": 500,
        "train.eval_at_end": True,
    })


def demo_vq() -> ml_collections.ConfigDict:
    return _with(demo(), {"model.regulariser": "vq", "model.num_codes": 256, "model.ema_codebook": True,
                          "model.dead_code_threshold": 0.03})


def photos() -> ml_collections.ConfigDict:
    return _with(demo(), {"data.name": "photos32", "data.image_size": 0})


def captions() -> ml_collections.ConfigDict:
    return _with(demo(), {"data.name": "captioned_mnist5k", "data.image_size": 0})


def layouts() -> ml_collections.ConfigDict:
    return _with(demo(), {"data.name": "layout_mnist5k", "data.image_size": 0, "data.batch_size": 16})


def kl_f4() -> ml_collections.ConfigDict:
    return _with(_base(), {
        "data.name": "celeb_a", "data.image_size": 64, "eval.feature_network": "inception", "eval.num_samples": 10_000,
        "eval.num_reference": 10_000, "eval.feature_batch_size": 50,
    })


def kl_f8() -> ml_collections.ConfigDict:
    return _with(kl_f4(), {"model.channel_mults": (1, 2, 4, 4), "model.latent_channels": 4})


def vq_f4() -> ml_collections.ConfigDict:
    return _with(kl_f4(), {"model.regulariser": "vq", "loss.disc_start": 0, "loss.disc_weight": 0.75})


def vq_f8() -> ml_collections.ConfigDict:
    return _with(vq_f4(), {"model.channel_mults": (1, 2, 2, 4), "model.latent_channels": 4, "model.num_codes": 16_384})


PRESETS: dict[str, common.Preset] = {
    "smoke": smoke, "smoke_vq": smoke_vq, "demo": demo, "demo_vq": demo_vq, "photos": photos, "captions": captions,
    "layouts": layouts,
    "kl_f4": kl_f4, "kl_f8": kl_f8, "vq_f4": vq_f4, "vq_f8": vq_f8,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
