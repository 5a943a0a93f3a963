"""Factories shared by the tests: configs and tiny experiments."""
from __future__ import annotations

import ml_collections

from configs import vae as vae_configs


def vae_config(preset: str = "smoke", **overrides: object) -> ml_collections.ConfigDict:
    """A VAE preset with the compilation cache off (conftest enables the tests' own) and no progress bar."""
    config = vae_configs.get_config(preset)
    with config.unlocked():
        config.train.compilation_cache_dir = ""
        config.train.progress_bar = False
        for key, value in overrides.items():
            node = config
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
    return config
