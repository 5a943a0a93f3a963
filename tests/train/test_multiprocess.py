"""JAX's multi-controller runtime on localhost: 2 processes x 2 CPU devices == 1 process x 4 devices."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from jaxgen import run
from tests.conftest import ROOT
from tests.train.multiprocess_worker import worker_config

WORKER = ROOT / "tests" / "train" / "multiprocess_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(process_id, num_processes, devices, port, workdir):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(process_id), str(num_processes), str(devices), str(port), str(workdir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def finish(proc):
    output = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, output[-3000:]


def losses(workdir):
    records = map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
    return [r["train/loss"] for r in records if "train/loss" in r]


def test_two_processes_reproduce_one_process_with_the_same_device_count(tmp_path):
    """2 processes x 2 devices against this process on 4 of its devices (the worker's config and flags)."""
    port = free_port()
    workers = [start(i, 2, 2, port, tmp_path / "multi") for i in range(2)]
    single_state = run.train(worker_config(), tmp_path / "single", devices=jax.devices()[:4])
    for proc in workers:
        finish(proc)
    single, multi = losses(tmp_path / "single"), losses(tmp_path / "multi")
    assert len(single) == 6
    np.testing.assert_allclose(multi, single, rtol=1e-5)
    reference = jax.tree.leaves(jax.device_get(single_state.params))
    for process_id in range(2):
        params = np.load(tmp_path / "multi" / f"params_{process_id}.npz")
        assert len(params.files) == len(reference)
        for name, expected in zip(params.files, reference):
            np.testing.assert_allclose(params[name], expected, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "multi" / "checkpoints" / "6").is_dir()
