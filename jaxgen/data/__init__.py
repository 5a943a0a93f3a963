"""Datasets: built-in offline data, tfds sources, a user's folder, combinators, preprocessing, streams."""
from __future__ import annotations

import ml_collections

from jaxgen.data import combinators, digit_scenes
from jaxgen.data.folder import PREFIX as FOLDER_PREFIX, folder_source
from jaxgen.data.one_image import PREFIX as IMAGE_PREFIX, one_image_source
from jaxgen.data.pipeline import TrainStream, eval_batches, in_memory_arrays
from jaxgen.data.preprocess import MODES, HostTransform, to_model_input
from jaxgen.data.sources import BUILTIN, DatasetSpec, Feature, Source, with_transform
from jaxgen.data.tfds_source import TFDS_DATASETS, TfdsSource
from jaxgen.errors import DataError

# name -> (the scene maker, the digits it draws from)
PROCEDURAL = {
    "bouncing_mnist5k": (combinators.bouncing_digits, "mnist5k"), "bouncing_digits": (combinators.bouncing_digits, "digits"),
    "captioned_mnist5k": (digit_scenes.captioned_digits, "mnist5k"), "layout_mnist5k": (digit_scenes.digit_layouts, "mnist5k"),
}
DATASETS = tuple(BUILTIN) + tuple(combinators.DERIVED) + tuple(TFDS_DATASETS) + tuple(PROCEDURAL)


def is_known_dataset(name: str) -> bool:
    return name in DATASETS or name.startswith((FOLDER_PREFIX, IMAGE_PREFIX))


def _base_source(data: ml_collections.ConfigDict, name: str, split: str) -> Source:
    transform = HostTransform(image_size=data.image_size, static_binarize=data.preprocess == "binarize_static")
    if name.startswith(FOLDER_PREFIX):
        return folder_source(name, split, data.image_size)
    if name.startswith(IMAGE_PREFIX):
        return one_image_source(name, data.image_size)
    if name in PROCEDURAL:
        make_scenes, digits_name = PROCEDURAL[name]
        return make_scenes(with_transform(BUILTIN[digits_name](split), transform), split_seed=0 if split == "train" else 1)
    if name in BUILTIN:
        source = BUILTIN[name](split)
    elif name in combinators.DERIVED:
        base, style = combinators.DERIVED[name]
        source = combinators.derived(BUILTIN[base](split), name, style)
    elif name in TFDS_DATASETS:
        source = TfdsSource(name, split, data.data_dir, tuple(data.get("attributes", ())) if name == "celeb_a" else ())
    else:
        raise DataError(f"unknown data.name '{name}'; choose one of: {', '.join(DATASETS)} or folder:PATH or image:PATH")
    return with_transform(source, transform)


def open_source(data: ml_collections.ConfigDict, split: str) -> Source:
    """The `split` ('train' or 'test') of `data.name` as the model sees it: resized to `data.image_size`,
    statically binarised where the config asks, paired by `data.pair` and joined by the independently
    shuffled `data.second` dataset (features `second_*`) where those are set.
    """
    if data.get("attributes", ()) and data.name != "celeb_a":
        raise DataError(f"data.attributes are read from celeb_a's labels; data.name='{data.name}' has none")
    source = _base_source(data, data.name, split)
    if data.get("pair", ""):
        source = combinators.PairedSource(source, data.pair)
    if data.get("second", ""):
        source = combinators.UnpairedSource(source, _base_source(data, data.second, split), data.shuffle_seed)
    return source


__all__ = [
    "DATASETS",
    "MODES",
    "DataError",
    "DatasetSpec",
    "Feature",
    "HostTransform",
    "Source",
    "TrainStream",
    "eval_batches",
    "in_memory_arrays",
    "is_known_dataset",
    "open_source",
    "to_model_input",
]
