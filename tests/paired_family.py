"""A tiny family that proves the contracts before a real one leans on them (test-only, not shipped).

Edge map -> digit translation (a miniature pix2pix) with everything the wave-2 families need:
- two trained parts, `translator` (source -> image) and `critic` (real or translated?), each with its own
  optimiser (`optim.critic.lr` differs) and the translator with an EMA;
- one frozen part, `judge`: a classifier trained in another workdir (`init_from.judge`), whose features
  give a feature-matching term to the translator's loss (the shape of latent diffusion's perceptual loss);
- an image condition from the paired combinator (`data.pair='edges'`: `source` is the edge map of `image`);
- an unpaired second source (`data.second`): its images join the critic's real examples.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from configs import common
from jaxgen.data import DatasetSpec, to_model_input
from jaxgen.errors import ConfigError
from jaxgen.tasks import Batch, Cond, Pictures, Task
from jaxgen.train.evaluation import mean_totals
from jaxgen.train.optim import make_part
from jaxgen.train.state import TrainState

FROZEN_PARTS = ("judge",)
FEATURE_WEIGHT = 0.1


def get_config(judge_workdir: str = "") -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "paired_test"
    c.optim.ema_decay = 0.9  # the translator's EMA; the critic's is switched off below
    c.optim.translator = common.part_optim(c.optim)
    c.optim.critic = common.part_optim(c.optim)
    c.init_from.judge = judge_workdir
    c.update_from_flattened_dict({
        "data.name": "digits", "data.pair": "edges", "data.second": "mnist5k", "data.image_size": 8,
        "data.batch_size": 16, "data.eval_batch_size": 64, "optim.critic.lr": 3e-3, "optim.critic.ema_decay": 0.0,
        "train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every": 2, "train.sample_every": 1000,
        "train.num_grid_samples": 8, "train.compilation_cache_dir": "", "train.progress_bar": False,
        "eval.num_examples": 64,
    })
    c.lock()
    return c


def validate_config(config: ml_collections.ConfigDict) -> None:
    if config.data.pair != "edges" or not config.data.second:
        raise ConfigError("the paired test family reads data.pair='edges' and a data.second dataset")


class Translator(nn.Module):
    @nn.compact
    def __call__(self, source: jax.Array) -> jax.Array:
        h = nn.relu(nn.Conv(8, (3, 3))(source))
        return nn.sigmoid(nn.Conv(1, (3, 3))(h))


class Critic(nn.Module):
    @nn.compact
    def __call__(self, image: jax.Array) -> jax.Array:
        return nn.Dense(1)(nn.relu(nn.Dense(16)(image.reshape(image.shape[0], -1))))[:, 0]


class PairedTestTask:
    conditions = ("source",)
    num_classes = 0

    def __init__(self, config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]):
        if "judge" not in frozen:
            raise ConfigError("the paired test family needs init_from.judge (a classifier run)")
        self.config, self.spec, self.judge = config, spec, frozen["judge"]
        self.translator, self.critic = Translator(), Critic()

    def create_state(self, rng: jax.Array) -> TrainState:
        k_t, k_c, k_state = jax.random.split(rng, 3)
        source = jnp.zeros((1,) + self.spec.shape("source"), jnp.float32)
        image = jnp.zeros((1,) + self.spec.image_shape, jnp.float32)
        parts = {
            "translator": make_part(self.config, "translator", self.translator.init(k_t, source)["params"]),
            "critic": make_part(self.config, "critic", self.critic.init(k_c, image)["params"]),
        }
        return TrainState.create(parts, k_state)

    def translate(self, params: Any, source: jax.Array) -> jax.Array:
        return self.translator.apply({"params": params}, source)

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        source = to_model_input(batch["source"], "scale01")
        target = to_model_input(batch["image"], "scale01")
        reals = jnp.concatenate([target, to_model_input(batch["second_image"], "scale01")])
        fake = jax.lax.stop_gradient(self.translate(state.params["translator"], source))

        def critic_loss(params: Any) -> jax.Array:
            real_logits = self.critic.apply({"params": params}, reals)
            fake_logits = self.critic.apply({"params": params}, fake)
            return jnp.mean(optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits))) + jnp.mean(
                optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
            )

        c_loss, c_grads = jax.value_and_grad(critic_loss)(state.params["critic"])
        state = state.apply_gradients("critic", c_grads)
        judge = state.frozen["judge"]

        def translator_loss(params: Any) -> jax.Array:
            out = self.translate(params, source)
            logits = self.critic.apply({"params": state.params["critic"]}, out)
            features = self.judge.features(judge["model"], out)[0] - self.judge.features(judge["model"], target)[0]
            adversarial = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits)))
            return jnp.mean(jnp.abs(out - target)) + 0.01 * adversarial + FEATURE_WEIGHT * jnp.mean(jnp.square(features))

        t_loss, t_grads = jax.value_and_grad(translator_loss)(state.params["translator"])
        return state.apply_gradients("translator", t_grads), {"loss": t_loss, "critic_loss": c_loss}

    def sample(self, params: Any, rng: jax.Array, num: int, cond: Cond | None = None) -> jax.Array:
        if cond is None or "source" not in cond:
            raise ConfigError("the paired test family samples from cond['source']")
        return self.translate(params["translator"], to_model_input(cond["source"], "scale01"))

    def pictures(self, params: Any, rng: jax.Array, batch: Batch) -> Pictures:
        source = to_model_input(batch["source"], "scale01")
        rows = jnp.stack([source, self.sample(params, rng, source.shape[0], batch), to_model_input(batch["image"], "scale01")], 1)
        return {"translations": (rows.reshape((-1,) + self.spec.image_shape), 3)}

    def eval_batch(self, params: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]:
        out = self.sample(params, rng, batch["image"].shape[0], batch)
        l1 = jnp.mean(jnp.abs(out - to_model_input(batch["image"], "scale01")), axis=(1, 2, 3))
        return {"l1": jnp.sum(l1 * batch["mask"]), "count": jnp.sum(batch["mask"])}

    def finish_eval(self, totals: dict[str, float]) -> dict[str, float]:
        return mean_totals(totals)


def make_task(config: ml_collections.ConfigDict, spec: DatasetSpec, frozen: dict[str, Task]) -> PairedTestTask:
    return PairedTestTask(config, spec, frozen)
