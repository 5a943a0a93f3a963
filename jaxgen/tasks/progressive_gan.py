"""Progressive growing of GANs (Karras et al. 2018): train at 4x4, then grow both networks a level at a time.

The schedule (`progressive.phase_steps` = T steps per phase): level 0 (4x4) trains for T steps; then each
level k = 1..L fades in over T steps (alpha 0 -> 1, linear in the step) and trains stable for T more; the
top level (4 * 2^L = data.image_size) keeps training to the end. The real images follow the networks: the
batch is average-pooled to the level's side and, during a fade, blended the same way as G's output,
x = (1 - alpha) upsample(avgpool(x_k)) + alpha x_k (the paper's code), so D never sees a resolution G cannot
draw. Networks, fade-in, equalised learning rate, pixel norm and minibatch stddev: jaxgen/nn/progressive.py.

The loss is WGAN-GP with the drift term (the paper's appendix A.1): with lambda = progressive.penalty_weight
(10), epsilon_drift = progressive.drift_weight (0.001),

  L_D = E D(G(z)) - E D(x) + lambda E_x^ (||grad D(x^)||_2 - 1)^2 + epsilon_drift E D(x)^2,    L_G = -E D(G(z)),

one D update then one G update per step (n_critic 1), Adam lr 1e-3, b1 0, b2 0.99, an EMA of G with decay 0.999
(sampling and evaluation use it).

Compilation: each of the 2 L + 1 phases is compiled once, when its first step comes (the task's
`phase_starts`, see jaxgen/train/contract.py): the level is static within a phase and a fade-in's alpha a
traced function of the step, so no step is compiled per alpha, and a run resumed in the middle of a fade-in
recomputes alpha from its step. (One program with `jax.lax.switch` over the levels would compile once, but
XLA:CPU runs the convolutions inside a conditional's branches ~20-30x slower: 19.8 s against 0.67 s per
step of the demo at 32x32.) The state's `growth` part holds the (level, alpha) of the last step trained; it
has no optimiser (optax.set_to_zero) and receives no gradients: it is how `sample` and the evaluation, which
see parameters only, know which level to draw at. They compute every level in one pass (a level's features
are the next one's input) and select the current one; samples of a level below the top are upsampled
(nearest neighbour) to data.image_size.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.gan import losses
from jaxgen.nn.layers import upsample_nearest
from jaxgen.nn.progressive import (
    ProgressiveCritic, ProgressiveGenerator, average_pool, fade, level_side, level_widths, top_level,
)
from jaxgen.tasks import Batch, Cond, Pictures, check_sample_count
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import Part, TrainState
from jaxgen.validation import ConfigError, check, check_positive, check_scale11

LEVEL_ROWS = 8  # noises of the `levels` picture


def validate_config(config: ml_collections.ConfigDict) -> None:
    p = config.progressive
    for key in ("progressive.phase_steps", "progressive.z_dim", "progressive.group_size", "model.width_base", "model.max_width"):
        check_positive(config, key)
    for key in ("progressive.penalty_weight", "progressive.drift_weight"):
        check_positive(config, key, allow_zero=True)
    check(config.train.compute_dtype == "float32", "the progressive GAN computes in float32: set train.compute_dtype=float32")
    check(config.data.pair == "" and config.data.second == "", "the progressive GAN learns one image distribution: data.pair and data.second must be ''")
    check_scale11(config, "the progressive GAN draws images in [-1, 1]")
    check_no_ema(config, "discriminator")
    check(config.data.batch_size % min(p.group_size, config.data.batch_size) == 0,
          f"data.batch_size={config.data.batch_size} must split into minibatch-stddev groups of progressive.group_size={p.group_size}")


def phase_growth(phase: int, step: jax.Array, phase_steps: int) -> tuple[int, jax.Array | None]:
    """(level, alpha) of a step of phase `phase` (phase P starts at step P T): phase 0 trains level 0; odd P fades
    level (P + 1) / 2 in with alpha = (step - P T) / T; even P trains level P / 2 stable (alpha None: no blend)."""
    level = (phase + 1) // 2
    if phase % 2 == 0:
        return level, None
    return level, (step - phase * phase_steps).astype(jnp.float32) / phase_steps


def real_at(images: jax.Array, level: int, alpha: jax.Array | None) -> jax.Array:
    """Images (B, S, S, C) as D sees them at `level` with fade weight `alpha` (module docstring; None: stable)."""
    x = average_pool(images, images.shape[1] // level_side(level))
    return x if level == 0 or alpha is None else fade(upsample_nearest(average_pool(x)), x, alpha)


class ProgressiveGANTask:
    """The progressive GAN bound to one config: pure functions of (params or state, batch, rng)."""

    conditions = ()
    num_classes = 0

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        height, width, channels = spec.image_shape
        try:
            self.top = top_level(height)
        except ValueError as e:
            raise ConfigError(f"{e} (data.name='{spec.name}'; set data.image_size)") from None
        if width != height:
            raise ConfigError(f"the progressive GAN draws square images, data.name='{spec.name}' is {height}x{width}; set data.image_size")
        m = config.model
        widths = level_widths(self.top + 1, m.width_base, m.max_width)
        if min(widths) < 1:
            raise ConfigError(f"model.width_base={m.width_base} leaves level {widths.index(min(widths))} without channels: raise it")
        self.config, self.spec = config, spec
        self.phase_starts = tuple(p * config.progressive.phase_steps for p in range(2 * self.top + 1))
        self.generator = ProgressiveGenerator(widths, channels)
        self.critic = ProgressiveCritic(widths, config.progressive.group_size)

    # ----------------------------------------------------------------- state and networks
    def create_state(self, rng: jax.Array) -> TrainState:
        k_g, k_d, k_state = jax.random.split(rng, 3)
        z = jnp.zeros((2, self.config.progressive.z_dim))
        x = jnp.zeros((self.config.progressive.group_size,) + self.spec.image_shape)
        params_g = self.generator.init(k_g, z, method=ProgressiveGenerator.every_level)["params"]
        params_d = self.critic.init(k_d, x, method=ProgressiveCritic.every_level)["params"]
        growth = {"level": jnp.zeros((), jnp.int32), "alpha": jnp.ones((), jnp.float32)}
        parts = {
            "generator": make_part(self.config, "generator", params_g),
            "discriminator": make_part(self.config, "discriminator", params_d),
            "growth": Part.create(growth, optax.set_to_zero()),
        }
        return TrainState.create(parts, k_state)

    def generate(self, params_g: Any, z: jax.Array, level: int, alpha: jax.Array | None) -> jax.Array:
        return self.generator.apply({"params": params_g}, z, level, alpha)

    def criticise(self, params_d: Any, x: jax.Array, level: int, alpha: jax.Array | None) -> jax.Array:
        return self.critic.apply({"params": params_d}, x, level, alpha)

    def draw_z(self, rng: jax.Array, num: int) -> jax.Array:
        return jax.random.normal(rng, (num, self.config.progressive.z_dim))

    # ----------------------------------------------------------------- the objectives
    def critic_objective(
        self, params_d: Any, real: jax.Array, fake: jax.Array, level: int, alpha: jax.Array | None, rng: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """L_D of the module docstring, with its terms."""
        p = self.config.progressive
        real_score = self.criticise(params_d, real, level, alpha)
        fake_score = self.criticise(params_d, fake, level, alpha)
        critic = functools.partial(self.criticise, params_d, level=level, alpha=alpha)
        penalty = losses.gradient_penalty(critic, losses.interpolates(rng, real, fake))
        drift = jnp.mean(jnp.square(real_score))
        loss = losses.discriminator_loss("wgan", real_score, fake_score) + p.penalty_weight * penalty + p.drift_weight * drift
        return loss, {"wasserstein": jnp.mean(real_score) - jnp.mean(fake_score), "gradient_penalty": penalty, "drift": drift}

    def generator_objective(self, params_g: Any, params_d: Any, z: jax.Array, level: int, alpha: jax.Array | None) -> jax.Array:
        return losses.generator_loss("wgan", self.criticise(params_d, self.generate(params_g, z, level, alpha), level, alpha))

    # ----------------------------------------------------------------- one step: one D update, one G update
    def step_at_level(
        self, level: int, state: TrainState, images: jax.Array, alpha: jax.Array | None
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        """The step of one resolution level (static), fade weight `alpha` traced (None: a stable phase)."""
        k_fake, k_penalty, k_g = jax.random.split(state.step_rng(), 3)
        real = real_at(images, level, alpha)
        fake = jax.lax.stop_gradient(self.generate(state.params["generator"], self.draw_z(k_fake, real.shape[0]), level, alpha))
        (d_loss, terms), d_grads = jax.value_and_grad(self.critic_objective, has_aux=True)(
            state.params["discriminator"], real, fake, level, alpha, k_penalty
        )
        state = state.apply_gradients("discriminator", d_grads)
        g_loss, g_grads = jax.value_and_grad(self.generator_objective)(
            state.params["generator"], state.params["discriminator"], self.draw_z(k_g, real.shape[0]), level, alpha
        )
        state = state.apply_gradients("generator", g_grads)
        metrics = {"d_loss": d_loss, "g_loss": g_loss, "d_grad_norm": optax.global_norm(d_grads),
                   "g_grad_norm": optax.global_norm(g_grads), **terms}
        return state, metrics

    def train_step(self, state: TrainState, batch: Batch, phase: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """The step of phase `phase` (static; the loop compiles one program per phase)."""
        level, alpha = phase_growth(phase, state.step, self.config.progressive.phase_steps)
        state, metrics = self.step_at_level(level, state, to_model_input(batch["image"], "scale11"), alpha)
        alpha = jnp.ones((), jnp.float32) if alpha is None else alpha
        state = state.with_params("growth", {"level": jnp.full((), level, jnp.int32), "alpha": alpha})
        return state, {**metrics, "level": jnp.full((), level, jnp.float32), "alpha": alpha}

    # ----------------------------------------------------------------- sampling and pictures
    def at_growth(self, params: Any, per_level: list[jax.Array]) -> jax.Array:
        """The entry of `per_level` (one array per level, level-k images at side 4 * 2^k) at the growth of
        `params`, upsampled to data.image_size."""
        return jnp.stack([self.full_size(x) for x in per_level])[params["growth"]["level"]]

    def full_size(self, images: jax.Array) -> jax.Array:
        """Images of a level (B, s, s, C) upsampled (nearest neighbour) to data.image_size."""
        return upsample_nearest(images, self.spec.image_shape[0] // images.shape[1])

    def draw(self, params: Any, z: jax.Array) -> jax.Array:
        """G(z) in [-1, 1] at the growth of `params` (level and fade), upsampled to data.image_size."""
        per_level = self.generator.apply(
            {"params": params["generator"]}, z, params["growth"]["alpha"], method=ProgressiveGenerator.every_level_faded
        )
        return self.at_growth(params, per_level)

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1] (G's linear output clipped), at the level of the last step trained."""
        del cond
        check_sample_count(num)
        return jnp.clip((self.draw(params, self.draw_z(rng, num)) + 1.0) / 2.0, 0.0, 1.0)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """`samples`: the grid of fixed noise; `levels`: 8 noises (rows) drawn by every level's own output
        (columns 4x4 to the top, upsampled) -- levels not yet trained show what their untrained layers make."""
        del batch
        k_grid, k_levels = jax.random.split(rng)
        z = self.draw_z(k_levels, LEVEL_ROWS)
        own = self.generator.apply({"params": params["generator"]}, z, method=ProgressiveGenerator.every_level)
        levels = jnp.clip((jnp.stack([self.full_size(x) for x in own], axis=1).reshape((-1,) + self.spec.image_shape) + 1.0) / 2.0, 0.0, 1.0)
        return {"samples": (self.sample(params, k_grid, self.config.train.num_grid_samples), 0), "levels": (levels, self.top + 1)}

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """The critic's mean score on held-out images and on as many samples, at the current growth, and
        their difference (the Wasserstein estimate on unseen data; sample quality comes from eval.feature_network).
        Every level is scored and the current one kept: no conditional, whose branches XLA:CPU runs slowly."""
        mask, alpha = batch["mask"], params["growth"]["alpha"]
        images = to_model_input(batch["image"], "scale11")
        fakes = self.generator.apply(
            {"params": params["generator"]}, self.draw_z(rng, images.shape[0]), alpha, method=ProgressiveGenerator.every_level_faded
        )
        params_d = params["discriminator"]
        real_scores = jnp.stack([self.criticise(params_d, real_at(images, k, alpha), k, alpha) for k in range(self.top + 1)])
        fake_scores = jnp.stack([self.criticise(params_d, fake, k, alpha) for k, fake in enumerate(fakes)])
        level = params["growth"]["level"]
        real_score, fake_score = real_scores[level], fake_scores[level]
        return {"d_real_test": jnp.sum(real_score * mask), "d_fake_test": jnp.sum(fake_score * mask),
                "wasserstein_test": jnp.sum((real_score - fake_score) * mask), "count": jnp.sum(mask)}

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> ProgressiveGANTask:
    return ProgressiveGANTask(config, spec)
