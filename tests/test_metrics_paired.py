"""Paired comparison and the exact McNemar test, against hand values and statsmodels."""

import logging
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar

from evalbook.metrics.paired import mcnemar_exact, paired_comparison


@pytest.mark.parametrize(("b", "c"), [(20, 6), (6, 20), (0, 5), (3, 3), (1, 0), (50, 41), (0, 0)])
def test_mcnemar_matches_statsmodels(b, c):
    table = [[10, b], [c, 7]]

    expected = mcnemar(table, exact=True).pvalue

    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_hand_computed():
    # b = 0, c = 5: p = 2 * P(X <= 0) for X ~ Binomial(5, 1/2) = 2 / 32 = 0.0625.
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    # b = c: p = 2 * P(X <= 3; 6, 1/2) = 2 * 42 / 64 > 1, capped at 1.
    assert mcnemar_exact(3, 3) == 1.0


@pytest.mark.parametrize(("b", "c"), [(-1, 2), (1.5, 2), (True, 2)])
def test_mcnemar_rejects_bad_counts(b, c):
    with pytest.raises(ValueError, match="b must be a non-negative integer"):
        mcnemar_exact(b, c)


def test_paired_hand_computed():
    # Matched by id: q1 (1, 0), q2 (1, 1), q3 (0, 1), q4 (1, 0), q5 (0, 0).
    # d = 1, 0, -1, 1, 0: mean 0.2; sd(ddof=1) = sqrt((0.64 + 0.04 + 1.44 + 0.64 + 0.04) / 4)
    # = sqrt(0.7) = 0.836660; SE = 0.836660 / sqrt(5) = 0.374166.
    ids_a = ["q1", "q2", "q3", "q4", "q5"]
    ids_b = ["q5", "q4", "q3", "q2", "q1"]
    scores_a = [1, 1, 0, 1, 0]
    scores_b = [0, 0, 1, 1, 0]

    result = paired_comparison(ids_a, scores_a, ids_b, scores_b)

    assert result.n == 5
    assert result.mean_a == pytest.approx(0.6)
    assert result.mean_b == pytest.approx(0.4)
    assert result.difference.value == pytest.approx(0.2)
    assert result.difference.se == pytest.approx(0.374166, abs=1e-6)
    assert result.difference.method == "paired"
    assert result.only_a_correct == ("q1", "q4")
    assert result.only_b_correct == ("q3",)
    assert result.mcnemar_p == pytest.approx(mcnemar_exact(2, 1))
    assert result.mde == pytest.approx((1.959964 + 0.841621) * 0.374166, abs=1e-5)


def test_paired_se_and_correlation_match_scipy():
    rng = np.random.default_rng(5)
    a = rng.beta(2, 2, 300)
    b = np.clip(a + rng.normal(0, 0.1, 300), 0, 1)
    ids = [f"h{i}" for i in range(300)]

    result = paired_comparison(ids, a, ids, b)

    assert result.difference.se == pytest.approx(scipy_stats.sem(a - b), rel=1e-12)
    assert result.correlation == pytest.approx(scipy_stats.pearsonr(a, b).statistic, rel=1e-10)
    assert result.mcnemar_p is None
    assert result.only_a_correct is None


def test_paired_reports_unmatched(caplog):
    with caplog.at_level(logging.WARNING, logger="evalbook.metrics.paired"):
        result = paired_comparison(["a", "b", "c"], [1, 0, 1], ["b", "c", "d", "e"], [1, 1, 0, 0])

    assert result.n == 2
    assert result.n_unmatched_a == 1
    assert result.n_unmatched_b == 2
    assert result.mean_a == 0.5
    assert "2 of B have no partner" in caplog.text


def test_paired_constant_scores_correlation_nan():
    result = paired_comparison(["a", "b"], [1, 1], ["a", "b"], [0, 1])

    assert math.isnan(result.correlation)


@pytest.mark.parametrize(
    ("ids_a", "ids_b", "message"),
    [
        (["a", "b", "a"], ["a", "b", "c"], "ids_a contains 'a' 2 times"),
        (["a", "b", "c"], ["c", "c", "c"], "ids_b contains 'c' 3 times"),
        (["a", "b", "c"], ["x", "y", "z"], "share no id"),
    ],
)
def test_paired_rejects(ids_a, ids_b, message):
    with pytest.raises(ValueError, match=message):
        paired_comparison(ids_a, [1, 0, 1], ids_b, [1, 0, 1])


def test_paired_rejects_length_mismatch():
    with pytest.raises(ValueError, match="ids_a has 2, scores_a has 3"):
        paired_comparison(["a", "b"], [1, 0, 1], ["a", "b"], [1, 0])
