"""The training stream against Grain on our data: seconds per global batch (index order + read).

  ours          jaxgen.data.TrainStream.read(g): numpy permutation per (seed, epoch), one batched read
  grain_index   grain.MapDataset.range(n).shuffle(seed).batch(B, drop_remainder=True).repeat(reseed_each_epoch)
                for the order, then the same batched read (the cheapest way to put Grain under our sources)
  grain_items   grain.MapDataset.source(one example per index).shuffle(seed).batch(B): Grain's idiomatic
                per-example pipeline

Usage: pip install grain==0.2.18 && python benchmarks/data_loader.py [--batches 200]   (prints JSON)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # as launch.py does: under tcmalloc where it is installed
    from jaxgen.host_allocator import reexec_under_tcmalloc
    reexec_under_tcmalloc()

import grain  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from jaxgen import data  # noqa: E402


class Examples:
    """One example per index, as Grain's MapDataset.source expects."""

    def __init__(self, source: data.Source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.source.read(np.asarray([index])).items()}


def seconds_per_batch(read, batches: int) -> float:
    read(0)
    start = time.perf_counter()
    for g in range(batches):
        read(g)
    return (time.perf_counter() - start) / batches


def measure(name: str, pair: str, batch: int, batches: int) -> dict[str, float]:
    config = ml_collections.ConfigDict({"name": name, "data_dir": "", "image_size": 0, "preprocess": "scale01",
                                        "shuffle_seed": 0, "pair": pair, "second": ""})
    source = data.open_source(config, "train")
    stream = data.TrainStream(source, batch, seed=0, prefetch=0)
    order = grain.MapDataset.range(len(source)).shuffle(seed=0).batch(batch, drop_remainder=True).repeat(None, reseed_each_epoch=True)
    items = grain.MapDataset.source(Examples(source)).shuffle(seed=0).batch(batch, drop_remainder=True)
    figures = {
        "ours_ms": 1000 * seconds_per_batch(stream.read, batches),
        "grain_index_ms": 1000 * seconds_per_batch(lambda g: source.read(np.asarray(order[g])), batches),
        "grain_items_ms": 1000 * seconds_per_batch(lambda g: items[g % len(items)], batches),
    }
    figures["grain_index_over_ours"] = figures["grain_index_ms"] / figures["ours_ms"]
    figures["grain_items_over_ours"] = figures["grain_items_ms"] / figures["ours_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    report = {
        "mnist5k_batch128": measure("mnist5k", "", 128, args.batches),
        "mnist5k_edges_batch128": measure("mnist5k", "edges", 128, args.batches),
        "photos32_batch64": measure("photos32", "", 64, args.batches),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
