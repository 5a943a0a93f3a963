"""StarGAN: one generator for translations among many domains (Choi et al. 2018).

A domain is a vector of labels c: binary attributes (`stargan.domains='attributes'`, the data's `attributes`
feature, several of which may hold at once, as CelebA's hair colour, gender and age; built in:
`data.pair='ink_attributes'`, a digit's thick and slanted; CelebA's with `data.attributes`) or one class of several
(`stargan.domains='label'`, one-hot, as RaFD's expressions or the sub-folders of a user's folder). G(x, c)
translates x into domain c (nn/translation.py's StarGANGenerator); D (nn/gan.py's DomainDiscriminator) has a
critic head D_src and a domain classifier D_cls. With c' the domain of a real x and c a target drawn by
shuffling the batch's domains (the paper's code):

  L_adv       = E_x D_src(x) - E_{x,c} D_src(G(x, c)) - lambda_gp E_x^ (||grad D_src(x^)||_2 - 1)^2   (WGAN-GP)
  L_cls^r     = E_{x,c'} -log D_cls(c' | x)           (D learns the domains of real images)
  L_cls^f     = E_{x,c} -log D_cls(c | G(x, c))        (G must land in the target domain)
  L_rec       = E_{x,c,c'} ||x - G(G(x, c), c')||_1   (the cycle back to the source domain)
  L_D = -L_adv + lambda_cls L_cls^r,    L_G = -E D_src(G(x, c)) + lambda_cls L_cls^f + lambda_rec L_rec

D_src scores patches: its mean over them is the critic's value, and the penalty takes the gradient of their
sum, as the paper's code does (the gradient of the mean would be looser by the number of patches).
-log D_cls is the sum over attributes of the binary cross-entropy for attribute domains, the softmax cross-
entropy for label domains; lambda_cls = 1, lambda_rec = 10, lambda_gp = 10. One `train_step` makes
`stargan.n_critic` D updates, each on its own slice of the batch (data.batch_size = n_critic x the
minibatch), then one G update on the last slice: the paper's G update every fifth D update.

`sample` translates `cond['image']` into `cond['attributes']` or `cond['label']`; without them the targets
are drawn from `rng` (each attribute a fair coin, or a uniform class). Evaluation (attribute domains): for
each attribute, every held-out digit translated with that attribute flipped, then measured by the data's own
ink measurement (jaxgen/data/ink.py): `flipped_<name>` how often the attribute reads as the target,
`others_kept_<name>` how often the other attributes still read as the source's; and the reconstruction error L1 of G(G(x, c), c').
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.data.ink import ATTRIBUTE_NAMES, binary_attributes
from jaxgen.data.preprocess import to_uint8
from jaxgen.errors import InputError
from jaxgen.gan import losses
from jaxgen.nn.gan import DomainDiscriminator
from jaxgen.nn.translation import StarGANGenerator
from jaxgen.tasks import Batch, Cond, Pictures, check_sample_count, require_labels
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

DOMAINS = ("attributes", "label")
MAX_PICTURE_ROWS = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    s = config.stargan
    check_choice(config, "stargan.domains", DOMAINS)
    for key in ("stargan.lambda_cls", "stargan.lambda_rec", "stargan.lambda_gp"):
        check_positive(config, key, allow_zero=True)
    for key in ("stargan.n_critic", "model.features", "model.d_layers"):
        check_positive(config, key)
    check_positive(config, "model.num_blocks", allow_zero=True)
    check(
        config.data.batch_size % s.n_critic == 0,
        f"data.batch_size={config.data.batch_size} must be a multiple of stargan.n_critic={s.n_critic} (one slice per D update)",
    )
    check_scale11(config, "StarGAN's generator ends in tanh")
    check_no_ema(config, "discriminator")


def measured_attributes(images: jax.Array) -> jax.Array:
    """The ink attributes (thick, slanted) of images in [0, 1] (B, H, W, 1), measured on the host by
    jaxgen/data/ink.py inside a jitted function."""
    shape = jax.ShapeDtypeStruct((images.shape[0], len(ATTRIBUTE_NAMES)), jnp.float32)
    return jax.pure_callback(lambda x: binary_attributes(to_uint8(x)), shape, images, vmap_method="sequential")


class StarGANTask:
    """StarGAN bound to one config: pure functions of (params or state, batch, rng)."""

    conditions = ("image",)
    num_classes = 0

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        s, m = config.stargan, config.model
        self.config, self.spec, self.domains = config, spec, s.domains
        if s.domains == "attributes":
            if not spec.has("attributes"):
                raise ConfigError(f"stargan.domains='attributes' needs an `attributes` feature: data.name='{spec.name}' has none "
                                  "(set data.pair='ink_attributes' for digits, or stargan.domains='label')")
            self.num_domains = spec.shape("attributes")[0]
        else:
            require_labels(spec, "stargan.domains='label'")
            self.num_domains = spec.num_classes
        size, channels = spec.image_shape[0], spec.image_shape[-1]
        if spec.image_shape[1] != size or size % 4:
            raise ConfigError(f"StarGAN's generator halves square images twice: data.image_size must be a multiple of 4, got {spec.image_shape[:2]}")
        if size % 2**m.d_layers:
            raise ConfigError(f"model.d_layers={m.d_layers}: D halves the image {m.d_layers} times, so data.image_size must be a "
                              f"multiple of {2**m.d_layers} (got {size})")
        self.generator = StarGANGenerator(channels, m.features, m.num_blocks)
        self.discriminator = DomainDiscriminator(self.num_domains, m.features, m.d_layers)
        self.picture_captions = {"translations": ("input", *self.domain_names(), "reconstruction")}

    @property
    def measures_ink(self) -> bool:
        """Whether the domains are the built-in ink attributes, which the evaluation can measure again."""
        return self.domains == "attributes" and self.config.data.pair == "ink_attributes"

    def domain_names(self) -> tuple[str, ...]:
        """What each picture column after the input shows: an attribute flipped, or a class."""
        if self.domains == "label":
            return tuple(str(k) for k in range(self.num_domains))
        names = tuple(self.config.data.get("attributes", ())) or (
            ATTRIBUTE_NAMES if self.measures_ink else tuple(f"attribute {j}" for j in range(self.num_domains)))
        return tuple(f"{name} flipped" for name in names)

    def create_state(self, rng: jax.Array) -> TrainState:
        k_g, k_d, k_state = jax.random.split(rng, 3)
        image = jnp.zeros((2,) + self.spec.image_shape, jnp.float32)
        domain = jnp.zeros((2, self.num_domains), jnp.float32)
        n = self.config.stargan.n_critic
        parts = {"generator": make_part(self.config, "generator", self.generator.init(k_g, image, domain)["params"]),
                 "discriminator": make_part(self.config, "discriminator", self.discriminator.init(k_d, image)["params"],
                                            self.config.train.num_steps * n)}
        return TrainState.create(parts, k_state)

    # ----------------------------------------------------------------- domains and the two networks
    def source_domains(self, batch: Batch) -> jax.Array:
        """c' of the real images: (B, n_d) float, their attributes or the one-hot of their labels."""
        if self.domains == "attributes":
            return batch["attributes"].astype(jnp.float32)
        return jax.nn.one_hot(batch["label"], self.num_domains)

    def translate(self, params_g: Any, x: jax.Array, domain: jax.Array) -> jax.Array:
        return self.generator.apply({"params": params_g}, x, domain)

    def classification_loss(self, logits: jax.Array, domain: jax.Array) -> jax.Array:
        """-log D_cls(c | x) per example, averaged: the attributes' binary cross-entropies summed, or the
        softmax cross-entropy of a one-hot class."""
        if self.domains == "attributes":
            return jnp.mean(jnp.sum(optax.sigmoid_binary_cross_entropy(logits, domain), axis=-1))
        return jnp.mean(optax.softmax_cross_entropy(logits, domain))

    def discriminator_objective(self, params_d: Any, real: jax.Array, fake: jax.Array, source: jax.Array,
                                rng: jax.Array) -> tuple[jax.Array, dict]:
        s = self.config.stargan
        apply = lambda x: self.discriminator.apply({"params": params_d}, x)  # noqa: E731
        on_real, on_fake = apply(real), apply(fake)
        adversarial = jnp.mean(on_fake["logit"]) - jnp.mean(on_real["logit"])
        penalty = losses.gradient_penalty(lambda x: jnp.sum(apply(x)["logit"], axis=(1, 2)), losses.interpolates(rng, real, fake))
        classification = self.classification_loss(on_real["domain_logits"], source)
        loss = adversarial + s.lambda_gp * penalty + s.lambda_cls * classification
        return loss, {"d_adversarial": adversarial, "gradient_penalty": penalty, "d_classification": classification}

    def generator_objective(self, params_g: Any, params_d: Any, real: jax.Array, source: jax.Array,
                            target: jax.Array) -> tuple[jax.Array, dict]:
        s = self.config.stargan
        fake = self.translate(params_g, real, target)
        on_fake = self.discriminator.apply({"params": params_d}, fake)
        adversarial = -jnp.mean(on_fake["logit"])
        classification = self.classification_loss(on_fake["domain_logits"], target)
        reconstruction = jnp.mean(jnp.abs(real - self.translate(params_g, fake, source)))
        loss = adversarial + s.lambda_cls * classification + s.lambda_rec * reconstruction
        return loss, {"g_adversarial": adversarial, "g_classification": classification, "reconstruction": reconstruction}

    # ----------------------------------------------------------------- one step: n_critic D updates, one G update
    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        n = self.config.stargan.n_critic
        slices = lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:])  # noqa: E731
        real = slices(to_model_input(batch["image"], "scale11"))
        source = slices(self.source_domains(batch))
        history = []
        # traced one after the other, not in a lax.scan: XLA:CPU runs kernel gradients in loops far slower (gan.py)
        for i, key in enumerate(jax.random.split(state.step_rng(), n)):
            k_target, k_penalty = jax.random.split(key)
            target = jax.random.permutation(k_target, source[i])  # the paper's code: the batch's domains shuffled
            fake = jax.lax.stop_gradient(self.translate(state.params["generator"], real[i], target))
            (d_loss, terms), grads = jax.value_and_grad(self.discriminator_objective, has_aux=True)(
                state.params["discriminator"], real[i], fake, source[i], k_penalty
            )
            state = state.apply_gradients("discriminator", grads)
            history.append({"d_loss": d_loss, **terms})
        metrics = {k: jnp.mean(jnp.stack([h[k] for h in history])) for k in history[0]}
        (g_loss, terms), g_grads = jax.value_and_grad(self.generator_objective, has_aux=True)(
            state.params["generator"], state.params["discriminator"], real[-1], source[-1], target
        )
        metrics.update(g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads), **terms)
        return state.apply_gradients("generator", g_grads), metrics

    # ----------------------------------------------------------------- sampling and pictures
    def target_domains(self, rng: jax.Array, num: int, cond: Cond | None) -> jax.Array:
        """The targets `cond` gives, else drawn from `rng`: (num, n_d) float."""
        key = "attributes" if self.domains == "attributes" else "label"
        if cond is not None and key in cond:
            given = cond[key]
            return given.astype(jnp.float32) if self.domains == "attributes" else jax.nn.one_hot(given, self.num_domains)
        if self.domains == "attributes":
            return jax.random.bernoulli(rng, 0.5, (num, self.num_domains)).astype(jnp.float32)
        return jax.nn.one_hot(jax.random.randint(rng, (num,), 0, self.num_domains), self.num_domains)

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Translations in [0, 1] of `cond['image']` (num, H, W, C) (uint8 as stored, or floats in [-1, 1])
        into the target domains `cond['attributes']` (num, n_d) in {0, 1} or `cond['label']` (num,), or
        into targets drawn from `rng`."""
        check_sample_count(num)
        if cond is None or "image" not in cond:
            raise InputError("StarGAN samples translate input images: pass cond={'image': images} (sample.input_dir)")
        image = cond["image"]
        if image.shape[1:] != self.spec.image_shape or image.shape[0] != num:
            raise InputError(f"StarGAN translates ({num},) + {self.spec.image_shape} inputs, got {image.shape}")
        if not jnp.issubdtype(image.dtype, jnp.floating):
            image = to_model_input(image, "scale11")
        return (self.translate(params["generator"], image, self.target_domains(rng, num, cond)) + 1.0) / 2.0

    def single_changes(self, source: jax.Array) -> jax.Array:
        """(n_d, B, n_d): for each attribute, the sources with that attribute flipped; for label domains each
        class in turn."""
        if self.domains == "attributes":
            return jnp.stack([source.at[:, j].set(1.0 - source[:, j]) for j in range(self.num_domains)])
        eye = jnp.eye(self.num_domains)
        return jnp.broadcast_to(eye[:, None, :], (self.num_domains,) + source.shape)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Held-out images, one a row (up to 8): the input, its translation to each single change of its
        domain (each attribute flipped, or each class) and its reconstruction from the first."""
        rows = min(batch["image"].shape[0], MAX_PICTURE_ROWS)
        x = to_model_input(batch["image"][:rows], "scale11")
        source = self.source_domains({k: v[:rows] for k, v in batch.items()})
        changed = [self.translate(params["generator"], x, target) for target in self.single_changes(source)]
        back = self.translate(params["generator"], changed[0], source)
        grid = jnp.stack([x, *changed, back], axis=1)
        return {"translations": ((grid.reshape((-1,) + x.shape[1:]) + 1.0) / 2.0, grid.shape[1])}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of the reconstruction L1 (each single change and back, in [0, 1]) and, for the ink
        attributes, of each flipped attribute read as its target and the others read as before."""
        mask = batch["mask"]
        x = to_model_input(batch["image"], "scale11")
        source = self.source_domains(batch)
        sums = {"count": jnp.sum(mask), "reconstruction_l1": jnp.zeros(())}
        for j, target in enumerate(self.single_changes(source)):
            changed = self.translate(params["generator"], x, target)
            back = self.translate(params["generator"], changed, source)
            l1 = jnp.mean(jnp.abs(back - x), axis=(1, 2, 3)) / 2.0
            sums["reconstruction_l1"] += jnp.sum(l1 * mask) / self.num_domains
            if self.measures_ink:
                read = measured_attributes((changed + 1.0) / 2.0)
                hit = (read == target).astype(jnp.float32)
                sums[f"flipped_{ATTRIBUTE_NAMES[j]}"] = jnp.sum(hit[:, j] * mask)
                others = jnp.concatenate([hit[:, :j], hit[:, j + 1:]], axis=1)
                sums[f"others_kept_{ATTRIBUTE_NAMES[j]}"] = jnp.sum(jnp.mean(others, axis=1) * mask)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> StarGANTask:
    return StarGANTask(config, spec)
