"""Whether generated digit scenes say what their conditions asked for -- a small CLIP-score equivalent for the
built-in captioned and layout digits (jaxgen/data/digit_scenes.py), judged by the same ink measurements that
wrote the captions and by a digit classifier.

`caption_agreement`: per attribute, the share of samples whose measured class (thickness, slant, size, 3 x 3
position) equals the caption's; the share whose digit the classifier reads as the caption's; and
`caption_match`, the share right on all five (chance: 1/3 x 1/2 x 1/3 x 1/9 x 1/10 ~ 0.06%).
`layout_agreement`: for every requested box, the classifier's reading of the ink inside it against the
box's label, and the IoU of the box with the box of the ink found in it (searched in the box grown by
`margin` of its size on each side, so ink that spills over still counts).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from jaxgen.data.digit_scenes import attribute_classes, box_iou, ink_box
from jaxgen.data.ink import ink_attributes
from jaxgen.data.preprocess import to_uint8

Classify = Callable[[np.ndarray], np.ndarray]  # (N, h, w, 1) uint8 digit crops -> (N,) predicted classes
ATTRIBUTES = ("thickness", "slant", "size", "position")
CROP_MARGIN = 0.2  # a digit's crop: its box grown by a fifth each side, as mnist digits sit in their frame


def as_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats (samples) or uint8 (stored images) as uint8."""
    images = np.asarray(images)
    return images if images.dtype == np.uint8 else to_uint8(images)


def caption_agreement(images: np.ndarray, attributes: np.ndarray, labels: np.ndarray, classify: Classify,
                      crop_size: int) -> dict[str, float]:
    """Agreement of (N, H, W, 1) images with their captions' attribute classes (N, 4) and digits (N,); the
    classifier reads the square crop around each image's ink box, resized to `crop_size`."""
    pixels = as_uint8(images)
    height, width = pixels.shape[1:3]
    measured = np.stack([attribute_classes(ink_attributes(image)) for image in pixels])
    right = measured == np.asarray(attributes)
    crops = np.stack([resized(square_crop(image, box_region(ink_box(image), height, width, CROP_MARGIN)), crop_size)
                      for image in pixels])
    digit = classify(crops) == np.asarray(labels)
    out = {f"caption_{name}_accuracy": float(right[:, i].mean()) for i, name in enumerate(ATTRIBUTES)}
    out["caption_digit_accuracy"] = float(digit.mean())
    out["caption_match"] = float((right.all(axis=1) & digit).mean())
    return out


def resized(crop: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(crop[..., 0]).resize((size, size), Image.Resampling.BILINEAR))[..., None]


def box_region(box: np.ndarray, height: int, width: int, margin: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel rows and columns (top, bottom, left, right) of an (x0, y0, x1, y1) box in [0, 1], grown by
    `margin` of its width and height on each side and clipped to the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    top, bottom = int(np.floor(max(0.0, y0 - dy) * height)), int(np.ceil(min(1.0, y1 + dy) * height))
    left, right = int(np.floor(max(0.0, x0 - dx) * width)), int(np.ceil(min(1.0, x1 + dx) * width))
    return top, max(bottom, top + 1), left, max(right, left + 1)


def square_crop(image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """The region of an (H, W, 1) image padded with background to a square around its centre."""
    top, bottom, left, right = region
    crop = image[top:bottom, left:right]
    side = max(crop.shape[:2])
    out = np.zeros((side, side, image.shape[-1]), image.dtype)
    y, x = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    out[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return out


def layout_agreement(images: np.ndarray, boxes: np.ndarray, box_labels: np.ndarray, classify: Classify,
                     crop_size: int, margin: float = 0.25) -> dict[str, float]:
    """Agreement of (N, H, W, 1) images with their layouts: boxes (N, B, 4) in [0, 1] and labels (N, B), -1
    where a slot is empty. `classify` reads square crops resized to `crop_size`."""
    pixels = as_uint8(images)
    height, width = pixels.shape[1:3]
    crops, wanted, ious = [], [], []
    for image, image_boxes, labels in zip(pixels, np.asarray(boxes), np.asarray(box_labels)):
        for box, label in zip(image_boxes, labels):
            if label < 0:
                continue
            top, bottom, left, right = box_region(box, height, width, margin)
            window = np.zeros_like(image)
            window[top:bottom, left:right] = image[top:bottom, left:right]
            ious.append(box_iou(np.asarray(box), ink_box(window)))
            crops.append(resized(square_crop(image, box_region(box, height, width, CROP_MARGIN)), crop_size))
            wanted.append(label)
    if not crops:
        raise ValueError("layout_agreement needs at least one box with a label >= 0")
    right = classify(np.stack(crops)) == np.asarray(wanted)
    return {"box_accuracy": float(right.mean()), "box_iou": float(np.mean(ious)), "num_boxes": float(len(crops))}
