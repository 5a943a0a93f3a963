"""Config presets, the preset grammar, validation errors, and launch.py's one-line errors."""
import subprocess
import sys

import pytest

from configs import vae
from jaxgen import data, tasks
from jaxgen.validation import ConfigError
from tests.conftest import ROOT
from tests.helpers import CONFIG_MODULES


@pytest.mark.parametrize("family, preset", [(f, p) for f, m in CONFIG_MODULES.items() for p in sorted(m.PRESETS)])
def test_every_preset_validates(family, preset):
    config = CONFIG_MODULES[family].get_config(preset)
    tasks.validate(config)
    assert config.preset == preset and config.task == family


def test_overrides_take_the_preset_types():
    config = vae.get_config("demo,model.z_dim=5,optim.lr=1,model.hidden=(64,32),train.progress_bar=false")
    assert config.model.z_dim == 5
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.model.hidden == (64, 32)
    assert config.train.progress_bar is False


def test_paper_preset_matches_kingma_welling():
    config = vae.get_config("mnist")
    assert config.model.hidden == (500,) and config.model.activation == "tanh"
    assert config.data.batch_size == 100 and config.optim.name == "adagrad"
    assert config.model.init_std == 0.01 and config.data.name == "mnist"


@pytest.mark.parametrize(
    "arg, message",
    [
        ("nosuch", "unknown preset 'nosuch'"),
        ("demo,model.nosuch=1", "unknown config key 'model.nosuch'"),
        ("demo,model.z_dim=abc", "config key 'model.z_dim' expects int"),
        ("demo,model.z_dim=1.5", "config key 'model.z_dim' expects int"),
        ("demo,train.progress_bar=maybe", "expects true/false"),
        ("demo,z_dim", "not of the form key=value"),
    ],
)
def test_bad_preset_arguments_name_the_problem(arg, message):
    with pytest.raises(ConfigError, match=message):
        vae.get_config(arg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.decoder=poisson", "config key 'model.decoder' is 'poisson'"),
        ("data.name=imagenet", "config key 'data.name' is 'imagenet'"),
        ("optim.name=lion", "config key 'optim.name'"),
        ("data.preprocess=scale11", "model.decoder='bernoulli' needs data in \\[0, 1\\]"),
        ("eval.iwae_k=(150,)", "eval.iwae_k entry 150"),
        ("optim.ema_decay=1.0", "optim.ema_decay"),
        ("train.num_steps=0", "train.num_steps"),
        ("train.steps_per_call=7", "'train.num_steps' must be a multiple of train.steps_per_call=7"),
        ("eval.feature_network=fid", "config key 'eval.feature_network' is 'fid'"),
        ("eval.feature_network=classifier", "needs eval.classifier_workdir"),
        ("model.kind=ae,data.preprocess=scale01,eval.feature_network=inception", "model.kind='ae' has no prior"),
        ("eval.num_samples=0", "eval.num_samples"),
    ],
)
def test_impossible_values_and_combinations_are_one_config_error(override, message):
    config = vae.get_config(f"demo,{override}")
    with pytest.raises(ConfigError, match=message):
        tasks.validate(config)


def run_launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "launch.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu", "HOME": str(ROOT / ".cache" / "home")},
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.preprocess=binarize_dynamic", "data.preprocess='scale01'"),
        ("eval.feature_network=inception", "has no samples to judge"),
        ("data.name=photos32", "has no labels"),
    ],
)
def test_classifier_config_errors_name_the_key(override, message):
    config = CONFIG_MODULES["classifier"].get_config(f"smoke,{override}")
    with pytest.raises(ConfigError, match=message):
        tasks.validate(config)
        tasks.get_task(config, data.open_source(config.data, "train").spec)


@pytest.mark.parametrize(
    "config_arg, extra, message",
    [
        ("configs/vae.py:nosuch", [], "unknown preset 'nosuch'"),
        ("configs/vae.py:smoke,model.nosuch=3", [], "unknown config key 'model.nosuch'"),
        ("configs/vae.py:smoke", ["--config.model.decoder=poisson"], "config key 'model.decoder' is 'poisson'"),
        ("configs/vae.py:smoke", ["--config.model.nosuch=1"], "model.nosuch"),
        ("configs/vea.py:smoke", [], "--config configs/vea.py:smoke: [Errno 2] No such file or directory"),
        ("configs/vae.py:smoke", ["--config.optim.lr=nan"], "config key 'optim.lr' must be > 0, got nan"),
        ("configs/gan.py:smoke,data.image_size=29", [], "DCGAN supports 28x28, 32x32 and 64x64 images, got 29x29"),
        (None, [], "--mode train needs --config"),
        (None, ["--mode=sample", "--set=sample.num=4"], "holds no run (no config.json): train one there first"),
        ("configs/vae.py:smoke", ["--workdir=/dev/null"], "/dev/null is a file, not a folder"),
        ("configs/gan.py:mnist_mlp", [], "tfds dataset 'mnist' is not prepared as array_record in ~/tensorflow_datasets"),
    ],
)
def test_launch_reports_config_errors_in_one_line_without_traceback(tmp_path, config_arg, extra, message):
    """The error is the last line the user sees, and there is no traceback."""
    config = [f"--config={config_arg}"] if config_arg else []
    workdir = [] if any(a.startswith("--workdir") for a in extra) else [f"--workdir={tmp_path}"]
    result = run_launch(*config, *workdir, *extra)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert "Traceback" not in result.stderr
