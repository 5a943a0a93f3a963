"""Optax optimisers and learning-rate schedules built from `config.optim`."""
from __future__ import annotations

from typing import Any

import ml_collections
import optax

from jaxgen.errors import ConfigError
from jaxgen.train.state import Part

OPTIMIZERS = ("adam", "adamw", "adagrad", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "exponential", "hold_then_linear", "step")


def learning_rate_schedule(optim: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 over `warmup_steps`, then constant, cosine decay to 0, exponential
    decay lr * decay_rate^n (n counted from the end of the warm-up; PixelCNN++'s 0.999995 per step), or
    hold_then_linear: lr until half the updates, then linearly to 0 at the last (pix2pix's and CycleGAN's
    100 epochs at lr and 100 decaying), or step: lr until the fraction `decay_at` of the updates, then
    lr * decay_rate (SinGAN's 0.1 after 1,600 of 2,000 iterations)."""
    warmup = optim.warmup_steps
    if optim.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, optim.lr, warmup, max(num_steps, warmup + 1))
    if optim.schedule == "exponential":
        after = optax.exponential_decay(optim.lr, transition_steps=1, decay_rate=optim.decay_rate)
    elif optim.schedule == "hold_then_linear":
        held = max(num_steps // 2 - warmup, 0)
        decaying = optax.linear_schedule(optim.lr, 0.0, max(num_steps - warmup - held, 1))
        after = optax.join_schedules([optax.constant_schedule(optim.lr), decaying], [held])
    elif optim.schedule == "step":
        drop = max(round(num_steps * optim.decay_at) - warmup, 1)
        after = optax.piecewise_constant_schedule(optim.lr, {drop: optim.decay_rate})
    else:
        after = optax.constant_schedule(optim.lr)
    if warmup:
        return optax.join_schedules([optax.linear_schedule(0.0, optim.lr, warmup), after], [warmup])
    return after


def make_optimizer(optim: ml_collections.ConfigDict, num_steps: int) -> optax.GradientTransformation:
    """The optimiser of `config.optim`, with optional global-norm clipping first.

    `weight_decay` is decoupled (AdamW) for adamw and an L2 gradient term for the others,
    which is what a Gaussian prior on the weights gives (Kingma & Welling's regulariser).
    """
    lr = learning_rate_schedule(optim, num_steps)
    if optim.name == "adam":
        core = optax.adam(lr, b1=optim.b1, b2=optim.b2, eps=optim.eps)
    elif optim.name == "adamw":
        core = optax.adamw(lr, b1=optim.b1, b2=optim.b2, eps=optim.eps, weight_decay=optim.weight_decay)
    elif optim.name == "adagrad":
        core = optax.adagrad(lr, eps=optim.eps)
    elif optim.name == "rmsprop":
        core = optax.rmsprop(lr, decay=optim.b2, eps=optim.eps)
    elif optim.name == "sgd":
        core = optax.sgd(lr, momentum=optim.b1 or None)
    else:
        raise ConfigError(f"unknown optim.name '{optim.name}'; choose one of {OPTIMIZERS}")
    chain = []
    if optim.grad_clip_norm > 0:
        chain.append(optax.clip_by_global_norm(optim.grad_clip_norm))
    if optim.weight_decay > 0 and optim.name != "adamw":
        chain.append(optax.add_decayed_weights(optim.weight_decay))
    return optax.chain(*chain, core)


def part_settings(optim: ml_collections.ConfigDict, part: str) -> ml_collections.ConfigDict:
    """`optim` with the entries that `optim.<part>` sets (not None) replaced: one part's optimiser and EMA."""
    settings = {k: v for k, v in optim.items() if not isinstance(v, ml_collections.ConfigDict)}
    if part in optim:
        settings.update({k: v for k, v in optim[part].items() if v is not None})
    return ml_collections.ConfigDict(settings)


def check_no_ema(config: ml_collections.ConfigDict, part: str, hint: str = "") -> None:
    """A part whose averaged weights nothing reads (a discriminator) must not keep an EMA."""
    if part_settings(config.optim, part).ema_decay != 0.0:
        raise ConfigError(f"config key 'optim.{part}.ema_decay' must be 0: {part}'s averaged weights would never be used{hint}")


def make_part(config: ml_collections.ConfigDict, part: str, params: Any, num_updates: int | None = None) -> Part:
    """Part `part` of a state: `params` with the optimiser and EMA of `optim.<part>` (defaulting to `optim`),
    its schedule laid over `num_updates` (default train.num_steps: one update per step)."""
    settings = part_settings(config.optim, part)
    tx = make_optimizer(settings, config.train.num_steps if num_updates is None else num_updates)
    return Part.create(params, tx, settings.ema_decay, settings.ema_warmup)
