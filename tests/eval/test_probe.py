import numpy as np

from jaxgen.eval.probe import linear_probe_accuracy


def test_probe_separates_linearly_separable_classes_and_not_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 6)) * 4
    labels = rng.integers(0, 4, size=800)
    features = centres[labels] + rng.normal(size=(800, 6))
    accuracy = linear_probe_accuracy(features[:600], labels[:600], features[600:], labels[600:], 4)
    assert accuracy > 0.95
    noise = rng.normal(size=(800, 6))
    chance = linear_probe_accuracy(noise[:600], labels[:600], noise[600:], labels[600:], 4)
    assert chance < 0.45
