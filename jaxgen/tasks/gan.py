"""Generative adversarial networks: the seed's ten losses on shared generators and discriminators.

`gan.loss` picks the row of the table (the losses themselves are pure functions in jaxgen/gan/losses.py):

  gan      Goodfellow et al. 2014; `gan.generator_loss` non_saturating (-log D(G(z)), standard practice)
           or minimax (log(1 - D(G(z))))
  lsgan    least squares (Mao et al. 2017)
  wgan     Wasserstein critic with weight clipping to [-gan.clip, gan.clip] (Arjovsky et al. 2017)
  wgan_gp  Wasserstein critic with the gradient penalty on interpolates, weight gan.penalty_weight
  dragan   the GAN loss plus the gradient penalty around perturbed data (Kodali et al. 2017)
  cgan     G and D both see the class (Mirza & Osindero 2014)
  infogan  G sees categorical and continuous codes; a Q head on D's features recovers them, and
           gan.info_weight * (-E log Q(c | G(z, c))) is added to both players (Chen et al. 2016)
  acgan    G sees the class, D predicts it: the class cross-entropy on real and fake data is added to
           D's loss, on fake data to G's (Odena et al. 2017)
  ebgan    autoencoder D with energy = reconstruction MSE, margin gan.margin, G adds the pulling-away
           term times gan.pt_weight (Zhao et al. 2017)
  began    autoencoder D with energy L(v) = mean |v - D(v)|^eta (gan.began_eta: 1, the paper's runs, or 2), k_t
           equilibrium control (gan.began_gamma, gan.began_lambda_k) and the convergence measure M_global
           (Berthelot et al. 2017); with model.arch=began, model.minibatch_stddev gives D's encoder the spread
           of its batch

One `train_step` runs `gan.n_critic` discriminator updates (unrolled in the one jitted function, each on
its own slice of the batch: data.batch_size = n_critic * the critic's minibatch) and then one generator
update: two parts of one TrainState, `generator` and `discriminator`, each with its optimiser
(`optim.generator.*`, `optim.discriminator.*`, both defaulting to `optim.*`). The seed's tips: one-sided
label smoothing (gan.label_smoothing), instance noise on D's inputs annealed linearly to 0 over training
(gan.instance_noise, its initial std), the zero-centred gradient-norm penalty on real data (gan.r1_weight,
Mescheder et al. 2018), TTUR (optim.discriminator.lr != optim.generator.lr) and an EMA of G's weights
(optim.generator.ema_decay; sampling and evaluation use it). With gan.reuse_fakes (n_critic 1), G's update
differentiates the very fakes D was just trained on through G's saved VJP -- PyTorch's DCGAN example, one G
forward per step instead of two (Goodfellow et al.'s Algorithm 1 draws fresh noise for G).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.gan import losses
from jaxgen.nn import gan as nets
from jaxgen.tasks import Cond, Pictures, check_sample_count, class_rows, labels_of, require_labels
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import check_no_ema, make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive, check_scale11

Batch = dict[str, jax.Array]
LOSSES = ("gan", "lsgan", "wgan", "wgan_gp", "dragan", "cgan", "infogan", "acgan", "ebgan", "began")
LOG_LOSS_ROWS = ("gan", "dragan", "cgan", "infogan", "acgan")  # D is a classifier with the log loss
CRITIC_ROWS = ("wgan", "wgan_gp")
ENERGY_ROWS = ("ebgan", "began")
GENERATOR_LOSSES = ("non_saturating", "minimax")
Z_PRIORS = ("normal", "uniform")  # N(0, I) or U[-1, 1]^d (BEGAN's)
INTERPOLATION_ROWS, INTERPOLATION_STEPS = 8, 10
TRAVERSAL_STEPS = 10


def validate_config(config: ml_collections.ConfigDict) -> None:
    g, m = config.gan, config.model
    check_choice(config, "gan.loss", LOSSES)
    check_choice(config, "gan.generator_loss", GENERATOR_LOSSES)
    check_choice(config, "model.arch", nets.GAN_ARCHITECTURES)
    check_choice(config, "model.d_norm", nets.NORMS)
    for key in ("gan.z_dim", "gan.n_critic", "model.width"):
        check_positive(config, key)
    for key in ("gan.clip", "gan.penalty_weight", "gan.r1_weight", "gan.info_weight", "gan.aux_weight", "gan.margin",
                "gan.pt_weight", "gan.instance_noise", "gan.categorical_codes", "gan.continuous_codes"):
        check_positive(config, key, allow_zero=True)
    check(0.0 <= g.label_smoothing < 1.0, f"config key 'gan.label_smoothing' must be in [0, 1), got {g.label_smoothing}")
    check(
        config.data.batch_size % g.n_critic == 0,
        f"data.batch_size={config.data.batch_size} must be a multiple of gan.n_critic={g.n_critic} "
        "(each critic update takes its own slice of the batch)",
    )
    check(
        not g.get("reuse_fakes", False) or g.n_critic == 1,
        f"config key 'gan.reuse_fakes' needs gan.n_critic=1 (got {g.n_critic}): G's update reuses the one D update's fakes",
    )
    check_scale11(config, "GAN generators end in tanh")
    check_no_ema(config, "discriminator", " (for an EMA of G set optim.generator.ema_decay)")
    check(
        g.loss not in ENERGY_ROWS or m.arch in ("dcgan", "began"),
        f"gan.loss='{g.loss}' uses a convolutional autoencoder discriminator: set model.arch='dcgan' or 'began'",
    )
    check(
        m.arch != "began" or g.loss in ENERGY_ROWS,
        f"model.arch='began' is an autoencoder discriminator, scored by its energy: set gan.loss='began' or 'ebgan' "
        f"(got '{g.loss}')",
    )
    group = minibatch_stddev_group(config)
    check(group >= 0, f"config key 'model.minibatch_stddev' is a group size (0: no map), got {group}")
    check(
        not group or m.arch == "began",
        f"config key 'model.minibatch_stddev' adds a map to BEGAN's encoder: set model.arch='began' (got '{m.arch}')",
    )
    for key, size in (("data.batch_size", config.data.batch_size // g.n_critic), ("data.eval_batch_size", config.data.eval_batch_size)):
        check(
            not group or size % min(group, size) == 0,
            f"model.minibatch_stddev={group} needs D's batches to split into groups of {group}: {key} gives {size}",
        )
    check(
        began_eta(config) in (1, 2),
        f"config key 'gan.began_eta' is BEGAN's target norm eta of |v - D(v)|^eta: 1 or 2, got {began_eta(config)}",
    )
    check(
        z_prior(config) in Z_PRIORS,
        f"config key 'gan.z_prior' must be one of {', '.join(Z_PRIORS)}, got '{z_prior(config)}'",
    )
    check(
        g.loss not in ("wgan_gp", "dragan") or m.d_norm != "batch",
        f"gan.loss='{g.loss}' penalises each example's gradient, which batch statistics mix: set model.d_norm=layer or none",
    )
    check(
        g.loss != "infogan" or g.categorical_codes + g.continuous_codes > 0,
        "gan.loss='infogan' needs gan.categorical_codes or gan.continuous_codes > 0",
    )


def began_eta(config: ml_collections.ConfigDict) -> int:
    """BEGAN's target norm eta of L(v) = |v - D(v)|^eta (1 or 2); runs saved before the key existed used 1."""
    return config.gan.get("began_eta", 1)


