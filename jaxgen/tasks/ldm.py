"""Latent diffusion, the second stage (Rombach et al. 2022, sec. 3.2-3.3):

    L_LDM = E_{E(x), y, eps, t} || eps - eps_theta(z_t, t, tau_theta(y)) ||^2

on z = scale_factor * E(x), E the frozen first stage of another run (`init_from.autoencoder`, an
ldm_autoencoder run; a KL encoder's posterior is sampled, as the LDM code does). The diffusion maths are
`jaxgen/diffusion`'s (schedules, q_sample, the regression target of `diffusion.parameterisation`, the scan
samplers, classifier-free guidance); the denoiser is the DDPM UNet with spatial transformers.

`ldm.conditioning` decides how y enters (configs/ldm.py): `crossattn` tokens tau(y) for class and text,
GLIGEN's gated grounding tokens for layout, `concat` channels beside z_t for super-resolution (the low-
resolution image, at the latents' size when f = 4) and inpainting (E(masked image) and the mask at the
latents' size). Cross-attention conditions are replaced by their null value with probability
`ldm.cond_dropout` in training, so `sample.guidance_scale` (w) can guide. Samples are decoded by the first
stage's decoder after z / scale_factor.

One trained part, `denoiser`: {"unet": ..., "conditioner": tau_theta's parameters when there is one},
trained jointly as in the LDM code.
"""
from __future__ import annotations

import json
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.data.text import VOCAB_SIZE, encode_text
from jaxgen.diffusion import losses, process, samplers
from jaxgen.eval.image_similarity import psnr, region_psnr, ssim
from jaxgen.nn.conditioning import ClassEmbedder, LayoutEncoder, TextTransformer
from jaxgen.nn.unet import UNet
from jaxgen.tasks import Cond, Pictures, Task, check_sample_count, class_rows, compute_dtype, labels_of, require_labels
from jaxgen.tasks.ddpm import make_schedule, norm_min_group_size, validate_diffusion
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, parse_source

Batch = dict[str, jax.Array]
FROZEN_PARTS = ("autoencoder",)
CONDITIONINGS = ("none", "class", "text", "layout", "super_resolution", "inpainting")
# conditioning -> the features of a batch it reads (and `sample` needs, but for class, which cycles labels)
FEATURES = {"none": (), "class": ("label",), "text": ("caption",), "layout": ("boxes", "box_labels"),
            "super_resolution": ("source",), "inpainting": ("source", "known")}
PAIRS = {"super_resolution": ("downsample4",), "inpainting": ("masked", "masked_boxes", "masked_strokes", "masked_random")}
GUIDED = ("class", "text", "layout")  # conditions with a null value: dropped in training, guided in sampling
OBJECTIVES = ("diffusion", "regression")


def validate_config(config: ml_collections.ConfigDict) -> None:
    l = config.ldm
    validate_diffusion(config)
    check_choice(config, "ldm.conditioning", CONDITIONINGS)
    check(bool(config.init_from.get("autoencoder", "")),
          "config key 'init_from.autoencoder' must name a trained configs/ldm_autoencoder.py run (WORKDIR[:STEP])")
    check(0.0 <= l.cond_dropout < 1.0, f"config key 'ldm.cond_dropout' must be in [0, 1), got {l.cond_dropout}")
    check_positive(config, "ldm.scale_factor", allow_zero=True)
    for key in ("ldm.context_dim", "ldm.text_depth", "ldm.text_heads", "model.attention_heads"):
        check_positive(config, key)
    if l.conditioning in PAIRS:
        check(config.data.pair in PAIRS[l.conditioning],
              f"ldm.conditioning='{l.conditioning}' reads data.pair in {PAIRS[l.conditioning]} (got '{config.data.pair}')")
    check_choice(config, "ldm.objective", OBJECTIVES)
    check(l.objective == "diffusion" or l.conditioning in PAIRS,
          f"ldm.objective='regression' maps an input image to its target: ldm.conditioning in {', '.join(PAIRS)}")
    check(l.conditioning in GUIDED or config.sample.guidance_scale == 0.0,
          f"sample.guidance_scale needs a condition with a null value: ldm.conditioning in {', '.join(GUIDED)}")


