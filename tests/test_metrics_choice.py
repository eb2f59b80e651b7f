"""Choice metrics: gold parsing, predictions, probabilities, calibration and accuracy."""

import numpy as np
import pytest
from conftest import real_row

from evalbook.metrics.choice import (
    NO_PREDICTION,
    accuracy_score,
    brier_score_loss,
    chance_level,
    choice_correct,
    choice_predictions,
    choice_probabilities,
    expected_calibration_error,
    gold_probability,
    length_normalized_nll,
    nll_matrix,
    parse_gold_index,
    parse_gold_letter,
    reliability_diagram,
)


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Answer: C", "C"),
        ("C", "C"),
        ("(C)", "C"),
        (" c ", "C"),
        ("answer:(d)", "D"),
        ("B.", "B"),
        ("E)", "E"),
        ("Answer:  A\n", "A"),
    ],
)
def test_parse_gold_letter_forms(text, letter):
    assert parse_gold_letter(text) == letter


@pytest.mark.parametrize("text", ["", "Answer:", "CD", "Answer: 3", "the answer is C", "(C"])
def test_parse_gold_letter_rejects(text):
    with pytest.raises(ValueError, match="cannot parse a gold letter from"):
        parse_gold_letter(text)


def test_parse_gold_letter_real_mmlu_row():
    row = real_row("mmlu-1.json")
    letters = list(row["input_choice_list"])

    index = parse_gold_index(row["input_correct_responses"][0], letters=letters)

    assert letters == ["A", "B", "C", "D"]
    assert index == 2
    assert index == row["answer"]  # the loader's own index of the gold option


def test_nll_matrix_pads_right():
    matrix = nll_matrix([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0]])

    assert matrix.shape == (2, 5)
    assert np.isnan(matrix[1, 3:]).all()
    assert matrix[1, :3].tolist() == [1.0, 2.0, 3.0]


def test_predictions_ties_go_first():
    nll = np.array([[1.0, 0.5, 0.5, 2.0], [0.25, 0.5, 1.0, np.nan], [3.0, 3.0, 3.0, 3.0]])

    predictions = choice_predictions(nll)

    assert predictions.index.tolist() == [1, 0, 0]
    assert predictions.is_tie.tolist() == [True, False, True]
    assert predictions.n_ties == 2
    assert predictions.n_options.tolist() == [4, 3, 4]


def test_predictions_allow_positive_infinity():
    predictions = choice_predictions(np.array([[np.inf, 2.0, np.inf]]))

    assert predictions.index.tolist() == [1]
    assert predictions.is_tie.tolist() == [False]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ([np.nan, np.nan, np.nan], "row 1 has fewer than two options"),
        ([1.0, np.nan, 2.0], "row 1 has NaN between NLLs"),
        ([1.0, -np.inf, 2.0], "row 1 contains -inf"),
        ([np.inf, np.inf, np.inf], "row 1 has no finite NLL"),
        ([1.0, np.nan, np.nan], "row 1 has fewer than two options"),
    ],
)
def test_predictions_reject_bad_rows(row, problem):
    nll = np.array([[1.0, 2.0, 3.0], row])

    with pytest.raises(ValueError, match=problem):
        choice_predictions(nll)


def test_predictions_reject_wrong_shape():
    with pytest.raises(ValueError, match="must be 2-D"):
        choice_predictions(np.array([1.0, 2.0]))


def test_probabilities_hand_computed():
    # NLLs log 2, log 4, log 4 give unnormalized weights 1/2, 1/4, 1/4, already summing to 1.
    nll = np.array([[np.log(2), np.log(4), np.log(4), np.nan]])

    probabilities = choice_probabilities(nll)

    assert probabilities[0] == pytest.approx([0.5, 0.25, 0.25, 0.0])


def test_probabilities_survive_large_nll():
    # exp(-1000) underflows to 0, so a naive softmax divides 0 by 0; log-sum-exp does not.
    probabilities = choice_probabilities(np.array([[1000.0, 1000.0 + np.log(3)]]))

    assert probabilities[0] == pytest.approx([0.75, 0.25])


def test_probabilities_rows_sum_to_one_with_zero_padding():
    rng = np.random.default_rng(1)
    rows = [rng.uniform(0, 30, size=k) for k in (3, 4, 5, 5, 3)]
    nll = nll_matrix(rows)

    probabilities = choice_probabilities(nll)

    assert probabilities.sum(axis=1) == pytest.approx(np.ones(5))
    assert (probabilities[np.isnan(nll)] == 0.0).all()


def test_gold_probability_hand_computed():
    # Row 1: weights 1/2, 1/4, 1/4 -> P(option 2) = 0.25. Row 2: +inf has probability 0.
    nll = np.array([[np.log(2), np.log(4), np.log(4)], [np.inf, 0.0, np.nan]])

    assert gold_probability(nll, np.array([2, 0])).tolist() == pytest.approx([0.25, 0.0])


def test_gold_probability_rejects_gold_on_padding():
    nll = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, np.nan]])

    with pytest.raises(ValueError, match=r"gold_index\[1\] is 2, but item 1 has only 2 options"):
        gold_probability(nll, np.array([0, 2]))


