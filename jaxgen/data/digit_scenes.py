"""Digit scenes for conditional generation, built from a digits source: captions measured from the ink
(text-to-image) and canvases of several boxed digits (layout-to-image).

`ink.ink_attributes` measures what a caption says (stroke width, slant, size, position), from the image
alone, so the same function judges whether a generated image matches its caption.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from jaxgen.data.combinators import ProceduralSource
from jaxgen.data.ink import ink_attributes
from jaxgen.data.sources import DatasetSpec, Feature, Source
from jaxgen.data.text import encode_text

Batch = dict[str, np.ndarray]
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
THICKNESS = ("thin", "", "thick")
SLANT = ("upright", "slanted")
SIZE = ("small", "", "large")
ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "centre", "right")
# Class boundaries, about the terciles (medians for the slant) of 1,500 captioned mnist5k digits: stroke width
# in pixels, |shear|, ink height / canvas side.
THIN_BELOW, THICK_FROM = 2.4, 3.2
SLANTED_FROM = 0.25
SMALL_BELOW, LARGE_FROM = 0.32, 0.42
CAPTION_CANVAS, CAPTION_TOKENS = 48, 64
LAYOUT_CANVAS, LAYOUT_BOXES = 64, 3


def attribute_classes(attributes: dict[str, float]) -> np.ndarray:
    """(thickness 0-2, slant 0-1, size 0-2, position 0-8) as int32."""
    width, size = attributes["stroke_width"], attributes["size"]
    thickness = 0 if width < THIN_BELOW else 2 if width >= THICK_FROM else 1
    slant = int(abs(attributes["slant"]) >= SLANTED_FROM)
    size_class = 0 if size < SMALL_BELOW else 2 if size >= LARGE_FROM else 1
    return np.asarray([thickness, slant, size_class, 3 * attributes["row"] + attributes["column"]], np.int32)


def caption(label: int, classes: np.ndarray) -> str:
    """'a thick slanted small seven in the top left', 'an upright eight in the centre' from a label and
    `attribute_classes`."""
    thickness, slant, size, position = (int(c) for c in classes)
    row, column = ROWS[position // 3], COLUMNS[position % 3]
    where = "in the centre" if (row, column) == ("middle", "centre") else f"in the {row} {column}"
    words = [w for w in (THICKNESS[thickness], SLANT[slant], SIZE[size], DIGIT_NAMES[label], where) if w]
    return " ".join(["an" if words[0][0] in "aeiou" else "a", *words])


def _scaled(digit: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(digit[..., 0]).resize((side, side), Image.Resampling.BILINEAR))


def captioned_digits(digits: Source, split_seed: int) -> ProceduralSource:
    """Digit i of `digits` at a random scale (16-36 pixels) centred in a random cell of the canvas's 3 x 3
    grid (clipped to the CAPTION_CANVAS square), with its caption's tokens (`caption`), the caption's
    attribute classes as measured (`attributes`) and its `label`."""
    if not digits.spec.num_classes:
        raise ValueError("captioned digits need a labelled digits source")

    def make(rng: np.random.Generator, index: int) -> Batch:
        example = digits.read(np.asarray([index]))
        side = int(rng.integers(16, 37))
        cell = rng.integers(0, 3, 2)
        centre = (cell + rng.uniform(0.0, 1.0, 2)) * CAPTION_CANVAS / 3
        y, x = (int(np.clip(round(c - side / 2), 0, CAPTION_CANVAS - side)) for c in centre)
        canvas = np.zeros((CAPTION_CANVAS, CAPTION_CANVAS, 1), np.uint8)
        canvas[y : y + side, x : x + side, 0] = _scaled(example["image"][0], side)
        label = int(example["label"][0])
        classes = attribute_classes(ink_attributes(canvas))
        return {"image": canvas, "label": np.int32(label), "caption": encode_text([caption(label, classes)], CAPTION_TOKENS)[0],
                "attributes": classes}

    spec = DatasetSpec(
        f"captioned_{digits.spec.name}",
        (("image", Feature((CAPTION_CANVAS, CAPTION_CANVAS, 1), "uint8")), ("label", Feature((), "int32")),
         ("caption", Feature((CAPTION_TOKENS,), "int32")), ("attributes", Feature((4,), "int32"))),
        digits.spec.num_classes,
    )
    return ProceduralSource(spec, len(digits), split_seed, make)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ink_box(canvas: np.ndarray) -> np.ndarray:
    """The (x0, y0, x1, y1) box of the ink (pixels >= 128) of an (H, W[, 1]) image, in [0, 1]; zeros without ink."""
    ys, xs = np.nonzero(np.asarray(canvas).reshape(canvas.shape[0], canvas.shape[1]) >= 128)
    if not ys.size:
        return np.zeros(4, np.float32)
    return np.asarray([xs.min() / canvas.shape[1], ys.min() / canvas.shape[0], (xs.max() + 1) / canvas.shape[1],
                       (ys.max() + 1) / canvas.shape[0]], np.float32)


def digit_layouts(digits: Source, split_seed: int) -> ProceduralSource:
    """1 to LAYOUT_BOXES random digits of `digits` on a LAYOUT_CANVAS square, each 20-32 pixels, placed again
    (up to 20 times) while its ink box overlaps an earlier one by IoU >= 0.1, with `boxes` (LAYOUT_BOXES, 4) in [0, 1] and
    `box_labels` (LAYOUT_BOXES,) (-1 and a zero box where there is no digit)."""
    if not digits.spec.num_classes:
        raise ValueError("digit layouts need a labelled digits source")

    def make(rng: np.random.Generator, index: int) -> Batch:
        canvas = np.zeros((LAYOUT_CANVAS, LAYOUT_CANVAS, 1), np.uint8)
        boxes, labels = np.zeros((LAYOUT_BOXES, 4), np.float32), np.full((LAYOUT_BOXES,), -1, np.int32)
        for slot in range(int(rng.integers(1, LAYOUT_BOXES + 1))):
            example = digits.read(rng.integers(0, len(digits), 1))
            side = int(rng.integers(20, 33))
            glyph = _scaled(example["image"][0], side)
            for _ in range(20):
                y, x = (int(v) for v in rng.integers(0, LAYOUT_CANVAS - side + 1, 2))
                layer = np.zeros_like(canvas)
                layer[y : y + side, x : x + side, 0] = glyph
                box = ink_box(layer)
                if all(box_iou(box, boxes[k]) < 0.1 for k in range(slot)):
                    break
            canvas = np.maximum(canvas, layer)
            boxes[slot], labels[slot] = box, int(example["label"][0])
        return {"image": canvas, "boxes": boxes, "box_labels": labels}

    spec = DatasetSpec(
        f"layout_{digits.spec.name}",
        (("image", Feature((LAYOUT_CANVAS, LAYOUT_CANVAS, 1), "uint8")), ("boxes", Feature((LAYOUT_BOXES, 4), "float32")),
         ("box_labels", Feature((LAYOUT_BOXES,), "int32"))),
        digits.spec.num_classes,
    )
    return ProceduralSource(spec, len(digits), split_seed, make)
