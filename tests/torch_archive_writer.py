"""Write a `torch.save`-format archive of float32 arrays without torch (tests only): the pickle is written
opcode by opcode, as torch writes a state dict (an OrderedDict of _rebuild_tensor_v2 calls on storages)."""
from __future__ import annotations

import io
import pathlib
import struct
import zipfile

import numpy as np

from jaxgen.nn.vgg import BLOCKS, torchvision_indices


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _tuple(values: list[int]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"  # MARK ... TUPLE


def write_state_dict(path: str | pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    pickled = io.BytesIO()
    w = pickled.write
    w(b"\x80\x02" + b"ccollections\nOrderedDict\n" + b")R" + b"(")  # PROTO 2, OrderedDict(), MARK
    blobs = {}
    for key, (name, array) in enumerate(arrays.items()):
        array = np.ascontiguousarray(array, np.float32)
        blobs[str(key)] = array.astype("<f4").tobytes()
        strides = [s // 4 for s in array.strides]
        w(_text(name) + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(")
        w(b"(" + _text("storage") + b"ctorch\nFloatStorage\n" + _text(str(key)) + _text("cpu") + _int(array.size) + b"tQ")
        w(_int(0) + _tuple(list(array.shape)) + _tuple(strides) + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR")
    w(b"u.")  # SETITEMS, STOP
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled.getvalue())
        for key, blob in blobs.items():
            archive.writestr(f"archive/data/{key}", blob)


WIDTHS = (2, 3, 4, 4, 5)  # VGG16's layout at tiny widths


def write_tiny_lpips(folder: pathlib.Path) -> tuple:
    """LPIPS weight files in torch's format for VGG16's layout at WIDTHS: (vgg path, lin path, backbone, heads)."""
    rng = np.random.default_rng(0)
    backbone, channels = {}, 3
    widths = [w for w, n in zip(WIDTHS, BLOCKS) for _ in range(n)]
    for index, width in zip(torchvision_indices(), widths):
        backbone[f"features.{index}.weight"] = rng.normal(scale=0.5, size=(width, channels, 3, 3))
        backbone[f"features.{index}.bias"] = rng.normal(scale=0.1, size=(width,))
        channels = width
    heads = {f"lin{l}.model.1.weight": rng.uniform(size=(1, w, 1, 1)) for l, w in enumerate(WIDTHS)}
    write_state_dict(folder / "vgg16.pth", backbone)
    write_state_dict(folder / "lin.pth", heads)
    return folder / "vgg16.pth", folder / "lin.pth", backbone, heads
