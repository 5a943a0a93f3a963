"""The conditions a user gives `--mode sample`, read from the config's `sample.*` keys into the features of
the dataset's schema, one row per image to draw:

  sample.labels      (3, 3, 7)                        -> `label`
  sample.prompts     ("a thick seven", "a small one") -> `caption` (our byte tokens, the spec's length)
  sample.layouts     ("7@0.1,0.1,0.5,0.6;2@0.6,0.5,0.9,0.9", ...): per image, `;`-separated boxes
                     LABEL@x0,y0,x1,y1 in [0, 1]     -> `boxes`, `box_labels` (padded with -1 labels)
  sample.attributes  (1, 0): one target domain, 0/1 per attribute, for every input image -> `attributes`
  sample.input_dir   a folder of images               -> the first image feature (`source`), resized to it;
                     for inpainting the whole images, whose unknown pixels are then zeroed
  sample.mask_dir    masks matched to input_dir by file name, white where the model fills in (the
                     convention of LDM's inpainting script) -> `known`; or
  sample.mask        centre | boxes | strokes | random: masks drawn from sample.seed (data/masks.py)
"""
from __future__ import annotations

import pathlib

import ml_collections
import numpy as np

from jaxgen.data.folder import image_files, read_images
from jaxgen.data.masks import MASKS, inpainting_mask
from jaxgen.data.sources import DatasetSpec
from jaxgen.data.text import encode_text
from jaxgen.errors import ConfigError, RunNotFoundError

Conditions = dict[str, np.ndarray]


def labels(s: ml_collections.ConfigDict, spec: DatasetSpec) -> Conditions:
    if not spec.num_classes:
        raise ConfigError(f"sample.labels needs a dataset with classes; data.name='{spec.name}' has none")
    values = np.asarray(s.labels, np.int32)
    if values.min() < 0 or values.max() >= spec.num_classes:
        raise ConfigError(f"sample.labels must lie in [0, {spec.num_classes}), got {tuple(s.labels)}")
    return {"label": values}


def prompts(s: ml_collections.ConfigDict, spec: DatasetSpec) -> Conditions:
    if not spec.has("caption"):
        raise ConfigError(f"sample.prompts gives captions; data.name='{spec.name}' has none")
    return {"caption": encode_text(list(s.prompts), spec.shape("caption")[0])}


