"""Latent diffusion's first stage: perceptual compression by a KL- or VQ-regularised autoencoder trained
against a patch discriminator (Rombach et al. 2022, sec. 3.1; Esser et al. 2021).

    L_AE = min_{E,D} max_psi  L_rec(x, D(E(x))) - lambda L_adv(D(E(x))) + log D_psi(x) + L_reg(x; E, D)

- L_rec: sum_pixels |x - x~| per image (the LDM code's L1), plus `loss.perceptual_weight` times a
  perceptual term: LPIPS, the LDM choice (`loss.perceptual='lpips'` with the user's VGG16 and LPIPS weight
  files, `loss.lpips_vgg` and `loss.lpips_lin`), or, offline, a feature-matching term on a frozen in-domain
  classifier (`loss.perceptual='classifier'`, `init_from.perceptual`: a configs/classifier.py run on the
  same data).
- L_adv: the hinge (default) or non-saturating generator loss on the PatchGAN's logits, switched on at
  `loss.disc_start`, weighted by lambda = disc_weight * ||grad_{G_L} L_rec|| / (||grad_{G_L} L_adv|| + 1e-4)
  at the decoder's last layer G_L (`loss.adaptive_weight`; else disc_weight alone).
- L_reg: KL: `loss.kl_weight` (~1e-6) * KL(q(z|x) || N(0, I)) summed over the latent; VQ:
  `loss.codebook_weight` * (||sg(z) - e||^2 + 0.25 ||z - sg(e)||^2), the first term dropped when the
  codebook follows an EMA (`model.ema_codebook`); codes whose running share of the latents falls below
  `model.dead_code_threshold` times a uniform code's share are restarted at encoder outputs of the batch.

Parts: `autoencoder` ({net, codebook} for VQ with a trained codebook), `discriminator`, and for an EMA
codebook `codebook` (cluster sizes and sums, updated by the running averages, never by an optimiser).
`sample` reconstructs the images given as `cond['image']` (so the sample-quality protocol measures rFID on
held-out images); pictures add random decodes. Evaluation: L1, PSNR, SSIM (beside a bicubic down- and
up-sampling by f, the baseline of the same size), the latent's std over the evaluated images and the scale
factor 1/std that the second stage multiplies latents by, codebook usage and perplexity for VQ.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgen.compression import quantizer
from jaxgen.compression.objectives import DiagonalGaussian, adaptive_weight
from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval import lpips
from jaxgen.eval.features import params_digest
from jaxgen.eval.image_similarity import SSIM_WINDOW, psnr, ssim
from jaxgen.gan import losses as gan_losses
from jaxgen.nn.gan import PatchDiscriminator
from jaxgen.nn.ldm_autoencoder import FirstStageAutoencoder, Head
from jaxgen.tasks import Batch, Cond, Pictures, Task, check_model_space, check_sample_count, compute_dtype
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
from jaxgen.train.state import Part, TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

FROZEN_PARTS = ("perceptual",)
REGULARISERS = ("kl", "vq")
DISC_LOSSES = {"hinge": "hinge", "non_saturating": "standard"}  # loss.disc_loss -> the row of gan/losses.py
USAGE_DECAY = 0.99
PICTURE_ROWS = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    m, lo = config.model, config.loss
    check_choice(config, "model.regulariser", REGULARISERS)
    check_choice(config, "loss.disc_loss", tuple(DISC_LOSSES))
    check_choice(config, "loss.perceptual", ("none", "classifier", "lpips"))
    check_choice(config, "model.disc_norm", ("batch", "none"))
    for key in ("model.channels", "model.num_res_blocks", "model.latent_channels", "model.num_codes", "model.disc_features",
                "model.disc_layers"):
        check_positive(config, key)
    for key in ("loss.kl_weight", "loss.codebook_weight", "loss.disc_weight", "loss.disc_start", "loss.perceptual_weight",
                "model.dead_code_threshold"):
        check_positive(config, key, allow_zero=True)
    check(1 <= len(m.channel_mults) <= 5, f"model.channel_mults gives f = 2^(levels - 1) in 1..16; got {len(m.channel_mults)} levels")
    check(0.0 < m.codebook_decay < 1.0, f"config key 'model.codebook_decay' must be in (0, 1), got {m.codebook_decay}")
    check_scale11(config, "the autoencoder models data in [-1, 1]")
    check(
        (lo.perceptual == "classifier") == bool(config.init_from.get("perceptual", "")),
        "loss.perceptual='classifier' and init_from.perceptual (a trained configs/classifier.py run) go together",
    )
    check(
        lo.perceptual != "lpips" or (bool(lo.lpips_vgg) and bool(lo.lpips_lin)),
        "loss.perceptual='lpips' needs loss.lpips_vgg (torchvision's vgg16-397923af.pth) and loss.lpips_lin "
        "(lpips's weights/v0.1/vgg.pth)",
    )


class LDMAutoencoderTask:
    conditions = ("image",)
    num_classes = 0  # not a class-conditional sampler
    picture_captions = {"reconstructions": ("original", "reconstruction")}

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]):
        m = config.model
        height, width, channels = spec.image_shape
        self.factor = 2 ** (len(m.channel_mults) - 1)
        if height % self.factor or width % self.factor:
            raise ConfigError(f"model.channel_mults gives f = {self.factor}: H and W must be divisible by it; the images are "
                              f"{height}x{width} (set data.image_size)")
        self.config, self.spec = config, spec
        self.vq = m.regulariser == "vq"
        self.ema_codebook = self.vq and m.ema_codebook
        self.latent_shape = (height // self.factor, width // self.factor, m.latent_channels)
        dtype = compute_dtype(config)
        self.net = FirstStageAutoencoder(m.channels, tuple(m.channel_mults), m.num_res_blocks, m.attention, m.latent_channels,
                                         not self.vq, channels, dtype)
        self.head = Head(channels, dtype)
        self.discriminator = PatchDiscriminator(m.disc_features, m.disc_layers, m.disc_norm, dtype)
        self.disc_kind = DISC_LOSSES[config.loss.disc_loss]
        self.judge = frozen.get("perceptual")
        if self.judge is not None and self.judge.spec.image_shape != spec.image_shape:
            raise ConfigError(f"init_from.perceptual's classifier reads {self.judge.spec.image_shape} images; these are "
                              f"{spec.image_shape}")

    # ----------------------------------------------------------------- the model's functions (autoencoder params)
    def codebook(self, params: Any) -> jax.Array:
        """The VQ codebook (K, c) from the state's eval_params (an EMA one or the trained one)."""
        if self.ema_codebook:
            return quantizer.EMACodebook(params["codebook"]["cluster_size"], params["codebook"]["embed_sum"]).codebook()
        return params["autoencoder"]["codebook"]

    def encode(self, params: Any, x: jax.Array, rng: jax.Array | None = None) -> jax.Array:
        """Latents (B, h, w, c) of images x in [-1, 1]: the posterior mean (or a sample given `rng`) for KL, the
        quantised latents for VQ."""
        check_model_space(x, "encode")
        moments = self.net.apply({"params": params["autoencoder"]["net"]}, x, method=FirstStageAutoencoder.encode)
        if self.vq:
            return quantizer.quantize(moments, self.codebook(params)).z_q
        posterior = DiagonalGaussian.from_moments(moments)
        return posterior.mode() if rng is None else posterior.sample(rng)

    def decode(self, params: Any, z: jax.Array) -> jax.Array:
        """Images in [-1, 1] (not clipped) from latents (B, h, w, c)."""
        net = params["autoencoder"]["net"]
        h = self.net.apply({"params": net}, z, method=FirstStageAutoencoder.decode_features)
        return self.head.apply({"params": net["head"]}, h)

    def reconstruct(self, params: Any, x: jax.Array) -> jax.Array:
        return self.decode(params, self.encode(params, x))

    # ----------------------------------------------------------------- the task contract
    def create_state(self, rng: jax.Array) -> TrainState:
        k_net, k_disc, k_codes, k_state = jax.random.split(rng, 4)
        x = jnp.zeros((1,) + self.spec.image_shape, jnp.float32)
        autoencoder = {"net": self.net.init(k_net, x)["params"]}
        codes = jax.random.uniform(k_codes, (self.config.model.num_codes, self.config.model.latent_channels),
                                   minval=-1.0 / self.config.model.num_codes, maxval=1.0 / self.config.model.num_codes)
        if self.vq and not self.ema_codebook:
            autoencoder["codebook"] = codes
        parts = {
            "autoencoder": make_part(self.config, "autoencoder", autoencoder),
            "discriminator": make_part(self.config, "discriminator", self.discriminator.init(k_disc, x)["params"]),
        }
        if self.ema_codebook:
            ema = quantizer.EMACodebook.create(codes)
            parts["codebook"] = Part.create({"cluster_size": ema.cluster_size, "embed_sum": ema.embed_sum}, optax.set_to_zero())
        model_state = {"code_usage": jnp.ones((self.config.model.num_codes,))} if self.vq else {}
        return TrainState.create(parts, k_state, model_state)

    def _regularised_latent(self, params: Any, x: jax.Array, rng: jax.Array) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """(latent fed to the decoder, L_reg, what the step keeps: moments, code indices and counts)."""
        moments = self.net.apply({"params": params["autoencoder"]["net"]}, x, method=FirstStageAutoencoder.encode)
        lo = self.config.loss
        if not self.vq:
            posterior = DiagonalGaussian.from_moments(moments)
            kl = jnp.mean(posterior.kl())
            return posterior.sample(rng), lo.kl_weight * kl, {"kl": kl}
        q = quantizer.quantize(moments, jax.lax.stop_gradient(self.codebook(params)) if self.ema_codebook else self.codebook(params))
        codebook_term = 0.0 if self.ema_codebook else q.codebook_loss
        reg = lo.codebook_weight * (codebook_term + quantizer.BETA * q.commitment_loss)
        aux = {"z": moments, "indices": q.indices, "counts": q.counts, "commitment": q.commitment_loss,
               "perplexity": quantizer.perplexity(q.counts)}
        return q.z_q, reg, aux

    def frozen_weights(self) -> dict[str, tuple[Any, dict[str, Any]]]:
        """LPIPS's VGG16 and linear heads from the user's files (loss.perceptual='lpips')."""
        lo = self.config.loss
        if lo.perceptual != "lpips":
            return {}
        params = lpips.load_params(lo.lpips_vgg, lo.lpips_lin)
        return {"lpips": (params, {"vgg": str(lo.lpips_vgg), "lin": str(lo.lpips_lin), "params_sha1": params_digest(params)})}

    def _perceptual(self, params: Any, x: jax.Array, x_rec: jax.Array) -> jax.Array:
        """LPIPS(x, x~) averaged over the batch, or the mean squared difference of the frozen classifier's
        penultimate features of x and x~ (in [0, 1]); 0 without a perceptual term."""
        if self.config.loss.perceptual == "lpips":
            return jnp.mean(lpips.lpips(params["lpips"], x, x_rec))
        if self.judge is None:
            return jnp.zeros(())
        judge = params["perceptual"]["model"]
        real, _ = self.judge.features(judge, (x + 1.0) / 2.0)
        fake, _ = self.judge.features(judge, jnp.clip((x_rec + 1.0) / 2.0, 0.0, 1.0))
        return jnp.mean(jnp.sum(jnp.square(jax.lax.stop_gradient(real) - fake), axis=-1))

    def _discriminate(self, params_d: Any, x: jax.Array) -> jax.Array:
        return self.discriminator.apply({"params": params_d}, x)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        lo = self.config.loss
        k_post, k_restart = jax.random.split(state.step_rng())
        x = to_model_input(batch["image"], "scale11")
        disc_on = state.step >= lo.disc_start
        params_d = state.params["discriminator"]

        def autoencoder_loss(params_ae: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            params = {**state.eval_params, "autoencoder": params_ae}  # the frozen parts too
            latent, reg, aux = self._regularised_latent(params, x, k_post)
            h = self.net.apply({"params": params_ae["net"]}, latent, method=FirstStageAutoencoder.decode_features)

            def reconstruction(x_rec: jax.Array) -> jax.Array:
                l1 = jnp.sum(jnp.abs(x - x_rec)) / x.shape[0]
                return l1 + lo.perceptual_weight * self._perceptual(params, x, x_rec)

            def rec_loss(head: Any) -> jax.Array:
                return reconstruction(self.head.apply({"params": head}, h))

            def adv_loss(head: Any) -> jax.Array:
                return gan_losses.generator_loss(self.disc_kind, self._discriminate(params_d, self.head.apply({"params": head}, h)))

            head = params_ae["net"]["head"]

            def weighted_adversarial(_: None) -> tuple[jax.Array, jax.Array]:
                weight = adaptive_weight(rec_loss, adv_loss, head) if lo.adaptive_weight else jnp.ones(())
                return lo.disc_weight * weight * adv_loss(head), lo.disc_weight * weight

            adversarial, weight = jax.lax.cond(disc_on, weighted_adversarial, lambda _: (jnp.zeros(()), jnp.zeros(())), None)
            x_rec = self.head.apply({"params": head}, h)
            rec = reconstruction(x_rec)
            return rec + adversarial + reg, {**aux, "rec": rec, "reg": reg, "adaptive_weight": weight, "x_rec": x_rec}

        (loss, aux), grads = jax.value_and_grad(autoencoder_loss, has_aux=True)(state.params["autoencoder"])
        state = state.apply_gradients("autoencoder", grads)
        metrics = {"loss": loss, "rec_loss": aux["rec"], "reg_loss": aux["reg"], "adaptive_weight": aux["adaptive_weight"],
                   "grad_norm": optax.global_norm(grads)}
        if self.vq:
            state = self._update_codebook(state, aux, k_restart)
            metrics.update(perplexity=aux["perplexity"], commitment=aux["commitment"])
        else:
            metrics["kl"] = aux["kl"]

        fake = jax.lax.stop_gradient(aux["x_rec"])

        def discriminator_update(state: TrainState) -> tuple[TrainState, jax.Array, jax.Array, jax.Array]:
            def d_loss(p: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
                real_logits, fake_logits = self._discriminate(p, x), self._discriminate(p, fake)
                return gan_losses.discriminator_loss(self.disc_kind, real_logits, fake_logits), (jnp.mean(real_logits), jnp.mean(fake_logits))

            (value, (real, fake_mean)), d_grads = jax.value_and_grad(d_loss, has_aux=True)(state.params["discriminator"])
            return state.apply_gradients("discriminator", d_grads), value, real, fake_mean

        def no_update(state: TrainState) -> tuple[TrainState, jax.Array, jax.Array, jax.Array]:
            return state, jnp.zeros(()), jnp.zeros(()), jnp.zeros(())

        state, d_loss_value, logits_real, logits_fake = jax.lax.cond(disc_on, discriminator_update, no_update, state)
        metrics.update(d_loss=d_loss_value, logits_real=logits_real, logits_fake=logits_fake)
        return state, metrics

    def _update_codebook(self, state: TrainState, aux: dict[str, jax.Array], rng: jax.Array) -> TrainState:
        """The EMA codebook's running averages, then dead-code restarts from this batch's encoder outputs."""
        m = self.config.model
        z = jax.lax.stop_gradient(aux["z"])
        share = aux["counts"] / jnp.maximum(jnp.sum(aux["counts"]), 1) * m.num_codes  # 1 = a uniform share
        usage = USAGE_DECAY * state.model_state["code_usage"] + (1 - USAGE_DECAY) * share
        if self.ema_codebook:
            stats = state.params["codebook"]
            ema = quantizer.EMACodebook(stats["cluster_size"], stats["embed_sum"]).update(z, aux["indices"], m.codebook_decay)
            codebook, dead = quantizer.restart_dead_codes(ema.codebook(), usage, z, rng, m.dead_code_threshold)
            restarted = quantizer.EMACodebook.holding(codebook, jnp.where(dead, 1.0, ema.cluster_size))
            state = state.with_params("codebook", {"cluster_size": restarted.cluster_size, "embed_sum": restarted.embed_sum})
        else:
            params = state.params["autoencoder"]
            codebook, dead = quantizer.restart_dead_codes(params["codebook"], usage, z, rng, m.dead_code_threshold)
            state = state.with_params("autoencoder", {**params, "codebook": codebook})
        return state.replace(model_state={**state.model_state, "code_usage": jnp.where(dead, 1.0, usage)})

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Reconstructions in [0, 1] of `cond['image']` (uint8 or [0, 1] floats, (num, H, W, C)); without it,
        decodes of random latents (KL: z ~ N(0, I); VQ: uniform codes), which a first stage is not trained for."""
        check_sample_count(num)
        if cond is not None and "image" in cond:
            images = cond["image"]
            x = to_model_input(images, "scale11") if images.dtype == jnp.uint8 else 2.0 * images - 1.0
            return jnp.clip((self.reconstruct(params, x) + 1.0) / 2.0, 0.0, 1.0)
        return jnp.clip((self.decode(params, self.random_latents(params, rng, num)) + 1.0) / 2.0, 0.0, 1.0)

    def random_latents(self, params: Any, rng: jax.Array, num: int) -> jax.Array:
        if self.vq:
            codes = jax.random.randint(rng, (num,) + self.latent_shape[:2], 0, self.config.model.num_codes)
            return self.codebook(params)[codes]
        return jax.random.normal(rng, (num,) + self.latent_shape)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Originals beside their reconstructions, the latents as images (first three channels, each
        min-max scaled), and random decodes."""
        x = to_model_input(batch["image"], "scale11")[:PICTURE_ROWS]
        latent = self.encode(params, x)
        recon = jnp.clip((self.decode(params, latent) + 1.0) / 2.0, 0.0, 1.0)
        pairs = jnp.stack([(x + 1.0) / 2.0, recon], axis=1).reshape((-1,) + self.spec.image_shape)
        shown = latent[..., :3] if latent.shape[-1] >= 3 else latent[..., :1]
        low, high = jnp.min(shown, axis=(1, 2), keepdims=True), jnp.max(shown, axis=(1, 2), keepdims=True)
        return {
            "reconstructions": (pairs, 2 * min(4, x.shape[0])),
            "latents": ((shown - low) / jnp.maximum(high - low, 1e-6), 0),
            "random_decodes": (self.sample(params, rng, self.config.train.num_grid_samples), 0),
        }

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        x = to_model_input(batch["image"], "scale11")
        mask = batch["mask"]
        moments = self.net.apply({"params": params["autoencoder"]["net"]}, x, method=FirstStageAutoencoder.encode)
        quantized = quantizer.quantize(moments, self.codebook(params)) if self.vq else None
        latent = quantized.z_q if self.vq else DiagonalGaussian.from_moments(moments).mode()
        target, recon = (x + 1.0) / 2.0, jnp.clip((self.decode(params, latent) + 1.0) / 2.0, 0.0, 1.0)
        per_dim = math.prod(self.latent_shape)
        sums = {
            "l1": jnp.sum(jnp.mean(jnp.abs(target - recon), axis=(1, 2, 3)) * mask),
            "psnr": jnp.sum(psnr(target, recon) * mask),
            "count": jnp.sum(mask),
            "latent_sum": jnp.sum(jnp.sum(latent.reshape(x.shape[0], -1), -1) * mask),
            "latent_square_sum": jnp.sum(jnp.sum(jnp.square(latent).reshape(x.shape[0], -1), -1) * mask),
            "latent_count": jnp.sum(mask) * per_dim,
        }
        baseline = self.bicubic_baseline(target)
        sums["bicubic_l1"] = jnp.sum(jnp.mean(jnp.abs(target - baseline), axis=(1, 2, 3)) * mask)
        sums["bicubic_psnr"] = jnp.sum(psnr(target, baseline) * mask)
        if min(self.spec.image_shape[:2]) >= SSIM_WINDOW:
            sums["ssim"] = jnp.sum(ssim(target, recon) * mask)
            sums["bicubic_ssim"] = jnp.sum(ssim(target, baseline) * mask)
        if self.vq:
            weights = jnp.broadcast_to(mask[:, None, None], quantized.indices.shape)
            counts = jnp.zeros(self.config.model.num_codes).at[quantized.indices.reshape(-1)].add(weights.reshape(-1))
            sums["code_counts"] = counts
        return sums

    def bicubic_baseline(self, images: jax.Array) -> jax.Array:
        """The images bicubically down-sampled by f and up again, clipped to [0, 1]: what the same number of
        pixels (h x w x C instead of h x w x c latents) gives without learning."""
        b, height, width, channels = images.shape
        small = jax.image.resize(images, (b, height // self.factor, width // self.factor, channels), "bicubic")
        return jnp.clip(jax.image.resize(small, images.shape, "bicubic"), 0.0, 1.0)

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """Means per image, the latent's std over all its elements and the scale factor 1/std, and for VQ the
        share of codes used and the perplexity of their histogram."""
        totals = dict(totals)
        n = totals.pop("latent_count")
        mean, square = totals.pop("latent_sum") / n, totals.pop("latent_square_sum") / n
        counts = totals.pop("code_counts", None)
        results = mean_totals(totals)
        std = math.sqrt(max(square - mean**2, 0.0))
        results.update(latent_mean=mean, latent_std=std, scale_factor=1.0 / max(std, 1e-12))
        if counts is not None:
            results.update(codebook_usage=float(np.mean(counts > 0)), perplexity=float(quantizer.perplexity(jnp.asarray(counts))))
        return results


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]) -> LDMAutoencoderTask:
    return LDMAutoencoderTask(config, spec, frozen)
