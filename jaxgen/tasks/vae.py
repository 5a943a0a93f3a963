"""Autoencoders and variational autoencoders (Kingma & Welling 2014).

VAE: q_phi(z|x) = N(mu, diag(sigma^2)) from the encoder, p(z) = N(0, I), p_theta(x|z) Bernoulli
(logits) or Gaussian (per-pixel mean and log-variance) from the decoder. One reparameterised
sample z = mu + sigma * eps per datapoint gives the estimator of K&W eq. 10:

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)),   loss = -mean_batch ELBO.

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
from jax.scipy.stats import norm

from jaxgen import probability
from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.eval.image_similarity import SSIM_WINDOW, psnr, ssim
from jaxgen.eval.likelihood import discrete_bits_per_dim, importance_weighted_log_likelihood
from jaxgen.data.preprocess import DEQUANTIZE_LOG_SCALE
from jaxgen.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from jaxgen.nn.layers import ACTIVATIONS
from jaxgen.tasks import Cond, Pictures, check_model_space, check_sample_count, compute_dtype
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState
from jaxgen.validation import ConfigError, check, check_choice, check_positive

Batch = dict[str, jax.Array]
Params = Any
MANIFOLD_SIZE = 20  # the 2-D latent manifold picture is MANIFOLD_SIZE x MANIFOLD_SIZE
PICTURE_ROWS = 8


def validate_config(config: ml_collections.ConfigDict) -> None:
    m = config.model
    check_choice(config, "model.kind", ("vae", "ae"))
    check_choice(config, "model.arch", ("mlp", "conv"))
    check_choice(config, "model.decoder", ("bernoulli", "gaussian"))
    check_choice(config, "model.activation", tuple(ACTIVATIONS))
    check_positive(config, "model.z_dim")
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
    num_classes = 0  # not a class-conditional sampler
    picture_captions = {"reconstructions": ("original", "reconstruction")}

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

    # ----------------------------------------------------------------- model pieces
    def init_params(self, rng: jax.Array) -> Params:
        k_enc, k_dec = jax.random.split(rng)
        x = jnp.zeros((1,) + self.image_shape, jnp.float32)
        z = jnp.zeros((1, self.config.model.z_dim), jnp.float32)
        return {"encoder": self.encoder.init(k_enc, x)["params"], "decoder": self.decoder.init(k_dec, z)["params"]}

    def encode(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array] | jax.Array:
        """VAE: (mu, log sigma^2) of q(z|x), each (B, Z). AE: the code z, (B, Z)."""
        check_model_space(x, "encode")
        h = self.encoder.apply({"params": params["encoder"]}, x).astype(jnp.float32)
        if not self.is_vae:
            return h
        mean, log_var = jnp.split(h, 2, axis=-1)
        return mean, log_var

    def decoder_output(self, params: Params, z: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Bernoulli logits, Gaussian (mean, log-variance), or the AE's reconstruction; (B, H, W, C) each."""
        out = self.decoder.apply({"params": params["decoder"]}, z).astype(jnp.float32)
        if not self.is_vae:
            return jnp.tanh(out) if self.mode == "scale11" else jax.nn.sigmoid(out)
        if self.gaussian:
            mean, log_var = jnp.split(out, 2, axis=-1)
            return mean, log_var
        return out

    def decode(self, params: Params, z: jax.Array) -> jax.Array:
        """The mean of p(x|z) as an image in [0, 1], (B, H, W, C) float32."""
        out = self.decoder_output(params, z)
        if not self.is_vae:
            mean = out
        elif self.gaussian:
            mean = out[0]
        else:
            mean = jax.nn.sigmoid(out)
        if self.mode == "scale11":
            mean = (mean + 1.0) / 2.0
        return jnp.clip(mean, 0.0, 1.0)

    def log_likelihood(self, params: Params, x: jax.Array, z: jax.Array) -> jax.Array:
        """log p(x|z) summed over pixels, (B,)."""
        out = self.decoder_output(params, z)
        if self.gaussian:
            mean, log_var = out
            return probability.sum_except_batch(probability.gaussian_log_density(x, mean, log_var))
        return probability.sum_except_batch(probability.bernoulli_log_likelihood(out, x))

    def loss_terms(self, params: Params, x: jax.Array, rng: jax.Array) -> dict[str, jax.Array]:
        """Per-example terms, each (B,): VAE recon = -log p(x|z), kl, elbo; AE recon = squared error."""
        if not self.is_vae:
            x_hat = self.decoder_output(params, self.encode(params, x))
            return {"recon": probability.sum_except_batch(jnp.square(x - x_hat))}
        mean, log_var = self.encode(params, x)
        eps = jax.random.normal(rng, mean.shape, mean.dtype)
        z = mean + jnp.exp(0.5 * log_var) * eps
        recon = -self.log_likelihood(params, x, z)
        kl = probability.gaussian_kl_to_standard(mean, log_var)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    # ----------------------------------------------------------------- the task contract
    def create_state(self, rng: jax.Array) -> TrainState:
        k_init, k_state = jax.random.split(rng)
        return TrainState.create({"model": make_part(self.config, "model", self.init_params(k_init))}, k_state)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        k_data, k_z = jax.random.split(state.step_rng())
        x = to_model_input(batch["image"], self.mode, k_data)

        def loss_fn(params: Params) -> tuple[jax.Array, dict[str, jax.Array]]:
            terms = self.loss_terms(params, x, k_z)
            loss = -jnp.mean(terms["elbo"]) if self.is_vae else jnp.mean(terms["recon"])
            return loss, terms

        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["model"])
        metrics = {"loss": loss, **{k: jnp.mean(v) for k, v in terms.items()}}
        metrics["grad_norm"] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        return state.apply_gradients("model", grads), metrics

    def sample(self, params: Params, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        """Means of p(x|z) for z ~ N(0, I): (num, H, W, C) in [0, 1]; the model is unconditional."""
        check_sample_count(num)
        if not self.is_vae:
            raise ConfigError("model.kind='ae' has no prior to sample from; use a VAE (model.kind='vae')")
        return self.decode(params["model"], jax.random.normal(rng, (num, self.config.model.z_dim)))

    def code(self, params: Params, x: jax.Array) -> jax.Array:
        """The point code of x: mu of q(z|x) for a VAE, z for an AE; (B, Z)."""
        out = self.encode(params, x)
        return out[0] if self.is_vae else out

    def reconstruct(self, params: Params, x: jax.Array) -> jax.Array:
        """Decode the code of x (deterministic): (B, H, W, C) in [0, 1]."""
        return self.decode(params, self.code(params, x))

    def interpolate(self, params: Params, x_a: jax.Array, x_b: jax.Array, steps: int) -> jax.Array:
        """Decodings of codes on the segment from code(x_a) to code(x_b): (B, steps, H, W, C)."""
        z_a, z_b = self.code(params, x_a), self.code(params, x_b)
        t = jnp.linspace(0.0, 1.0, steps)[None, :, None]
        z = (1.0 - t) * z_a[:, None] + t * z_b[:, None]
        return self.decode(params, z.reshape(-1, z.shape[-1])).reshape((x_a.shape[0], steps) + self.image_shape)

    def traverse(self, params: Params, x: jax.Array, values: jax.Array) -> jax.Array:
        """Vary each latent z_i over `values` with the others at code(x[0]): (Z, len(values), H, W, C)."""
        z0 = self.code(params, x[:1])[0]
        z_dim = z0.shape[0]
        z = jnp.broadcast_to(z0, (z_dim, values.shape[0], z_dim))
        z = z.at[jnp.arange(z_dim), :, jnp.arange(z_dim)].set(jnp.broadcast_to(values, (z_dim, values.shape[0])))
        return self.decode(params, z.reshape(-1, z_dim)).reshape((z_dim, values.shape[0]) + self.image_shape)

    def latent_manifold(self, params: Params, size: int = MANIFOLD_SIZE) -> jax.Array:
        """K&W fig. 4: decode z = Phi^-1(u) on a size x size grid of u in (0, 1); needs z_dim = 2."""
        if self.config.model.z_dim != 2:
            raise ConfigError(f"the latent manifold needs model.z_dim=2, got {self.config.model.z_dim}")
        u = jnp.linspace(0.05, 0.95, size)
        z1, z2 = jnp.meshgrid(norm.ppf(u), norm.ppf(u)[::-1])
        return self.decode(params, jnp.stack([z1.ravel(), z2.ravel()], axis=-1))

    def pictures(self, params: Params, rng: jax.Array, batch: Batch) -> Pictures:
        """Grids for the workdir: samples, reconstructions, interpolations, traversal, manifold."""
        all_params, params = params, params["model"]
        x = to_model_input(batch["image"], self.mode, rng)
        n = min(PICTURE_ROWS, x.shape[0] // 2)
        shown = self.decode_data(x[: n * 2])
        recon = self.reconstruct(params, x[: n * 2])
        pairs = jnp.stack([shown, recon], axis=1).reshape((-1,) + self.image_shape)
        pics: Pictures = {"reconstructions": (pairs, 2 * min(n, 4))}
        pics["interpolations"] = (self.interpolate(params, x[:n], x[n : 2 * n], 10).reshape((-1,) + self.image_shape), 10)
        values = jnp.linspace(-3.0, 3.0, self.config.eval.traversal_steps)
        dims = min(self.config.model.z_dim, 10)
        traversal = self.traverse(params, x, values)[:dims]
        pics["traversal"] = (traversal.reshape((-1,) + self.image_shape), values.shape[0])
        if self.is_vae:
            pics["samples"] = (self.sample(all_params, rng, self.config.train.num_grid_samples), 0)
            if self.config.model.z_dim == 2:
                pics["manifold"] = (self.latent_manifold(params), MANIFOLD_SIZE)
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
        mask = batch["mask"]
        sums = {k: jnp.sum(v * mask) for k, v in self.loss_terms(params, x, k_elbo).items()}
        sums["count"] = jnp.sum(mask)
        target, recon = self.decode_data(x), self.reconstruct(params, x)
        sums["recon_psnr"] = jnp.sum(psnr(target, recon) * mask)
        if min(self.image_shape[:2]) >= SSIM_WINDOW:
            sums["recon_ssim"] = jnp.sum(ssim(target, recon) * mask)
        if self.is_vae:
            posterior = functools.partial(self.encode, params)
            likelihood = functools.partial(self.log_likelihood, params)
            for k in self.config.eval.iwae_k:
                chunk = min(k, self.config.eval.iwae_chunk)
                ll = importance_weighted_log_likelihood(k_iw, x, posterior, likelihood, k, chunk)
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
        (eval.linear_probe) fits."""
        return self.code(params["model"], to_model_input(batch["image"], self.mode, rng))


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Any]) -> VAETask:
    return VAETask(config, spec)