def test_choice_correct_and_accuracy():
    nll = np.array([[2.0, 1.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    gold = np.array([1, 1, 2])

    correct = choice_correct(nll, gold)

    assert correct.tolist() == [1.0, 0.0, 1.0]
    assert accuracy_score(choice_predictions(nll).index, gold) == pytest.approx(2 / 3)


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="predicted_index has 2, gold_index has 3"):
        accuracy_score([0, 1], [0, 1, 2])


def test_accuracy_rejects_letters():
    with pytest.raises(TypeError, match="integer indices"):
        accuracy_score(["A", "B"], [0, 1])


def test_accuracy_counts_missing_prediction_wrong():
    assert accuracy_score([NO_PREDICTION, 1], [0, 1]) == 0.5
    with pytest.raises(ValueError, match=r"predicted_index\[0\] is -2"):
        accuracy_score([-2, 1], [0, 1])


def test_chance_level_values():
    assert chance_level(np.array([2, 4, 5])).tolist() == [0.5, 0.25, 0.2]
    with pytest.raises(ValueError, match=r"n_options\[1\] is 0"):
        chance_level([4, 0])


def test_length_normalized_rejects_zero_length():
    with pytest.raises(ValueError, match=r"lengths\[0, 1\] is 0.0"):
        length_normalized_nll(np.array([[2.0, 3.0]]), np.array([[2, 0]]))


def test_length_normalized_keeps_padding():
    normalized = length_normalized_nll(
        np.array([[2.0, 3.0, np.nan]]), np.array([[4.0, 3.0, np.nan]])
    )

    assert normalized[0, :2].tolist() == [0.5, 1.0]
    assert np.isnan(normalized[0, 2])


def test_ece_hand_computed():
    # Bin (0.2, 0.3]: confidence 0.25, 0.25, accuracy 0 -> gap 0.25, weight 2/5.
    # Bin (0.9, 1.0]: confidence 0.95, 0.95, 0.95 (mean 0.95), accuracy 2/3 -> gap 0.283333,
    # weight 3/5. ECE = 0.4 * 0.25 + 0.6 * 0.283333 = 0.27.
    confidence = [0.25, 0.25, 0.95, 0.95, 0.95]
    correct = [0, 0, 1, 1, 0]

    assert expected_calibration_error(confidence, correct) == pytest.approx(0.27)


def test_ece_bins_are_closed_on_the_right():
    # 0.5 belongs to (0.4, 0.5], not (0.5, 0.6]; 0 belongs to the first bin.
    diagram = reliability_diagram([0.5, 0.0, 1.0], [1, 0, 1])

    assert diagram.counts.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert diagram.bin_edges == pytest.approx(np.linspace(0, 1, 11))


def test_reliability_diagram_empty_bins_nan():
    diagram = reliability_diagram([0.95, 0.85, 0.85], [1, 1, 0], n_bins=10)

    assert diagram.n == 3
    assert np.isnan(diagram.accuracy[:8]).all()
    assert np.isnan(diagram.mean_confidence[:8]).all()
    assert diagram.accuracy[8:].tolist() == [0.5, 1.0]
    assert diagram.mean_confidence[8:] == pytest.approx([0.85, 0.95])


@pytest.mark.parametrize(
    ("confidence", "correct", "message"),
    [
        ([0.5, 1.5], [1, 0], r"confidence\[1\] is 1.5"),
        ([0.5, np.nan], [1, 0], r"confidence\[1\] is nan"),
        ([0.5, 0.6], [1, 2], r"correct\[1\] is 2.0: expected 0 or 1"),
        ([0.5], [1, 0], "confidence has 1, correct has 2"),
        ([], [], "confidence is empty"),
    ],
)
def test_ece_rejects_bad_input(confidence, correct, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(confidence, correct)


def test_ece_rejects_zero_bins():
    with pytest.raises(ValueError, match="n_bins must be a positive integer, got 0"):
        expected_calibration_error([0.5], [1], n_bins=0)


def test_brier_hand_computed():
    # Item 1, gold option 0: (0.6 - 1)^2 + 0.3^2 + 0.1^2 + 0^2 = 0.16 + 0.09 + 0.01 = 0.26.
    # Item 2, gold option 2 with probability 0: 0.5^2 + 0.5^2 + (0 - 1)^2 + 0^2 = 1.5.
    # Mean = (0.26 + 1.5) / 2 = 0.88.
    probabilities = np.array([[0.6, 0.3, 0.1, 0.0], [0.5, 0.5, 0.0, 0.0]])

    assert brier_score_loss(probabilities, np.array([0, 2])) == pytest.approx(0.88)


def test_brier_extremes():
    assert brier_score_loss(np.array([[1.0, 0.0]]), np.array([0])) == 0.0
    assert brier_score_loss(np.array([[0.0, 1.0]]), np.array([0])) == 2.0


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ([[0.5, 0.4]], "row 0 sums to 0.9"),
        ([[0.5, np.nan, 0.5]], "row 0 is"),
        ([[1.2, -0.2]], r"values must lie in \[0, 1\]"),
    ],
)
def test_brier_rejects_bad_rows(probabilities, message):
    with pytest.raises(ValueError, match=message):
        brier_score_loss(np.array(probabilities), np.array([0]))
