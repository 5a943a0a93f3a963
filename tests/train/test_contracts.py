"""The contracts for multi-network, conditional, multi-source families, proven on tests/paired_family.py:
two trained parts with their own optimisers, a frozen part from another run, a paired image condition, an
unpaired second source; training, exact resume after kill -9, refusal of a changed frozen source, sampling
with conditions (from the Python API and from `--mode sample`'s input folder), evaluation."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest
from PIL import Image

from jaxgen import data, run, tasks
from jaxgen.errors import CheckpointMismatchError, ConfigError, RunNotFoundError
from tests import paired_family
from tests.conftest import ROOT
from tests.helpers import classifier_config, with_overrides

@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(tasks.FAMILIES, "paired_test", "tests.paired_family")


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    """A classifier trained in its own workdir: the frozen part."""
    workdir = tmp_path_factory.mktemp("judge")
    config = classifier_config("smoke", **{"data.name": "digits", "data.image_size": 8, "model.conv_features": (4,)})
    run.train(config, workdir, devices=jax.devices()[:1])
    return workdir


def family_config(judge_workdir, **overrides):
    return with_overrides(paired_family.get_config(str(judge_workdir)), overrides)


def adam_counts(opt_state):
    return [int(s.count) for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
            if isinstance(s, optax.ScaleByAdamState)]


def same_state(a, b):
    for x, y in zip(jax.tree.leaves(jax.device_get((a.parts, a.rng))), jax.tree.leaves(jax.device_get((b.parts, b.rng)))):
        np.testing.assert_array_equal(x, y)


def test_the_data_spec_names_the_paired_and_unpaired_features(judge):
    spec = data.open_source(family_config(judge).data, "train").spec
    assert spec.feature_map["source"].shape == (8, 8, 1) and spec.feature_map["image"].shape == (8, 8, 1)
    assert {"label", "second_image", "second_label"} <= set(spec.feature_map)


def test_two_parts_a_frozen_part_train_with_their_own_optimisers(judge, tmp_path):
    state = run.train(family_config(judge), tmp_path)
    assert int(state.step) == 6
    assert adam_counts(state.parts["critic"].opt_state) == [6] and adam_counts(state.parts["translator"].opt_state) == [6]
    assert state.parts["translator"].ema_params is not None and state.parts["critic"].ema_params is None
    judge_run = run.load_run(judge)
    for x, y in zip(jax.tree.leaves(jax.device_get(state.frozen["judge"])), jax.tree.leaves(jax.device_get(judge_run.state.eval_params))):
        np.testing.assert_array_equal(x, y)  # the frozen part is the judge's parameters, untouched by training
    extra = json.loads((tmp_path / "checkpoints" / "6" / "extra" / "metadata").read_text())
    assert extra["frozen"]["judge"] == judge_run.record and judge_run.record["step"] == 3
    assert not (judge / "checkpoints" / "4").exists()  # loading another run writes nothing there


def test_a_changed_frozen_source_refuses_to_resume(judge, tmp_path):
    config = family_config(judge, **{"train.num_steps": 2})
    run.train(config, tmp_path / "run")
    moved = tmp_path / "judge_copy"
    subprocess.run(["cp", "-r", str(judge), str(moved)], check=True)
    run.train(classifier_config("smoke", **{"data.name": "digits", "data.image_size": 8, "model.conv_features": (4,),
                                             "train.num_steps": 4}), moved, devices=jax.devices()[:1])
    with pytest.raises(CheckpointMismatchError, match="init_from.judge"):
        run.train(family_config(moved, **{"train.num_steps": 4}), tmp_path / "run")
    with pytest.raises(RunNotFoundError, match="init_from.judge"):
        run.train(family_config(tmp_path / "nowhere"), tmp_path / "other")
    with pytest.raises(ConfigError, match="reads no frozen part 'teacher'"):
        config = family_config(judge)
        with config.unlocked():
            config.init_from.teacher = str(judge)
        tasks.validate(config)


RUNNER = """
import sys
from tests import conftest  # 8 fake devices and the tests' compilation cache, as in-process
from jaxgen import run, tasks
import jax
tasks.FAMILIES["paired_test"] = "tests.paired_family"
from tests import paired_family
config = paired_family.get_config(sys.argv[1])
with config.unlocked():
    config.train.num_steps, config.train.checkpoint_every, config.train.log_every = 3000, 50, 50
run.train(config, sys.argv[2], devices=jax.devices()[:1])
"""


def test_kill_9_then_resume_reproduces_the_uninterrupted_run(judge, tmp_path):
    workdir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(judge), str(workdir)], cwd=ROOT,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline and not (workdir / "checkpoints" / "150").exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0].decode()
    assert proc.returncode == -signal.SIGKILL, output
    overrides = {"train.num_steps": 300, "train.checkpoint_every": 50, "train.log_every": 50}
    one = jax.devices()[:1]
    resumed = run.train(family_config(judge, **overrides), workdir, devices=one)
    straight = run.train(family_config(judge, **overrides), tmp_path / "straight", devices=one)
    assert int(resumed.step) == 300
    same_state(straight, resumed)


def test_samples_follow_their_conditions_from_the_api_and_from_a_folder(judge, tmp_path):
    config = family_config(judge, **{"train.num_steps": 2})
    run.train(config, tmp_path)
    experiment, state = run.restored(config, tmp_path)
    batch = experiment.test_source.read(np.arange(4))
    images = jax.jit(experiment.task.sample, static_argnums=2)(state.eval_params, jax.random.PRNGKey(0), 4, {"source": batch["source"]})
    assert images.shape == (4, 8, 8, 1)
    other = experiment.task.sample(state.eval_params, jax.random.PRNGKey(0), 4, {"source": batch["source"][::-1]})
    np.testing.assert_allclose(np.asarray(other), np.asarray(images)[::-1], atol=1e-6)  # the image follows its input
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i, edge in enumerate(batch["source"][:3]):
        Image.fromarray(edge[..., 0]).save(inputs / f"{i}.png")
    with pytest.raises(ConfigError, match="samples from source: set sample.input_dir"):
        run.sample(config, tmp_path)
    with config.unlocked():
        config.sample.input_dir = str(inputs)
    from_folder = run.sample(config, tmp_path)
    np.testing.assert_allclose(from_folder, np.asarray(images)[:3], atol=1e-6)
    report = run.evaluate(config, tmp_path)
    assert report["metrics"]["num_examples"] == 64 and 0 < report["metrics"]["l1"] < 1
    assert report["protocol"]["frozen_parts"]["judge"]["workdir"] == str(judge.absolute())
