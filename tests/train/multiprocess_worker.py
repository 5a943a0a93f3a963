"""One process of a multi-controller test run: `python multiprocess_worker.py PID NPROC DEVICES PORT WORKDIR`.

Trains the smoke VAE for a few steps through the real loop, saves the final parameters, evaluates.
"""
import os
import pathlib
import sys

process_id, num_processes, devices, port = (int(a) for a in sys.argv[1:5])
workdir = pathlib.Path(sys.argv[5])
os.environ["XLA_FLAGS"] = f"--xla_backend_optimization_level=0 --xla_force_host_platform_device_count={devices}"  # as conftest
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxgen.train.runtime import initialize_distributed  # noqa: E402

if num_processes > 1:
    initialize_distributed(f"127.0.0.1:{port}", num_processes, process_id)

from jaxgen import run  # noqa: E402
from tests.helpers import vae_config  # noqa: E402

assert jax.process_count() == num_processes and jax.local_device_count() == devices
config = vae_config(
    "smoke", **{"train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every": 3, "train.sample_every": 6}
)
state = run.train(config, workdir)
params = jax.tree.leaves(jax.device_get(state.params))
np.savez(workdir / f"params_{process_id}.npz", *params)
report = run.evaluate(config, workdir)
assert np.isfinite(report["metrics"]["elbo"]) and report["metrics"]["num_examples"] == 64
