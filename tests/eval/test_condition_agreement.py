"""Caption and layout agreement on real digit scenes (which must agree with their own conditions), on
scenes that contradict them, and the crops the classifier is shown."""
import numpy as np
import pytest

from jaxgen import data
from jaxgen.eval.condition_agreement import box_region, caption_agreement, layout_agreement, square_crop
from tests.data.test_combinators import data_config


@pytest.fixture(scope="module")
def captioned():
    return data.open_source(data_config(name="captioned_mnist5k"), "test").read(np.arange(60))


@pytest.fixture(scope="module")
def layouts():
    return data.open_source(data_config(name="layout_mnist5k"), "test").read(np.arange(30))


def test_real_captioned_digits_match_their_captions_and_shuffled_ones_do_not(captioned):
    oracle = lambda pixels: captioned["label"]  # noqa: E731  a classifier that is always right
    real = caption_agreement(captioned["image"], captioned["attributes"], captioned["label"], oracle, 28)
    assert all(v == 1.0 for v in real.values()), real  # the captions were measured from these images
    floats = caption_agreement(captioned["image"] / 255.0, captioned["attributes"], captioned["label"], oracle, 28)
    assert floats == real  # samples in [0, 1] are judged like stored pixels
    shuffled = caption_agreement(captioned["image"][::-1], captioned["attributes"], captioned["label"], lambda p: captioned["label"][::-1], 28)
    assert shuffled["caption_match"] < 0.1 and shuffled["caption_position_accuracy"] < 0.5
    blank = caption_agreement(np.zeros_like(captioned["image"]), captioned["attributes"], captioned["label"], oracle, 28)
    assert blank["caption_match"] == 0.0


def test_real_layouts_agree_with_their_boxes_and_empty_canvases_do_not(layouts):
    seen = []

    def classify(crops):
        seen.append(crops)
        return np.concatenate([labels[labels >= 0] for labels in layouts["box_labels"]])  # the right answers

    real = layout_agreement(layouts["image"], layouts["boxes"], layouts["box_labels"], classify, crop_size=28)
    assert real["box_accuracy"] == 1.0 and real["num_boxes"] == (layouts["box_labels"] >= 0).sum()
    assert real["box_iou"] > 0.8  # the ink found around each box is its digit (neighbours may spill into the margin)
    crops = seen[0]
    assert crops.shape == (real["num_boxes"], 28, 28, 1) and (crops.reshape(len(crops), -1).max(axis=1) >= 128).all()
    empty = layout_agreement(np.zeros_like(layouts["image"]), layouts["boxes"], layouts["box_labels"], classify, crop_size=28)
    assert empty["box_iou"] == 0.0


def test_box_regions_and_square_crops_by_hand():
    assert box_region(np.array([0.25, 0.5, 0.5, 1.0]), 8, 8) == (4, 8, 2, 4)
    assert box_region(np.array([0.25, 0.5, 0.5, 1.0]), 8, 8, margin=0.5) == (2, 8, 1, 5)  # clipped at the bottom
    image = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)
    crop = square_crop(image, (4, 8, 2, 4))  # 4 rows x 2 columns -> 4 x 4, the columns centred
    assert crop.shape == (4, 4, 1) and (crop[:, 0] == 0).all() and (crop[:, 1:3, 0] == image[4:8, 2:4, 0]).all()
