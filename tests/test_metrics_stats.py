"""Aggregates and intervals, against hand-computed values and reference implementations."""

import logging
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from evalbook.metrics.stats import (
    Estimate,
    bootstrap_interval,
    clustered_estimate,
    macro_estimate,
    mean_estimate,
    micro_estimate,
    minimum_detectable_effect,
    wilson_interval,
    z_quantile,
)

Z95 = 1.959963984540054


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20240901)


def test_mean_estimate_hand_computed():
    # Scores 0, 0.5, 1, 1: mean 0.625; squared deviations 0.390625, 0.015625, 0.140625,
    # 0.140625 sum to 0.6875; SE = sqrt(0.6875 / (4 * 3)) = 0.239357.
    estimate = mean_estimate([0.0, 0.5, 1.0, 1.0])

    assert estimate.value == 0.625
    assert estimate.se == pytest.approx(0.239357, abs=1e-6)
    assert estimate.ci_low == pytest.approx(0.625 - Z95 * 0.2393567, abs=1e-6)
    assert estimate.ci_high == pytest.approx(0.625 + Z95 * 0.2393567, abs=1e-6)
    assert estimate.n == 4
    assert estimate.method == "clt"


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_mean_se_matches_scipy_sem(rng, kind):
    scores = rng.integers(0, 2, 137) if kind == "binary" else rng.beta(2, 5, 137)

    estimate = mean_estimate(scores)

    assert estimate.value == pytest.approx(np.mean(scores))
    assert estimate.se == pytest.approx(scipy_stats.sem(scores), rel=1e-12)


def test_mean_estimate_confidence_level():
    estimate = mean_estimate([1, 0, 1, 1, 0], confidence=0.9)
    z90 = scipy_stats.norm.ppf(0.95)

    assert estimate.ci_high - estimate.value == pytest.approx(z90 * estimate.se)
    assert estimate.confidence == 0.9


def test_mean_estimate_one_item():
    estimate = mean_estimate([1.0])

    assert estimate.value == 1.0
    assert math.isnan(estimate.se)
    assert math.isnan(estimate.ci_low)
    assert math.isnan(estimate.ci_high)


@pytest.mark.parametrize(
    ("scores", "error", "message"),
    [
        ([], ValueError, "scores is empty"),
        ([1.0, float("nan")], ValueError, r"scores\[1\] is nan"),
        ([[1.0, 0.0]], ValueError, "scores must be 1-D"),
        (["a"], TypeError, "scores must be a 1-D sequence of numbers"),
    ],
)
def test_mean_estimate_rejects(scores, error, message):
    with pytest.raises(error, match=message):
        mean_estimate(scores)


@pytest.mark.parametrize("confidence", [0, 1, 95, -0.5])
def test_rejects_bad_confidence(confidence):
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        mean_estimate([1, 0], confidence=confidence)


def test_micro_estimate_labelled():
    micro = micro_estimate([1, 0, 1])
    plain = mean_estimate([1, 0, 1])

    assert micro.method == "micro"
    assert (micro.value, micro.se, micro.n) == (plain.value, plain.se, plain.n)


def test_estimate_scaled_and_dict():
    estimate = mean_estimate([1, 0, 1, 1])
    percent = estimate.scaled(100.0)

    assert percent.value == 75.0
    assert percent.se == pytest.approx(100 * estimate.se)
    assert percent.ci_low == pytest.approx(100 * estimate.ci_low)
    assert percent.n == 4
    assert percent.to_dict()["method"] == "clt"
    assert set(percent.to_dict()) == {
        "value",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "method",
        "n_clusters",
        "se_ratio",
        "confidence",
    }
    with pytest.raises(ValueError, match="factor must be positive"):
        estimate.scaled(0)


def test_z_quantile():
    assert z_quantile() == pytest.approx(Z95)
    assert z_quantile(0.99) == pytest.approx(2.575829, abs=1e-6)


def test_wilson_hand_computed():
    # 5 of 10, z = 1.959964: denominator 1 + z^2 / 10 = 1.384146, center 0.5,
    # half-width z * sqrt(0.025 + z^2 / 400) / 1.384146 = 0.263407.
    low, high = wilson_interval(5, 10)

    assert low == pytest.approx(0.236593, abs=1e-6)
    assert high == pytest.approx(0.763407, abs=1e-6)


def test_wilson_exact_at_extremes():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 1), (1, 1), (0, 20), (20, 20), (3, 100), (57, 100), (1, 3)]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_matches_statsmodels(successes, n, confidence):
    expected = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")

    assert wilson_interval(successes, n, confidence=confidence) == pytest.approx(
        expected, abs=1e-12
    )


