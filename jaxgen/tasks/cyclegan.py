"""CycleGAN: unpaired image-to-image translation with cycle consistency (Zhu et al. 2017).

Two domains: A, the images of `data.name` (feature `image`), and B, those of `data.second` (`second_image`),
each shuffled on its own -- no example of A has a partner in B. Two generators, G_ab: A -> B and G_ba: B -> A
(the ResNet generator of nn/translation.py), and two PatchGAN discriminators with instance normalisation:
D_a tells real A from G_ba(b), D_b real B from G_ab(a). With lambda = cyclegan.cycle_weight (10) and
lambda_id = cyclegan.identity_weight (0.5, a fraction of lambda as in the paper's code):

  L_GAN(G_ab, D_b) = E_b (D_b(b) - 1)^2 + E_a D_b(G_ab(a))^2                       (least squares, Mao et al.)
  L_cyc            = E_a ||G_ba(G_ab(a)) - a||_1 + E_b ||G_ab(G_ba(b)) - b||_1       (per-pixel means)
  L_id             = E_b ||G_ab(b) - b||_1 + E_a ||G_ba(a) - a||_1                   (keeps colours; sec. 5.2)
  G's loss         = E_a (D_b(G_ab(a)) - 1)^2 + E_b (D_a(G_ba(b)) - 1)^2 + lambda L_cyc + lambda_id lambda L_id
  D's loss         = 1/2 [E (D(real) - 1)^2 + E D(fake)^2]  for each D, its fakes drawn from a history pool

One `train_step` follows the paper's code: the two generators are updated together on one forward (their
Adam states are separate parts, which for Adam is the same as one optimiser over both), then each D on
the real images of its domain against 50-image history pools (jaxgen/gan/history_pool.py) of the fakes of
that forward. Each domain's training images may be jittered and mirrored on their own (cyclegan.random_jitter,
cyclegan.random_mirror: the paper's 286 -> random 256 crop and flip). cyclegan.loss='gan' swaps the least squares for the log loss (non-saturating G). The
learning rate is held for the first half of training and decays linearly to 0 over the second
(optim.schedule='hold_then_linear').

`sample` translates one way, `sample.direction`: a_to_b (from cond['image']) or b_to_a (from
cond['second_image']); the sample-quality protocol compares the translations with real images of the target
domain (for b_to_a the eval classifier must know data.name, for a_to_b data.second) and, with labelled data,
reports how often they keep their source's class. Evaluation: the cycle reconstruction error both ways (L1,
PSNR in [0, 1]) and the identity error; for photos32 <-> stylised_photos32 (B = a known restyling of A, the
images of each domain shuffled on their own), also the translation A -> B against the true restyling.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from jaxgen.data import DatasetSpec, combinators, to_model_input
from jaxgen.data.preprocess import jitter_and_mirror
from jaxgen.errors import InputError
from jaxgen.eval.image_similarity import psnr
from jaxgen.gan import losses
from jaxgen.gan.history_pool import empty_pool, query_pool
from jaxgen.nn.gan import PatchDiscriminator, patch_grid_size
from jaxgen.nn.translation import ResnetGenerator
from jaxgen.tasks import Batch, Cond, Pictures, check_sample_count
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

ADVERSARIAL = {"lsgan": "lsgan", "gan": "standard"}  # cyclegan.loss -> the row of jaxgen/gan/losses.py
DIRECTIONS = {"a_to_b": ("image", "second_image"), "b_to_a": ("second_image", "image")}  # -> (source, target) features
MAX_PICTURE_ROWS = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    c = config.cyclegan
    check_choice(config, "cyclegan.loss", tuple(ADVERSARIAL))
    check_choice(config, "sample.direction", tuple(DIRECTIONS))
    for key in ("cyclegan.cycle_weight", "cyclegan.identity_weight", "model.num_blocks"):
        check_positive(config, key, allow_zero=True)
    for key in ("pool_size", "random_jitter"):
        value = c[key]
        check(isinstance(value, int) and value >= 0, f"config key 'cyclegan.{key}' must be an int >= 0, got {value!r}")
    check_positive(config, "model.features")
    check_positive(config, "model.d_layers")
    check(config.data.second != "", "CycleGAN translates between two unpaired datasets: set data.second (domain B; data.name is A)")
    check(config.data.pair == "", "CycleGAN trains on unpaired data: data.pair must be '' (pix2pix takes pairs)")
    check_scale11(config, "CycleGAN's generators end in tanh")
    for part in ("d_a", "d_b"):
        check_no_ema(config, part)


class CycleGANTask:
    """CycleGAN bound to one config: pure functions of (params or state, batch, rng)."""

    num_classes = 0
    picture_captions = {"translations_ab": ("a", "G_ab(a)", "G_ba(G_ab(a))"), "translations_ba": ("b", "G_ba(b)", "G_ab(G_ba(b))")}

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        if not spec.has("second_image"):
            raise ConfigError(f"CycleGAN needs a second domain: data.name='{spec.name}' has no second_image (set data.second)")
        shape_a, shape_b = spec.image_shape, spec.shape("second_image")
        if shape_a[:2] != shape_b[:2]:
            raise ConfigError(
                f"CycleGAN's domains must have one image size: A ({config.data.name}) is {shape_a[:2]}, B ({config.data.second}) "
                f"{shape_b[:2]}; set data.image_size"
            )
        size = shape_a[0]
        if shape_a[0] != shape_a[1] or size % 4:
            raise ConfigError(f"CycleGAN's generators halve square images twice: data.image_size must be a multiple of 4, got {shape_a[:2]}")
        m, c = config.model, config.cyclegan
        if c.identity_weight > 0 and shape_a[-1] != shape_b[-1]:
            raise ConfigError(
                f"the identity loss feeds B images to G_ab: A has {shape_a[-1]} channels, B {shape_b[-1]}; set cyclegan.identity_weight=0"
            )
        if patch_grid_size(size, m.d_layers) < 1:
            raise ConfigError(f"model.d_layers={m.d_layers}: the PatchGAN needs data.image_size >= {3 * 2**m.d_layers} (got {size})")
        self.config, self.spec = config, spec
        self.kind = ADVERSARIAL[c.loss]
        self.source_feature, self.reference_feature = DIRECTIONS[config.sample.direction]
        self.conditions = (self.source_feature,)
        self.generators = {"g_ab": ResnetGenerator(shape_b[-1], m.features, m.num_blocks),
                           "g_ba": ResnetGenerator(shape_a[-1], m.features, m.num_blocks)}
        self.discriminator = PatchDiscriminator(m.features, m.d_layers, "instance")
        base, style = combinators.DERIVED.get(config.data.second, ("", None))
        self.true_style = style if base == config.data.name else None  # B = style(A): the translation's ground truth

    @property
    def source_label_feature(self) -> str:
        """The label of the examples `sample` translates (the protocol's source-class agreement)."""
        return "label" if self.source_feature == "image" else "second_label"

    def create_state(self, rng: jax.Array) -> TrainState:
        k_ab, k_ba, k_da, k_db, k_state = jax.random.split(rng, 5)
        a = jnp.zeros((2,) + self.spec.image_shape, jnp.float32)
        b = jnp.zeros((2,) + self.spec.shape("second_image"), jnp.float32)
        params = {"g_ab": self.generators["g_ab"].init(k_ab, a)["params"], "g_ba": self.generators["g_ba"].init(k_ba, b)["params"],
                  "d_a": self.discriminator.init(k_da, a)["params"], "d_b": self.discriminator.init(k_db, b)["params"]}
        parts = {name: make_part(self.config, name, p) for name, p in params.items()}
        size = self.config.cyclegan.pool_size
        pools = {"pool_a": empty_pool(size, self.spec.image_shape), "pool_b": empty_pool(size, self.spec.shape("second_image"))}
        return TrainState.create(parts, k_state, pools)

    # ----------------------------------------------------------------- the networks
    def translate(self, params: Any, name: str, x: jax.Array) -> jax.Array:
        """G_ab or G_ba (`name`) of images in [-1, 1]."""
        return self.generators[name].apply({"params": params[name]}, x)

    def patch_logits(self, params_d: Any, image: jax.Array) -> jax.Array:
        return self.discriminator.apply({"params": params_d}, image)

    def generator_adversarial(self, logits: jax.Array) -> jax.Array:
        """G's adversarial term as the paper writes it: E (D(G(x)) - 1)^2, twice the halved lsgan row of
        losses.py; the non-saturating -E log D(G(x)) for the log loss."""
        return (2.0 if self.kind == "lsgan" else 1.0) * losses.generator_loss(self.kind, logits)

    def discriminator_objective(self, params_d: Any, real: jax.Array, fake: jax.Array) -> tuple[jax.Array, dict]:
        """1/2 [l(D(real), 1) + l(D(fake), 0)]: the lsgan row of losses.py already carries the halves."""
        real_logits, fake_logits = self.patch_logits(params_d, real), self.patch_logits(params_d, fake)
        loss = (1.0 if self.kind == "lsgan" else 0.5) * losses.discriminator_loss(self.kind, real_logits, fake_logits)
        return loss, {"real": jnp.mean(real_logits), "fake": jnp.mean(fake_logits)}

    def generator_objective(self, params_g: Any, params: Any, a: jax.Array, b: jax.Array) -> tuple[jax.Array, dict]:
        """G's loss (module docstring) of the generators `params_g` = {g_ab, g_ba} against the Ds in `params`;
        aux: the fakes and the terms."""
        c = self.config.cyclegan
        fake_b, fake_a = self.translate(params_g, "g_ab", a), self.translate(params_g, "g_ba", b)
        cycle_a = jnp.mean(jnp.abs(self.translate(params_g, "g_ba", fake_b) - a))
        cycle_b = jnp.mean(jnp.abs(self.translate(params_g, "g_ab", fake_a) - b))
        adversarial_ab = self.generator_adversarial(self.patch_logits(params["d_b"], fake_b))
        adversarial_ba = self.generator_adversarial(self.patch_logits(params["d_a"], fake_a))
        identity = jnp.zeros(())
        if c.identity_weight > 0:
            identity = (jnp.mean(jnp.abs(self.translate(params_g, "g_ab", b) - b))
                        + jnp.mean(jnp.abs(self.translate(params_g, "g_ba", a) - a)))
        loss = adversarial_ab + adversarial_ba + c.cycle_weight * (cycle_a + cycle_b + c.identity_weight * identity)
        terms = {"g_adversarial_ab": adversarial_ab, "g_adversarial_ba": adversarial_ba, "cycle_a": cycle_a, "cycle_b": cycle_b,
                 "identity": identity}
        return loss, {"fake_a": fake_a, "fake_b": fake_b, "terms": terms}

    # ----------------------------------------------------------------- one step: both Gs, then both Ds
    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        c = self.config.cyclegan
        k_pool_a, k_pool_b, k_jitter_a, k_jitter_b = jax.random.split(state.step_rng(), 4)
        (a,) = jitter_and_mirror(k_jitter_a, (to_model_input(batch["image"], "scale11"),), c.random_jitter, c.random_mirror)
        (b,) = jitter_and_mirror(k_jitter_b, (to_model_input(batch["second_image"], "scale11"),), c.random_jitter, c.random_mirror)
        params_g = {name: state.params[name] for name in self.generators}
        (g_loss, out), g_grads = jax.value_and_grad(self.generator_objective, has_aux=True)(params_g, state.params, a, b)
        for name in self.generators:
            state = state.apply_gradients(name, g_grads[name])
        pooled_a, pool_a = query_pool(state.model_state["pool_a"], jax.lax.stop_gradient(out["fake_a"]), k_pool_a)
        pooled_b, pool_b = query_pool(state.model_state["pool_b"], jax.lax.stop_gradient(out["fake_b"]), k_pool_b)
        metrics = {"g_loss": g_loss, **out["terms"]}
        for part, real, fake in (("d_a", a, pooled_a), ("d_b", b, pooled_b)):
            (d_loss, scores), d_grads = jax.value_and_grad(self.discriminator_objective, has_aux=True)(state.params[part], real, fake)
            state = state.apply_gradients(part, d_grads)
            metrics.update({f"{part}_loss": d_loss, f"{part}_real": scores["real"], f"{part}_fake": scores["fake"]})
        return state.replace(model_state={"pool_a": pool_a, "pool_b": pool_b}), metrics

    # ----------------------------------------------------------------- sampling and pictures
    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Translations in [0, 1] of `cond[source]` (num, H, W, C), source = `image` (A, direction a_to_b) or
        `second_image` (B, b_to_a): uint8 images as stored, or floats already in [-1, 1]. The generators are
        deterministic; `rng` is unused."""
        del rng
        check_sample_count(num)
        feature = self.source_feature
        if cond is None or feature not in cond:
            raise InputError(f"CycleGAN ({self.config.sample.direction}) translates input images: pass cond={{'{feature}': images}} "
                             "(sample.input_dir)")
        source = cond[feature]
        if source.shape[1:] != self.spec.shape(feature) or source.shape[0] != num:
            raise InputError(f"CycleGAN translates ({num},) + {self.spec.shape(feature)} inputs, got {source.shape}")
        if not jnp.issubdtype(source.dtype, jnp.floating):
            source = to_model_input(source, "scale11")
        generator = "g_ab" if feature == "image" else "g_ba"
        return (self.translate(params, generator, source) + 1.0) / 2.0

    def round_trips(self, params: Any, batch: Batch) -> dict[str, jax.Array]:
        """Both domains' held-out images in [-1, 1], their translations and cycle reconstructions."""
        a, b = to_model_input(batch["image"], "scale11"), to_model_input(batch["second_image"], "scale11")
        ab, ba = self.translate(params, "g_ab", a), self.translate(params, "g_ba", b)
        return {"a": a, "ab": ab, "aba": self.translate(params, "g_ba", ab),
                "b": b, "ba": ba, "bab": self.translate(params, "g_ab", ba)}

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """(image, translation, cycle reconstruction) triples of held-out images of each domain, three a row
        (up to 8 rows); a grey domain is shown with the other's channels where they differ."""
        given = batch["image"].shape[0]
        rows = given if given < 3 else 3 * min(given // 3, MAX_PICTURE_ROWS)
        trips = jax.tree.map(lambda x: (x[:rows] + 1.0) / 2.0, self.round_trips(params, {k: batch[k][:rows] for k in ("image", "second_image")}))
        channels = max(trips["a"].shape[-1], trips["b"].shape[-1])

        def triples(*images: jax.Array) -> jax.Array:
            shown = [jnp.broadcast_to(x, x.shape[:3] + (channels,)) for x in images]
            return jnp.stack(shown, axis=1).reshape((-1,) + shown[0].shape[1:])

        return {"translations_ab": (triples(trips["a"], trips["ab"], trips["aba"]), 9),
                "translations_ba": (triples(trips["b"], trips["ba"], trips["bab"]), 9)}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of the cycle reconstruction errors (L1 and PSNR in [0, 1]) each way and of the identity
        error G_ab(b) vs b, G_ba(a) vs a (where the domains share channels); when domain B is a built-in
        restyling of domain A (data.second='stylised_photos32' beside photos32), the translation G_ab(a)
        against the true restyled a (`style_l1`, `style_psnr`; `style_l1_untranslated`: a itself)."""
        mask = batch["mask"]
        trips = self.round_trips(params, batch)
        same_channels = trips["a"].shape[-1] == trips["b"].shape[-1]
        if same_channels:
            trips.update(identity_a=self.translate(params, "g_ba", trips["a"]), identity_b=self.translate(params, "g_ab", trips["b"]))
        t = jax.tree.map(lambda x: (x + 1.0) / 2.0, trips)
        per_example_l1 = lambda x, y: jnp.mean(jnp.abs(x - y), axis=(1, 2, 3))  # noqa: E731
        sums = {
            "cycle_l1_a": jnp.sum(per_example_l1(t["aba"], t["a"]) * mask), "cycle_l1_b": jnp.sum(per_example_l1(t["bab"], t["b"]) * mask),
            "cycle_psnr_a": jnp.sum(psnr(t["a"], t["aba"]) * mask), "cycle_psnr_b": jnp.sum(psnr(t["b"], t["bab"]) * mask),
            "count": jnp.sum(mask),
        }
        if same_channels:
            sums["identity_l1_a"] = jnp.sum(per_example_l1(t["identity_a"], t["a"]) * mask)
            sums["identity_l1_b"] = jnp.sum(per_example_l1(t["identity_b"], t["b"]) * mask)
        if self.true_style is not None:
            shape = jax.ShapeDtypeStruct(batch["image"].shape, jnp.uint8)
            truth = jax.pure_callback(self.true_style, shape, batch["image"], vmap_method="sequential").astype(jnp.float32) / 255.0
            sums["style_l1"] = jnp.sum(per_example_l1(t["ab"], truth) * mask)
            sums["style_l1_untranslated"] = jnp.sum(per_example_l1(t["a"], truth) * mask)
            sums["style_psnr"] = jnp.sum(psnr(truth, t["ab"]) * mask)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> CycleGANTask:
    return CycleGANTask(config, spec)
