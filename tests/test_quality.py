"""Slow quality checks: the demo presets learn what their docstrings promise (python -m pytest -m slow)."""
import json

import pytest

from jaxgen import run
from tests.helpers import vae_config

pytestmark = pytest.mark.slow


def test_vae_demo_reaches_its_documented_test_elbo(tmp_path):
    run.main(vae_config("demo"), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["elbo"] > -160.0
    assert metrics["iwae_1000"] > metrics["iwae_1"] + 2.0  # the bound tightens with k
    assert metrics["linear_probe_accuracy"] > 0.45  # 10 classes from a 2-D code; chance is 0.1
    assert (tmp_path / "images" / "manifold.png").is_file()


def test_autoencoder_demo_reconstructs(tmp_path):
    run.main(vae_config("ae_demo"), tmp_path, "train")
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["recon"] < 45.0  # summed squared error per 784-pixel image in [0, 1], z = 2
