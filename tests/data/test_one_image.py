"""One image file as a dataset (data.name=image:PATH): scikit-image's photographs or the user's file, its longer
side resized with the aspect ratio kept, greyscale kept, and the errors naming the file."""
import numpy as np
import pytest
from PIL import Image

from jaxgen.data import one_image
from jaxgen.errors import DataError


def test_the_one_image_dataset(tmp_path):
    """image:PATH: the user's file or scikit-image's, its longer side at data.image_size, greyscale kept."""
    source = one_image.one_image_source("image:scikit-image/rocket.jpg", 96)
    assert len(source) == 1 and source.spec.image_shape == (64, 96, 3)
    assert one_image.one_image_source("image:scikit-image/rocket.jpg", 0).spec.image_shape == (427, 640, 3)
    Image.fromarray(np.arange(50 * 20, dtype=np.uint8).reshape(50, 20) % 255).save(tmp_path / "tall.png")
    assert one_image.one_image_source(f"image:{tmp_path}/tall.png", 25).spec.image_shape == (25, 10, 1)
    with pytest.raises(DataError, match="is not a file"):
        one_image.one_image_source(f"image:{tmp_path}/missing.png", 0)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match="is not an image PIL can read"):
        one_image.one_image_source(f"image:{tmp_path}/bad.png", 0)
