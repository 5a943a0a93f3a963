"""Deterministic order, per-process shards that tile the global batch, resumable position, eval padding."""
import numpy as np
import pytest

from jaxgen.data import HostTransform, TrainStream, eval_batches
from jaxgen.data.pipeline import process_rows
from jaxgen.data.sources import ArraySource, DatasetSpec
from jaxgen.errors import DataError


def counting_source(n=50):
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    return ArraySource(DatasetSpec.of_images("count", (2, 2, 1), 10), {"image": images, "label": np.arange(n, dtype=np.int32)})


def labels_of(stream, steps):
    return [next(stream)["label"] for _ in range(steps)]


def test_order_is_a_function_of_the_seed_and_each_epoch_is_a_permutation():
    a = labels_of(TrainStream(counting_source(), 10, seed=3), 10)
    b = labels_of(TrainStream(counting_source(), 10, seed=3), 10)
    c = labels_of(TrainStream(counting_source(), 10, seed=4), 10)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert sorted(np.concatenate(a[:5])) == list(range(50))  # epoch 0 visits every example once
    assert not np.array_equal(np.concatenate(a[:5]), np.concatenate(a[5:]))  # epoch 1 is reshuffled


def test_process_shards_tile_the_global_batch():
    whole = labels_of(TrainStream(counting_source(), 12, seed=0), 6)
    parts = [labels_of(TrainStream(counting_source(), 12, seed=0, process_index=p, process_count=3), 6) for p in range(3)]
    for step in range(6):
        assert np.array_equal(np.concatenate([parts[p][step] for p in range(3)]), whole[step])
        assert len(parts[0][step]) == 4


def test_resuming_at_a_position_continues_the_same_stream():
    stream = TrainStream(counting_source(), 10, seed=1)
    full = labels_of(stream, 9)
    assert stream.position == 9
    resumed = TrainStream(counting_source(), 10, seed=1, position=4, prefetch=0)
    assert all(np.array_equal(x, y) for x, y in zip(full[4:], labels_of(resumed, 5)))


def test_eval_batches_pad_the_last_batch_and_mask_it():
    batches = list(eval_batches(counting_source(23), 10))
    assert [len(b["label"]) for b in batches] == [10, 10, 10]
    assert batches[-1]["mask"].tolist() == [1.0] * 3 + [0.0] * 7
    real = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
    assert real.tolist() == list(range(23))


def test_host_transform_resizes_and_binarises():
    batch = {"image": np.full((2, 8, 8, 1), 200, np.uint8)}
    out = HostTransform(image_size=16, static_binarize=True)(batch)
    assert out["image"].shape == (2, 16, 16, 1) and set(np.unique(out["image"])) == {255}


def test_batch_errors_name_the_key():
    with pytest.raises(DataError, match="data.batch_size=10 is not divisible by the 3 processes"):
        process_rows(10, 0, 3)
    with pytest.raises(DataError, match="data.batch_size=100 is larger than the 50 training examples"):
        TrainStream(counting_source(), 100, seed=0)
