"""FID, KID, IS, precision/recall and class coverage against known answers and independent computations."""
import itertools
import math

import numpy as np
import pytest
import scipy.linalg

from jaxgen.eval import feature_metrics as fm


def random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 16))
    stats = fm.gaussian_stats(f)
    assert abs(fm.frechet_distance(stats, stats)) < 1e-8 * np.trace(stats.cov)


def test_fid_matches_closed_form_between_gaussians():
    """Against scipy's general matrix square root (a different algorithm), and the commuting case."""
    rng = np.random.default_rng(1)
    d = 12
    m1, m2, s1, s2 = rng.normal(size=d), rng.normal(size=d), random_cov(rng, d), random_cov(rng, d)
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    got = fm.frechet_distance(fm.GaussianStats(m1, s1, 0), fm.GaussianStats(m2, s2, 0))
    assert got == pytest.approx(expected, rel=1e-9)
    a, b = rng.uniform(0.5, 2, size=d), rng.uniform(0.5, 2, size=d)  # diagonal: sum (sqrt a - sqrt b)^2
    diagonal = fm.frechet_distance(fm.GaussianStats(m1, np.diag(a), 0), fm.GaussianStats(m1, np.diag(b), 0))
    assert diagonal == pytest.approx(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-9)


def test_fid_of_samples_approaches_the_population_value():
    rng = np.random.default_rng(2)
    d = 4
    m1, m2, s1, s2 = np.zeros(d), np.full(d, 0.5), random_cov(rng, d), random_cov(rng, d)
    population = fm.frechet_distance(fm.GaussianStats(m1, s1, 0), fm.GaussianStats(m2, s2, 0))
    x = rng.multivariate_normal(m1, s1, size=100_000)
    y = rng.multivariate_normal(m2, s2, size=100_000)
    assert fm.frechet_distance(fm.gaussian_stats(x), fm.gaussian_stats(y)) == pytest.approx(population, rel=0.02)


def test_fid_stable_for_singular_covariances():
    """Fewer samples than dimensions: singular S; the eigen route gives a finite, non-negative value."""
    rng = np.random.default_rng(3)
    a, b = fm.gaussian_stats(rng.normal(size=(20, 64))), fm.gaussian_stats(rng.normal(size=(20, 64)))
    value = fm.frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def brute_force_mmd2(x, y):
    d = x.shape[1]
    k = lambda p, q: (p @ q / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_estimator_matches_brute_force_sums():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(9, 5)), rng.normal(loc=0.3, size=(9, 5))
    mean, std = fm.kernel_inception_distance(x, y, num_subsets=1, subset_size=9)
    assert mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-4)
    assert std == 0.0


def test_kid_is_unbiased_on_one_distribution_and_positive_across_two():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    mean, std = fm.kernel_inception_distance(x, y, num_subsets=400, subset_size=50)
    assert abs(mean) < 4 * std / math.sqrt(400)  # zero within the standard error: no positive bias
    shifted, _ = fm.kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=50)
    assert shifted > 10 * std / math.sqrt(400)


def test_inception_score_known_values():
    uniform = np.zeros((1000, 10))
    assert fm.inception_score(uniform)[0] == pytest.approx(1.0, abs=1e-6)
    confident = np.tile(np.eye(10) * 100.0, (100, 1))  # every class equally often, each sample certain
    mean, std = fm.inception_score(confident, num_splits=1)
    assert mean == pytest.approx(10.0, rel=1e-4) and std == 0.0
    # 10 random splits of 100: each split's class mix is only nearly even, so just under 10
    sorted_by_class = np.repeat(np.eye(10) * 100.0, 100, axis=0)  # unshuffled, each split would be one class
    assert 9.0 < fm.inception_score(sorted_by_class)[0] <= 10.0
    collapsed = np.tile(np.eye(10)[:1] * 100.0, (1000, 1))  # certain but always the same class
    assert fm.inception_score(collapsed)[0] == pytest.approx(1.0, abs=1e-4)


def test_precision_recall_on_overlapping_squares():
    """Uniform points on [0,1]^2 vs [0.5,1.5]x[0,1]: half of each lies in the other's support."""
    rng = np.random.default_rng(6)
    real = rng.uniform(size=(3000, 2))
    fake = rng.uniform(size=(3000, 2)) + np.array([0.5, 0.0])
    precision, recall = fm.precision_recall(real, fake, k=3)
    assert precision == pytest.approx(0.5, abs=0.03) and recall == pytest.approx(0.5, abs=0.03)
    same_p, same_r = fm.precision_recall(real, rng.uniform(size=(3000, 2)), k=3)
    assert same_p > 0.9 and same_r > 0.9
    collapsed = np.full((3000, 2), 0.5) + rng.normal(scale=1e-3, size=(3000, 2))  # one mode
    p, r = fm.precision_recall(real, collapsed, k=3)
    assert p > 0.99 and r < 0.05


def test_kth_neighbour_radius_matches_brute_force():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    expected = np.sort(d, axis=1)[:, 3]  # column 0 is the point itself
    got = np.sqrt(np.asarray(fm._kth_neighbour_chunk(points, points, 3)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_class_coverage_hand_computed():
    predicted = np.array([0] * 50 + [1] * 45 + [2] * 5)
    cov = fm.class_coverage(predicted, num_classes=4)
    assert cov["class_histogram"] == [50, 45, 5, 0]
    # uniform share is 25; a class needs at least 2.5 samples: 0, 1, 2 yes, 3 no
    assert cov["classes_covered"] == 3
    assert cov["smallest_class_share"] == 0.0
    assert fm.class_coverage(np.array([0] * 30 + [1] * 20 + [2] * 25 + [3] * 25), 4)["smallest_class_share"] == pytest.approx(0.8)
    expected_kl = math.log(4) + sum(p * math.log(p) for p in (0.5, 0.45, 0.05))
    assert cov["class_kl_to_uniform"] == pytest.approx(expected_kl)
    assert fm.class_coverage(np.arange(100) % 4, 4)["class_kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)


def test_recognised_fraction_counts_confident_predictions():
    # softmax maxima by hand: e^5 / (e^5 + 2) = 0.987, e / (e + 2) = 0.576, e^3 / (e^3 + e^3) = 0.5, 1 / 3
    logits = np.array([[5.0, 0.0, 0.0], [1.0, 0.0, 0.0], [3.0, 3.0, -1e9], [0.0, 0.0, 0.0]])
    assert fm.recognised_fraction(logits, 0.9) == 0.25
    assert fm.recognised_fraction(logits, 0.55) == 0.5
    assert fm.recognised_fraction(logits + 1000.0, 0.9) == 0.25  # stable for large logits
