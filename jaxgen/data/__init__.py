"""Datasets: built-in offline data, tfds sources, preprocessing, per-process streams."""
from __future__ import annotations

import ml_collections

from jaxgen.data.pipeline import TrainStream, eval_batches
from jaxgen.data.preprocess import MODES, HostTransform, to_model_input
from jaxgen.data.sources import BUILTIN, DataError, DatasetSpec, Source, with_transform
from jaxgen.data.tfds_source import TFDS_DATASETS, TfdsSource

DATASETS = tuple(BUILTIN) + tuple(TFDS_DATASETS)


def open_source(data: ml_collections.ConfigDict, split: str) -> Source:
    """The `split` ('train' or 'test') of the dataset named by `data.name`, as the model sees it:
    resized to `data.image_size` and statically binarised where the config asks (`spec` says so).
    """
    if data.name in BUILTIN:
        source = BUILTIN[data.name](split)
    elif data.name in TFDS_DATASETS:
        source = TfdsSource(data.name, split, data.data_dir)
    else:
        raise DataError(f"unknown data.name '{data.name}'; choose one of: {', '.join(DATASETS)}")
    transform = HostTransform(image_size=data.image_size, static_binarize=data.preprocess == "binarize_static")
    return with_transform(source, transform)


__all__ = [
    "DATASETS",
    "MODES",
    "DataError",
    "DatasetSpec",
    "HostTransform",
    "Source",
    "TrainStream",
    "eval_batches",
    "open_source",
    "to_model_input",
]
