"""Read the tensors of a PyTorch archive (TorchScript or `torch.save`) into numpy, without torch.

Both formats are a zip: `<root>/data.pkl` pickles the object tree, and every tensor is a
persistent reference ('storage', type, key, location, numel) to the raw little-endian bytes of
`<root>/data/<key>`, rebuilt by `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
TorchScript modules unpickle as `__torch__.*` objects whose state is a plain dict.

The unpickler is restricted: it builds only tensors, ordered dicts and attribute holders, and
refuses every other global, so reading a file runs none of its code.
"""
from __future__ import annotations

import collections
import pathlib
import pickle
import zipfile
from typing import Any

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class ArchiveError(ValueError):
    """The file is not a PyTorch archive this reader understands."""


class ScriptObject:
    """A `__torch__.*` module from a TorchScript archive: its attributes, nothing else."""

    type_name = ""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> np.ndarray:
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * itemsize for s in stride), writeable=False
    )
    return np.array(view)


def _rebuild_parameter(tensor: np.ndarray, *_: Any) -> np.ndarray:
    return tensor


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self.archive = archive
        self.root = root

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return type(name, (ScriptObject,), {"type_name": f"{module}.{name}"})
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist"):
            return list  # TorchScript's typed lists (a conv's padding, say)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise ArchiveError(f"the archive pickles {module}.{name}, which this reader does not build")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, dtype, key, _location, numel = pid
        if kind != "storage":
            raise ArchiveError(f"unknown persistent reference {kind!r}")
        raw = self.archive.read(f"{self.root}/data/{key}")
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=numel)


def load(path: str | pathlib.Path) -> Any:
    """The unpickled object tree of the archive at `path`, tensors as numpy arrays."""
    path = pathlib.Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise ArchiveError(f"{path} is not a PyTorch zip archive: {err}") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ArchiveError(f"{path} holds no <root>/data.pkl: not a TorchScript or torch.save archive")
        root = pickles[0].split("/")[0]
        with archive.open(pickles[0]) as f:
            return _Unpickler(f, archive, root).load()


def named_arrays(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a loaded tree into {'a.b.c': value} for its arrays and plain attributes (ints, lists)."""
    if isinstance(tree, ScriptObject):
        items = ((k, v) for k, v in vars(tree).items() if k not in ("training", "_is_full_backward_hook"))
    elif isinstance(tree, dict):
        items = tree.items()
    else:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(named_arrays(value, f"{prefix}.{key}" if prefix else str(key)))
    return out
