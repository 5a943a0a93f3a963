"""Digit scenes: the ink measurements on drawn strokes, the caption grammar, the captioned and layout sources."""
import numpy as np
import pytest

from configs.common import base_config
from jaxgen import data
from jaxgen.data.digit_scenes import DIGIT_NAMES, attribute_classes, box_iou, caption, ink_box
from jaxgen.data.ink import binary_attributes, ink_attributes
from jaxgen.data.text import decode_text


def bar(width, top=4, left=4, height=30, lean=0.0, canvas=48):
    """A bar of `width` pixels and `height` rows whose left edge moves `lean` pixels right per row upwards."""
    image = np.zeros((canvas, canvas, 1), np.uint8)
    for row in range(height):
        x = left + int(round(lean * (height - 1 - row)))
        image[top + row, x : x + width] = 255
    return image


def test_stroke_width_follows_the_drawn_width():
    widths = [ink_attributes(bar(w))["stroke_width"] for w in (2, 3, 6)]
    assert widths[0] < widths[1] < widths[2]
    np.testing.assert_allclose(widths[1:], [3, 6], rtol=0.15)


def test_slant_is_the_shear_of_the_ink():
    assert ink_attributes(bar(3))["slant"] == pytest.approx(0.0, abs=1e-9)
    leaning_right = ink_attributes(bar(3, lean=0.4))["slant"]
    assert leaning_right == pytest.approx(0.4, rel=0.1)
    mirrored = ink_attributes(bar(3, lean=0.4)[:, ::-1])["slant"]
    assert mirrored == pytest.approx(-leaning_right)


def test_size_and_position_come_from_the_ink_box():
    top_left = ink_attributes(bar(3, top=1, left=1, height=10))
    assert (top_left["row"], top_left["column"]) == (0, 0) and top_left["size"] == pytest.approx(10 / 48)
    bottom_right = ink_attributes(bar(3, top=36, left=40, height=10))
    assert (bottom_right["row"], bottom_right["column"]) == (2, 2)
    np.testing.assert_allclose(ink_box(bar(3, top=36, left=40, height=10)), [40 / 48, 36 / 48, 43 / 48, 46 / 48])


def test_captions_name_the_measured_classes():
    assert caption(7, np.array([2, 1, 0, 0])) == "a thick slanted small seven in the top left"
    assert caption(8, np.array([1, 0, 1, 4])) == "an upright eight in the centre"
    assert caption(3, np.array([0, 0, 2, 7])) == "a thin upright large three in the bottom centre"
    classes = attribute_classes(ink_attributes(bar(6, top=30, left=2, height=16, lean=0.5)))
    assert classes.tolist() == [2, 1, 1, 6]


def test_box_iou_by_hand():
    assert box_iou(np.array([0, 0, 2, 2.0]), np.array([1, 1, 3, 3.0])) == pytest.approx(1 / 7)
    assert box_iou(np.array([0, 0, 1, 1.0]), np.array([2, 2, 3, 3.0])) == 0.0


def source(name):
    config = base_config()
    config.data.name = name
    return data.open_source(config.data, "train")


def test_captioned_digits_are_fixed_by_their_index_and_captioned_as_measured():
    captioned = source("captioned_mnist5k")
    batch = captioned.read(np.arange(0, 4500, 450))
    again = captioned.read(np.arange(0, 4500, 450))
    np.testing.assert_array_equal(batch["image"], again["image"])
    for image, label, tokens, classes in zip(batch["image"], batch["label"], batch["caption"], batch["attributes"]):
        np.testing.assert_array_equal(classes, attribute_classes(ink_attributes(image)))
        assert decode_text(tokens[None])[0] == caption(int(label), classes)
        assert DIGIT_NAMES[int(label)] in decode_text(tokens[None])[0]
    assert captioned.spec.shape("caption") == (64,) and batch["image"].shape == (10, 48, 48, 1)


def test_layouts_box_every_digit_and_leave_empty_slots_empty():
    layouts = source("layout_mnist5k")
    batch = layouts.read(np.arange(40))
    counts = (batch["box_labels"] >= 0).sum(1)
    assert set(counts.tolist()) == {1, 2, 3}
    for image, boxes, labels in zip(batch["image"], batch["boxes"], batch["box_labels"]):
        present = labels >= 0
        assert np.all(boxes[~present] == 0) and np.all(labels[present] < 10)
        covered = np.zeros(image.shape[:2], bool)
        for x0, y0, x1, y1 in boxes[present] * 64:
            covered[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
        assert np.all(covered[image[..., 0] >= 128])  # every ink pixel lies in a digit's box


def test_binary_attributes_split_at_the_stroke_width_fraction_and_the_slant():
    thin, thick = bar(2, canvas=32, top=1, height=28), bar(5, canvas=32, top=1, height=28)  # 2 and 5 pixels of 32
    leaning = bar(2, canvas=32, top=1, height=28, lean=0.4)
    empty = np.zeros((32, 32, 1), np.uint8)
    np.testing.assert_array_equal(binary_attributes(np.stack([thin, thick, leaning, empty])), [[0, 0], [1, 0], [0, 1], [0, 0]])


def test_about_half_the_mnist5k_digits_hold_each_attribute():
    images = data.open_source(base_config().data, "train").read(np.arange(0, 4500, 5))["image"]
    share = binary_attributes(images).mean(axis=0)
    assert np.all(np.abs(share - 0.5) < 0.05), share
