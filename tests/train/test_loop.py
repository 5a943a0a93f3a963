"""The generic loop: sharding equivalence, no retracing, resume, SIGTERM, corrupt checkpoints, NaN, outputs."""
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgen import run
from jaxgen.train import loop
from jaxgen.errors import CheckpointMismatchError, InterruptedRun, NonFiniteLossError, WorkdirError
from tests.conftest import ROOT, TEST_XLA_FLAGS
from tests.helpers import vae_config


def losses(workdir):
    lines = pathlib.Path(workdir, "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["train/loss"] for r in map(json.loads, lines) if "train/loss" in r}


def assert_same_params(a, b, exact=True):
    for x, y in zip(jax.tree.leaves(jax.device_get(a.params)), jax.tree.leaves(jax.device_get(b.params))):
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def quick_config(**overrides):
    base = {"train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every": 2, "train.sample_every": 1000}
    return vae_config("smoke", **{**base, **overrides})


def test_one_device_and_eight_devices_give_the_same_trajectory(tmp_path):
    config = quick_config()
    one = run.train(config, tmp_path / "one", devices=jax.devices()[:1])
    eight = run.train(config, tmp_path / "eight")
    a, b = losses(tmp_path / "one"), losses(tmp_path / "eight")
    assert sorted(a) == list(range(1, 7))
    np.testing.assert_allclose([a[s] for s in a], [b[s] for s in a], rtol=1e-5)
    assert_same_params(one, eight, exact=False)
    assert all(len(p.sharding.device_set) == 8 for p in jax.tree.leaves(eight.params))


def test_several_steps_per_call_follow_the_same_trajectory(tmp_path):
    one = run.train(quick_config(), tmp_path / "one")
    three = run.train(quick_config(**{"train.steps_per_call": 3, "train.log_every": 3}), tmp_path / "three")
    assert int(three.step) == 6
    assert_same_params(one, three, exact=False)
    np.testing.assert_allclose(losses(tmp_path / "three")[6], np.mean([losses(tmp_path / "one")[s] for s in (4, 5, 6)]),
                               rtol=1e-5)
    resumed = run.train(quick_config(**{"train.steps_per_call": 3, "train.log_every": 3, "train.num_steps": 9}),
                         tmp_path / "three")
    assert int(resumed.step) == 9


def test_batches_gathered_on_the_devices_equal_the_rows_sent_from_the_host(tmp_path):
    on_device = run.train(quick_config(), tmp_path / "device")
    from_host = run.train(quick_config(**{"data.on_device_max_mb": 0}), tmp_path / "host")
    assert losses(tmp_path / "device") == losses(tmp_path / "host")
    assert_same_params(on_device, from_host)
    experiment = run.build_experiment(quick_config(), tmp_path / "probe")
    held = loop.training_set_on_device(experiment)
    assert held["image"].shape == (len(experiment.train_source), 28, 28, 1) and len(held["image"].sharding.device_set) == 8
    assert loop.training_set_on_device(run.build_experiment(quick_config(**{"data.on_device_max_mb": 3}), tmp_path / "probe")) is None  # 3.9 MB


def test_the_step_is_traced_once(tmp_path):
    run.train(quick_config(), tmp_path, wrap_step=lambda step: chex.assert_max_traces(step, n=1))


def test_resuming_reproduces_the_uninterrupted_run_exactly(tmp_path):
    straight = run.train(quick_config(), tmp_path / "straight")
    run.train(quick_config(**{"train.num_steps": 3}), tmp_path / "resumed")
    resumed = run.train(quick_config(), tmp_path / "resumed")
    assert int(resumed.step) == 6
    assert_same_params(straight, resumed)
    assert losses(tmp_path / "straight")[6] == losses(tmp_path / "resumed")[6]


def test_a_corrupt_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, caplog):
    run.train(quick_config(**{"train.num_steps": 4}), tmp_path)
    state_dir = tmp_path / "checkpoints" / "4" / "state"
    for f in state_dir.rglob("*"):
        if f.is_file() and "manifest" in f.name:
            f.write_bytes(b"half-written")
    experiment = run.build_experiment(quick_config(), tmp_path)
    state, position = experiment.restore_or_init()
    experiment.checkpointer.close()
    assert int(state.step) == 2 and position == 2
    assert (tmp_path / "corrupt_checkpoints" / "4").is_dir()
    assert "cannot be restored" in caplog.text
    straight = run.train(quick_config(), tmp_path / "straight")
    assert_same_params(straight, run.train(quick_config(), tmp_path))


