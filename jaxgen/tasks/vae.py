"""Autoencoders and variational autoencoders (Kingma & Welling 2014).

VAE: q_phi(z|x) = N(mu, diag(sigma^2)) from the encoder, p(z) = N(0, I), p_theta(x|z) Bernoulli
(logits) or Gaussian (per-pixel mean and log-variance) from the decoder. One reparameterised
sample z = mu + sigma * eps per datapoint gives the estimator of K&W eq. 10:

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)),   loss = -mean_batch ELBO.

Conditional VAE (Sohn et al. 2015, `model.class_conditional`): the same bound on log p(x|y) with
q_phi(z|x, y), p(z) = N(0, I) and p_theta(x|z, y); the one-hot class y joins both networks. z then
carries what the class does not: the style, which `pictures` shows as analogies (one z, every y).
With `model.prior='class_gaussian'` the prior is learned too, p_psi(z|y) = N(m_y, S_y), and the KL
term is KL(q(z|x, y) || p_psi(z|y)): sampling draws z where the encoder put class y instead of from the
holes that N(0, I) leaves between the classes' codes (cf. the ex-post density estimation of Ghosh et
al. 2020, here learned with the ELBO). `model.prior='gaussian_mixture'` is the unconditional counterpart:
p_psi(z) = sum_k pi_k N(m_k, S_k), its KL term estimated with the one reparameterised sample.

AE: z = f(x) deterministic, x_hat = g(z) through a sigmoid ([0, 1] data) or tanh ([-1, 1]),
loss = mean_batch sum_pixels (x - x_hat)^2.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.stats import norm

from jaxgen import probability
from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval.image_similarity import SSIM_WINDOW, psnr, ssim
from jaxgen.eval.likelihood import discrete_bits_per_dim, importance_weighted_log_likelihood
from jaxgen.data.preprocess import DEQUANTIZE_LOG_SCALE
from jaxgen.nn import ClassGaussianPrior, ConvDecoder, ConvEncoder, GaussianMixturePrior, MLPDecoder, MLPEncoder
from jaxgen.nn.layers import ACTIVATIONS
from jaxgen.tasks import (
    Cond, Pictures, check_model_space, check_sample_count, class_rows, compute_dtype, labels_of, require_labels,
)
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive

Batch = dict[str, jax.Array]
Params = Any
PRIORS = ("standard_normal", "class_gaussian", "gaussian_mixture")
MANIFOLD_SIZE = 20  # the 2-D latent manifold picture is MANIFOLD_SIZE x MANIFOLD_SIZE
PICTURE_ROWS = 8


def is_class_conditional(config: ml_collections.ConfigDict) -> bool:
    """model.class_conditional; runs saved before the key were unconditional."""
    return config.model.get("class_conditional", False)


def prior_kind(config: ml_collections.ConfigDict) -> str:
    """model.prior; runs saved before the key had the standard prior."""
    return config.model.get("prior", "standard_normal")


def sample_temperature(config: ml_collections.ConfigDict) -> float:
    """tau of the prior's samples; runs saved before the key sampled at tau = 1."""
    return config.sample.get("temperature", 1.0)


