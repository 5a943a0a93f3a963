"""Inpainting masks: 1 where a pixel is known, 0 where the model must fill it in; (H, W, 1) uint8.

`centre`: the centre square of half the side (the classic context-encoder hole). `boxes`: one to three
axis-aligned rectangles, each side 20-50% of the image's. `strokes`: free-form brush strokes in the manner of
the LaMa masks that LDM's inpainting model trains on: one to four random walks of two to six segments,
each segment 10-40% of the side long and drawn with a round brush 6-15% of the side wide. `random`: boxes
or strokes with equal probability. Each mask is a function of a numpy Generator, so a dataset can make it
from an example's index (the same mask every time) or from its place in the training stream (new masks
every epoch, the same ones after a resume).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MASKS = ("centre", "boxes", "strokes", "random")


def centre_mask(height: int, width: int) -> np.ndarray:
    """The centre square of half the side unknown."""
    mask = np.ones((height, width, 1), np.uint8)
    mask[height // 4 : height // 4 + height // 2, width // 4 : width // 4 + width // 2] = 0
    return mask


def box_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One to three rectangles unknown, each side 20-50% of the image's, placed uniformly inside it."""
    mask = np.ones((height, width, 1), np.uint8)
    for _ in range(rng.integers(1, 4)):
        h = max(1, int(round(rng.uniform(0.2, 0.5) * height)))
        w = max(1, int(round(rng.uniform(0.2, 0.5) * width)))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        mask[top : top + h, left : left + w] = 0
    return mask


def stroke_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One to four brush strokes unknown: random walks from a uniform start, each turn a uniform angle."""
    side, strokes = min(height, width), []
    for _ in range(rng.integers(1, 5)):
        brush = max(1.0, rng.uniform(0.06, 0.15) * side)
        points = [rng.uniform((0, 0), (width, height))]
        for _ in range(rng.integers(2, 7)):
            angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.4) * side
            points.append(np.clip(points[-1] + length * np.array([np.cos(angle), np.sin(angle)]), 0, (width - 1, height - 1)))
        strokes.append((points, brush))
    return paint_strokes(strokes, height, width)


def paint_strokes(strokes: list[tuple[list[np.ndarray], float]], height: int, width: int) -> np.ndarray:
    """The mask with each (polyline of (x, y) points, brush width) painted unknown, with round joints and caps."""
    canvas = Image.new("L", (width, height), 1)
    draw = ImageDraw.Draw(canvas)
    for points, brush in strokes:
        for start, end in zip(points[:-1], points[1:]):
            draw.line([tuple(start), tuple(end)], fill=0, width=int(round(brush)))
        for x, y in points:
            draw.ellipse([x - brush / 2, y - brush / 2, x + brush / 2, y + brush / 2], fill=0)
    return np.asarray(canvas, np.uint8)[..., None]


def inpainting_mask(kind: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A mask of `kind` (one of MASKS) for an image of height x width."""
    if kind == "centre":
        return centre_mask(height, width)
    if kind == "random":
        kind = "boxes" if rng.random() < 0.5 else "strokes"
    if kind == "boxes":
        return box_mask(rng, height, width)
    if kind == "strokes":
        return stroke_mask(rng, height, width)
    raise ValueError(f"unknown inpainting mask '{kind}'; choose one of {', '.join(MASKS)}")