@pytest.mark.parametrize(
    ("successes", "n", "message"),
    [
        (5, 0, "n must be a positive integer"),
        (-1, 5, "successes must be a non-negative"),
        (6, 5, r"successes \(6\) cannot exceed n \(5\)"),
        (2.5, 5, "successes must be"),
    ],
)
def test_wilson_rejects(successes, n, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, n)


def test_clustered_hand_computed():
    # Mean 0.5. Residual sums per cluster: a (1, 1, 0) -> 0.5; b (0, 0) -> -1; c (1) -> 0.5.
    # SE_cl = sqrt(3 / 2 * (0.25 + 1 + 0.25)) / 6 = sqrt(2.25) / 6 = 0.25.
    scores = [1, 1, 0, 0, 0, 1]
    clusters = ["a", "a", "a", "b", "b", "c"]

    estimate = clustered_estimate(scores, clusters)

    assert estimate.value == 0.5
    assert estimate.se == pytest.approx(0.25)
    assert estimate.n_clusters == 3
    assert estimate.se_ratio == pytest.approx(0.25 / scipy_stats.sem(scores))
    assert estimate.method == "clustered"
    assert estimate.ci_high == pytest.approx(0.5 + Z95 * 0.25)


@pytest.mark.parametrize("n_clusters", [2, 5, 40])
def test_clustered_se_matches_statsmodels(rng, n_clusters):
    # statsmodels' cluster covariance multiplies by G / (G - 1) * (N - 1) / (N - K). For a
    # regression on a constant K = 1, so the second factor is 1 and its SE of the constant
    # equals SE_cl = sqrt(C / (C - 1) * sum_c (sum_i e_i)^2) / n exactly.
    scores = rng.beta(1, 1, 300)
    clusters = rng.integers(0, n_clusters, 300)

    expected = sm.OLS(scores, np.ones((300, 1))).fit(
        cov_type="cluster", cov_kwds={"groups": clusters}
    )

    assert clustered_estimate(scores, clusters).se == pytest.approx(expected.bse[0], rel=1e-10)


def test_clustered_one_item_per_cluster_equals_plain(rng):
    # With C = n the factor C / (C - 1) equals n / (n - 1), so SE_cl is the plain SE.
    scores = rng.integers(0, 2, 50)

    estimate = clustered_estimate(scores, [f"p{i}" for i in range(50)])

    assert estimate.se == pytest.approx(scipy_stats.sem(scores), rel=1e-12)
    assert estimate.se_ratio == pytest.approx(1.0)


def test_clustered_one_cluster_nan(caplog):
    with caplog.at_level(logging.WARNING, logger="evalbook.metrics.stats"):
        estimate = clustered_estimate([1, 0, 1], ["p", "p", "p"])

    assert math.isnan(estimate.se)
    assert estimate.n_clusters == 1
    assert "all 3 items are in one cluster" in caplog.text


def test_clustered_constant_scores_ratio_nan():
    estimate = clustered_estimate([1, 1, 1, 1], ["a", "a", "b", "b"])

    assert estimate.se == 0.0
    assert math.isnan(estimate.se_ratio)


def test_clustered_rejects_missing_label():
    with pytest.raises(ValueError, match=r"clusters\[1\] is missing \(None\)"):
        clustered_estimate([1, 0], ["p", None])


def test_clustered_rejects_length_mismatch():
    with pytest.raises(ValueError, match="scores has 3, clusters has 2"):
        clustered_estimate([1, 0, 1], ["p", "q"])


def test_macro_hand_computed():
    # Group x: 1, 0 (mean 0.5, SE sqrt(0.5 / 2) = 0.5); group y: 1, 1, 1, 0 (mean 0.75,
    # SE sqrt(0.25 / 4) = 0.25). Macro = 0.625; SE = sqrt(0.25 + 0.0625) / 2 = 0.279508.
    # Micro = 4 / 6 = 0.666667.
    scores = [1, 0, 1, 1, 1, 0]
    groups = ["x", "x", "y", "y", "y", "y"]

    result = macro_estimate(scores, groups)

    assert result.estimate.value == pytest.approx(0.625)
    assert result.estimate.se == pytest.approx(0.279508, abs=1e-6)
    assert result.micro.value == pytest.approx(4 / 6)
    assert result.micro.se == pytest.approx(scipy_stats.sem(scores))
    assert result.n_groups == 2
    assert [row.group for row in result.groups] == ["x", "y"]
    assert [row.n for row in result.groups] == [2, 4]
    assert [row.se for row in result.groups] == pytest.approx([0.5, 0.25])


