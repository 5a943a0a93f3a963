"""Built-in offline datasets and the tfds path (mock data, and the unprepared-dataset message)."""
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgen import data
from jaxgen.data import tfds_source
from jaxgen.errors import DataError


def data_config(name, **kw):
    return ml_collections.ConfigDict(dict(name=name, data_dir=kw.get("data_dir", ""), image_size=0, preprocess="scale01"))


@pytest.mark.parametrize(
    "name, shape, classes, train, test",
    [("mnist5k", (28, 28, 1), 10, 4500, 500), ("digits", (8, 8, 1), 10, 1497, 300), ("photos32", (32, 32, 3), 0, None, None)],
)
def test_builtin_datasets_have_disjoint_splits_of_the_stated_shape(name, shape, classes, train, test):
    train_src, test_src = data.open_source(data_config(name), "train"), data.open_source(data_config(name), "test")
    assert train_src.spec.image_shape == shape and train_src.spec.num_classes == classes
    if train is not None:
        assert (len(train_src), len(test_src)) == (train, test)
    batch = test_src.read(np.arange(4))
    assert batch["image"].dtype == np.uint8 and batch["image"].shape == (4,) + shape
    if classes:
        assert batch["label"].dtype == np.int32
        assert np.bincount(test_src.arrays["label"], minlength=classes).min() == len(test_src) // classes
    flat_train = {img.tobytes() for img in train_src.arrays["image"]}
    assert not any(img.tobytes() in flat_train for img in test_src.arrays["image"][:200])


def test_mnist5k_is_real_mnist():
    src = data.open_source(data_config("mnist5k"), "train")
    assert src.arrays["image"].max() == 255 and 30 < src.arrays["image"].mean() < 40  # MNIST's mean intensity is ~33


def test_tfds_datasets_read_through_data_source_with_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        for name, shape in [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)), ("celeb_a", (140, 140, 3))]:
            src = data.open_source(data_config(name), "train")
            batch = src.read(np.array([0, 5, 2]))
            assert batch["image"].shape == (3,) + shape and batch["image"].dtype == np.uint8
            assert ("label" in batch) == (name != "celeb_a")


def test_unprepared_tfds_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(DataError, match="tfds build mnist --file_format=array_record"):
        data.open_source(data_config("mnist", data_dir=str(tmp_path)), "train")


def test_unknown_dataset_is_named():
    with pytest.raises(DataError, match="unknown data.name 'imagenet'"):
        data.open_source(data_config("imagenet"), "train")


def test_open_source_delivers_what_the_config_asks_and_says_so_in_the_spec():
    config = data_config("digits")
    config.image_size = 16
    config.preprocess = "binarize_static"
    src = data.open_source(config, "train")
    assert src.spec.image_shape == (16, 16, 1)
    assert set(np.unique(src.read(np.arange(32))["image"])) <= {0, 255}
    with tfds.testing.mock_data(num_examples=4):
        cifar_config = data_config("cifar10")
        cifar_config.image_size = 8
        cifar = data.open_source(cifar_config, "train")
        assert cifar.spec.image_shape == (8, 8, 3) and cifar.read(np.arange(2))["image"].shape == (2, 8, 8, 3)


def test_celeb_a_delivers_the_attributes_named_in_their_order():
    config = data_config("celeb_a")
    config.attributes = ("Young", "Black_Hair", "Male")
    with tfds.testing.mock_data(num_examples=6):
        src = data.open_source(config, "train")
        assert src.spec.shape("attributes") == (3,)
        batch = src.read(np.array([4, 1]))
        records = tfds.data_source("celeb_a", split="train")
        expected = [[float(records[i]["attributes"][a]) for a in config.attributes] for i in (4, 1)]
    np.testing.assert_array_equal(batch["attributes"], np.asarray(expected, np.float32))
    assert batch["attributes"].dtype == np.float32 and set(np.unique(batch["attributes"])) <= {0.0, 1.0}
    assert set(tfds_source.CELEBA_ATTRIBUTES) == set(records[0]["attributes"])  # all 40, as tfds names them


@pytest.mark.parametrize("name, attributes, message", [
    ("celeb_a", ("Smiling", "Purple_Hair"), "'Purple_Hair' is not a CelebA attribute"),
    ("cifar10", ("Male",), "data.attributes are read from celeb_a's labels; data.name='cifar10' has none"),
    ("mnist5k", ("Male",), "data.attributes are read from celeb_a's labels; data.name='mnist5k' has none"),
])
def test_unknown_or_misplaced_attributes_are_named(name, attributes, message):
    config = data_config(name)
    config.attributes = attributes
    with tfds.testing.mock_data(num_examples=2), pytest.raises(DataError, match=message):
        data.open_source(config, "train")
