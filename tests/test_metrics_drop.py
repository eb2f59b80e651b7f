"""DROP EM and F1 on hand-made cases in the style of the official evaluation script."""

import pytest

from evalbook.metrics.drop import (
    drop_answer_type,
    drop_exact_match,
    drop_f1,
    drop_scores,
    normalize_drop_span,
)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("10", "10.0"),
        ("10.50", "10.5"),
        ("1,000", "1000.0"),  # the comma is punctuation in a token that is not a number
        ("The 49ers", "49ers"),
        ("well-known", "well known"),
        ("$12.25", "1225.0"),  # as in the official script: "$12.25" is not a number
        ("Tom Brady.", "tom brady"),
        ("a", ""),
    ],
)
def test_normalize_drop_span(text, normalized):
    assert normalize_drop_span(text) == normalized


def test_number_words_not_converted():
    # The official script has no word-to-number step: "four" shares no number with "4".
    assert drop_scores("four", ["4"]) == (0.0, 0.0)
    assert drop_scores("4", ["4"]) == (1.0, 1.0)


def test_number_formats_match():
    assert drop_scores("4.0", ["4"]) == (1.0, 1.0)
    assert drop_scores("12.25 yards", ["12.25"]) == (0.0, 0.67)  # precision 1/2, recall 1


def test_number_mismatch_zeroes_pair():
    # Token sets {18.0, yards} and {17.0, yards} overlap on "yards", but the gold's number
    # 17 is missing from the prediction, so the pair scores 0.
    assert drop_scores("18 yards", ["17 yards"]) == (0.0, 0.0)


def test_spans_order_invariant():
    golds = [["Bears", "Lions"]]

    assert drop_scores(["Lions", "Bears"], golds) == (1.0, 1.0)
    assert drop_scores(["Bears", "Lions"], golds) == (1.0, 1.0)


def test_partial_multi_span_overlap():
    # Gold spans {bears}, {detroit, lions}; prediction spans {bears}, {lions}.
    # Aligned F1: bears-bears 1; lions vs detroit lions: precision 1, recall 1/2, F1 2/3.
    # Mean over max(2, 2) spans = (1 + 2/3) / 2 = 0.833333, rounded to 0.83.
    assert drop_scores(["Bears", "Lions"], [["Bears", "Detroit Lions"]]) == (0.0, 0.83)


def test_fewer_predicted_spans_than_gold():
    # One predicted span aligned to one of three gold spans: 1 / 3, rounded to 0.33.
    assert drop_f1("Bears", [["Bears", "Lions", "Packers"]]) == 0.33


def test_extra_predicted_spans_cost_f1():
    # Two predicted spans, one gold span: (1 + 0) / 2 = 0.5.
    assert drop_f1(["Bears", "Packers"], ["Bears"]) == 0.5


def test_hungarian_beats_greedy():
    # Greedy alignment takes "x y" - "x y z" (F1 0.8) first and leaves "x" - "y w" with 0, mean
    # 0.4. The optimal assignment pairs "x y" - "y w" (0.5) and "x" - "x y z" (0.5), mean 0.5.
    assert drop_f1(["x y", "x"], [["x y z", "y w"]]) == 0.5


def test_dates():
    gold = ["17 November 1995"]

    assert drop_scores("November 17, 1995", gold) == (0.0, 1.0)  # same token set, other order
    assert drop_scores("17 November 1995", gold) == (1.0, 1.0)
    assert drop_f1("November 1995", gold) == 0.8  # precision 1, recall 2/3
    assert drop_f1("December 1995", gold) == 0.4  # precision 1/2, recall 1/3


def test_max_over_gold_answers():
    golds = ["Tom Brady", "Brady"]

    assert drop_scores("Brady", golds) == (1.0, 1.0)
    assert drop_scores("Tom", golds) == (0.0, 0.67)


def test_blank_gold_answers_skipped():
    assert drop_scores("Brady", ["", "Brady"]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="contains no non-blank gold answer"):
        drop_scores("Brady", ["", "  "])
    with pytest.raises(ValueError, match="contains no non-blank gold answer"):
        drop_scores("Brady", [])


def test_empty_prediction_scores_zero():
    assert drop_scores("", ["Brady"]) == (0.0, 0.0)
    assert drop_scores(None, ["7"]) == (0.0, 0.0)
    assert drop_scores("\n\n7\n", ["7"]) == (1.0, 1.0)


def test_exact_match_and_f1_helpers_agree():
    golds = ["Tom Brady"]

    assert drop_exact_match("Brady", golds) == drop_scores("Brady", golds)[0]
    assert drop_f1("Brady", golds) == drop_scores("Brady", golds)[1]


def test_rejects_single_string_golds():
    with pytest.raises(TypeError, match="golds must be a list of gold answers"):
        drop_scores("7", "7")


def test_rejects_empty_span_list():
    with pytest.raises(ValueError, match=r"golds\[0\] is an empty list of spans"):
        drop_scores("7", [[]])


@pytest.mark.parametrize(
    ("gold", "answer_type"),
    [
        ("4", "number"),
        ("1,200", "number"),
        ("12.5", "number"),
        ("1995", "number"),
        ("17 November 1995", "date"),
        ("November 17, 1995", "date"),
        ("  November 1995", "date"),
        ("Nov. 1995", "date"),
        ("Tom Brady", "span"),
        ("12 yards", "span"),
        (["Tom Brady"], "span"),
        (["Bears", "Lions"], "spans"),
    ],
)
def test_drop_answer_type(gold, answer_type):
    assert drop_answer_type(gold) == answer_type