def test_macro_group_wilson(rng):
    scores = rng.integers(0, 2, 90)
    groups = np.repeat(["b", "a", "c"], 30)

    result = macro_estimate(scores, groups)

    for row in result.groups:
        successes = int(scores[groups == row.group].sum())
        expected = proportion_confint(successes, 30, method="wilson")
        assert (row.wilson_low, row.wilson_high) == pytest.approx(expected)
    assert [row.group for row in result.groups] == ["a", "b", "c"]


def test_macro_continuous_scores_no_wilson():
    result = macro_estimate([0.5, 0.25, 1.0, 0.0], ["a", "a", "b", "b"])

    assert result.groups[0].wilson_low is None
    assert result.groups[0].wilson_high is None


def test_macro_single_item_group(caplog):
    with caplog.at_level(logging.WARNING, logger="evalbook.metrics.stats"):
        result = macro_estimate([1, 0, 1, 1], ["a", "a", "a", "b"])

    assert result.estimate.value == pytest.approx((2 / 3 + 1) / 2)
    assert math.isnan(result.estimate.se)
    assert math.isnan(result.groups[1].se)
    assert "groups ['b'] have one item each" in caplog.text


def test_macro_rejects_missing_group():
    with pytest.raises(ValueError, match=r"groups\[0\] is missing \(nan\)"):
        macro_estimate([1, 0], [float("nan"), "a"])


def test_bootstrap_matches_scipy_percentile(rng):
    scores = rng.integers(0, 2, 200).astype(float)

    ours = bootstrap_interval(scores, np.mean, seed=3)
    reference = scipy_stats.bootstrap(
        (scores,), np.mean, method="percentile", n_resamples=10_000, rng=np.random.default_rng(4)
    )

    # Different random streams agree within Monte Carlo error, about 0.005 here.
    assert ours.ci_low == pytest.approx(reference.confidence_interval.low, abs=0.015)
    assert ours.ci_high == pytest.approx(reference.confidence_interval.high, abs=0.015)
    assert ours.se == pytest.approx(reference.standard_error, rel=0.05)
    assert ours.value == np.mean(scores)


def test_bootstrap_seeded():
    scores = np.arange(30, dtype=float)

    first = bootstrap_interval(scores, np.median, n_resamples=500, seed=7)
    again = bootstrap_interval(scores, np.median, n_resamples=500, seed=7)
    other = bootstrap_interval(scores, np.median, n_resamples=500, seed=8)

    assert first == again
    assert first.ci_low != other.ci_low or first.se != other.se


def test_bootstrap_paired_arrays_share_indices():
    a = np.arange(50, dtype=float)

    result = bootstrap_interval((a, a.copy()), lambda x, y: float(np.max(np.abs(x - y))))

    assert result.ci_low == result.ci_high == 0.0


def test_bootstrap_two_dimensional_rows_stay_together():
    rows = np.column_stack([np.arange(40.0), np.arange(40.0)])

    result = bootstrap_interval(rows, lambda sample: float(np.max(sample[:, 0] - sample[:, 1])))

    assert result.ci_high == 0.0


def test_bootstrap_rejects_nonfinite_statistic():
    with pytest.raises(ValueError, match="NaN or infinite on"):
        bootstrap_interval(np.array([0.0, 1.0]), lambda x: 1 / x.min() if x.min() else np.inf)


def test_bootstrap_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"data\[0\] has 3, data\[1\] has 2"):
        bootstrap_interval((np.ones(3), np.ones(2)), lambda x, y: 0.0)


def test_minimum_detectable_effect():
    # (z_0.975 + z_0.8) * SE = (1.959964 + 0.841621) * 0.02 = 0.056032.
    assert minimum_detectable_effect(0.02) == pytest.approx(0.056032, abs=1e-6)
    assert minimum_detectable_effect(0.02, alpha=0.01, power=0.9) == pytest.approx(
        (2.575829 + 1.281552) * 0.02, abs=1e-6
    )
    assert math.isnan(minimum_detectable_effect(float("nan")))
    with pytest.raises(ValueError, match="se must be non-negative"):
        minimum_detectable_effect(-0.1)


def test_estimate_is_frozen():
    estimate = Estimate(0.5, 0.1, 0.3, 0.7, 10, "clt")

    with pytest.raises(AttributeError):
        estimate.value = 0.6
