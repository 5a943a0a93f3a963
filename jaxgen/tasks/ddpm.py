"""Denoising diffusion (Ho et al. 2020) on the DDPM UNet, with DDIM sampling and classifier-free guidance.

Training (Algorithm 1): x_0 from the data in [-1, 1], t ~ U{1..T}, eps ~ N(0, I),
loss = || target - f_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2 averaged over
pixels (L_simple), the target being eps, x_0 or v (`diffusion.parameterisation`), optionally weighted
per timestep (`diffusion.loss_weighting`: min-SNR, truncated SNR or the bound's own weights). Class-conditional
models see the null class with probability `model.label_dropout` (Ho & Salimans 2022).

Sampling uses the EMA parameters and `sample.sampler` (ddpm: Algorithm 2; ddim: `sample.steps`
strided steps with `sample.eta`), guided with `sample.guidance_scale` when class-conditional.
Evaluation: L_simple on the test split, and the full variational bound in bits/dim on
`eval.bound_examples` test images (T network calls each).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.diffusion import cosine_schedule, linear_schedule, losses, process, samplers, scaled_linear_schedule
from jaxgen.diffusion.schedules import Schedule
from jaxgen.eval.likelihood import discrete_bits_per_dim
from jaxgen.nn.unet import UNet
from jaxgen.tasks import Cond, Pictures, check_sample_count, class_rows, compute_dtype, labels_of, require_labels
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

Batch = dict[str, jax.Array]
SCHEDULES = ("linear", "cosine", "scaled_linear")
SAMPLERS = ("ddpm", "ddim")
PICTURE_TRAJECTORY_FRAMES = 10


def validate_diffusion(config: ml_collections.ConfigDict) -> None:
    """The keys every diffusion family shares: the process, the sampler, the UNet's shape, the data's range."""
    d, m, s = config.diffusion, config.model, config.sample
    check_choice(config, "diffusion.schedule", SCHEDULES)
    check_choice(config, "diffusion.parameterisation", process.PARAMETERISATIONS)
    check_choice(config, "diffusion.loss_weighting", losses.WEIGHTINGS)
    check_positive(config, "diffusion.min_snr_gamma")
    check_choice(config, "sample.sampler", SAMPLERS)
    check_choice(config, "sample.variance", losses.VARIANCES)
    for key in ("diffusion.num_steps", "model.channels", "model.num_res_blocks", "sample.steps"):
        check_positive(config, key)
    check(len(m.channel_mults) > 0, "model.channel_mults must be non-empty")
    check(
        1 <= norm_min_group_size(config) <= m.channels,
        f"config key 'model.norm_min_group_size' must be in [1, model.channels={m.channels}], got {norm_min_group_size(config)}",
    )
    check(0.0 <= m.dropout < 1.0, f"config key 'model.dropout' must be in [0, 1), got {m.dropout}")
    check(s.steps <= d.num_steps, f"sample.steps={s.steps} exceeds diffusion.num_steps={d.num_steps}")
    check_scale11(config, "diffusion models data in [-1, 1] on its 256 levels")


def validate_config(config: ml_collections.ConfigDict) -> None:
    validate_diffusion(config)
    m = config.model
    check_positive(config, "eval.bound_examples", allow_zero=True)
    check(0.0 <= m.label_dropout < 1.0, f"config key 'model.label_dropout' must be in [0, 1), got {m.label_dropout}")
    check(
        m.class_conditional or config.sample.guidance_scale == 0.0,
        "sample.guidance_scale needs a class-conditional model (model.class_conditional=True)",
    )


def norm_min_group_size(config: ml_collections.ConfigDict) -> int:
    """model.norm_min_group_size; runs saved before the key existed had groups of one channel in narrow layers
    (jaxgen/nn/unet.py says why that blinds them to t and the class) and are rebuilt as they were trained."""
    return config.model.get("norm_min_group_size", 1)


def make_schedule(d: ml_collections.ConfigDict) -> Schedule:
    if d.schedule == "linear":
        return linear_schedule(d.num_steps, d.beta_start, d.beta_end)
    if d.schedule == "scaled_linear":
        return scaled_linear_schedule(d.num_steps, d.beta_start, d.beta_end)
    return cosine_schedule(d.num_steps)


class DDPMTask:
    """The diffusion family bound to one config: pure functions of (params or state, batch, rng). One
    part, `denoiser` (the UNet)."""

    conditions = ()

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        m = config.model
        if m.class_conditional:
            require_labels(spec, "model.class_conditional")
        height, width, channels = spec.image_shape
        factor = 2 ** (len(m.channel_mults) - 1)
        if height % factor or width % factor:
            raise ConfigError(
                f"model.channel_mults has {len(m.channel_mults)} levels: H and W must be divisible by {factor}; "
                f"the images are {height}x{width} (set data.image_size)"
            )
        self.config = config
        self.spec = spec
        self.num_classes = spec.num_classes if m.class_conditional else 0
        self.schedule = make_schedule(config.diffusion)
        self.parameterisation = config.diffusion.parameterisation
        dtype = compute_dtype(config)
        self.net = UNet(
            channels=m.channels, channel_mults=tuple(m.channel_mults), num_res_blocks=m.num_res_blocks,
            attention_resolutions=tuple(m.attention_resolutions), mid_attention=m.mid_attention, dropout=m.dropout,
            out_channels=channels, num_classes=self.num_classes, norm_min_group_size=norm_min_group_size(config),
            dtype=dtype,
        )

    # ----------------------------------------------------------------- model pieces
    def denoiser(self, params: Any, labels: jax.Array | None = None) -> losses.DenoiseFn:
        """(x_t, t) -> network output with `params` (and class `labels`) bound; guidance applied when the
        model is class-conditional and sample.guidance_scale != 0."""
        if not self.num_classes:
            return lambda x, t: self.net.apply({"params": params}, x, t)

        def conditional(x: jax.Array, t: jax.Array, y: jax.Array) -> jax.Array:
            return self.net.apply({"params": params}, x, t, y)

        null = jnp.full_like(labels, self.num_classes)
        return samplers.classifier_free_guidance(conditional, labels, null, self.config.sample.guidance_scale)

    def create_state(self, rng: jax.Array) -> TrainState:
        k_init, k_state = jax.random.split(rng)
        x = jnp.zeros((1,) + self.spec.image_shape, jnp.float32)
        labels = jnp.zeros((1,), jnp.int32) if self.num_classes else None
        params = self.net.init(k_init, x, jnp.zeros((1,), jnp.int32), labels)["params"]
        return TrainState.create({"denoiser": make_part(self.config, "denoiser", params)}, k_state)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_t, k_eps, k_drop, k_label, k_flip = jax.random.split(state.step_rng(), 5)
        x0 = to_model_input(batch["image"], "scale11")
        if self.config.diffusion.random_flip:
            flip = jax.random.bernoulli(k_flip, 0.5, (x0.shape[0], 1, 1, 1))
            x0 = jnp.where(flip, x0[:, :, ::-1], x0)
        t = jax.random.randint(k_t, (x0.shape[0],), 0, self.schedule.num_steps)
        eps = jax.random.normal(k_eps, x0.shape, jnp.float32)
        xt = process.q_sample(self.schedule, x0, t, eps)
        labels = None
        if self.num_classes:
            drop = jax.random.bernoulli(k_label, self.config.model.label_dropout, batch["label"].shape)
            labels = jnp.where(drop, self.num_classes, batch["label"])
        target = process.regression_target(self.parameterisation, self.schedule, x0, t, eps)
        weights = self._loss_weights(t)

        def loss_fn(params: Any) -> jax.Array:
            out = self.net.apply({"params": params}, xt, t, labels, train=True, rngs={"dropout": k_drop})
            return jnp.mean(losses.simple_loss(out, target, weights))

        loss, grads = jax.value_and_grad(loss_fn)(state.params["denoiser"])
        return state.apply_gradients("denoiser", grads), {"loss": loss, "grad_norm": optax.global_norm(grads)}

    def _loss_weights(self, t: jax.Array) -> jax.Array | None:
        d = self.config.diffusion
        if d.loss_weighting == "none":
            return None
        return losses.timestep_weights(
            d.loss_weighting, self.schedule, t, self.parameterisation, num_dims=math.prod(self.spec.image_shape),
            variance=self.config.sample.variance, min_snr_gamma=d.min_snr_gamma,
        )

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1] from `sample.sampler`; class-conditional models take `cond['label']` (num,)
        or cycle through the classes."""
        check_sample_count(num)
        labels = labels_of(cond, num, self.num_classes)
        return (self._sample_model_space(params["denoiser"], rng, num, labels) + 1.0) / 2.0

    def _sample_model_space(
        self, params: Any, rng: jax.Array, num: int, labels: jax.Array | None = None, trajectory: bool = False
    ) -> Any:
        s = self.config.sample
        shape = (num,) + self.spec.image_shape
        denoise = self.denoiser(params, labels)
        if s.sampler == "ddpm":
            return samplers.ddpm_sample(
                denoise, self.schedule, rng, shape, self.parameterisation, s.variance, s.clip_x0, trajectory
            )
        return samplers.ddim_sample(
            denoise, self.schedule, rng, shape, s.steps, s.eta, self.parameterisation, s.clip_x0, trajectory
        )

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Samples (one row per class for a class-conditional model) and the reverse process of 8 of
        them: PICTURE_TRAJECTORY_FRAMES frames from noise to image."""
        del batch
        grid = class_rows(self.sample, params, rng, self.num_classes, self.config.train.num_grid_samples)
        labels = labels_of(None, 8, self.num_classes)
        _, path = self._sample_model_space(params["denoiser"], jax.random.fold_in(rng, 1), 8, labels, trajectory=True)
        frames = jnp.linspace(0, path.shape[0] - 1, PICTURE_TRAJECTORY_FRAMES).astype(jnp.int32)
        strip = jnp.clip((jnp.swapaxes(path[frames], 0, 1) + 1.0) / 2.0, 0.0, 1.0)
        return {"samples": grid, "reverse_process": (strip.reshape((-1,) + self.spec.image_shape), PICTURE_TRAJECTORY_FRAMES)}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums of L_simple at random timesteps and, over the rows at positions below
        eval.bound_examples, of the variational bound (T network calls, skipped for batches without such rows)."""
        params = params["denoiser"]
        k_t, k_eps, k_bound = jax.random.split(rng, 3)
        x0 = to_model_input(batch["image"], "scale11")
        mask = batch["mask"]
        labels = batch["label"] if self.num_classes else None
        t = jax.random.randint(k_t, (x0.shape[0],), 0, self.schedule.num_steps)
        eps = jax.random.normal(k_eps, x0.shape, jnp.float32)
        out = self.net.apply({"params": params}, process.q_sample(self.schedule, x0, t, eps), t, labels)
        target = process.regression_target(self.parameterisation, self.schedule, x0, t, eps)
        bound_mask = mask * (batch["position"] < self.config.eval.bound_examples)
        sums = {"loss": jnp.sum(losses.simple_loss(out, target) * mask), "count": jnp.sum(mask), "bound_count": jnp.sum(bound_mask)}

        def denoise(x: jax.Array, tt: jax.Array) -> jax.Array:
            return self.net.apply({"params": params}, x, tt, labels)

        def bound(_: None) -> jax.Array:
            variance = self.config.sample.variance
            total = losses.variational_bound(denoise, self.schedule, x0, k_bound, self.parameterisation, variance)["total"]
            return jnp.sum(total * bound_mask)

        sums["bound_nats"] = jax.lax.cond(jnp.any(bound_mask > 0), bound, lambda _: jnp.zeros(()), None)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """Test L_simple; the variational bound in nats and bits/dim on the first `eval.bound_examples` test images."""
        results = {"loss": totals["loss"] / totals["count"], "num_examples": totals["count"]}
        if totals["bound_count"]:
            nats = totals["bound_nats"] / totals["bound_count"]
            dims = math.prod(self.spec.image_shape)
            results.update(
                bound_nats=nats, bits_per_dim=float(discrete_bits_per_dim(nats, dims)), bound_examples=totals["bound_count"]
            )
        return results


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> DDPMTask:
    return DDPMTask(config, spec)
