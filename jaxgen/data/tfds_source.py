"""Real datasets through `tfds.data_source` (array_record, random access, no TensorFlow)."""
from __future__ import annotations

import logging

import numpy as np

from jaxgen.data.sources import DataError, DatasetSpec, Feature

# name -> (image shape delivered, number of classes, label feature or "")
TFDS_DATASETS = {
    "mnist": ((28, 28, 1), 10, "label"),
    "fashion_mnist": ((28, 28, 1), 10, "label"),
    "cifar10": ((32, 32, 3), 10, "label"),
    # CelebA's 218x178 photos are centre-cropped to the 140x140 face region (DCGAN/BEGAN practice).
    "celeb_a": ((140, 140, 3), 0, ""),
}
CELEBA_CROP = (39, 19, 140)  # top, left, size
# CelebA's 40 binary attributes (tfds celeb_a's `attributes`): `data.attributes` picks the ones a run reads
# as its (K,) float32 `attributes` feature, in the order given (StarGAN's domains).
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee",
    "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)


def _prepare_hint(name: str, data_dir: str) -> str:
    where = f" --data_dir={data_dir}" if data_dir else ""
    folder = data_dir or "~/tensorflow_datasets (tfds's default; set data.data_dir for another)"
    return (
        f"tfds dataset '{name}' is not prepared as array_record in {folder}. "
        f"On a machine with internet run: pip install tensorflow-cpu && "
        f"tfds build {name} --file_format=array_record{where} "
        f"(or copy a prepared '{name}' folder there); offline, use a built-in dataset "
        f"(data.name=mnist5k, digits or photos32)."
    )


class TfdsSource:
    """One split of a tfds dataset, read in batches by index; for celeb_a, with the `attributes` named."""

    def __init__(self, name: str, split: str, data_dir: str = "", attributes: tuple[str, ...] = ()):
        if name not in TFDS_DATASETS:
            raise DataError(f"unknown dataset '{name}'")
        unknown = [a for a in attributes if a not in CELEBA_ATTRIBUTES]
        if unknown:
            raise DataError(f"data.attributes: '{unknown[0]}' is not a CelebA attribute; choose from {', '.join(CELEBA_ATTRIBUTES)}")
        import tensorflow_datasets as tfds

        try:
            self._source = tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
        # Unprepared, the builder's split table is empty (KeyError) or missing (the others), by tfds version.
        except (AssertionError, FileNotFoundError, KeyError, NotImplementedError, tfds.core.registered.DatasetNotFoundError) as e:
            raise DataError(_prepare_hint(name, data_dir)) from e
        shape, num_classes, self._label_key = TFDS_DATASETS[name]
        self.spec = DatasetSpec.of_images(name, shape, num_classes)
        self._attributes = tuple(attributes)
        if attributes:
            self.spec = self.spec.with_features(attributes=Feature((len(attributes),), "float32"))
        self._itemwise = False

    def __len__(self) -> int:
        return len(self._source)

    def _records(self, indices: np.ndarray) -> list[dict]:
        if not self._itemwise:
            try:
                return self._source.__getitems__([int(i) for i in indices])
            except TypeError:
                # tfds.testing.mock_data's source lacks batched reads; read item by item.
                logging.info("tfds source without batched reads: reading records one at a time")
                self._itemwise = True
        return [self._source[int(i)] for i in indices]

    def read(self, indices: np.ndarray, ordinals: np.ndarray | None = None) -> dict[str, np.ndarray]:
        records = self._records(indices)
        images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
        if self.spec.name == "celeb_a":
            top, left, size = CELEBA_CROP
            images = images[:, top : top + size, left : left + size]
        batch = {"image": images}
        if self._label_key:
            batch["label"] = np.asarray([r[self._label_key] for r in records], np.int32)
        if self._attributes:
            batch["attributes"] = np.asarray([[r["attributes"][a] for a in self._attributes] for r in records], np.float32)
        return batch
