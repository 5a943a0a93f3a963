"""A trained run driven from its workdir alone: `--mode sample|eval` and `load_run` rebuild it from config.json;
batched sampling writes one PNG per image, an npz and a grid; only sampling, evaluation and I/O keys may change."""
import json

import jax
import numpy as np
import pytest
from PIL import Image

from configs.common import base_config
from jaxgen import run
from jaxgen.errors import CheckpointMismatchError, ConfigError, InputError, RunNotFoundError
from jaxgen.run_config import reload_config
from tests.helpers import vae_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step VAE run, trained once for the module."""
    workdir = tmp_path_factory.mktemp("trained")
    config = vae_config("smoke", **{"train.num_steps": 2, "train.checkpoint_every": 2, "train.log_every": 1})
    run.train(config, workdir)
    return workdir, config


def test_sample_mode_needs_only_the_workdir_and_writes_one_png_per_image(trained):
    workdir, _ = trained
    images = run.main(None, workdir, "sample", ["sample.num=11", "sample.batch_size=4", "sample.seed=7"], base_config())
    folder = workdir / "samples" / "2_7"
    assert images.shape == (11, 28, 28, 1) and images.dtype == np.float32
    assert sorted(p.name for p in folder.glob("0*.png")) == [f"{i:06d}.png" for i in range(11)]
    stored = np.load(folder / "samples.npz")
    assert stored["images"].dtype == np.uint8 and int(stored["step"]) == 2 and int(stored["seed"]) == 7
    np.testing.assert_array_equal(stored["images"], np.clip(np.round(images * 255), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "000005.png"))[..., None], stored["images"][5])
    grid = Image.open(folder / "grid.png")
    assert grid.text == {"step": "2", "seed": "7"}
    again = run.main(None, workdir, "sample", ["sample.num=11", "sample.batch_size=4", "sample.seed=7"], base_config())
    np.testing.assert_array_equal(again, images)  # the seed fixes the samples
    fewer = run.main(None, workdir, "sample", ["sample.num=3", "sample.batch_size=4", "sample.seed=7"], base_config())
    # Each call writes a folder of its own: the first one's 11 images are all still there, as written.
    assert len(list(folder.glob("0*.png"))) == 11
    np.testing.assert_array_equal(np.load(folder / "samples.npz")["images"], stored["images"])
    assert len(list((workdir / "samples" / "2_7-2").glob("0*.png"))) == 11
    assert np.load(workdir / "samples" / "2_7-3" / "samples.npz")["images"].shape[0] == len(fewer) == 3


def test_conditions_are_split_into_batches_and_padded(trained, monkeypatch):
    """Given conditions reach `sample` batch by batch, the last batch padded with its final row; the padded
    samples are dropped."""
    batches = list(run.condition_batches({"label": np.arange(10, dtype=np.int32)}, 8))
    assert [b["label"].tolist() for b in batches] == [list(range(8)), [8, 9, 9, 9, 9, 9, 9, 9]]
    monkeypatch.setattr(run, "sample_conditions", lambda config, experiment: {"label": np.arange(10, dtype=np.int32)})
    images = run.main(None, trained[0], "sample", ["sample.batch_size=8", "sample.seed=3"], base_config())
    assert images.shape == (10, 28, 28, 1)
    assert np.load(trained[0] / "samples" / "2_3" / "samples.npz")["cond_label"].tolist() == list(range(10))


def test_reload_keeps_the_runs_config_and_takes_only_reload_keys(trained):
    workdir, config = trained
    loaded = run.load_run(workdir, overrides=["sample.num=3", "eval.num_examples=16"])
    assert loaded.config.sample.num == 3 and loaded.config.eval.num_examples == 16
    assert loaded.config.model.to_dict() == config.model.to_dict()  # tuples come back as tuples
    assert int(loaded.state.step) == 2
    with pytest.raises(ConfigError, match="config key 'model.z_dim' cannot change for a trained run"):
        run.load_run(workdir, overrides=["model.z_dim=3"])
    with pytest.raises(ConfigError, match="'model.z_dim' is 5 here but the run .* was trained with 2; leave --config out"):
        reload_config(workdir, vae_config("smoke", **{"model.z_dim": 5}))
    with pytest.raises(ConfigError, match="not of the form key=value"):
        reload_config(workdir, overrides=["sample.num"])
    given = vae_config("smoke", **{"train.num_steps": 2, "train.checkpoint_every": 2, "train.log_every": 1, "sample.num": 9})
    assert reload_config(workdir, given).sample.num == 9  # the same run's config, a sampling key changed


def test_eval_mode_from_the_workdir_alone_reports_to_every_sink(trained):
    workdir, _ = trained
    report = run.main(None, workdir, "eval", ["eval.num_examples=16"], base_config())
    assert report["protocol"]["num_examples"] == 16
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert any(r["step"] == 2 and "eval/elbo" in r for r in records)


def test_training_needs_a_config_and_a_missing_run_is_named(tmp_path):
    with pytest.raises(ConfigError, match="--mode train needs --config"):
        run.main(None, tmp_path, "train")
    with pytest.raises(RunNotFoundError, match="holds no run"):
        run.main(None, tmp_path / "none", "sample", (), base_config())


def test_a_rejected_config_leaves_the_runs_config_json(trained):
    workdir, _ = trained
    before = (workdir / "config.json").read_text()
    with pytest.raises(CheckpointMismatchError):
        run.train(vae_config("smoke", **{"model.z_dim": 3, "train.num_steps": 4}), workdir)
    assert (workdir / "config.json").read_text() == before


def test_the_api_names_a_bad_sample_count_and_raw_pixels(trained):
    loaded = run.load_run(trained[0])
    params = loaded.state.eval_params
    with pytest.raises(InputError, match="num must be a positive int"):
        loaded.task.sample(params, jax.random.PRNGKey(0), -3)
    with pytest.raises(InputError, match="encode takes float images .* got uint8"):
        loaded.task.reconstruct(params["model"], np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(ConfigError, match="sample.num' must be > 0"):
        run.main(None, trained[0], "sample", ["sample.num=0"], base_config())


def test_a_family_key_the_run_predates_comes_from_its_presets_defaults(tmp_path):
    """A run trained before its family gained a sampling key (here PixelCNN's sample.temperature) or a model
    key (model.label_dropout) reloads with the key at its preset's value and takes an override of a reload
    key; with only the shared base it could not. Another family's config fills the shared sections only."""
    from configs.common import defaults_for_run
    from tests.helpers import pixelcnn_config

    saved = pixelcnn_config("gated_demo").to_dict()
    del saved["sample"]["temperature"], saved["model"]["label_dropout"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    defaults = defaults_for_run(tmp_path)
    assert defaults.task == "pixelcnn" and defaults.sample.temperature == 1.0
    reloaded = reload_config(tmp_path, defaults=defaults)
    assert reloaded.sample.temperature == 1.0 and reloaded.model.label_dropout == 0.0
    assert reloaded.model.features == saved["model"]["features"]
    assert "label_dropout" not in reload_config(tmp_path, defaults=vae_config("smoke")).model
    assert reload_config(tmp_path, overrides=["sample.temperature=0.5"], defaults=defaults).sample.temperature == 0.5
    with pytest.raises(ConfigError, match="sample.temperature"):
        reload_config(tmp_path, overrides=["sample.temperature=0.5"], defaults=base_config())
    assert defaults_for_run(tmp_path / "none").to_dict() == base_config().to_dict()