def minibatch_stddev_group(config: ml_collections.ConfigDict) -> int:
    """model.minibatch_stddev; runs saved before the key existed had no map in D."""
    return config.model.get("minibatch_stddev", 0)


def z_prior(config: ml_collections.ConfigDict) -> str:
    """gan.z_prior; runs saved before the key existed drew z from N(0, I)."""
    return config.gan.get("z_prior", "normal")


def adversarial_kind(config: ml_collections.ConfigDict) -> str:
    """The row of jaxgen/gan/losses.py's table that `gan.loss` uses."""
    loss = config.gan.loss
    if loss in LOG_LOSS_ROWS:
        return "standard" if config.gan.generator_loss == "non_saturating" else "minimax"
    return "wgan" if loss in CRITIC_ROWS else loss


def slerp(a: jax.Array, b: jax.Array, weights: jax.Array) -> jax.Array:
    """Spherical interpolation between latent vectors a, b (D,) at `weights` (N,) -> (N, D) (White 2016):
    points stay at the norm typical of a Gaussian z, unlike the straight line between them."""
    cos = jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    w = weights[:, None]
    return (jnp.sin((1.0 - w) * omega) * a + jnp.sin(w * omega) * b) / jnp.sin(omega)


class GANTask:
    """The GAN family bound to one config: pure functions of (params or state, batch, rng)."""

    conditions = ()

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        g, m = config.gan, config.model
        if g.loss in ("cgan", "acgan"):
            require_labels(spec, f"gan.loss='{g.loss}'")
        self.config = config
        self.spec = spec
        self.loss = g.loss
        self.kind = adversarial_kind(config)
        self.num_classes = spec.num_classes if g.loss in ("cgan", "acgan") else 0
        self.categorical = g.categorical_codes if g.loss == "infogan" else 0
        self.continuous = g.continuous_codes if g.loss == "infogan" else 0
        sizes = {"dcgan": nets.dcgan_base_size, "began": nets.began_scales}
        if m.arch in sizes:
            try:
                sizes[m.arch](spec.image_shape[0])
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if m.arch == "began":
            self.generator = nets.BEGANGenerator(spec.image_shape, m.width)
        elif m.arch == "dcgan":
            self.generator = nets.DCGANGenerator(spec.image_shape, m.width, self.num_classes)
        else:
            self.generator = nets.MLPGenerator(spec.image_shape, m.mlp_hidden, self.num_classes)
        d_classes = self.num_classes if g.loss == "cgan" else 0
        aux = self.num_classes if g.loss == "acgan" else 0
        if g.loss in ENERGY_ROWS:
            energy = "l2" if g.loss == "ebgan" or began_eta(config) == 2 else "l1"
            self.discriminator = (
                nets.BEGANDiscriminator(m.width, m.embedding_dim, energy, minibatch_stddev_group(config))
                if m.arch == "began"
                else nets.AutoencoderDiscriminator(m.width, m.embedding_dim, energy, m.d_norm)
            )
        elif m.arch == "dcgan":
            self.discriminator = nets.DCGANDiscriminator(m.width, m.d_norm, d_classes, aux, self.categorical, self.continuous)
        else:
            self.discriminator = nets.MLPDiscriminator(
                m.maxout_units, m.maxout_pieces, m.dropout, d_classes, aux, self.categorical, self.continuous
            )
        self.d_labels = d_classes > 0

    # ----------------------------------------------------------------- model pieces
    @property
    def latent_dim(self) -> int:
        return self.config.gan.z_dim + self.categorical + self.continuous

    def draw_latents(self, rng: jax.Array, num: int) -> tuple[jax.Array, dict[str, jax.Array]]:
        """G's input (num, latent_dim): z from gan.z_prior, then infoGAN's one-hot categorical code and its
        continuous codes ~ U[-1, 1]; returns it with the codes drawn."""
        k_z, k_cat, k_cont = jax.random.split(rng, 3)
        z_shape = (num, self.config.gan.z_dim)
        uniform = z_prior(self.config) == "uniform"
        parts = [jax.random.uniform(k_z, z_shape, minval=-1.0, maxval=1.0) if uniform else jax.random.normal(k_z, z_shape)]
        codes = {}
        if self.categorical:
            codes["categorical"] = jax.random.randint(k_cat, (num,), 0, self.categorical)
            parts.append(jax.nn.one_hot(codes["categorical"], self.categorical))
        if self.continuous:
            codes["continuous"] = jax.random.uniform(k_cont, (num, self.continuous), minval=-1.0, maxval=1.0)
            parts.append(codes["continuous"])
        return jnp.concatenate(parts, -1), codes

    def generate(self, params_g: Any, latent: jax.Array, labels: jax.Array | None) -> jax.Array:
        """G(z): in [-1, 1] through the tanh of the MLP and DCGAN generators, unbounded from BEGAN's linear one."""
        return self.generator.apply({"params": params_g}, latent, labels if self.num_classes else None)

    def discriminate(self, params_d: Any, x: jax.Array, labels: jax.Array | None, rng: jax.Array) -> dict[str, jax.Array]:
        labels = labels if self.d_labels else None
        return self.discriminator.apply({"params": params_d}, x, labels, train=True, rngs={"dropout": rng})

    def create_state(self, rng: jax.Array) -> TrainState:
        k_g, k_d, k_state = jax.random.split(rng, 3)
        labels = jnp.zeros((2,), jnp.int32)
        params_g = self.generator.init(k_g, jnp.zeros((2, self.latent_dim)), labels if self.num_classes else None)["params"]
        params_d = self.discriminator.init(k_d, jnp.zeros((2,) + self.spec.image_shape), labels if self.d_labels else None)["params"]
        parts = {
            "generator": make_part(self.config, "generator", params_g),
            "discriminator": make_part(self.config, "discriminator", params_d, self.config.train.num_steps * self.config.gan.n_critic),
        }
        model_state = {"began_k": jnp.zeros((), jnp.float32)} if self.loss == "began" else {}
        return TrainState.create(parts, k_state, model_state=model_state)

    # ----------------------------------------------------------------- the two players' objectives
    def _code_nll(self, out: dict[str, jax.Array], codes: dict[str, jax.Array]) -> jax.Array:
        nll = jnp.zeros((), jnp.float32)
        if self.categorical:
            nll += losses.info_categorical(out["code_logits"], codes["categorical"])
        if self.continuous:
            nll += losses.info_continuous(out["code_mean"], out["code_log_std"], codes["continuous"])
        return nll

    def _code_entropy(self) -> float:
        """H(c) of infoGAN's codes: log K for the categorical one, log 2 per U[-1, 1] code."""
        return (math.log(self.categorical) if self.categorical else 0.0) + self.continuous * math.log(2.0)

    def discriminator_objective(
        self, params_d: Any, real: jax.Array, fake: jax.Array, labels: jax.Array | None, codes: dict[str, jax.Array],
        rng: jax.Array, began_k: jax.Array, noise_std: jax.Array,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        g = self.config.gan
        k_noise_real, k_noise_fake, k_drop, k_penalty = jax.random.split(rng, 4)
        real_in = real + noise_std * jax.random.normal(k_noise_real, real.shape)
        fake_in = fake + noise_std * jax.random.normal(k_noise_fake, fake.shape)
        out_real = self.discriminate(params_d, real_in, labels, k_drop)
        out_fake = self.discriminate(params_d, fake_in, labels, jax.random.fold_in(k_drop, 1))
        loss = losses.discriminator_loss(
            self.kind, out_real["logit"], out_fake["logit"], label_smoothing=g.label_smoothing, margin=g.margin, k=began_k
        )

        def critic(x: jax.Array) -> jax.Array:
            return self.discriminate(params_d, x, labels, k_drop)["logit"]

        if self.loss == "acgan":
            loss += g.aux_weight * (
                losses.auxiliary_classification(out_real["class_logits"], labels)
                + losses.auxiliary_classification(out_fake["class_logits"], labels)
            )
        if self.loss == "infogan":
            loss += g.info_weight * self._code_nll(out_fake, codes)
        if self.loss == "wgan_gp":
            loss += g.penalty_weight * losses.gradient_penalty(critic, losses.interpolates(k_penalty, real, fake))
        if self.loss == "dragan":
            loss += g.penalty_weight * losses.gradient_penalty(critic, losses.dragan_points(k_penalty, real))
        if g.r1_weight:
            loss += 0.5 * g.r1_weight * losses.gradient_penalty(critic, real_in, target=0.0)
        return loss, {"real": out_real["logit"], "fake": out_fake["logit"]}

    def generator_objective(
        self, params_g: Any, params_d: Any, latent: jax.Array, codes: dict[str, jax.Array], labels: jax.Array | None,
        rng: jax.Array,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        return self.objective_of_fakes(self.generate(params_g, latent, labels), params_d, codes, labels, rng)

    def objective_of_fakes(
        self, fake: jax.Array, params_d: Any, codes: dict[str, jax.Array], labels: jax.Array | None, rng: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """G's objective as a function of its images G(z) (the generator objective without G)."""
        g = self.config.gan
        out = self.discriminate(params_d, fake, labels, rng)
        loss = losses.generator_loss(self.kind, out["logit"])
        extras = {"fake": out["logit"]}
        if self.loss == "acgan":
            loss += g.aux_weight * losses.auxiliary_classification(out["class_logits"], labels)
        if self.loss == "infogan":
            nll = self._code_nll(out, codes)
            loss += g.info_weight * nll
            extras["info_lower_bound"] = self._code_entropy() - nll
        if self.loss == "ebgan":
            extras["pulling_away"] = losses.pulling_away_term(out["embedding"])
            loss += g.pt_weight * extras["pulling_away"]
        return loss, extras

    def _score(self, output: jax.Array) -> jax.Array:
        """D(x) per example: the probability for the log-loss rows, the raw output (critic value, LSGAN
        score, energy) for the others."""
        return jax.nn.sigmoid(output) if self.loss in LOG_LOSS_ROWS else output

    # ----------------------------------------------------------------- one step: n_critic D updates, one G update
    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        g = self.config.gan
        n = g.n_critic
        k_critic, k_latent, k_g = jax.random.split(state.step_rng(), 3)
        real = to_model_input(batch["image"], "scale11")
        real = real.reshape((n, real.shape[0] // n) + real.shape[1:])
        labels = batch["label"].reshape(n, -1) if self.num_classes else None
        progress = state.step.astype(jnp.float32) / self.config.train.num_steps
        noise_std = g.instance_noise * jnp.maximum(0.0, 1.0 - progress)
        began_k = state.model_state.get("began_k", jnp.zeros(()))
        params_g = state.params["generator"]

        def critic_update(
            state: TrainState, real_i: jax.Array, labels_i: jax.Array | None, key: jax.Array, drawn: tuple | None = None
        ) -> tuple[TrainState, dict]:
            """One D update on `real_i` against fresh fakes, or against `drawn` = (fakes, codes)."""
            k_z, k_d = jax.random.split(key)
            if drawn is None:
                latent, codes = self.draw_latents(k_z, real_i.shape[0])
                fake = jax.lax.stop_gradient(self.generate(params_g, latent, labels_i))
            else:
                fake, codes = jax.lax.stop_gradient(drawn[0]), drawn[1]
            (loss, out), grads = jax.value_and_grad(self.discriminator_objective, has_aux=True)(
                state.params["discriminator"], real_i, fake, labels_i, codes, k_d, began_k, noise_std
            )
            state = state.apply_gradients("discriminator", grads)
            if self.loss == "wgan":
                clipped = jax.tree.map(lambda p: jnp.clip(p, -g.clip, g.clip), state.params["discriminator"])
                state = state.with_params("discriminator", clipped)
            metrics = {
                "d_loss": loss,
                "d_real": jnp.mean(self._score(out["real"])),
                "d_fake": jnp.mean(self._score(out["fake"])),
                "d_grad_norm": optax.global_norm(grads),
                "energy_real": jnp.mean(out["real"]),
            }
            if self.loss in CRITIC_ROWS:
                metrics["wasserstein"] = jnp.mean(out["real"]) - jnp.mean(out["fake"])
            return state, metrics

        # The k updates are traced one after the other rather than as a lax.scan: XLA's CPU backend emits
        # the convolutions' kernel gradients inside a while loop ~50x slower (750 ms against 14 ms for
        # DCGAN's second D layer at batch 128), even for a loop of one trip.
        g_labels = labels[-1] if self.num_classes else None
        latent, codes = self.draw_latents(k_latent, real.shape[1])
        if g.get("reuse_fakes", False):
            # PyTorch's DCGAN recipe: one G forward serves D's update (as constants) and G's (through its VJP).
            fake, pull_back = jax.vjp(lambda p: self.generate(p, latent, g_labels), params_g)
            state, critic_metrics = critic_update(state, real[0], g_labels, k_critic, (fake, codes))
            history = [critic_metrics]
            (g_loss, extras), grad_fake = jax.value_and_grad(self.objective_of_fakes, has_aux=True)(
                fake, state.params["discriminator"], codes, g_labels, k_g
            )
            (g_grads,) = pull_back(grad_fake)
        else:
            history = []
            for i, key in enumerate(jax.random.split(k_critic, n)):
                state, critic_metrics = critic_update(state, real[i], None if labels is None else labels[i], key)
                history.append(critic_metrics)
            (g_loss, extras), g_grads = jax.value_and_grad(self.generator_objective, has_aux=True)(
                params_g, state.params["discriminator"], latent, codes, g_labels, k_g
            )
        metrics = {k: jnp.mean(jnp.stack([h[k] for h in history])) for k in history[0]}
        energy_real = metrics.pop("energy_real")
        model_state = dict(state.model_state)
        if self.loss == "began":
            model_state["began_k"], metrics["m_global"] = losses.began_update(
                began_k, energy_real, extras["fake"], g.began_gamma, g.began_lambda_k
            )
            metrics["began_k"] = began_k
        metrics.update(
            g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads),
            **{k: v for k, v in extras.items() if k != "fake"},
        )
        return state.apply_gradients("generator", g_grads, model_state), metrics

    # ----------------------------------------------------------------- sampling and pictures
    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """`num` images in [0, 1]; class-conditional generators take `cond['label']` (num,) or cycle through
        the classes. G's BatchNorm normalises over the `num` images drawn together."""
        check_sample_count(num)
        latent, _ = self.draw_latents(rng, num)
        return self._from_latents(params, latent, labels_of(cond, num, self.num_classes))

    def _from_latents(self, params: Any, latent: jax.Array, labels: jax.Array | None) -> jax.Array:
        """Images in [0, 1]: G's [-1, 1] mapped, clipped where G's output is linear (BEGAN's)."""
        return jnp.clip((self.generate(params["generator"], latent, labels) + 1.0) / 2.0, 0.0, 1.0)

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        """Fixed-noise samples (one row per class for a class-conditional G), z-interpolation strips and,
        for infoGAN, code traversals. The noise comes from `rng`, the same at every call of the loop."""
        del batch
        k_grid, k_ends, k_traverse = jax.random.split(rng, 3)
        pictures: Pictures = {"samples": class_rows(self.sample, params, k_grid, self.num_classes, self.config.train.num_grid_samples)}

        ends, _ = self.draw_latents(k_ends, 2 * INTERPOLATION_ROWS)
        weights = jnp.linspace(0.0, 1.0, INTERPOLATION_STEPS)
        latents = jax.vmap(lambda a, b: slerp(a, b, weights))(ends[:INTERPOLATION_ROWS], ends[INTERPOLATION_ROWS:])
        row_labels = jnp.arange(INTERPOLATION_ROWS) % self.num_classes if self.num_classes else None
        labels = jnp.repeat(row_labels, INTERPOLATION_STEPS) if self.num_classes else None
        pictures["interpolation"] = (self._from_latents(params, latents.reshape(-1, self.latent_dim), labels), INTERPOLATION_STEPS)
        pictures.update(self._code_traversals(params, k_traverse))
        return pictures

    def _code_traversals(self, params: Any, rng: jax.Array) -> Pictures:
        """infoGAN: one picture per continuous code -- rows are the categorical values (or 8 noises),
        columns the code from -2 to 2 with the other codes at 0 and z fixed -- and one of the categorical
        code: rows are noises, columns its values."""
        if self.loss != "infogan":
            return {}
        z_dim = self.config.gan.z_dim
        rows = self.categorical or 8
        z = jnp.broadcast_to(jax.random.normal(rng, (1, z_dim)), (rows * TRAVERSAL_STEPS, z_dim))
        row_codes = jnp.repeat(jnp.arange(rows), TRAVERSAL_STEPS)
        one_hot = [jax.nn.one_hot(row_codes, self.categorical)] if self.categorical else []
        values = jnp.tile(jnp.linspace(-2.0, 2.0, TRAVERSAL_STEPS), rows)
        pictures: Pictures = {}
        for i in range(self.continuous):
            continuous = jnp.zeros((rows * TRAVERSAL_STEPS, self.continuous)).at[:, i].set(values)
            latent = jnp.concatenate([z] + one_hot + [continuous], -1)
            pictures[f"traverse_continuous_{i}"] = (self._from_latents(params, latent, None), TRAVERSAL_STEPS)
        if self.categorical:
            noises = jnp.repeat(jax.random.normal(jax.random.fold_in(rng, 1), (8, z_dim)), self.categorical, axis=0)
            codes = jnp.tile(jnp.arange(self.categorical), 8)
            latent = jnp.concatenate(
                [noises, jax.nn.one_hot(codes, self.categorical), jnp.zeros((8 * self.categorical, self.continuous))], -1
            )
            pictures["traverse_categorical"] = (self._from_latents(params, latent, None), self.categorical)
        return pictures

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """D's mean output (probability for the log-loss rows) on held-out images and on as many samples:
        a gap far larger than in training shows D memorising the training set. Sample quality (FID-D,
        class coverage, Inception FID) comes from eval.feature_network."""
        real = to_model_input(batch["image"], "scale11")
        mask = batch["mask"]
        labels = batch["label"] if self.num_classes else None
        k_z, k_d = jax.random.split(rng)
        latent, _ = self.draw_latents(k_z, real.shape[0])
        fake = self.generate(params["generator"], latent, labels)
        out_real = self.discriminate(params["discriminator"], real, labels, k_d)["logit"]
        out_fake = self.discriminate(params["discriminator"], fake, labels, k_d)["logit"]
        return {
            "d_real_test": jnp.sum(self._score(out_real) * mask), "d_fake_test": jnp.sum(self._score(out_fake) * mask),
            "count": jnp.sum(mask),
        }

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> GANTask:
    return GANTask(config, spec)
