"""Property tests: bounds of every registered metric and invariants of the aggregates."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from evalbook.metrics import (
    METRICS,
    accuracy_score,
    brier_score_loss,
    choice_predictions,
    choice_probabilities,
    clustered_estimate,
    drop_scores,
    expected_calibration_error,
    gold_probability,
    macro_estimate,
    mean_estimate,
    micro_estimate,
    normalize_answer,
    quac_exact_match,
    quac_f1,
    squad_exact_match,
    squad_f1,
    wilson_interval,
)

# Words that exercise the normalization: articles, numbers in several forms, abstentions,
# punctuation, hyphens and newlines.
WORDS = [
    "the", "a", "an", "Paris", "paris", "John", "Paul", "II", "4", "4.0", "four", "12.25",
    "12", "1,000", "Bears", "well-known", "Not in background", "CANNOTANSWER", "", ".", "?",
    "\n", "\n\n", "November", "17", "1995",
]  # fmt: skip

phrases = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
texts = st.one_of(phrases, st.text(max_size=30), st.none())
gold_lists = st.lists(st.one_of(phrases, st.text(max_size=20)), max_size=4)
needles = st.one_of(phrases, st.text(max_size=20)).filter(lambda text: normalize_answer(text))
drop_golds = st.lists(
    st.one_of(phrases, st.lists(phrases, min_size=1, max_size=3)), min_size=1, max_size=3
).filter(lambda golds: any((g if isinstance(g, str) else g[0]).strip() for g in golds))

# Arguments of each registered generative metric after the prediction.
GOLD_ARGUMENTS = {
    "squad_em": gold_lists,
    "squad_f1": gold_lists,
    "quac_em": gold_lists,
    "quac_f1": gold_lists,
    "drop_em": drop_golds,
    "drop_f1": drop_golds,
    "needle_em": needles,
    "multi_needle_recall": st.lists(needles, min_size=1, max_size=4),
}


@st.composite
def nll_items(draw, max_items=12):
    """Draw a NaN-padded NLL matrix of 2 to 5 options per item and valid gold indices."""
    n_items = draw(st.integers(1, max_items))
    sizes = draw(st.lists(st.integers(2, 5), min_size=n_items, max_size=n_items))
    width = max(sizes)
    matrix = np.full((n_items, width), np.nan)
    gold = np.empty(n_items, dtype=int)
    values = st.one_of(
        st.floats(0, 50, allow_nan=False), st.sampled_from([0.0, 1.5, 1.5, 1e4, np.inf])
    )
    for row, size in enumerate(sizes):
        nll = draw(st.lists(values, min_size=size, max_size=size))
        assume(any(math.isfinite(value) for value in nll))
        matrix[row, :size] = nll
        gold[row] = draw(st.integers(0, size - 1))
    return matrix, gold


def test_every_registered_metric_has_a_strategy():
    generative = {name for name, info in METRICS.items() if info.kind == "generative"}
    choice = {name for name, info in METRICS.items() if info.kind == "choice"}

    assert generative == set(GOLD_ARGUMENTS)
    assert choice == {"choice_acc", "choice_p_gold"}


@pytest.mark.parametrize("name", sorted(GOLD_ARGUMENTS))
@settings(max_examples=150)
@given(data=st.data())
def test_generative_metric_within_range(name, data):
    info = METRICS[name]
    prediction = data.draw(texts)
    gold = data.draw(GOLD_ARGUMENTS[name])

    score = info.function(prediction, gold)

    low, high = info.range
    assert low <= score <= high


@pytest.mark.parametrize("name", ["choice_acc", "choice_p_gold"])
@given(items=nll_items())
def test_choice_metric_within_range(name, items):
    nll, gold = items
    info = METRICS[name]

    scores = info.function(nll, gold)

    low, high = info.range
    assert scores.shape == gold.shape
    assert ((scores >= low) & (scores <= high)).all()


@given(prediction=texts, golds=gold_lists)
def test_squad_exact_match_implies_f1(prediction, golds):
    if squad_exact_match(prediction, golds) == 1.0:
        assert squad_f1(prediction, golds) == 1.0


@given(prediction=texts, golds=gold_lists)
def test_quac_exact_match_implies_f1(prediction, golds):
    if quac_exact_match(prediction, golds) == 1.0:
        assert quac_f1(prediction, golds) == 1.0


@given(prediction=texts, golds=drop_golds)
def test_drop_exact_match_implies_f1(prediction, golds):
    exact_match, f1 = drop_scores(prediction, golds)
    if exact_match == 1.0:
        assert f1 == 1.0


@given(gold=phrases.filter(lambda text: normalize_answer(text)), tail=texts)
def test_squad_gold_as_prediction_scores_one(gold, tail):
    # A prediction that is a gold answer on its first line scores 1, whatever follows it.
    assume("\n" not in gold and normalize_answer(gold) not in {"not in background", "cannotanswer"})
    prediction = f"{gold}\n{tail or ''}"

    assert squad_exact_match(prediction, [gold]) == 1.0
    assert squad_f1(prediction, [gold]) == 1.0


@given(items=nll_items())
def test_probabilities_rows_sum_to_one(items):
    nll, gold = items

    probabilities = choice_probabilities(nll)

    assert probabilities.sum(axis=1) == pytest.approx(np.ones(len(nll)))
    assert (probabilities[np.isnan(nll)] == 0.0).all()
    assert gold_probability(nll, gold) == pytest.approx(probabilities[np.arange(len(gold)), gold])


@given(items=nll_items())
def test_prediction_has_largest_probability(items):
    nll, _ = items

    predictions = choice_predictions(nll)
    probabilities = choice_probabilities(nll)

    chosen = probabilities[np.arange(len(nll)), predictions.index]
    assert chosen == pytest.approx(probabilities.max(axis=1))


scores_lists = st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=40)
binary_lists = st.lists(st.integers(0, 1), min_size=2, max_size=40)


@given(scores=scores_lists, seed=st.integers(0, 2**32 - 1))
def test_mean_and_clustered_order_invariant(scores, seed):
    clusters = [index % 3 for index in range(len(scores))]
    order = np.random.default_rng(seed).permutation(len(scores))
    shuffled = [scores[i] for i in order]
    shuffled_clusters = [clusters[i] for i in order]

    plain, plain_shuffled = mean_estimate(scores), mean_estimate(shuffled)
    clustered = clustered_estimate(scores, clusters)
    clustered_shuffled = clustered_estimate(shuffled, shuffled_clusters)

    assert plain_shuffled.value == pytest.approx(plain.value)
    assert plain_shuffled.se == pytest.approx(plain.se, abs=1e-12)
    assert clustered_shuffled.se == pytest.approx(clustered.se, abs=1e-12, nan_ok=True)


@given(scores=scores_lists, seed=st.integers(0, 2**32 - 1))
def test_macro_order_invariant(scores, seed):
    groups = [f"g{index % 4}" for index in range(len(scores))]
    order = np.random.default_rng(seed).permutation(len(scores))

    result = macro_estimate(scores, groups)
    shuffled = macro_estimate([scores[i] for i in order], [groups[i] for i in order])

    assert shuffled.estimate.value == pytest.approx(result.estimate.value)
    assert shuffled.estimate.se == pytest.approx(result.estimate.se, abs=1e-12, nan_ok=True)
    assert [row.group for row in shuffled.groups] == [row.group for row in result.groups]


@given(items=nll_items(), seed=st.integers(0, 2**32 - 1))
def test_choice_aggregates_order_invariant(items, seed):
    nll, gold = items
    order = np.random.default_rng(seed).permutation(len(gold))
    probabilities = choice_probabilities(nll)
    confidence = probabilities.max(axis=1)
    correct = choice_predictions(nll).index == gold

    assert accuracy_score(choice_predictions(nll[order]).index, gold[order]) == pytest.approx(
        accuracy_score(choice_predictions(nll).index, gold)
    )
    assert brier_score_loss(probabilities[order], gold[order]) == pytest.approx(
        brier_score_loss(probabilities, gold)
    )
    assert expected_calibration_error(confidence[order], correct[order]) == pytest.approx(
        expected_calibration_error(confidence, correct), abs=1e-12
    )


@given(items=nll_items())
def test_calibration_bounds(items):
    nll, gold = items
    probabilities = choice_probabilities(nll)
    correct = choice_predictions(nll).index == gold

    assert 0.0 <= expected_calibration_error(probabilities.max(axis=1), correct) <= 1.0
    assert 0.0 <= brier_score_loss(probabilities, gold) <= 2.0


@given(group_size=st.integers(2, 15), n_groups=st.integers(1, 6), data=st.data())
def test_macro_equals_micro_for_equal_groups(group_size, n_groups, data):
    scores = data.draw(
        st.lists(
            st.floats(0, 1, allow_nan=False),
            min_size=group_size * n_groups,
            max_size=group_size * n_groups,
        )
    )
    groups = [index // group_size for index in range(len(scores))]

    result = macro_estimate(scores, groups)

    assert result.estimate.value == pytest.approx(micro_estimate(scores).value, abs=1e-12)


@given(scores=st.one_of(scores_lists, binary_lists))
def test_clustered_equals_plain_for_singleton_clusters(scores):
    estimate = clustered_estimate(scores, list(range(len(scores))))

    assert estimate.se == pytest.approx(scipy_stats.sem(scores), rel=1e-9, abs=1e-15)


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_contains_proportion(n, data):
    successes = data.draw(st.integers(0, n))

    low, high = wilson_interval(successes, n)

    assert 0.0 <= low <= successes / n <= high <= 1.0
