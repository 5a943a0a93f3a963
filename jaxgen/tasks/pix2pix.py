"""pix2pix: paired image-to-image translation with a conditional GAN (Isola et al. 2017).

G is the U-Net of nn/translation.py (dropout its only noise, kept on when sampling); D the PatchGAN of
nn/gan.py, which judges the (input, output) pair -- the source concatenated to the image on channels -- with
one logit per overlapping patch. With x the source, y the target and G's dropout the noise z:

  L_cGAN(G, D) = E_{x,y} log D(x, y) + E_{x,z} log(1 - D(x, G(x, z)))
  L_L1(G)      = E_{x,y,z} ||y - G(x, z)||_1          (per pixel, as the paper's code averages it)
  G*           = arg min_G max_D  gan_weight * L_cGAN(G, D) + l1_weight * L_L1(G)

with l1_weight = lambda = 100 and D's objective halved (the paper slows D down that way). The adversarial
row comes from jaxgen/gan/losses.py: `gan` (the non-saturating log loss) or `lsgan` (least squares, as
CycleGAN uses). The paper's ablations are keys: pix2pix.gan_weight=0 is "L1 alone" (the regression
baseline), l1_weight=0 "cGAN alone", conditional_d=False D without the input ("L1+GAN").

Training pairs may be jittered and mirrored as the paper's (pix2pix.random_jitter, pix2pix.random_mirror: the
facades preset's 256 -> 286 enlargement, random 256 crop and flip), the same transform for input and target.
One `train_step` draws G(x) once: D is updated on it (as constants), then G's loss is differentiated through
the same forward against the updated D (the paper's code does the same). Data: `data.pair` makes `source`
from each image (edges -> digit, grey -> colour), or `data.name=folder:PATH` reads the user's PATH/A (inputs)
and PATH/B (targets). Evaluation: L1, PSNR and SSIM of one translation per held-out input against its target;
with eval.feature_network the sample-quality protocol translates held-out inputs (FID-D or FID, and for
labelled data `source_class_agreement`: how often the classifier reads the translation as the class of the
example it was made from).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.data.preprocess import jitter_and_mirror
from jaxgen.errors import InputError
from jaxgen.eval.image_similarity import SSIM_WINDOW, psnr, ssim
from jaxgen.gan import losses
from jaxgen.nn.gan import PatchDiscriminator, patch_grid_size
from jaxgen.nn.translation import UNetGenerator, unet_depth
from jaxgen.tasks import Batch, Cond, Pictures, check_sample_count
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

ADVERSARIAL = {"gan": "standard", "lsgan": "lsgan"}  # pix2pix.loss -> the row of jaxgen/gan/losses.py
MAX_PICTURE_ROWS = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    p = config.pix2pix
    check_choice(config, "pix2pix.loss", tuple(ADVERSARIAL))
    for key in ("pix2pix.gan_weight", "pix2pix.l1_weight", "model.dropout_layers"):
        check_positive(config, key, allow_zero=True)
    jitter, _ = augmentation(config)
    check(isinstance(jitter, int) and jitter >= 0, f"config key 'pix2pix.random_jitter' must be an int >= 0, got {jitter!r}")
    check_positive(config, "model.features")
    check_positive(config, "model.d_layers")
    check(p.gan_weight > 0 or p.l1_weight > 0, "pix2pix.gan_weight and pix2pix.l1_weight are both 0: G would learn nothing")
    check(0.0 <= config.model.dropout < 1.0, f"config key 'model.dropout' must be in [0, 1), got {config.model.dropout}")
    check(
        config.data.pair != "" or config.data.name.startswith("folder:"),
        "pix2pix translates paired images: set data.pair (edges | grey) or data.name=folder:PATH with PATH/A and PATH/B",
    )
    check_scale11(config, "pix2pix's generator ends in tanh")
    check_no_ema(config, "discriminator")


def augmentation(config: ml_collections.ConfigDict) -> tuple[int, bool]:
    """(pix2pix.random_jitter, pix2pix.random_mirror); runs saved before the keys existed trained without them."""
    p = config.pix2pix
    return p.get("random_jitter", 0), p.get("random_mirror", False)


class Pix2PixTask:
    """pix2pix bound to one config: pure functions of (params or state, batch, rng)."""

    conditions = ("source",)
    num_classes = 0
    picture_captions = {"translations": ("input", "output", "target")}

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        if not spec.has("source"):
            raise ConfigError(f"pix2pix needs paired data: data.name='{spec.name}' has no `source` images (set data.pair)")
        source_shape, image_shape = spec.shape("source"), spec.image_shape
        if source_shape[:2] != image_shape[:2]:
            raise ConfigError(
                f"pix2pix maps an input to a target of the same size; the {spec.name} pairs are {source_shape[:2]} -> {image_shape[:2]}"
            )
        if image_shape[0] != image_shape[1]:
            raise ConfigError(f"pix2pix's U-Net reads square images, the {spec.name} images are {image_shape[:2]}: set data.image_size")
        try:
            depth = unet_depth(image_shape[0])
        except ValueError as e:
            raise ConfigError(str(e)) from None
        m, p = config.model, config.pix2pix
        if patch_grid_size(image_shape[0], m.d_layers) < 1:
            raise ConfigError(
                f"model.d_layers={m.d_layers}: the PatchGAN halves the image {m.d_layers} times and its last two 4x4 convolutions "
                f"take 2 more pixels off each side, so it needs data.image_size >= {3 * 2**m.d_layers} (got {image_shape[0]})"
            )
        self.config, self.spec = config, spec
        self.kind = ADVERSARIAL[p.loss]
        self.generator = UNetGenerator(image_shape[-1], depth, m.features, m.dropout_layers, m.dropout)
        self.discriminator = PatchDiscriminator(m.features, m.d_layers, "batch")

    def create_state(self, rng: jax.Array) -> TrainState:
        k_g, k_d, k_drop, k_state = jax.random.split(rng, 4)
        source = jnp.zeros((2,) + self.spec.shape("source"), jnp.float32)
        image = jnp.zeros((2,) + self.spec.image_shape, jnp.float32)
        params_g = self.generator.init({"params": k_g, "dropout": k_drop}, source)["params"]
        params_d = self.discriminator.init(k_d, self.d_input(source, image))["params"]
        parts = {"generator": make_part(self.config, "generator", params_g),
                 "discriminator": make_part(self.config, "discriminator", params_d)}
        return TrainState.create(parts, k_state)

    # ----------------------------------------------------------------- the two networks
    def translate(self, params_g: Any, source: jax.Array, rng: jax.Array) -> jax.Array:
        """G(x, z) in [-1, 1]: z is the dropout drawn from `rng`."""
        return self.generator.apply({"params": params_g}, source, rngs={"dropout": rng})

    def d_input(self, source: jax.Array, image: jax.Array) -> jax.Array:
        """What D judges: the (input, output) pair on channels, or the output alone (pix2pix.conditional_d=False)."""
        return jnp.concatenate([source, image], axis=-1) if self.config.pix2pix.conditional_d else image

    def patch_logits(self, params_d: Any, source: jax.Array, image: jax.Array) -> jax.Array:
        """D's logits, one per patch: (B, H', W')."""
        return self.discriminator.apply({"params": params_d}, self.d_input(source, image))

    def generator_objective(self, fake: jax.Array, params_d: Any, source: jax.Array, target: jax.Array) -> tuple[jax.Array, dict]:
        """gan_weight * (G's adversarial loss) + l1_weight * mean |y - G(x, z)|, as a function of G's output."""
        p = self.config.pix2pix
        adversarial = losses.generator_loss(self.kind, self.patch_logits(params_d, source, fake)) if p.gan_weight else jnp.zeros(())
        l1 = jnp.mean(jnp.abs(target - fake))
        return p.gan_weight * adversarial + p.l1_weight * l1, {"g_adversarial": adversarial, "g_l1": l1}

    def discriminator_objective(self, params_d: Any, source: jax.Array, target: jax.Array, fake: jax.Array) -> tuple[jax.Array, dict]:
        """Half of D's loss on (x, y) against (x, G(x, z)) (the paper's halving)."""
        real_logits = self.patch_logits(params_d, source, target)
        fake_logits = self.patch_logits(params_d, source, fake)
        loss = 0.5 * losses.discriminator_loss(self.kind, real_logits, fake_logits)
        return loss, {"real": real_logits, "fake": fake_logits}

    def _score(self, logits: jax.Array) -> jax.Array:
        """D's mean output: a probability for the log loss, the raw LSGAN score otherwise."""
        return jnp.mean(jax.nn.sigmoid(logits) if self.kind == "standard" else logits)

    # ----------------------------------------------------------------- one step: D, then G on the same G(x)
    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        p = self.config.pix2pix
        k_drop = state.step_rng()  # G's dropout; the augmentation draws from a key folded off it
        k_jitter = jax.random.fold_in(k_drop, 1)
        source, target = jitter_and_mirror(
            k_jitter, (to_model_input(batch["source"], "scale11"), to_model_input(batch["image"], "scale11")),
            *augmentation(self.config),
        )
        fake, pull_back = jax.vjp(lambda params: self.translate(params, source, k_drop), state.params["generator"])
        metrics: dict[str, jax.Array] = {}
        if p.gan_weight > 0:
            (d_loss, out), d_grads = jax.value_and_grad(self.discriminator_objective, has_aux=True)(
                state.params["discriminator"], source, target, jax.lax.stop_gradient(fake)
            )
            state = state.apply_gradients("discriminator", d_grads)
            metrics = {"d_loss": d_loss, "d_real": self._score(out["real"]), "d_fake": self._score(out["fake"]),
                       "d_grad_norm": optax.global_norm(d_grads)}
        (g_loss, parts), grad_fake = jax.value_and_grad(self.generator_objective, has_aux=True)(
            fake, state.params["discriminator"], source, target
        )
        (g_grads,) = pull_back(grad_fake)
        metrics.update(g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads), **parts)
        return state.apply_gradients("generator", g_grads), metrics

    # ----------------------------------------------------------------- sampling and pictures
    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Translations in [0, 1] of `cond['source']` (num, H, W, C): uint8 images as stored, or floats already
        in [-1, 1]. G's BatchNorm normalises over the `num` inputs translated together (the paper's test-time
        behaviour) and its dropout is drawn from `rng`."""
        check_sample_count(num)
        if cond is None or "source" not in cond:
            raise InputError("pix2pix samples translate input images: pass cond={'source': images} (sample.input_dir)")
        source = cond["source"]
        if source.shape[1:] != self.spec.shape("source") or source.shape[0] != num:
            raise InputError(f"pix2pix translates ({num},) + {self.spec.shape('source')} inputs, got {source.shape}")
        if not jnp.issubdtype(source.dtype, jnp.floating):
            source = to_model_input(source, "scale11")
        return (self.translate(params["generator"], source, rng) + 1.0) / 2.0

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """(input, output, target) triples of held-out examples, three a row (up to 8 rows), the input shown with
        the target's channels."""
        given = batch["image"].shape[0]
        rows = given if given < 3 else 3 * min(given // 3, MAX_PICTURE_ROWS)
        source, target = batch["source"][:rows], batch["image"][:rows]
        output = self.sample(params, rng, rows, {"source": source})
        shown = jnp.broadcast_to(source.astype(jnp.float32) / 255.0, target.shape)
        triples = jnp.stack([shown, output, target.astype(jnp.float32) / 255.0], axis=1)
        return {"translations": (triples.reshape((-1,) + target.shape[1:]), 9)}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of L1, PSNR and SSIM (in [0, 1]) of one translation per held-out input against its target."""
        mask = batch["mask"]
        output = self.sample(params, rng, batch["image"].shape[0], {"source": batch["source"]})
        target = batch["image"].astype(jnp.float32) / 255.0
        sums = {
            "l1": jnp.sum(jnp.mean(jnp.abs(output - target), axis=(1, 2, 3)) * mask),
            "psnr": jnp.sum(psnr(target, output) * mask),
            "count": jnp.sum(mask),
        }
        if min(self.spec.image_shape[:2]) >= SSIM_WINDOW:
            sums["ssim"] = jnp.sum(ssim(target, output) * mask)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> Pix2PixTask:
    return Pix2PixTask(config, spec)
