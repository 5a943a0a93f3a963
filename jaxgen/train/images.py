"""Image grids as PNG files."""
from __future__ import annotations

import math
import pathlib

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] float images -> uint8."""
    return np.clip(np.round(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, columns: int = 0, padding: int = 1) -> np.ndarray:
    """Tile (N, H, W, C) images in [0, 1] into one uint8 (rows*H, cols*W, C) picture."""
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, np.uint8)
    tiles = to_uint8(images)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = tiles[i]
    return grid


def save_grid(path: str | pathlib.Path, images: np.ndarray, columns: int = 0, scale: int = 0) -> None:
    """Write a grid PNG; small images are enlarged (nearest) so the picture is legible."""
    grid = make_grid(images, columns)
    scale = scale or max(1, min(4, 512 // grid.shape[1]))
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