def parse_layout(text: str, max_boxes: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """'7@0.1,0.1,0.5,0.6;2@0.6,0.5,0.9,0.9' -> boxes (max_boxes, 4) float32, labels (max_boxes,) int32."""
    boxes, box_labels = np.zeros((max_boxes, 4), np.float32), np.full((max_boxes,), -1, np.int32)
    entries = [e for e in text.split(";") if e.strip()]
    if len(entries) > max_boxes:
        raise ConfigError(f"sample.layouts entry '{text}' has {len(entries)} boxes; the model reads at most {max_boxes}")
    for slot, entry in enumerate(entries):
        try:
            label, coordinates = entry.split("@")
            box_labels[slot] = int(label)
            boxes[slot] = [float(v) for v in coordinates.split(",")]
        except ValueError:
            raise ConfigError(f"sample.layouts entry '{entry}' is not LABEL@x0,y0,x1,y1 (e.g. 7@0.1,0.1,0.5,0.6)") from None
        x0, y0, x1, y1 = boxes[slot]
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ConfigError(f"sample.layouts box '{entry}' needs 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        if not 0 <= box_labels[slot] < num_classes:
            raise ConfigError(f"sample.layouts label in '{entry}' must lie in [0, {num_classes})")
    return boxes, box_labels


def layouts(s: ml_collections.ConfigDict, spec: DatasetSpec) -> Conditions:
    if not spec.has("boxes"):
        raise ConfigError(f"sample.layouts gives boxes; data.name='{spec.name}' has none")
    parsed = [parse_layout(text, spec.shape("boxes")[0], spec.num_classes) for text in s.layouts]
    return {"boxes": np.stack([b for b, _ in parsed]), "box_labels": np.stack([lab for _, lab in parsed])}


def attributes(s: ml_collections.ConfigDict, spec: DatasetSpec, rows: int) -> Conditions:
    """sample.attributes, one 0/1 per attribute of the schema, repeated for each of `rows` images."""
    if not spec.has("attributes"):
        raise ConfigError(f"sample.attributes gives target attributes; data.name='{spec.name}' has none")
    values = np.asarray(s.attributes, np.float32)
    width = spec.shape("attributes")[0]
    if values.shape != (width,) or not np.all((values == 0) | (values == 1)):
        raise ConfigError(f"sample.attributes must be {width} values of 0 or 1 (one per attribute), got {tuple(s.attributes)}")
    return {"attributes": np.tile(values, (rows, 1))}


def folder(key: str, path: str) -> pathlib.Path:
    found = pathlib.Path(path).expanduser()
    if not found.is_dir():
        raise RunNotFoundError(f"{key}={found} is not a folder")
    return found


def input_images(s: ml_collections.ConfigDict, spec: DatasetSpec, image_feature: str, masks: bool) -> Conditions:
    """`image_feature` from sample.input_dir; with `masks` (the family samples from `known`), the masks as well.
    An inpainting dataset (one with a `known` feature) sees its unknown pixels zeroed, as in training; for a
    family that reads the masks alone (SinGAN's editing) the images stay whole."""
    height, width, channels = spec.shape(image_feature)
    files = image_files(folder("sample.input_dir", s.input_dir))
    images = read_images(files, (height, width))
    if images.shape[-1] != channels:
        raise ConfigError(f"the images in sample.input_dir have {images.shape[-1]} channels; the model reads {channels}")
    if not masks:
        return {image_feature: images}
    mask_dir = s.get("mask_dir", "")
    if mask_dir:
        masks_folder = folder("sample.mask_dir", mask_dir)
        missing = [f.name for f in files if not (masks_folder / f.name).is_file()]
        if missing:
            raise RunNotFoundError(f"sample.mask_dir={masks_folder} has no mask for {missing[:3]} (masks match input_dir by file name)")
        grey = read_images([masks_folder / f.name for f in files], (height, width)).astype(np.float32)
        known = (grey.mean(axis=-1, keepdims=True) < 128).astype(np.uint8)
    elif s.get("mask", "") in MASKS:
        rng = np.random.default_rng(s.seed)
        known = np.stack([inpainting_mask(s.mask, rng, height, images.shape[2]) for _ in images])
    else:
        raise ConfigError(f"inpainting needs masks: set sample.mask_dir (white where the model fills in) or "
                          f"sample.mask to one of {', '.join(MASKS)}")
    return {image_feature: images * known if spec.has("known") else images, "known": known}


def given_conditions(
    s: ml_collections.ConfigDict, spec: DatasetSpec, needed: tuple[str, ...], family: str, optional: tuple[str, ...] = ()
) -> Conditions:
    """The conditions of `needed` and `optional` (a family's features) that the `sample` section `s` gives, plus
    `label` where sample.labels is set; one clear error for anything needed and not given."""
    given: Conditions = {}
    if s.get("labels", ()):
        given.update(labels(s, spec))
    if s.get("prompts", ()):
        given.update(prompts(s, spec))
    if s.get("layouts", ()):
        given.update(layouts(s, spec))
    image_features = [k for k in needed + optional if k != "known" and len(spec.shape(k)) == 3]
    if s.get("input_dir", ""):
        if not image_features:
            raise ConfigError(f"sample.input_dir gives input images, and the {family} family samples from none")
        masked = bool(s.get("mask_dir", "") or s.get("mask", ""))  # an optional `known` is read when masks are given
        given.update(input_images(s, spec, image_features[0], "known" in needed or spec.has("known") or ("known" in optional and masked)))
    if s.get("attributes", ()):  # one target for every image given (or a single row without images)
        given.update(attributes(s, spec, next((len(v) for v in given.values()), 1)))
    how = {"caption": "sample.prompts", "boxes": "sample.layouts", "box_labels": "sample.layouts",
           "known": "sample.mask_dir or sample.mask", "label": "sample.labels"}
    missing = [k for k in needed if k not in given]
    if missing:
        keys = sorted({how.get(k, "sample.input_dir") for k in missing})
        raise ConfigError(f"the {family} family samples from {', '.join(missing)}: set {' and '.join(keys)}")
    rows = {k: len(v) for k, v in given.items()}
    if len(set(rows.values())) > 1:
        raise ConfigError(f"the given conditions differ in number: {rows}; give one per image to draw")
    return given
