"""Measurements of a digit's ink, from the image alone: what captions say and what StarGAN's domains are.

- stroke width: 2 x ink area / ink perimeter (a stroke of width w and length L has area ~ wL and
  perimeter ~ 2L), ink being pixels >= 128 and the perimeter the ink pixels with a background 4-neighbour;
- slant: the shear -cov(x, y) / var(y) of the ink pixels' coordinates (y down), > 0 leaning right;
- size: the ink's height over the canvas side;
- position: the ink box's centre in a 3 x 3 grid of the canvas.

`binary_attributes` turns the first two into the two-attribute domains of a digit (thick, slanted), split
at the medians of the mnist5k training digits (stroke width 0.10 of the image side at 28x28 and 32x32;
|slant| 0.21), so that each attribute holds for about half the digits.
"""
from __future__ import annotations

import numpy as np

ATTRIBUTE_NAMES = ("thick", "slanted")
THICK_FROM_FRACTION = 0.10  # stroke width / image side
SLANTED_FROM = 0.21  # |shear|


def ink_attributes(image: np.ndarray) -> dict[str, float]:
    """stroke_width, slant, size, row and column (the 3 x 3 cell of the ink box's centre) of one (H, W[, 1])
    uint8 image; NaN measurements and the centre cell for an image without ink."""
    ink = np.asarray(image).reshape(image.shape[0], image.shape[1]) >= 128
    if not ink.any():
        return {"stroke_width": float("nan"), "slant": float("nan"), "size": 0.0, "row": 1, "column": 1}
    padded = np.pad(ink, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    perimeter = np.count_nonzero(ink & ~interior)
    ys, xs = np.nonzero(ink)
    var_y = ys.var()
    slant = float(-np.mean((xs - xs.mean()) * (ys - ys.mean())) / var_y) if var_y > 0 else 0.0
    side_y, side_x = ink.shape
    cy, cx = (ys.min() + ys.max() + 1) / 2.0, (xs.min() + xs.max() + 1) / 2.0
    return {
        "stroke_width": 2.0 * ink.sum() / perimeter, "slant": slant, "size": (ys.max() - ys.min() + 1) / side_y,
        "row": min(int(3 * cy / side_y), 2), "column": min(int(3 * cx / side_x), 2),
    }


def binary_attributes(images: np.ndarray) -> np.ndarray:
    """(N, 2) float32 in {0, 1}: (thick, slanted) of each (H, W[, 1]) uint8 digit; an image without ink is
    neither."""
    out = np.zeros((len(images), len(ATTRIBUTE_NAMES)), np.float32)
    for i, image in enumerate(images):
        measured = ink_attributes(image)
        if not np.isnan(measured["stroke_width"]):
            out[i] = (measured["stroke_width"] >= THICK_FROM_FRACTION * image.shape[0], abs(measured["slant"]) >= SLANTED_FROM)
    return out
