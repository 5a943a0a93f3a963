"""Datasets built from others: paired (an image and a deterministic transform of it), unpaired (a second
source shuffled on its own) and procedural (examples generated from a seed).

Each keeps the guarantees of `pipeline.py`: reads by index, per-process rows, an order fixed by the seed.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from PIL import Image

from jaxgen.data.ink import binary_attributes
from jaxgen.data.masks import MASKS, inpainting_mask
from jaxgen.data.sources import ArraySource, DatasetSpec, Feature, Source
from jaxgen.errors import DataError

Batch = dict[str, np.ndarray]


def edges(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image, scaled to 0..255 per image: (N, H, W, 1) uint8."""
    grey = luma(images)[..., 0].astype(np.float32)
    padded = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    window = lambda dy, dx: padded[:, 1 + dy : padded.shape[1] - 1 + dy, 1 + dx : padded.shape[2] - 1 + dx]  # noqa: E731
    gx = (window(-1, 1) + 2 * window(0, 1) + window(1, 1)) - (window(-1, -1) + 2 * window(0, -1) + window(1, -1))
    gy = (window(1, -1) + 2 * window(1, 0) + window(1, 1)) - (window(-1, -1) + 2 * window(-1, 0) + window(-1, 1))
    magnitude = np.hypot(gx, gy)
    peak = np.maximum(magnitude.max(axis=(1, 2), keepdims=True), 1e-6)
    return np.round(magnitude / peak * 255.0).astype(np.uint8)[..., None]


def luma(images: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of RGB images (grey images pass through): (N, H, W, 1) uint8."""
    if images.shape[-1] == 1:
        return images
    weights = np.asarray([0.299, 0.587, 0.114], np.float32)
    return np.round(images.astype(np.float32) @ weights).astype(np.uint8)[..., None]


def downsample4(images: np.ndarray) -> np.ndarray:
    """Bicubic 4x down-sampling (the LDM/SR3 super-resolution input): (N, H/4, W/4, C) uint8."""
    n, h, w, c = images.shape
    if h % 4 or w % 4:
        raise DataError(f"data.pair='downsample4' needs H and W divisible by 4, the images are {h}x{w}")
    out = []
    for image in images:
        pil = Image.fromarray(image[..., 0] if c == 1 else image)
        out.append(np.asarray(pil.resize((w // 4, h // 4), Image.Resampling.BICUBIC)).reshape(h // 4, w // 4, c))
    return np.stack(out)


# The built-in second photo domain (CycleGAN's photos32 <-> stylised photos32): the classic sepia matrix,
# then each channel posterised to STYLE_LEVELS levels -- a style no pixel-wise colour map undoes exactly.
SEPIA = np.asarray([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
STYLE_LEVELS = 4


def stylise(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 photos, sepia-toned then posterised: (N, H, W, 3) uint8 in STYLE_LEVELS levels."""
    toned = np.clip(images.astype(np.float32) @ SEPIA.T, 0.0, 255.0)
    step = 255.0 / (STYLE_LEVELS - 1)
    return np.round(np.round(toned / step) * step).astype(np.uint8)


def derived(base: ArraySource, name: str, style: Callable[[np.ndarray], np.ndarray]) -> ArraySource:
    """`base` with every image passed through `style`, under its own dataset name."""
    return ArraySource(dataclasses.replace(base.spec, name=name), {**base.arrays, "image": style(base.arrays["image"])})


# derived dataset -> (the dataset whose images it restyles, the style)
DERIVED: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {"stylised_photos32": ("photos32", stylise)}


MASK_SEED = 2024


def masked(kind: str) -> Callable[[np.ndarray, np.ndarray, bool], Batch]:
    """The pairing that hides the pixels of an inpainting mask of `kind` (masks.py): `known` (1 where a pixel
    is known) and `source`, the image with the unknown pixels zeroed. A row's mask is drawn from its stream
    place in training (new masks each epoch) and from its index in evaluation (the same mask each time)."""

    def pair(images: np.ndarray, rows: np.ndarray, in_stream: bool) -> Batch:
        h, w = images.shape[1:3]
        known = np.stack([inpainting_mask(kind, np.random.default_rng([MASK_SEED, int(in_stream), int(r)]), h, w) for r in rows])
        return {"source": images * known, "known": known}

    return pair


# data.pair -> (images, row ids, whether the ids are stream places) -> the features it adds
PAIRINGS: dict[str, Callable[[np.ndarray, np.ndarray, bool], Batch]] = {
    "edges": lambda images, rows, in_stream: {"source": edges(images)},
    "grey": lambda images, rows, in_stream: {"source": luma(images)},
    "downsample4": lambda images, rows, in_stream: {"source": downsample4(images)},
    "ink_attributes": lambda images, rows, in_stream: {"attributes": binary_attributes(images)},
    "masked": masked("centre"),
    **{f"masked_{kind}": masked(kind) for kind in MASKS if kind != "centre"},
}


class PairedSource:
    """`image` (the target) with an aligned `source` computed from it by `data.pair` (and `known` for the
    masked pairings): edges -> digit, grey -> colour, 4x down-sampled -> full resolution, masked -> whole;
    or with features measured from it (`ink_attributes`: StarGAN's binary domains thick and slanted)."""

    def __init__(self, base: Source, pairing: str):
        if pairing not in PAIRINGS:
            raise DataError(f"unknown data.pair '{pairing}'; choose one of: {', '.join(PAIRINGS)}")
        self._base, self._pair = base, PAIRINGS[pairing]
        added = self._pair(base.spec.example_batch(1)["image"], np.zeros(1, np.int64), False)
        self.spec = base.spec.with_features(**{k: Feature(v.shape[1:], str(v.dtype)) for k, v in added.items()})

    def __len__(self) -> int:
        return len(self._base)

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> Batch:
        batch = self._base.read(indices, ordinals)
        rows = indices if ordinals is None else ordinals
        return {**batch, **self._pair(batch["image"], np.asarray(rows), ordinals is not None)}


class UnpairedSource:
    """A primary source and a second one whose features join each example under `second_<name>`. The
    second is shuffled on its own: row r of the training stream (its ordinal) takes example
    permutation(seed, e)[r mod n] of the second source's n examples, e = r div n, so both sources run
    their own epochs and a resumed stream pairs exactly as before."""

    PREFIX = "second_"

    def __init__(self, primary: Source, second: Source, seed: int):
        self._primary, self._second, self._seed = primary, second, seed
        renamed = {self.PREFIX + k: f for k, f in second.spec.features}
        self.spec = primary.spec.with_features(**renamed)
        self._order: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._primary)

    def second_indices(self, ordinals: np.ndarray) -> np.ndarray:
        epochs, offsets = np.divmod(np.asarray(ordinals, np.int64), len(self._second))
        out = np.empty_like(offsets)
        for epoch in np.unique(epochs):
            if self._order is None or self._order[0] != epoch:
                self._order = (int(epoch), np.random.default_rng([self._seed, 1, int(epoch)]).permutation(len(self._second)))
            out[epochs == epoch] = self._order[1][offsets[epochs == epoch]]
        return out

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> Batch:
        """Rows `indices` of the primary; the second source's rows follow `ordinals` (default: `indices`,
        which makes an evaluation pass deterministic)."""
        batch = self._primary.read(indices, ordinals)
        second = self._second.read(self.second_indices(indices if ordinals is None else ordinals))
        return {**batch, **{self.PREFIX + k: v for k, v in second.items()}}


