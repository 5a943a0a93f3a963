"""Where the DDPM UNet's training step spends its time on this CPU. Prints JSON.

    python benchmarks/profile_step.py [--steps 3] [--xla-flags "--xla_disable_hlo_passes=..."]

The step is benchmarks/ddpm.py's (the diffusers peer's configuration: 32x32x1, channels 64, multipliers
(1, 2, 2), attention at 16x16, AdamW, batch 64, float32, 1 CPU device). It runs `--steps` times under
`jax.profiler.trace`; each XLA:CPU thunk in the trace (a fusion, a convolution, a dot) is named after its
HLO instruction, whose `op_name` metadata -- or that of the instructions fused into it -- says which part
of the model it belongs to (`transpose(jvp(UNet))/ResBlock_3/GroupNorm_0/...` is GroupNorm's backward).
Reported: the step's wall time, the time per part (convolutions, GroupNorm, attention, other network
ops, outside the network: noise, loss, optimiser, EMA) forward and backward, and the top instructions.
`--xla-flags` are added to XLA_FLAGS before JAX starts, to measure what a compiler option buys.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import pathlib
import re
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()
PARSER = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
PARSER.add_argument("--steps", type=int, default=3)
PARSER.add_argument("--top", type=int, default=15)
PARSER.add_argument("--xla-flags", default="")
ARGS = PARSER.parse_args()
os.environ["XLA_FLAGS"] = " ".join(filter(None, (os.environ.get("XLA_FLAGS", ""), ARGS.xla_flags)))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.ddpm import PEER_OVERRIDES  # noqa: E402  (prefers the plain CPU kernels, as launch.py does)
from configs import ddpm as ddpm_configs  # noqa: E402
from jaxgen import run  # noqa: E402
from jaxgen.train.state import counting  # noqa: E402

# The first keyword found in an op_name names its part of the step.
PARTS = (("AttentionBlock", "attention"), ("GroupNorm", "group_norm"), ("conv_general_dilated", "convolution"),
         ("UNet", "other_network_ops"))
INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.-]+) = ")
COMPUTATION = re.compile(r"^%([\w.-]+) [^\n]*\{\n(.*?)\n\}", re.M | re.S)
OP_NAME = re.compile(r'op_name="([^"]*)"')


def part_of(op_names: list[str]) -> tuple[str, str]:
    """(part, forward | backward) by majority over the op_names of an instruction and what it fuses."""
    if not op_names:
        return "unattributed", "-"
    votes = collections.Counter()
    for name in op_names:
        part = next((label for key, label in PARTS if key in name), "outside_network")
        votes[(part, "backward" if "transpose(" in name else "forward")] += 1
    return votes.most_common(1)[0][0]


def attribute(hlo: str) -> dict[str, tuple[str, str, str]]:
    """HLO instruction name -> (part, direction, a representative op_name). An instruction without
    metadata of its own or in what it fuses (a reduction XLA rewrote into reduce-windows) takes its
    operands' op_names: it belongs to whatever produced its input."""
    computations = {name: body for name, body in COMPUTATION.findall(hlo)}
    own, operands = {}, {}
    for line in hlo.splitlines():
        match = INSTRUCTION.match(line)
        if not match:
            continue
        called = re.search(r"calls=%([\w.-]+)", line)
        own[match.group(1)] = OP_NAME.findall(line) or OP_NAME.findall(computations.get(called.group(1), "") if called else "")
        operands[match.group(1)] = re.findall(r"%([\w.-]+)", line.split(" = ", 1)[1].split("calls=")[0])
    names = {}
    for instruction, op_names in own.items():
        op_names = op_names or [name for operand in operands[instruction] for name in own.get(operand, [])]
        names[instruction] = (*part_of(op_names), (op_names or [""])[0])
    return names


def main() -> None:
    config = ddpm_configs.get_config(f"demo,{PEER_OVERRIDES}")
    with tempfile.TemporaryDirectory() as workdir:
        experiment = run.build_experiment(config, workdir, devices=jax.devices()[:1])
        state = experiment.init_state()
        batch = {k: jnp.asarray(v) for k, v in experiment.train_source.read(np.arange(64)).items()}
    start = time.perf_counter()
    step = jax.jit(counting(experiment.task.train_step), donate_argnums=0).lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    names = attribute(step.as_text())
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    walls = []
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(ARGS.steps):
                start = time.perf_counter()
                state, metrics = step(state, batch)
                jax.block_until_ready(metrics)
                walls.append(time.perf_counter() - start)
        trace = json.load(gzip.open(glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)[0]))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    per_instruction = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event["name"] in names:
            per_instruction[event["name"]] += event.get("dur", 0) / 1e3 / ARGS.steps  # ms per step
    parts = collections.Counter()
    for instruction, ms in per_instruction.items():
        part, direction, _ = names[instruction]
        parts[f"{part}/{direction}"] += ms
    traced = sum(per_instruction.values())
    report = {
        "bench": "jaxgen_profile_ddpm_step", "jax": jax.__version__, "xla_flags": os.environ["XLA_FLAGS"],
        "compile_s": compile_s, "step_s_median": float(np.median(walls)), "traced_ops_ms": traced,
        # Eigen runs convolutions and large dots on its own threads; the thunk executor's trace shows only
        # their launch, so the step's wall time beyond the traced ops is mostly theirs.
        "not_in_trace_ms": 1e3 * float(np.median(walls)) - traced,
        "parts_ms": {k: round(v, 1) for k, v in parts.most_common()},
        "parts_share": {k: round(v / traced, 3) for k, v in parts.most_common()},
        "top": [{"instruction": k, "ms": round(v, 1), "part": "/".join(names[k][:2]), "op_name": names[k][2]}
                for k, v in per_instruction.most_common(ARGS.top)],
        "kinds_ms": {k: round(v, 1) for k, v in collections.Counter(
            {kind: sum(v for i, v in per_instruction.items() if re.sub(r"\.\d+$", "", i) == kind)
             for kind in {re.sub(r"\.\d+$", "", i) for i in per_instruction}}).most_common(10)},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
