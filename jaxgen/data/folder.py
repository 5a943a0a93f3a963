"""A folder of the user's own images as a dataset: `data.name=folder:PATH`.

Layouts, looked for in this order:
  PATH/A/, PATH/B/        paired images matched by file name: `source` from A, `image` (the target) from B
  PATH/<class>/...        one sub-folder per class: `image` and `label` (classes in sorted folder order)
  PATH/...                images only
PATH/train/ and PATH/test/ holding one of those layouts give the splits; otherwise every tenth image
(in sorted order) is the test split. Images are read once into memory as uint8 RGB or greyscale; they
must share one size unless `data.image_size` resizes them.
"""
from __future__ import annotations

import pathlib

import numpy as np
from PIL import Image

from jaxgen.data.preprocess import resize_uint8
from jaxgen.data.sources import ArraySource, DatasetSpec, Feature
from jaxgen.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
PREFIX = "folder:"
TEST_EVERY = 10


def image_files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_images(paths: list[pathlib.Path], size: int | tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) uint8: greyscale when every file is greyscale, else RGB; resized to `size` (a side or a
    (height, width)) unless it is 0."""
    if not paths:
        raise DataError("the image folder holds no images (" + ", ".join(IMAGE_SUFFIXES) + ")")
    pictures = []
    for path in paths:
        with Image.open(path) as picture:
            pictures.append((picture.mode in ("L", "1", "I;16"), picture.convert("RGB")))
    grey = all(is_grey for is_grey, _ in pictures)
    arrays = [np.asarray(p.convert("L"))[..., None] if grey else np.asarray(p) for _, p in pictures]
    if size:
        return np.concatenate([resize_uint8(a[None], size) for a in arrays])
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"the images in {paths[0].parent} have different sizes {sorted(shapes)[:3]}...; set data.image_size")
    return np.stack(arrays)


def _layout(root: pathlib.Path, size: int) -> tuple[dict[str, np.ndarray], int]:
    """The arrays of one folder layout and its number of classes."""
    if (root / "A").is_dir() and (root / "B").is_dir():
        sources, targets = image_files(root / "A"), image_files(root / "B")
        names = sorted({p.name for p in sources} & {p.name for p in targets})
        if not names:
            raise DataError(f"{root}/A and {root}/B share no file names: paired images are matched by name")
        return {"source": read_images([root / "A" / n for n in names], size), "image": read_images([root / "B" / n for n in names], size)}, 0
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if classes:
        files = [(f, c) for c, folder in enumerate(classes) for f in image_files(folder)]
        images = read_images([f for f, _ in files], size)
        return {"image": images, "label": np.asarray([c for _, c in files], np.int32)}, len(classes)
    return {"image": read_images(image_files(root), size)}, 0


def folder_source(name: str, split: str, size: int) -> ArraySource:
    """One split of the folder dataset `name` ('folder:PATH')."""
    root = pathlib.Path(name[len(PREFIX) :]).expanduser()
    if not root.is_dir():
        raise DataError(f"data.name='{name}': {root} is not a folder")
    if (root / "train").is_dir() and (root / "test").is_dir():
        arrays, num_classes = _layout(root / split, size)
    else:
        arrays, num_classes = _layout(root, size)
        held_out = np.arange(len(next(iter(arrays.values())))) % TEST_EVERY == TEST_EVERY - 1
        keep = held_out if split == "test" else ~held_out
        arrays = {k: v[keep] for k, v in arrays.items()}
    if not len(arrays["image"]):
        raise DataError(f"data.name='{name}' has no {split} images")
    features = tuple((k, Feature(tuple(v.shape[1:]), str(v.dtype))) for k, v in arrays.items())
    return ArraySource(DatasetSpec(name, features, num_classes), arrays)