class ProceduralSource:
    """`length` examples, example i generated by `make(np.random.default_rng([seed, i]), i)`: nothing is
    stored, and the same index always gives the same example."""

    def __init__(self, spec: DatasetSpec, length: int, seed: int, make: Callable[[np.random.Generator, int], Batch]):
        self.spec, self._length, self._seed, self._make = spec, length, seed, make

    def __len__(self) -> int:
        return self._length

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> Batch:
        examples = [self._make(np.random.default_rng([self._seed, int(i)]), int(i)) for i in indices]
        return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


BOUNCING_FRAMES, BOUNCING_CANVAS = 8, 48


def bouncing_digits(digits: Source, split_seed: int) -> ProceduralSource:
    """Sequences of `BOUNCING_FRAMES` frames: digit i of `digits` moving at a random constant velocity on a
    BOUNCING_CANVAS-pixel square canvas and bouncing off its walls (Moving MNIST's recipe, one digit)."""
    h, w, c = digits.spec.image_shape
    room = BOUNCING_CANVAS - h

    def make(rng: np.random.Generator, index: int) -> Batch:
        example = digits.read(np.asarray([index]))
        start = rng.uniform(0, room, 2)
        velocity = rng.uniform(-3.0, 3.0, 2)
        frames = np.zeros((BOUNCING_FRAMES, BOUNCING_CANVAS, BOUNCING_CANVAS, c), np.uint8)
        for t in range(BOUNCING_FRAMES):
            y, x = (int(round(v)) for v in room - np.abs(room - np.mod(start + t * velocity, 2 * room)))
            frames[t, y : y + h, x : x + w] = example["image"][0]
        return {"frames": frames, **({"label": example["label"][0]} if "label" in example else {})}

    spec = DatasetSpec(
        f"bouncing_{digits.spec.name}", (("frames", Feature((BOUNCING_FRAMES, BOUNCING_CANVAS, BOUNCING_CANVAS, c), "uint8")),)
        + tuple((k, f) for k, f in digits.spec.features if k == "label"), digits.spec.num_classes,
    )
    return ProceduralSource(spec, len(digits), split_seed, make)