def first_stage_scale(config: ml_collections.ConfigDict) -> float:
    """`ldm.scale_factor`, or the first stage's own (1 / std of its latents) from its eval.json."""
    if config.ldm.scale_factor:
        return float(config.ldm.scale_factor)
    workdir, _ = parse_source(config.init_from.autoencoder)
    report = workdir / "eval.json"
    if not report.is_file():
        raise ConfigError(
            f"ldm.scale_factor=0 reads the first stage's scale_factor from {report}, which does not exist: run "
            f"`python launch.py --mode eval --workdir {workdir}` or set ldm.scale_factor"
        )
    return float(json.loads(report.read_text())["metrics"]["scale_factor"])


class LDMTask:
    """The second stage bound to one config, its dataset spec and the first stage's task."""

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]):
        if not all(hasattr(frozen.get("autoencoder"), f) for f in ("encode", "decode", "create_state")):
            raise ConfigError("init_from.autoencoder must be a first stage with encode and decode (a configs/ldm_autoencoder.py run)")
        self.config, self.spec, self.stage1 = config, spec, frozen["autoencoder"]
        self.conditioning = config.ldm.conditioning
        missing = [f for f in FEATURES[self.conditioning] if not spec.has(f)]
        if missing:
            raise ConfigError(f"ldm.conditioning='{self.conditioning}' reads {missing}; data.name='{spec.name}' has no such feature")
        if self.conditioning in ("class", "layout"):
            require_labels(spec, f"ldm.conditioning='{self.conditioning}'")
        self.conditions = tuple(f for f in FEATURES[self.conditioning] if f != "label")
        self.num_classes = spec.num_classes if self.conditioning == "class" else 0
        self.scale = first_stage_scale(config)
        self.schedule = make_schedule(config.diffusion)
        self.parameterisation = config.diffusion.parameterisation
        stage1_params = jax.eval_shape(self.stage1.create_state, jax.random.PRNGKey(0)).eval_params
        self.latent_shape = jax.eval_shape(self.stage1.encode, stage1_params, jnp.zeros((1,) + spec.image_shape)).shape[1:]
        if self.conditioning == "super_resolution" and spec.shape("source")[:2] != self.latent_shape[:2]:
            raise ConfigError(
                f"super-resolution concatenates the {spec.shape('source')[:2]} low-resolution image to the latents, "
                f"which are {self.latent_shape[:2]}: the first stage must reduce by 4 (its model.channel_mults)"
            )
        m, l, dtype = config.model, config.ldm, compute_dtype(config)
        self.net = UNet(
            channels=m.channels, channel_mults=tuple(m.channel_mults), num_res_blocks=m.num_res_blocks,
            attention_resolutions=tuple(m.attention_resolutions), mid_attention=m.mid_attention, dropout=m.dropout,
            out_channels=self.latent_shape[-1], transformer_depth=m.transformer_depth if self.conditioning in GUIDED else 0,
            attention_heads=m.attention_heads, norm_min_group_size=norm_min_group_size(config), dtype=dtype,
        )
        self.conditioner = {
            "class": lambda: ClassEmbedder(spec.num_classes, l.context_dim),
            "text": lambda: TextTransformer(VOCAB_SIZE, l.context_dim, l.text_depth, l.text_heads, spec.shape("caption")[0]),
            "layout": lambda: LayoutEncoder(spec.num_classes, l.context_dim),
        }.get(self.conditioning, lambda: None)()

    # ----------------------------------------------------------------- conditions
    def null_conditions(self, cond: Cond) -> Cond:
        """The unconditional value of each guided condition: the null label, the empty prompt, no boxes."""
        if self.conditioning == "class":
            return {"label": jnp.full_like(cond["label"], self.spec.num_classes)}
        if self.conditioning == "text":
            empty = jnp.asarray(encode_text([""], cond["caption"].shape[1]))
            return {"caption": jnp.broadcast_to(empty, cond["caption"].shape)}
        if self.conditioning == "layout":
            return {"boxes": jnp.zeros_like(cond["boxes"]), "box_labels": jnp.full_like(cond["box_labels"], -1)}
        return cond

    def latents(self, frozen: Any, images: jax.Array, rng: jax.Array | None = None) -> jax.Array:
        """z = scale_factor E(x) of float images in [-1, 1] (a posterior sample given `rng`)."""
        return self.scale * jax.lax.stop_gradient(self.stage1.encode(frozen, images, rng))

    def encode_conditions(self, params: Any, frozen: Any, cond: Cond) -> Cond:
        """What the UNet reads of a batch of conditions, computed once per batch (not once per denoising step):
        tau_theta(y) as `context` (class, text) or `grounding` (layout) tokens, or the `concat` channels at the
        latents' size (the low-resolution image; scale_factor E(masked image) and the known-pixel mask)."""
        if self.conditioning == "class":
            return {"context": self.conditioner.apply({"params": params["conditioner"]}, cond["label"])}
        if self.conditioning == "text":
            return {"context": self.conditioner.apply({"params": params["conditioner"]}, cond["caption"])}
        if self.conditioning == "layout":
            return {"grounding": self.conditioner.apply({"params": params["conditioner"]}, cond["boxes"], cond["box_labels"])}
        if self.conditioning == "super_resolution":
            return {"concat": cond["source"]}
        if self.conditioning == "inpainting":
            z = self.latents(frozen, cond["source"])
            known = jax.image.resize(cond["known"].astype(z.dtype), z.shape[:3] + (1,), "linear")
            return {"concat": jnp.concatenate([z, known], axis=-1)}
        return {}

    def denoise(self, params: Any, z: jax.Array, t: jax.Array, encoded: Cond, train: bool = False,
                rng: jax.Array | None = None) -> jax.Array:
        """eps_theta(z_t, t, tau_theta(y)) (or x_0 / v) given `encode_conditions`' output."""
        inputs = z if "concat" not in encoded else jnp.concatenate([z, encoded["concat"].astype(z.dtype)], axis=-1)
        rngs = {"dropout": rng} if rng is not None else {}
        return self.net.apply({"params": params["unet"]}, inputs, t, train=train, context=encoded.get("context"),
                              grounding=encoded.get("grounding"), rngs=rngs)

    def guided_denoiser(self, params: Any, frozen: Any, cond: Cond) -> losses.DenoiseFn:
        """(z_t, t) -> the model output for `cond`, guided with w = sample.guidance_scale against the null
        conditions (w = 0: the conditional model; w = -1: the unconditional one); both encoded once."""
        encoded = self.encode_conditions(params, frozen, cond)
        null = self.encode_conditions(params, frozen, self.null_conditions(cond))
        return samplers.classifier_free_guidance(
            lambda z, t, e: self.denoise(params, z, t, e), encoded, null, self.config.sample.guidance_scale
        )

    def batch_conditions(self, batch: Batch) -> Cond:
        """The conditions of a data batch, images in the model's space ([-1, 1]) and masks in {0, 1}."""
        cond = {k: batch[k] for k in FEATURES[self.conditioning]}
        if "source" in cond:
            cond["source"] = to_model_input(cond["source"], "scale11")
        if "known" in cond:
            cond["known"] = cond["known"].astype(jnp.float32)
        return cond

    # ----------------------------------------------------------------- the task contract
    def create_state(self, rng: jax.Array) -> TrainState:
        k_unet, k_cond, k_state = jax.random.split(rng, 3)
        z = jnp.zeros((1,) + self.latent_shape, jnp.float32)
        example = {k: jnp.zeros((1,) + self.spec.shape(k), self.spec.feature_map[k].dtype) for k in FEATURES[self.conditioning]}
        if "caption" in example:  # an empty prompt: begin and end tokens, so attention has keys to read
            example["caption"] = jnp.asarray(encode_text([""], self.spec.shape("caption")[0]))
        params: dict[str, Any] = {}
        context = grounding = None
        if self.conditioner is not None:
            params["conditioner"] = self.conditioner.init(k_cond, *example.values())["params"]
            tokens = self.conditioner.apply({"params": params["conditioner"]}, *example.values())
            context, grounding = (None, tokens) if self.conditioning == "layout" else (tokens, None)
        extra = {"super_resolution": self.spec.shape("source")[-1] if self.conditioning == "super_resolution" else 0,
                 "inpainting": self.latent_shape[-1] + 1}.get(self.conditioning, 0)
        inputs = jnp.zeros(z.shape[:3] + (z.shape[-1] + extra,), jnp.float32)
        params["unet"] = self.net.init(k_unet, inputs, jnp.zeros((1,), jnp.int32), context=context, grounding=grounding)["params"]
        return TrainState.create({"denoiser": make_part(self.config, "denoiser", params)}, k_state)

    def _dropped(self, cond: Cond, rng: jax.Array) -> Cond:
        if self.conditioning not in GUIDED:
            return cond
        rows = next(iter(cond.values())).shape[0]
        drop = jax.random.bernoulli(rng, self.config.ldm.cond_dropout, (rows,))
        null = self.null_conditions(cond)
        return jax.tree.map(lambda c, n: jnp.where(drop.reshape((rows,) + (1,) * (c.ndim - 1)), n, c), cond, null)

    def objective_inputs(self, z0: jax.Array, k_t: jax.Array, k_eps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(z_t, t, target) of the training objective for clean latents z_0: z_t = q_sample(z_0, t, eps) at
        uniform t with the `diffusion.parameterisation` target, or for the regression zeros at t = 0 and z_0."""
        if self.config.ldm.objective == "regression":  # the same network, z_0 from the input alone
            return jnp.zeros_like(z0), jnp.zeros((z0.shape[0],), jnp.int32), z0
        t = jax.random.randint(k_t, (z0.shape[0],), 0, self.schedule.num_steps)
        eps = jax.random.normal(k_eps, z0.shape, jnp.float32)
        return (process.q_sample(self.schedule, z0, t, eps), t,
                process.regression_target(self.parameterisation, self.schedule, z0, t, eps))

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_z, k_t, k_eps, k_drop, k_cond = jax.random.split(state.step_rng(), 5)
        frozen = state.frozen["autoencoder"]
        z0 = self.latents(frozen, to_model_input(batch["image"], "scale11"), k_z)
        cond = self._dropped(self.batch_conditions(batch), k_cond)
        zt, t, target = self.objective_inputs(z0, k_t, k_eps)

        def loss_fn(params: Any) -> jax.Array:
            out = self.denoise(params, zt, t, self.encode_conditions(params, frozen, cond), True, k_drop)
            return jnp.mean(losses.simple_loss(out, target))

        loss, grads = jax.value_and_grad(loss_fn)(state.params["denoiser"])
        return state.apply_gradients("denoiser", grads), {"loss": loss, "grad_norm": optax.global_norm(grads)}

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1]: latents from `sample.sampler` (the regression: its one output), guided by w =
        sample.guidance_scale, decoded by the first stage (inpainting: the known pixels then pasted back
        exactly). `cond` holds the conditions' batched features (class labels cycle when absent)."""
        check_sample_count(num)
        cond = dict(cond or {})
        if self.num_classes:
            cond["label"] = labels_of(cond, num, self.num_classes)
        missing = [k for k in FEATURES[self.conditioning] if k not in cond]
        if missing:
            raise ConfigError(f"sample: ldm.conditioning='{self.conditioning}' needs cond[{missing}]")
        cond = {k: cond[k] for k in FEATURES[self.conditioning]}
        if "source" in cond and not jnp.issubdtype(cond["source"].dtype, jnp.floating):
            cond = self.batch_conditions(cond)
        frozen = params["autoencoder"]
        denoise = self.guided_denoiser(params["denoiser"], frozen, cond)
        s, shape = self.config.sample, (num,) + self.latent_shape
        if self.config.ldm.objective == "regression":
            z = denoise(jnp.zeros(shape, jnp.float32), jnp.zeros((num,), jnp.int32))
        elif s.sampler == "ddpm":
            z = samplers.ddpm_sample(denoise, self.schedule, rng, shape, self.parameterisation, s.variance, s.clip_x0)
        else:
            z = samplers.ddim_sample(denoise, self.schedule, rng, shape, s.steps, s.eta, self.parameterisation, s.clip_x0)
        images = jnp.clip((self.stage1.decode(frozen, z / self.scale) + 1.0) / 2.0, 0.0, 1.0)
        if self.conditioning == "inpainting":  # the known pixels as given, as LDM's inpainting script pastes them
            known = cond["known"].astype(images.dtype)
            images = known * (cond["source"] + 1.0) / 2.0 + (1.0 - known) * images
        return images

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Samples (one row per class when class-conditional), and for the other conditions each held-out
        example beside a sample drawn from its condition."""
        if self.conditioning in ("none", "class"):
            return {"samples": class_rows(self.sample, params, rng, self.num_classes, self.config.train.num_grid_samples)}
        samples = self.sample(params, rng, batch["image"].shape[0], {k: batch[k] for k in FEATURES[self.conditioning]})
        real = batch["image"].astype(jnp.float32) / 255.0
        columns = [real, samples]
        if "source" in batch:  # the input as the model saw it (the low-resolution image at full size, the masked image)
            columns = [jax.image.resize(batch["source"].astype(jnp.float32) / 255.0, real.shape, "nearest"), samples, real]
        grid = jnp.stack(columns, axis=1).reshape((-1,) + samples.shape[1:])
        return {"conditioned_samples": (grid, 9 if "source" in batch else 8)}  # three triples or four pairs a row

    @property
    def picture_captions(self) -> dict[str, tuple[str, ...]]:
        return {"conditioned_samples": ("input", "sample", "data") if self.conditioning in PAIRS else ("data", "sample")}

    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of the training loss (L_LDM at random timesteps, or the regression's) on the posterior
        means of the test images; for super-resolution and inpainting also one sample per test input
        against its real image (`restoration_sums`)."""
        k_t, k_eps, k_sample = jax.random.split(rng, 3)
        frozen, mask = params["autoencoder"], batch["mask"]
        z0 = self.latents(frozen, to_model_input(batch["image"], "scale11"))
        zt, t, target = self.objective_inputs(z0, k_t, k_eps)
        out = self.denoise(params["denoiser"], zt, t, self.encode_conditions(params["denoiser"], frozen, self.batch_conditions(batch)))
        sums = {"loss": jnp.sum(losses.simple_loss(out, target) * mask), "count": jnp.sum(mask)}
        if self.conditioning in PAIRS:
            sums.update(self.restoration_sums(params, batch, k_sample))
        return sums

    def restoration_sums(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of PSNR / SSIM of one sample per held-out input against the real image: the whole image
        for super-resolution, beside bicubic up-sampling of the input (the baseline the lecture sets it
        against); for inpainting the whole image and `hole_psnr` over the filled-in pixels alone."""
        mask = batch["mask"]
        target = batch["image"].astype(jnp.float32) / 255.0
        samples = self.sample(params, rng, target.shape[0], {k: batch[k] for k in FEATURES[self.conditioning]})
        sums = {"psnr": jnp.sum(psnr(target, samples) * mask), "ssim": jnp.sum(ssim(target, samples) * mask)}
        if self.conditioning == "super_resolution":
            bicubic = jnp.clip(jax.image.resize(batch["source"].astype(jnp.float32) / 255.0, target.shape, "bicubic"), 0.0, 1.0)
            sums["bicubic_psnr"] = jnp.sum(psnr(target, bicubic) * mask)
            sums["bicubic_ssim"] = jnp.sum(ssim(target, bicubic) * mask)
        else:
            sums["hole_psnr"] = jnp.sum(region_psnr(target, samples, 1.0 - batch["known"]) * mask)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return {**mean_totals(totals), "scale_factor": self.scale}


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]) -> LDMTask:
    return LDMTask(config, spec, frozen)
