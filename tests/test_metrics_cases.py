"""Inputs on which widely used eval tools once gave wrong answers, with the right values."""

import numpy as np
import pytest
from scipy.stats import norm

from evalbook.metrics import (
    NO_PREDICTION,
    accuracy_score,
    bootstrap_interval,
    chance_level,
    choice_predictions,
    drop_scores,
    is_empty_prediction,
    length_normalized_nll,
    macro_estimate,
    mcnemar_exact,
    mean_estimate,
    nll_matrix,
    paired_comparison,
    parse_gold_index,
    parse_gold_letter,
    squad_exact_match,
    squad_f1,
)


def test_macro_and_micro_both_reported():
    # C1: micro = (90 + 300) / 1,100 = 0.354545; macro = (0.9 + 0.3) / 2 = 0.6.
    scores = [1] * 90 + [0] * 10 + [1] * 300 + [0] * 700
    groups = ["A"] * 100 + ["B"] * 1000

    result = macro_estimate(scores, groups)

    assert result.micro.value == pytest.approx(0.354545, abs=1e-6)
    assert result.estimate.value == pytest.approx(0.6)
    assert result.micro.method == "micro"
    assert result.estimate.method == "macro"
    assert result.micro.n == result.estimate.n == 1100


def test_macro_se_from_group_ses():
    # C2: SE_A = sqrt(10 * 0.25 / 9) / sqrt(10) = 0.166667,
    # SE_B = sqrt(1000 * 0.25 / 999) / sqrt(1000) = 0.015819,
    # macro SE = sqrt(0.166667^2 + 0.015819^2) / 2 = 0.083708.
    scores = [1] * 5 + [0] * 5 + [1] * 500 + [0] * 500
    groups = ["small"] * 10 + ["large"] * 1000

    result = macro_estimate(scores, groups)
    by_group = {row.group: row for row in result.groups}

    assert by_group["small"].se == pytest.approx(0.166667, abs=1e-6)
    assert by_group["large"].se == pytest.approx(0.015819, abs=1e-6)
    assert result.estimate.se == pytest.approx(0.083708, abs=1e-6)
    assert result.micro.se < 0.02  # the pooled SE that a macro average must not report


def test_small_mean_se_and_bootstrap():
    # C3: SE = sqrt(10 * 0.25 / 9 / 10) = 0.166667; the bootstrap SE is near
    # sqrt(0.25 / 10) = 0.158.
    scores = np.array([1.0] * 5 + [0.0] * 5)

    estimate = mean_estimate(scores)
    bootstrap = bootstrap_interval(scores, np.mean)

    assert estimate.se == pytest.approx(0.166667, abs=1e-6)
    assert 0.14 < bootstrap.se < 0.18
    assert bootstrap.ci_high - bootstrap.ci_low > 0.4


def test_paired_mcnemar_not_unpaired_test():
    # C4: 220 items; 20 right only for A, 6 right only for B, 100 right for both, 94 wrong
    # for both. p = 2 * BinomCDF(6; 26, 1/2) = 0.00936.
    a = [1] * 20 + [0] * 6 + [1] * 100 + [0] * 94
    b = [0] * 20 + [1] * 6 + [1] * 100 + [0] * 94
    ids = [f"q{i}" for i in range(220)]

    result = paired_comparison(ids, a, ids, b)

    assert result.n == 220
    assert len(result.only_a_correct) == 20
    assert len(result.only_b_correct) == 6
    assert result.mcnemar_p == pytest.approx(0.00936, abs=5e-6)
    assert mcnemar_exact(20, 6) == result.mcnemar_p

    # An unpaired two-proportion z-test on the same data gives p of about 0.18.
    p_a, p_b = np.mean(a), np.mean(b)
    pooled = (p_a + p_b) / 2
    z = (p_a - p_b) / np.sqrt(pooled * (1 - pooled) * 2 / 220)
    unpaired_p = 2 * norm.sf(abs(z))
    assert unpaired_p > 0.1
    assert result.mcnemar_p < 0.01


def test_drop_generation_cut_at_first_line():
    # C5: "10\n\nPassage: ..." is cut to "10", which equals the gold "10".
    exact_match, f1 = drop_scores("10\n\nPassage: The Bears scored 10 points.", ["10"])

    assert f1 == 1.0
    assert exact_match == 1.0


def test_drop_number_mismatch_scores_zero():
    # C6: the gold has the number 12.25 and the prediction only 12.
    assert drop_scores("12", ["12.25"]) == (0.0, 0.0)


def test_unscorable_items_stay_in_denominator():
    # C7: 3 right, 1 wrong, 2 empty: 3 / 6 = 0.5, and the 2 empty predictions are counted.
    predicted = [0, 1, 2, 3, NO_PREDICTION, NO_PREDICTION]
    gold = [0, 1, 2, 0, 1, 2]
    assert accuracy_score(predicted, gold) == 0.5

    predictions = ["Paris", "Rome", "Oslo", "Lima", "", None]
    golds = [["paris"], ["rome"], ["oslo"], ["bern"], ["madrid"], ["kyiv"]]
    scores = [squad_exact_match(p, g) for p, g in zip(predictions, golds, strict=True)]
    assert np.mean(scores) == 0.5
    assert sum(is_empty_prediction(p) for p in predictions) == 2


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [("Not in background", 1.0), ("", 1.0), ("Warsaw", 0.0)],
)
def test_unanswerable_squad_item(prediction, expected):
    # C8: no gold answers; only an abstention scores.
    assert squad_exact_match(prediction, []) == expected
    assert squad_f1(prediction, []) == expected


def test_answerable_and_unanswerable_reported_apart():
    # C8: the same predictions on an answerable and an unanswerable item, grouped apart.
    items = [("Warsaw", ["warsaw"]), ("Not in background", [])]
    scores = [squad_exact_match(p, g) for p, g in items]
    groups = ["answerable", "unanswerable"]

    result = macro_estimate(scores, groups)

    assert [(row.group, row.n, row.mean) for row in result.groups] == [
        ("answerable", 1, 1.0),
        ("unanswerable", 1, 1.0),
    ]


def test_items_with_three_and_five_options():
    # C10: chance levels 1/3 and 1/5; letters A-C and A-E; both items kept.
    nll = nll_matrix([[1.2, 0.7, 2.0], [3.0, 2.5, 2.0, 1.5, 0.5]])
    letters = [["A", "B", "C"], ["A", "B", "C", "D", "E"]]

    predictions = choice_predictions(nll)

    assert nll.shape == (2, 5)
    assert predictions.n_options.tolist() == [3, 5]
    assert predictions.index.tolist() == [1, 4]
    assert chance_level(predictions.n_options) == pytest.approx([1 / 3, 1 / 5])
    assert parse_gold_letter("Answer: C", letters=letters[0]) == "C"
    assert parse_gold_index("Answer: E", letters=letters[1]) == 4
    with pytest.raises(ValueError, match="'E' of 'Answer: E' is not among"):
        parse_gold_letter("Answer: E", letters=letters[0])


def test_raw_and_char_normalization_disagree():
    # C12: raw NLLs 2.0 and 3.0 pick the first; divided by lengths 2 and 6 they are 1.0 and
    # 0.5, which picks the second.
    raw = np.array([[2.0, 3.0]])
    char = length_normalized_nll(raw, np.array([[2, 6]]))

    assert choice_predictions(raw).index.tolist() == [0]
    assert char.tolist() == [[1.0, 0.5]]
    assert choice_predictions(char).index.tolist() == [1]