def test_a_checkpoint_of_another_model_is_an_error_not_a_restart(tmp_path):
    run.train(quick_config(**{"train.num_steps": 2}), tmp_path)
    with pytest.raises(CheckpointMismatchError, match="holds a different model"):
        run.train(quick_config(**{"model.z_dim": 3}), tmp_path)
    assert (tmp_path / "checkpoints" / "2").is_dir()


def test_a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step_fn):
        def step(state, batch):
            new_state, metrics = step_fn(state, batch)
            return new_state, {**metrics, "loss": jnp.where(state.step == 2, jnp.nan, metrics["loss"])}

        return step

    with pytest.raises(NonFiniteLossError, match="loss became nan at step 3; last good checkpoint: step 2"):
        run.train(quick_config(), tmp_path, wrap_step=poison)
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [2]


def test_train_sample_and_eval_write_their_outputs(tmp_path):
    config = quick_config(**{"train.sample_every": 3, "train.eval_at_end": True})
    run.main(config, tmp_path, "train")
    for name in ("samples", "reconstructions", "interpolations", "traversal", "manifold"):
        assert (tmp_path / "images" / f"{name}.png").is_file()
        assert (tmp_path / "images" / f"{name}_0000003.png").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((tmp_path / "config.json").read_text())["model"]["z_dim"] == 2
    report = json.loads((tmp_path / "eval.json").read_text())
    assert {"elbo", "iwae_4", "nll_nats", "linear_probe_accuracy"} <= set(report["metrics"])
    assert report["protocol"]["num_examples"] == 64 and report["protocol"]["step"] == 6
    images = run.sample(config, tmp_path)
    assert images.shape == (16, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    assert np.load(tmp_path / "samples" / "6_1234" / "samples.npz")["images"].shape == (16, 28, 28, 1)


def test_sample_without_a_checkpoint_says_to_train_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first"):
        run.sample(quick_config(), tmp_path)


def wait_for_step(workdir, step, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (workdir / "metrics.jsonl").exists() and max(losses(workdir), default=0) >= step:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the run did not reach step {step}")


def test_sigterm_saves_and_resuming_matches_the_uninterrupted_run(tmp_path):
    """Also: launch.py fills the persistent compilation cache the config names."""
    steps = 500  # the run is stopped near step 100, well before; the resumed and straight runs train all of them
    overrides = {"train.num_steps": steps, "train.log_every": 10, "train.checkpoint_every": 1000}
    cache = tmp_path / "xla-cache"
    flags = {**overrides, "train.progress_bar": "false", "train.compilation_cache_dir": str(cache), "train.eval_at_end": "true"}
    env = {**os.environ, "XLA_FLAGS": f"{TEST_XLA_FLAGS} --xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
    workdir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--config=configs/vae.py:smoke," + ",".join(f"{k}={v}" for k, v in flags.items()),
         f"--workdir={workdir}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_step(workdir, 100)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM and "error: interrupted by SIGTERM" in output, output
    assert not (workdir / "eval.json").exists()  # an interrupted run does not start train.eval_at_end
    killed_at = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert 100 <= killed_at < steps, killed_at
    assert any(cache.iterdir()), "the persistent compilation cache stayed empty"
    one_device = jax.devices()[:1]
    resumed = run.train(quick_config(**overrides), workdir, devices=one_device)
    straight = run.train(quick_config(**overrides), tmp_path / "straight", devices=one_device)
    assert_same_params(straight, resumed)


def test_the_loop_imports_no_family():
    """DESIGN's arrows point down: tasks -> train, never train -> tasks."""
    code = "import sys, jaxgen.train.loop; sys.exit('jaxgen.tasks' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}).returncode == 0


def test_a_non_finite_state_is_never_saved_even_with_a_finite_loss(tmp_path):
    """The loss is computed before the update, so a step that makes the parameters NaN reports a finite loss:
    the state itself is checked before every save."""
    def poison(step_fn):
        def step(state, batch):
            new_state, metrics = step_fn(state, batch)
            params = jax.tree.map(lambda p: jnp.where(state.step == 3, jnp.nan, p), new_state.parts["model"].params)
            return new_state.with_params("model", params), metrics

        return step

    with pytest.raises(NonFiniteLossError, match=r"state became non-finite by step 4 .*\.parts\['model'\]\.params.* "
                       r"was not saved; last good checkpoint: step 2"):
        run.train(quick_config(), tmp_path, wrap_step=poison)
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [2]


def test_a_restored_state_with_non_finite_values_is_set_aside(tmp_path, caplog):
    """Silent byte corruption (or a state saved before the check) restores as NaN: treated as corrupt."""
    run.train(quick_config(**{"train.num_steps": 2}), tmp_path)
    experiment = run.build_experiment(quick_config(), tmp_path)
    state, position = experiment.restore_or_init()
    nan_params = jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), state.parts["model"].params)
    experiment.save(4, state.with_params("model", nan_params).replace(step=jnp.asarray(4, jnp.int32)), 4)
    experiment.checkpointer.close()
    experiment = run.build_experiment(quick_config(), tmp_path)
    state, position = experiment.restore_or_init()
    experiment.checkpointer.close()
    assert int(state.step) == 2 and position == 2
    assert (tmp_path / "corrupt_checkpoints" / "4").is_dir()
    assert "non-finite values" in caplog.text


def test_sigint_saves_stops_and_says_interrupted(tmp_path):
    """Ctrl-C in the middle of training: the step's state is saved and InterruptedRun names the signal
    (launch.py exits with 128 + 2); rerunning resumes from that checkpoint."""
    workdir = tmp_path / "run"

    def interrupt_at_step_3(step_fn):
        def step(state, batch):
            jax.debug.callback(lambda s: signal.raise_signal(signal.SIGINT) if int(s) == 3 else None, state.step)
            return step_fn(state, batch)

        return step

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(InterruptedRun, match="interrupted by SIGINT at step [4-9]: saved checkpoint") as raised:
        run.train(quick_config(**{"train.checkpoint_every": 100, "train.num_steps": 200}), workdir, wrap_step=interrupt_at_step_3)
    assert raised.value.signal_number == signal.SIGINT
    saved = [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and 4 <= saved[0] <= 9
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_a_resume_drops_the_metrics_of_steps_it_repeats(tmp_path):
    run.train(quick_config(**{"train.num_steps": 4}), tmp_path)
    shutil.rmtree(tmp_path / "checkpoints" / "4")  # killed after step 4's metrics, before its checkpoint
    run.train(quick_config(), tmp_path)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("blocked", ["workdir", "checkpoints"])
def test_a_workdir_or_checkpoints_that_is_a_file_is_one_error(tmp_path, blocked):
    workdir = tmp_path / "run"
    target = workdir if blocked == "workdir" else workdir / "checkpoints"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("not a folder")
    with pytest.raises(WorkdirError, match=f"{target} is a file, not a folder"):
        run.train(quick_config(), workdir)


def test_read_only_checkpoints_fail_before_training(tmp_path, monkeypatch):
    """A checkpoints/ the run cannot write to fails at once, not after training in orbax's threads. The tests may
    run as root, which writes through any permission, so the probe's write fails as a read-only mount makes it."""
    run.train(quick_config(**{"train.num_steps": 2}), tmp_path)
    write_bytes = pathlib.Path.write_bytes

    def read_only_checkpoints(path, data):
        if path.parent == tmp_path / "checkpoints":
            raise OSError(30, "Read-only file system", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", read_only_checkpoints)
    with pytest.raises(WorkdirError, match="checkpoints is not writable \\(Read-only file system\\)"):
        run.train(quick_config(), tmp_path)
    assert not (tmp_path / "checkpoints" / "4").exists()


def test_the_log_says_what_happens_and_pictures_say_what_they_show(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    run.train(quick_config(**{"train.log_every": 3, "train.sample_every": 3}), tmp_path)
    assert "parameters: model 51,220" in caplog.text
    assert re.search(r"step 3/6: elbo -?\d.*loss \d", caplog.text)
    assert re.search(r"trained steps 0 -> 6 in .* s; last metrics: .*checkpoints in ", caplog.text)
    picture = Image.open(tmp_path / "images" / "reconstructions_0000006.png")
    assert picture.text == {"step": "6", "name": "reconstructions"}
    assert picture.width >= 800  # a 28x28 grid is scaled up to be legible
    events = b"".join(p.read_bytes() for p in (tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert b"pictures/reconstructions" in events and b"config/text_summary" in events
    assert (tmp_path / "images" / "reconstructions_0000006.png").read_bytes() in events  # the PNG itself, encoded once
