"""The accelerator check for the VAE family: compile time, step time and images/s in float32 and
bfloat16, the full loop's efficiency (one step per dispatch, and 50 scanned steps per dispatch), sampling throughput and peak device memory. Prints JSON.

    python benchmarks/gpu_check.py
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402

from benchmarks.vae_train import bare_step, config_for, loop_throughput  # noqa: E402
from jaxgen import data, tasks  # noqa: E402
from jaxgen.train.runtime import quiet_library_logs  # noqa: E402


def sampling(dtype: str, num: int, repeats: int = 5) -> dict[str, float]:
    config = config_for("paper", **{"train.compute_dtype": dtype})
    task = tasks.get_task(config, data.open_source(config.data, "train").spec)
    params = {"model": task.init_params(jax.random.PRNGKey(0))}
    fn = jax.jit(task.sample, static_argnums=2)
    t = time.perf_counter()
    jax.block_until_ready(fn(params, jax.random.PRNGKey(0), num))
    first = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(repeats):
        out = fn(params, jax.random.PRNGKey(i), num)
    jax.block_until_ready(out)
    seconds = (time.perf_counter() - t) / repeats
    return {"num": num, "images_per_s": num / seconds, "first_call_s": first}


def main() -> None:
    quiet_library_logs()
    device = jax.devices()[0]
    result: dict = {"device": device.device_kind, "jax": jax.__version__, "steps": {}}
    for dtype in ("float32", "bfloat16"):
        for batch in (100, 1024):
            key = f"paper_{dtype}_batch{batch}"
            result["steps"][key] = bare_step("paper", 30, **{"train.compute_dtype": dtype, "data.batch_size": batch})
            print(json.dumps({key: result["steps"][key]}), flush=True)
        result[f"sampling_{dtype}"] = sampling(dtype, 10_000)
        print(json.dumps({f"sampling_{dtype}": result[f"sampling_{dtype}"]}), flush=True)
    bare = bare_step("peer", 30, **{"train.compute_dtype": "bfloat16"})
    for k in (1, 50):
        loop = loop_throughput(1000, 3000, **{"train.compute_dtype": "bfloat16", "train.steps_per_call": k})
        result[f"loop_bf16_peer_config_steps_per_call_{k}"] = {
            **loop, "bare_images_per_s": bare["images_per_s"], "loop_efficiency": loop["images_per_s"] / bare["images_per_s"]
        }
        print(json.dumps({f"loop_steps_per_call_{k}": result[f"loop_bf16_peer_config_steps_per_call_{k}"]}), flush=True)
    stats = device.memory_stats() or {}
    result["peak_device_memory_mib"] = stats.get("peak_bytes_in_use", 0) / 2**20
    print(json.dumps(result))


if __name__ == "__main__":
    main()
