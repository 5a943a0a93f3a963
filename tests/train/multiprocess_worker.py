"""One process of a multi-controller test run: `python multiprocess_worker.py PID NPROC DEVICES PORT WORKDIR`.

Trains the smoke VAE for a few steps through the real loop, saves the final parameters, evaluates.
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def worker_config():
    """The run every worker trains (the test trains it in its own process as the reference)."""
    from tests.helpers import vae_config

    return vae_config(
        "smoke", **{"train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every": 3, "train.sample_every": 6}
    )


def main(argv: list[str]) -> None:
    process_id, num_processes, devices, port = (int(a) for a in argv[:4])
    workdir = pathlib.Path(argv[4])
    # before jax is imported; LLVM -O0 as tests/conftest.py, so the test's own reference run matches
    os.environ["XLA_FLAGS"] = f"--xla_backend_optimization_level=0 --xla_force_host_platform_device_count={devices}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    sys.path.insert(0, str(ROOT))

    import jax
    import numpy as np

    from jaxgen.train.runtime import initialize_distributed, prefer_plain_cpu_kernels

    prefer_plain_cpu_kernels()  # as the test process (conftest) runs
    if num_processes > 1:
        initialize_distributed(f"127.0.0.1:{port}", num_processes, process_id)

    from jaxgen import run

    assert jax.process_count() == num_processes and jax.local_device_count() == devices
    config = worker_config()
    state = run.train(config, workdir)
    params = jax.tree.leaves(jax.device_get(state.params))
    np.savez(workdir / f"params_{process_id}.npz", *params)
    report = run.evaluate(config, workdir)
    assert np.isfinite(report["metrics"]["elbo"]) and report["metrics"]["num_examples"] == 64


if __name__ == "__main__":
    main(sys.argv[1:])
