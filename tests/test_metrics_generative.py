"""Generative scorers: the first-line cut, SQuAD v2, QuAC and the needle tasks."""

import pytest
from conftest import real_row

from evalbook.metrics.generative import (
    first_line,
    is_abstention,
    is_empty_prediction,
    multi_needle_recall,
    needle_exact_match,
    normalize_answer,
    quac_exact_match,
    quac_f1,
    squad_exact_match,
    squad_f1,
)


@pytest.fixture(scope="module")
def squad_row():
    return real_row("squad-1.json")


def test_real_squad_row_metrics(squad_row):
    prediction = squad_row["output_prediction_text"][0]
    golds = squad_row["input_correct_responses"]

    assert squad_exact_match(prediction, golds) == squad_row["output_metrics"]["em"]
    assert squad_f1(prediction, golds) == squad_row["output_metrics"]["f1"]


def test_real_squad_row_parsed_answer(squad_row):
    prediction = squad_row["output_prediction_text"][0]

    assert prediction.startswith(" John Paul II\n\n")
    assert normalize_answer(first_line(prediction)) == squad_row["output_parsed_answer"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (" John Paul II\n\nTitle: x", "John Paul II"),
        ("\nWarsaw\nQ: next", "Warsaw"),
        ("\n \n  Warsaw  \nQ", "Warsaw  "),
        ("one line", "one line"),
        ("a\r\nb", "a\r"),
        ("\n\n", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_first_line(text, line):
    assert first_line(text) == line


def test_first_line_rejects_list():
    with pytest.raises(TypeError, match="text must be a string or None, found list"):
        first_line(["John Paul II"])


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  a   cat,  an owl and THE dog ", "cat owl and dog"),
        ("theatre", "theatre"),
        ("U.S.A.", "usa"),
        ("Ünïcode café", "ünïcode café"),
        ("", ""),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Not in background", True),
        ("not in background.", True),
        (" Not in background\n\nTitle: x", True),
        ("CANNOTANSWER", True),
        ("", True),
        (None, True),
        ("...", True),
        ("Not in the background paragraph", False),
        ("Warsaw", False),
    ],
)
def test_is_abstention(text, expected):
    assert is_abstention(text) is expected


def test_is_empty_prediction():
    assert is_empty_prediction("?!\nWarsaw") is True
    assert is_empty_prediction("Not in background") is False


def test_squad_f1_hand_computed():
    # Prediction tokens: pope, john, paul (3); gold: john, paul, ii (3); common 2.
    # Precision 2/3, recall 2/3, F1 = 2/3.
    assert squad_f1("Pope John Paul", ["John Paul II"]) == pytest.approx(2 / 3)
    assert squad_exact_match("Pope John Paul", ["John Paul II"]) == 0.0


def test_squad_f1_counts_repeated_tokens():
    # Prediction: paris paris paris (3); gold: paris (1); common min(3, 1) = 1.
    # Precision 1/3, recall 1, F1 = 2 * (1/3) / (4/3) = 0.5.
    assert squad_f1("Paris Paris Paris", ["Paris"]) == pytest.approx(0.5)


def test_squad_max_over_golds():
    # Against "warsaw poland": precision 1, recall 1/2, F1 2/3; against "warsaw": F1 1.
    golds = ["Warsaw Poland", "Warsaw"]

    assert squad_f1("Warsaw", golds) == 1.0
    assert squad_exact_match("Warsaw", golds) == 1.0
    assert squad_f1("Warsaw", golds[:1]) == pytest.approx(2 / 3)


def test_squad_abstaining_on_answerable_item():
    golds = ["background music"]

    assert squad_f1("Not in background", golds) == 0.0
    assert squad_exact_match("", golds) == 0.0
    assert squad_f1(None, golds) == 0.0


def test_squad_abstention_golds_are_unanswerable():
    for golds in ([], [""], ["Not in background"], ["CANNOTANSWER", ""]):
        assert squad_exact_match("not in background.", golds) == 1.0
        assert squad_f1("Warsaw", golds) == 0.0


def test_squad_mixed_golds_ignore_abstentions():
    # The empty gold is dropped, as the official SQuAD v2 script drops empty answers.
    assert squad_exact_match("Warsaw", ["", "Warsaw"]) == 1.0
    assert squad_exact_match("", ["", "Warsaw"]) == 0.0


def test_squad_cuts_leading_newline():
    assert squad_exact_match("\nWarsaw\n\nTitle: x", ["warsaw"]) == 1.0
    assert squad_exact_match("\nWarsaw\n\nTitle: x", []) == 0.0


def test_squad_rejects_single_string_golds():
    with pytest.raises(TypeError, match="golds must be a list of strings, not the single string"):
        squad_exact_match("Warsaw", "warsaw")


def test_squad_rejects_non_string_gold():
    with pytest.raises(TypeError, match=r"golds\[1\] must be a string, found NoneType"):
        squad_f1("Warsaw", ["warsaw", None])


def test_quac_hand_computed():
    # Prediction: he, left, in, 1990 (4); gold: he, left, team, in, 1990 (5); common 4.
    # Precision 1, recall 4/5, F1 = 2 * 0.8 / 1.8 = 0.888889.
    assert quac_f1("He left in 1990.", ["He left the team in 1990"]) == pytest.approx(8 / 9)
    assert quac_exact_match("He left in 1990.", ["He left the team in 1990"]) == 0.0


def test_quac_cannotanswer_gold():
    golds = ["CANNOTANSWER"]

    assert quac_f1("CANNOTANSWER", golds) == 1.0
    assert quac_f1("", golds) == 1.0
    assert quac_f1("He left", golds) == 0.0
    assert quac_exact_match("CANNOTANSWER", golds) == 1.0


def test_quac_mixed_golds():
    golds = ["He left in 1990", "CANNOTANSWER"]

    assert quac_f1("CANNOTANSWER", golds) == 1.0
    assert quac_f1("he left in 1990", golds) == 1.0
    assert quac_f1("He stayed", golds) == pytest.approx(2 * 0.5 * 0.25 / 0.75)


def test_quac_abstention_against_span_gold():
    assert quac_f1("CANNOTANSWER", ["cannot answer that"]) == 0.0
    assert quac_exact_match(None, ["He left"]) == 0.0


def test_needle_exact_match():
    assert needle_exact_match(" The Eiffel Tower.\nMore text", "Eiffel Tower") == 1.0
    assert needle_exact_match("The tower is the Eiffel Tower", "Eiffel Tower") == 0.0
    assert needle_exact_match("Paris\nEiffel Tower", "Eiffel Tower") == 0.0
    assert needle_exact_match(None, "Eiffel Tower") == 0.0


def test_needle_rejects_blank_needle():
    with pytest.raises(ValueError, match=r"needle '\.\.\.' is blank after normalization"):
        needle_exact_match("x", "...")


def test_multi_needle_recall_hand_computed():
    # Found: "blue whale" (line 2) and "42" (line 3); "red fox" is missing: 2 / 3.
    prediction = "Here they are:\nThe blue whale.\n42\n"

    assert multi_needle_recall(prediction, ["Blue whale", "42", "red fox"]) == pytest.approx(2 / 3)


def test_multi_needle_recall_whole_tokens():
    assert multi_needle_recall("1234 and 55", ["123", "55"]) == 0.5


def test_multi_needle_recall_empty_prediction():
    assert multi_needle_recall(None, ["a cat"]) == 0.0
    assert multi_needle_recall("", ["a cat"]) == 0.0


def test_multi_needle_recall_rejects_no_needles():
    with pytest.raises(ValueError, match="needles is empty"):
        multi_needle_recall("Paris", [])