def validate_config(config: ml_collections.ConfigDict) -> None:
    m = config.model
    check_choice(config, "model.kind", ("vae", "ae"))
    check_choice(config, "model.arch", ("mlp", "conv"))
    check_choice(config, "model.decoder", ("bernoulli", "gaussian"))
    check_choice(config, "model.activation", tuple(ACTIVATIONS))
    check_positive(config, "model.z_dim")
    check(
        m.kind == "vae" or not is_class_conditional(config),
        "model.class_conditional needs a VAE (model.kind='vae'): an autoencoder has no prior to condition",
    )
    check(sample_temperature(config) > 0, f"config key 'sample.temperature' must be > 0, got {sample_temperature(config)}")
    prior = prior_kind(config)
    check(prior in PRIORS, f"config key 'model.prior' is '{prior}'; choose one of: {', '.join(PRIORS)}")
    check(
        prior != "class_gaussian" or is_class_conditional(config),
        "model.prior='class_gaussian' is a prior per class: it needs model.class_conditional=True",
    )
    if prior == "gaussian_mixture":
        check_positive(config, "model.prior_components")
    check(m.arch == "mlp" or len(m.conv_features) > 0, "model.conv_features must be non-empty for model.arch='conv'")
    if m.kind == "vae" and m.decoder == "bernoulli":
        check(
            config.data.preprocess in ("binarize_dynamic", "binarize_static", "scale01"),
            f"model.decoder='bernoulli' needs data in [0, 1]; data.preprocess='{config.data.preprocess}' is not "
            "(use binarize_dynamic, binarize_static or scale01)",
        )
    check(
        m.kind == "vae" or config.eval.feature_network == "none",
        "eval.feature_network judges samples, and model.kind='ae' has no prior to sample from; set eval.feature_network='none'",
    )
    for k in config.eval.iwae_k:
        chunk = min(k, config.eval.iwae_chunk)
        check(k > 0 and k % chunk == 0, f"eval.iwae_k entry {k} is not a multiple of eval.iwae_chunk={config.eval.iwae_chunk}")


