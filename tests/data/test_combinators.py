"""Paired, unpaired and procedural datasets and the folder source: features, determinism, epochs."""
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgen import data
from jaxgen.data import combinators
from jaxgen.data.pipeline import TrainStream
from jaxgen.data.sources import ArraySource, DatasetSpec
from jaxgen.errors import DataError


def counting_source(n, name="count", offset=0):
    images = ((np.arange(n) + offset) % 256).astype(np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 4, 4, 1), np.uint8)
    return ArraySource(DatasetSpec.of_images(name, (4, 4, 1)), {"image": images})


def data_config(**overrides):
    c = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "image_size": 0, "preprocess": "scale01",
                                   "shuffle_seed": 0, "pair": "", "second": ""})
    c.update(overrides)
    return c


def test_edges_of_a_vertical_step_by_hand():
    image = np.zeros((1, 5, 5, 1), np.uint8)
    image[:, :, 3:] = 200
    edges = combinators.edges(image)[0, ..., 0]
    # Sobel x across a vertical step: |gx| = 4 * 200 on the two columns either side of it, 0 elsewhere
    np.testing.assert_array_equal(edges[:, 2:4], 255)
    np.testing.assert_array_equal(edges[:, [0, 1, 4]], 0)


def test_paired_sources_add_an_aligned_source_made_from_each_image():
    source = data.open_source(data_config(pair="downsample4", image_size=8), "train")
    assert source.spec.feature_map["source"].shape == (2, 2, 1)
    batch = source.read(np.arange(3))
    np.testing.assert_array_equal(batch["source"], combinators.downsample4(batch["image"]))
    masked = data.open_source(data_config(pair="masked"), "test").read(np.arange(2))
    assert masked["known"].shape == (2, 8, 8, 1) and masked["known"][:, 4, 4, 0].tolist() == [0, 0]
    np.testing.assert_array_equal(masked["source"], masked["image"] * masked["known"])
    with pytest.raises(DataError, match="divisible by 4"):
        data.open_source(data_config(pair="downsample4", image_size=6), "train")


def test_the_unpaired_source_runs_its_own_epochs_and_pairs_the_same_after_a_resume():
    primary, second = counting_source(12), counting_source(5, "five", offset=100)
    unpaired = combinators.UnpairedSource(primary, second, seed=3)
    stream = TrainStream(unpaired, 4, seed=0, prefetch=0)
    seen = [next(stream)["second_image"][:, 0, 0, 0] - 100 for _ in range(5)]  # 20 rows: 4 epochs of the 5
    rows = np.concatenate(seen)
    for epoch in range(4):
        assert sorted(rows[5 * epoch : 5 * epoch + 5].tolist()) == [0, 1, 2, 3, 4]  # each epoch visits all
    assert len({tuple(rows[5 * e : 5 * e + 5]) for e in range(4)}) > 1  # and in a new order
    resumed = TrainStream(unpaired, 4, seed=0, position=3, prefetch=0)
    np.testing.assert_array_equal(next(resumed)["second_image"][:, 0, 0, 0] - 100, seen[3])
    other_seed = combinators.UnpairedSource(primary, second, seed=4).second_indices(np.arange(20))
    assert not np.array_equal(other_seed, unpaired.second_indices(np.arange(20)))


def test_procedural_sequences_are_a_function_of_the_index():
    source = data.open_source(data_config(name="bouncing_digits"), "train")
    assert source.spec.feature_map["frames"].shape == (8, 48, 48, 1) and len(source) == 1497
    a, b = source.read(np.asarray([5, 6])), source.read(np.asarray([5]))
    np.testing.assert_array_equal(a["frames"][:1], b["frames"])
    frames = a["frames"][0].astype(np.int64)
    assert all(f.sum() > 0 for f in frames)  # the digit stays on the canvas
    assert not np.array_equal(frames[0], frames[-1])  # and moves


def write_images(folder, values, size=(6, 6), mode="L"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(values):
        Image.new(mode, size, v).save(folder / f"{i:03d}.png")


def test_folder_sources_read_classes_pairs_and_plain_images(tmp_path):
    write_images(tmp_path / "classes" / "cat", [10] * 10)
    write_images(tmp_path / "classes" / "dog", [200] * 10)
    train = data.open_source(data_config(name=f"folder:{tmp_path / 'classes'}"), "train")
    test = data.open_source(data_config(name=f"folder:{tmp_path / 'classes'}"), "test")
    assert train.spec.num_classes == 2 and len(train) == 18 and len(test) == 2  # every tenth image is test
    batch = train.read(np.arange(18))
    assert batch["image"].shape == (18, 6, 6, 1) and set(batch["image"][batch["label"] == 1, 0, 0, 0]) == {200}
    write_images(tmp_path / "pairs" / "A", [1, 2, 3] * 4)
    write_images(tmp_path / "pairs" / "B", [4, 5, 6] * 4, size=(8, 8), mode="RGB")
    pairs = data.open_source(data_config(name=f"folder:{tmp_path / 'pairs'}", image_size=4), "train").read(np.arange(2))
    assert pairs["source"].shape == (2, 4, 4, 1) and pairs["image"].shape == (2, 4, 4, 3)
    (tmp_path / "sizes").mkdir()
    write_images(tmp_path / "sizes", [1], size=(6, 6))
    Image.new("L", (5, 5), 1).save(tmp_path / "sizes" / "big.png")
    with pytest.raises(DataError, match="different sizes.*data.image_size"):
        data.open_source(data_config(name=f"folder:{tmp_path / 'sizes'}"), "train")
    with pytest.raises(DataError, match="is not a folder"):
        data.open_source(data_config(name=f"folder:{tmp_path / 'nowhere'}"), "train")


def test_the_spec_gives_an_example_batch_of_every_feature():
    spec = data.open_source(data_config(pair="edges", second="digits"), "train").spec
    example = spec.example_batch(2)
    assert set(example) == {"image", "label", "source", "second_image", "second_label"}
    assert example["image"].shape == (2, 8, 8, 1) and example["image"].dtype == np.uint8 and example["label"].dtype == np.int32
    with pytest.raises(DataError, match="has no feature 'frames'"):
        spec.shape("frames")
