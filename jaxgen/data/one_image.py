"""One image file as a dataset, the training set of a single-image model (SinGAN): `data.name=image:PATH`.

PATH is a file of the user's, or `scikit-image/FILE` for a photograph that scikit-image ships (e.g.
`image:scikit-image/rocket.jpg`; the photos of README "Data"). Both splits hold that one image, as uint8 RGB
(greyscale files stay one channel). `data.image_size` > 0 resizes it (bicubic, antialiased) so that its longer
side has that many pixels and its aspect ratio is kept, rather than to a square as for the other datasets.
"""
from __future__ import annotations

import pathlib

from jaxgen.data.folder import read_images
from jaxgen.data.preprocess import resize_uint8
from jaxgen.data.sources import ArraySource, DatasetSpec, package_dir
from jaxgen.errors import DataError

PREFIX = "image:"
SCIKIT_IMAGE = "scikit-image/"


def image_path(name: str) -> pathlib.Path:
    """The file that `data.name` = 'image:PATH' names, checked to exist."""
    given = name[len(PREFIX) :]
    if given.startswith(SCIKIT_IMAGE):
        path = package_dir("skimage", "pip install scikit-image") / "data" / given[len(SCIKIT_IMAGE) :]
    else:
        path = pathlib.Path(given).expanduser()
    if not path.is_file():
        raise DataError(f"data.name='{name}': {path} is not a file")
    return path


def aspect_shape(height: int, width: int, longer_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is `longer_side` (at least one pixel each)."""
    scale = longer_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def one_image_source(name: str, longer_side: int) -> ArraySource:
    """The dataset of the one image `name` names, its longer side resized to `longer_side` (0 keeps it)."""
    path = image_path(name)
    try:
        image = read_images([path], 0)  # (1, H, W, C) uint8
    except OSError as e:
        raise DataError(f"data.name='{name}': {path} is not an image PIL can read ({e})") from None
    if longer_side:
        image = resize_uint8(image, aspect_shape(*image.shape[1:3], longer_side))
    return ArraySource(DatasetSpec.of_images(name, image.shape[1:]), {"image": image})