class VAETask:
    """The AE/VAE family bound to one config: pure functions of (params or state, batch, rng).

    The state has one part, `model` ({encoder, decoder}). The contract's methods (`sample`, `pictures`,
    `eval_batch`, `representation`) take the state's `eval_params`; the model's own functions (`encode`,
    `decode`, `reconstruct`, `interpolate`, `traverse`, `latent_manifold`) take the part's parameters,
    `eval_params["model"]`.
    """

    conditions = ()

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec):
        self.config = config
        self.spec = spec
        m = config.model
        self.image_shape = spec.image_shape
        levels = len(m.conv_features)
        if m.arch == "conv" and (self.image_shape[0] % 2**levels or self.image_shape[1] % 2**levels):
            raise ConfigError(
                f"model.arch='conv' with {levels} levels needs H and W divisible by {2**levels}; "
                f"the images are {self.image_shape[0]}x{self.image_shape[1]} (set data.image_size)"
            )
        self.is_vae = m.kind == "vae"
        if is_class_conditional(config):
            require_labels(spec, "model.class_conditional")
        self.num_classes = spec.num_classes if is_class_conditional(config) else 0
        self.prior_kind = prior_kind(config)
        if self.prior_kind == "class_gaussian":
            self.prior = ClassGaussianPrior(self.num_classes, m.z_dim)
        elif self.prior_kind == "gaussian_mixture":
            self.prior = GaussianMixturePrior(m.prior_components, m.z_dim)
        self.gaussian = m.decoder == "gaussian"
        self.mode = config.data.preprocess
        dtype = compute_dtype(config)
        out_features = 2 * m.z_dim if self.is_vae else m.z_dim
        out_per_channel = 2 if (self.is_vae and self.gaussian) else 1
        if m.arch == "mlp":
            self.encoder = MLPEncoder(tuple(m.hidden), out_features, m.activation, m.init_std, dtype)
            self.decoder = MLPDecoder(
                tuple(reversed(m.hidden)), self.image_shape, out_per_channel, m.activation, m.init_std, dtype
            )
        else:
            hidden = m.hidden[0] if m.hidden else 0
            self.encoder = ConvEncoder(tuple(m.conv_features), hidden, out_features, m.activation, dtype)
            self.decoder = ConvDecoder(
                tuple(reversed(m.conv_features)), hidden, self.image_shape, out_per_channel, m.activation, dtype
            )

    @property
    def picture_captions(self) -> dict[str, tuple[str, ...]]:
        captions = {"reconstructions": ("original", "reconstruction")}
        if self.num_classes:
            captions["analogies"] = ("original",) + tuple(f"class {k}" for k in range(self.num_classes))
        return captions

    # ----------------------------------------------------------------- model pieces
    def init_params(self, rng: jax.Array) -> Params:
        k_enc, k_dec = jax.random.split(rng)
        x = jnp.zeros((1,) + self.image_shape, jnp.float32)
        z = jnp.zeros((1, self.config.model.z_dim), jnp.float32)
        labels = jnp.zeros((1,), jnp.int32) if self.num_classes else None
        y = self.one_hot(labels)
        params = {"encoder": self.encoder.init(k_enc, x, y)["params"], "decoder": self.decoder.init(k_dec, z, y)["params"]}
        if self.prior_kind != "standard_normal":
            k_prior = jax.random.fold_in(k_dec, 1)
            inputs = (labels,) if self.prior_kind == "class_gaussian" else ()
            params["prior"] = self.prior.init(k_prior, *inputs)["params"]
        return params

    def prior_moments(self, params: Params, labels: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """(m_y (B, Z), A_y (B, Z, Z)) of the class prior p(z|y) = N(m_y, (A_y^T A_y)^-1)."""
        self.one_hot(labels)  # the same error as the networks' when labels are missing
        return self.prior.apply({"params": params["prior"]}, labels)

    def mixture(self, params: Params) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(log pi (K,), m (K, Z), A (K, Z, Z)) of the mixture prior."""
        return self.prior.apply({"params": params["prior"]})

    def kl_to_prior(self, params: Params, mean: jax.Array, log_var: jax.Array, z: jax.Array,
                    labels: jax.Array | None) -> jax.Array:
        """KL(q(z|x[, y]) || p(z[|y])), (B,): in closed form for the Gaussian priors; for the mixture, which
        has none, its one-sample estimate log q(z|x) - log p(z) at the reparameterised z."""
        if self.prior_kind == "standard_normal":
            return probability.gaussian_kl_to_standard(mean, log_var)
        if self.prior_kind == "class_gaussian":
            return probability.gaussian_kl_to_full(mean, log_var, *self.prior_moments(params, labels))
        log_q = jnp.sum(probability.gaussian_log_density(z, mean, log_var), axis=-1)
        return log_q - self.prior_log_density(params, z, labels)

    def prior_log_density(self, params: Params, z: jax.Array, labels: jax.Array | None) -> jax.Array:
        """log p(z[|y]), (B,); the mixture's is log sum_k pi_k N(z; m_k, S_k)."""
        if self.prior_kind == "standard_normal":
            return probability.standard_normal_log_density(z)
        if self.prior_kind == "class_gaussian":
            return probability.full_gaussian_log_density(z, *self.prior_moments(params, labels))
        log_pi, mean, precision_tril = self.mixture(params)
        per_component = probability.full_gaussian_log_density(z[:, None, :], mean, precision_tril)  # (B, K)
        return jax.nn.logsumexp(log_pi + per_component, axis=-1)

    def from_prior(self, params: Params, rng: jax.Array, eps: jax.Array, labels: jax.Array | None) -> jax.Array:
        """z = m + A^-1 eps: standard-normal `eps` (B, Z) carried to the prior (unchanged for N(0, I)); the
        class prior's Gaussian is class y's, the mixture's a component drawn with `rng` from pi."""
        if self.prior_kind == "standard_normal":
            return eps
        if self.prior_kind == "class_gaussian":
            mean, precision_tril = self.prior_moments(params, labels)
        else:
            log_pi, means, precision_trils = self.mixture(params)
            component = jax.random.categorical(rng, log_pi, shape=eps.shape[:1])
            mean, precision_tril = means[component], precision_trils[component]
        return mean + solve_triangular(precision_tril, eps[..., None], lower=True)[..., 0]

    def one_hot(self, labels: jax.Array | None) -> jax.Array | None:
        """The condition vector y of a class-conditional VAE, (B, K); None for an unconditional one."""
        if not self.num_classes:
            return None
        if labels is None:
            raise ConfigError("this VAE is class-conditional (model.class_conditional=True): it needs class labels")
        return jax.nn.one_hot(labels, self.num_classes)

    def labels(self, batch: Batch) -> jax.Array | None:
        return batch["label"] if self.num_classes else None

    def encode(self, params: Params, x: jax.Array, labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array] | jax.Array:
        """VAE: (mu, log sigma^2) of q(z|x) (q(z|x, y) given labels), each (B, Z). AE: the code z, (B, Z)."""
        check_model_space(x, "encode")
        h = self.encoder.apply({"params": params["encoder"]}, x, self.one_hot(labels)).astype(jnp.float32)
        if not self.is_vae:
            return h
        mean, log_var = jnp.split(h, 2, axis=-1)
        return mean, log_var

    def decoder_output(self, params: Params, z: jax.Array, labels: jax.Array | None = None) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Bernoulli logits, Gaussian (mean, log-variance), or the AE's reconstruction; (B, H, W, C) each."""
        out = self.decoder.apply({"params": params["decoder"]}, z, self.one_hot(labels)).astype(jnp.float32)
        if not self.is_vae:
            return jnp.tanh(out) if self.mode == "scale11" else jax.nn.sigmoid(out)
        if self.gaussian:
            mean, log_var = jnp.split(out, 2, axis=-1)
            return mean, log_var
        return out

    def decode(self, params: Params, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """The mean of p(x|z) (p(x|z, y) given labels) as an image in [0, 1], (B, H, W, C) float32."""
        out = self.decoder_output(params, z, labels)
        if not self.is_vae:
            mean = out
        elif self.gaussian:
            mean = out[0]
        else:
            mean = jax.nn.sigmoid(out)
        if self.mode == "scale11":
            mean = (mean + 1.0) / 2.0
        return jnp.clip(mean, 0.0, 1.0)

    def log_likelihood(self, params: Params, x: jax.Array, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """log p(x|z) (log p(x|z, y) given labels) summed over pixels, (B,)."""
        out = self.decoder_output(params, z, labels)
        if self.gaussian:
            mean, log_var = out
            return probability.sum_except_batch(probability.gaussian_log_density(x, mean, log_var))
        return probability.sum_except_batch(probability.bernoulli_log_likelihood(out, x))

    def loss_terms(self, params: Params, x: jax.Array, rng: jax.Array, labels: jax.Array | None = None) -> dict[str, jax.Array]:
        """Per-example terms, each (B,): VAE recon = -log p(x|z), kl, elbo; AE recon = squared error."""
        if not self.is_vae:
            x_hat = self.decoder_output(params, self.encode(params, x))
            return {"recon": probability.sum_except_batch(jnp.square(x - x_hat))}
        mean, log_var = self.encode(params, x, labels)
        eps = jax.random.normal(rng, mean.shape, mean.dtype)
        z = mean + jnp.exp(0.5 * log_var) * eps
        recon = -self.log_likelihood(params, x, z, labels)
        kl = self.kl_to_prior(params, mean, log_var, z, labels)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    # ----------------------------------------------------------------- the task contract
    def create_state(self, rng: jax.Array) -> TrainState:
        k_init, k_state = jax.random.split(rng)
        return TrainState.create({"model": make_part(self.config, "model", self.init_params(k_init))}, k_state)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_data, k_z = jax.random.split(state.step_rng())
        x = to_model_input(batch["image"], self.mode, k_data)

        def loss_fn(params: Params) -> tuple[jax.Array, dict[str, jax.Array]]:
            terms = self.loss_terms(params, x, k_z, self.labels(batch))
            loss = -jnp.mean(terms["elbo"]) if self.is_vae else jnp.mean(terms["recon"])
            return loss, terms

        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["model"])
        metrics = {"loss": loss, **{k: jnp.mean(v) for k, v in terms.items()}}
        metrics["grad_norm"] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        return state.apply_gradients("model", grads), metrics

    def sample(self, params: Params, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Means of p(x|z) (p(x|z, y) for a class-conditional VAE, y from `cond['label']` (num,) or cycling
        through the classes) for z from the prior at temperature tau = sample.temperature (eps ~ N(0, tau^2 I)
        carried to the prior): (num, H, W, C) in [0, 1]."""
        check_sample_count(num)
        if not self.is_vae:
            raise ConfigError("model.kind='ae' has no prior to sample from; use a VAE (model.kind='vae')")
        labels = labels_of(cond, num, self.num_classes)
        eps = sample_temperature(self.config) * jax.random.normal(rng, (num, self.config.model.z_dim))
        z = self.from_prior(params["model"], jax.random.fold_in(rng, 1), eps, labels)
        return self.decode(params["model"], z, labels)

    def code(self, params: Params, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """The point code of x: mu of q(z|x) (q(z|x, y)) for a VAE, z for an AE; (B, Z)."""
        out = self.encode(params, x, labels)
        return out[0] if self.is_vae else out

    def reconstruct(self, params: Params, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """Decode the code of x (deterministic): (B, H, W, C) in [0, 1]."""
        return self.decode(params, self.code(params, x, labels), labels)

    def interpolate(self, params: Params, x_a: jax.Array, x_b: jax.Array, steps: int,
                    labels_a: jax.Array | None = None) -> jax.Array:
        """Decodings of codes on the segment from code(x_a) to code(x_b): (B, steps, H, W, C). A
        class-conditional VAE encodes and decodes both ends with x_a's labels: the style moves, the class stays."""
        z_a, z_b = self.code(params, x_a, labels_a), self.code(params, x_b, labels_a)
        t = jnp.linspace(0.0, 1.0, steps)[None, :, None]
        z = (1.0 - t) * z_a[:, None] + t * z_b[:, None]
        labels = None if labels_a is None else jnp.repeat(labels_a, steps)
        return self.decode(params, z.reshape(-1, z.shape[-1]), labels).reshape((x_a.shape[0], steps) + self.image_shape)

    def traverse(self, params: Params, x: jax.Array, values: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """Vary each latent z_i over `values` with the others at code(x[0]): (Z, len(values), H, W, C)."""
        label = None if labels is None else labels[:1]
        z0 = self.code(params, x[:1], label)[0]
        z_dim = z0.shape[0]
        z = jnp.broadcast_to(z0, (z_dim, values.shape[0], z_dim))
        z = z.at[jnp.arange(z_dim), :, jnp.arange(z_dim)].set(jnp.broadcast_to(values, (z_dim, values.shape[0])))
        decoded_labels = None if label is None else jnp.broadcast_to(label, (z_dim * values.shape[0],))
        return self.decode(params, z.reshape(-1, z_dim), decoded_labels).reshape((z_dim, values.shape[0]) + self.image_shape)

    def analogies(self, params: Params, x: jax.Array, labels: jax.Array) -> jax.Array:
        """Kingma et al. 2014 (M2), fig. 1: the style z of each x, code(x, y), decoded with every class:
        (B, K, H, W, C). Needs a class-conditional VAE."""
        z = self.code(params, x, labels)
        classes = jnp.tile(jnp.arange(self.num_classes), x.shape[0])
        decoded = self.decode(params, jnp.repeat(z, self.num_classes, axis=0), classes)
        return decoded.reshape((x.shape[0], self.num_classes) + self.image_shape)

    def latent_manifold(self, params: Params, size: int = MANIFOLD_SIZE, label: jax.Array | int | None = None) -> jax.Array:
        """K&W fig. 4: decode z = Phi^-1(u) on a size x size grid of u in (0, 1), carried to the prior's
        coordinates; needs z_dim = 2 and a Gaussian prior. A class-conditional VAE draws the manifold of one
        class, `label`."""
        if self.config.model.z_dim != 2:
            raise ConfigError(f"the latent manifold needs model.z_dim=2, got {self.config.model.z_dim}")
        if self.prior_kind == "gaussian_mixture":
            raise ConfigError("the latent manifold needs a Gaussian prior; model.prior='gaussian_mixture' has no single inverse CDF")
        u = jnp.linspace(0.05, 0.95, size)
        z1, z2 = jnp.meshgrid(norm.ppf(u), norm.ppf(u)[::-1])
        labels = None if label is None else jnp.full((size * size,), label)
        z = self.from_prior(params, jax.random.PRNGKey(0), jnp.stack([z1.ravel(), z2.ravel()], axis=-1), labels)
        return self.decode(params, z, labels)

    def pictures(self, params: Params, rng: jax.Array, batch: Batch) -> Pictures:
        """Grids for the workdir: samples, reconstructions, interpolations, traversal, manifold."""
        all_params, params = params, params["model"]
        x = to_model_input(batch["image"], self.mode, rng)
        labels = self.labels(batch)
        n = min(PICTURE_ROWS, x.shape[0] // 2)
        shown = self.decode_data(x[: n * 2])
        recon = self.reconstruct(params, x[: n * 2], None if labels is None else labels[: n * 2])
        pairs = jnp.stack([shown, recon], axis=1).reshape((-1,) + self.image_shape)
        pics: Pictures = {"reconstructions": (pairs, 2 * min(n, 4))}
        labels_a = None if labels is None else labels[:n]
        interpolations = self.interpolate(params, x[:n], x[n : 2 * n], 10, labels_a)
        pics["interpolations"] = (interpolations.reshape((-1,) + self.image_shape), 10)
        values = jnp.linspace(-3.0, 3.0, self.config.eval.traversal_steps)
        dims = min(self.config.model.z_dim, 10)
        traversal = self.traverse(params, x, values, labels)[:dims]
        pics["traversal"] = (traversal.reshape((-1,) + self.image_shape), values.shape[0])
        if self.is_vae:
            pics["samples"] = class_rows(self.sample, all_params, rng, self.num_classes, self.config.train.num_grid_samples)
            if self.config.model.z_dim == 2 and self.prior_kind != "gaussian_mixture":
                pics["manifold"] = (self.latent_manifold(params, label=None if labels is None else labels[0]), MANIFOLD_SIZE)
        if self.num_classes:
            rows = jnp.concatenate([shown[:n, None], self.analogies(params, x[:n], labels[:n])], axis=1)
            pics["analogies"] = (rows.reshape((-1,) + self.image_shape), 1 + self.num_classes)
        return pics

    def decode_data(self, x: jax.Array) -> jax.Array:
        """Model-space data back to [0, 1] for display."""
        return jnp.clip((x + 1.0) / 2.0 if self.mode == "scale11" else x, 0.0, 1.0)

    # ----------------------------------------------------------------- evaluation
    def eval_batch(self, params: Params, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        """Masked sums over one batch of the per-example evaluation numbers."""
        params = params["model"]
        k_data, k_elbo, k_iw = jax.random.split(rng, 3)
        x = to_model_input(batch["image"], self.mode, k_data)
        labels = self.labels(batch)
        mask = batch["mask"]
        sums = {k: jnp.sum(v * mask) for k, v in self.loss_terms(params, x, k_elbo, labels).items()}
        sums["count"] = jnp.sum(mask)
        target, recon = self.decode_data(x), self.reconstruct(params, x, labels)
        sums["recon_psnr"] = jnp.sum(psnr(target, recon) * mask)
        if min(self.image_shape[:2]) >= SSIM_WINDOW:
            sums["recon_ssim"] = jnp.sum(ssim(target, recon) * mask)
        if self.is_vae:
            posterior = functools.partial(self.encode, params, labels=labels)
            likelihood = functools.partial(self.log_likelihood, params, labels=labels)
            prior = functools.partial(self.prior_log_density, params, labels=labels)
            for k in self.config.eval.iwae_k:
                chunk = min(k, self.config.eval.iwae_chunk)
                ll = importance_weighted_log_likelihood(k_iw, x, posterior, likelihood, k, chunk, prior)
                sums[f"iwae_{k}"] = jnp.sum(ll * mask)
        return sums

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        """Test-set ELBO and IWAE bounds in nats (bits/dim for dequantised data), AE squared error, and
        PSNR/SSIM of the reconstructions (against the model-space data shown in [0, 1])."""
        results = mean_totals(totals)
        if self.is_vae:
            results["nll_nats"] = -results[f"iwae_{max(self.config.eval.iwae_k)}"]
            if self.mode == "dequantize01":
                dims = int(np.prod(self.image_shape))
                results["bits_per_dim"] = float(discrete_bits_per_dim(results["nll_nats"], dims, DEQUANTIZE_LOG_SCALE))
        return results

    def representation(self, params: Params, batch: Batch, rng: jax.Array) -> jax.Array:
        """The codes of a batch (mu of q(z|x), or the AE's z), (B, Z): what the linear probe
        (eval.linear_probe) fits. A class-conditional VAE's code is given the label, so the probe measures
        how much of the class leaks into the style z (chance level when none does)."""
        return self.code(params["model"], to_model_input(batch["image"], self.mode, rng), self.labels(batch))


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> VAETask:
    return VAETask(config, spec)
