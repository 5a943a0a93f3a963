"""Datasets: built-in offline data, tfds sources, preprocessing, per-process streams."""
from __future__ import annotations

import ml_collections

from jaxgen.data.pipeline import HostTransform, TrainStream, eval_batches
from jaxgen.data.preprocess import MODES, to_model_input
from jaxgen.data.sources import BUILTIN, DataError, DatasetSpec, Source
from jaxgen.data.tfds_source import TFDS_DATASETS, TfdsSource

DATASETS = tuple(BUILTIN) + tuple(TFDS_DATASETS)


def open_source(data: ml_collections.ConfigDict, split: str) -> Source:
    """The `split` ('train' or 'test') of the dataset named by `data.name`."""
    if data.name in BUILTIN:
        return BUILTIN[data.name](split)
    if data.name in TFDS_DATASETS:
        return TfdsSource(data.name, split, data.data_dir)
    raise DataError(f"unknown data.name '{data.name}'; choose one of: {', '.join(DATASETS)}")


def host_transform(data: ml_collections.ConfigDict) -> HostTransform:
    return HostTransform(image_size=data.image_size, static_binarize=data.preprocess == "binarize_static")


def model_image_shape(data: ml_collections.ConfigDict, spec: DatasetSpec) -> tuple[int, int, int]:
    """(H, W, C) of the images the model sees."""
    h, w, c = spec.image_shape
    return (data.image_size, data.image_size, c) if data.image_size else (h, w, c)


__all__ = [
    "DATASETS",
    "MODES",
    "DataError",
    "DatasetSpec",
    "HostTransform",
    "Source",
    "TrainStream",
    "eval_batches",
    "host_transform",
    "model_image_shape",
    "open_source",
    "to_model_input",
]
