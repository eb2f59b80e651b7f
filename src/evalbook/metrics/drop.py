"""DROP exact match and F1, following the official DROP evaluation script.

The rules follow ``drop_eval.py`` of allenai/allennlp-reading-comprehension (``get_metrics``):

- An answer is a bag of spans. Each span is split into tokens on spaces and hyphens. Each token
  is lower-cased, stripped of punctuation unless it parses as a number, rewritten as a float if
  it parses as one (``"10"`` becomes ``"10.0"``), and dropped if it is an article.
- EM is 1 when the prediction and the gold have the same set of normalized spans and the
  same number of spans.
- F1 aligns predicted and gold spans one to one with the Hungarian assignment
  (``scipy.optimize.linear_sum_assignment``) to maximize the summed F1 of token sets. A pair
  scores 0 when the gold span contains numbers and the predicted span shares none of them.
  The item's F1 is the mean over the larger of the two span counts, rounded to 2 decimals.
- An item with several gold answers scores the maximum EM and the maximum F1 over them,
  skipping gold answers whose first span is blank.

Number words are not converted: the prediction ``"four"`` scores 0 against the gold ``"4"``.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence

import numpy as np

from evalbook.metrics._text import first_line
from evalbook.metrics._validation import check_text, check_text_list

logger = logging.getLogger(__name__)

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_TOKEN_SEPARATORS = re.compile(" |-")

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
# A day, a month name and a year in any order and with optional commas and periods, as in
# "17 November 1995", "November 17, 1995" or "Nov. 1995". Each part except the month is optional.
_DATE = re.compile(
    rf"^(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?(?:{_MONTHS})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?"
    r"(?:\s+\d{1,4})?$",
    re.IGNORECASE,
)


def _is_number(text: str) -> bool:
    # The official script tests with float(), so "1e3", "nan" and "1_000" count as numbers too.
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalize_token(token: str) -> str:
    token = token.lower()
    if not _is_number(token):
        token = "".join(character for character in token if character not in _PUNCTUATION)
    if _is_number(token):
        token = str(float(token))
    token = _ARTICLES.sub(" ", token)
    return " ".join(token.split())


def normalize_drop_span(text: str) -> str:
    """Normalize one answer span as the official DROP script does.

    Numbers keep their decimal point and are printed as floats. Punctuation is removed from
    every other token, so ``"$12.25"`` becomes ``"1225.0"``, as in the official script.

    Examples
    --------
    >>> normalize_drop_span("The 10 yard-line")
    '10.0 yard line'
    >>> normalize_drop_span("12.25")
    '12.25'
    """
    parts = [_normalize_token(token) for token in _TOKEN_SEPARATORS.split(text)]
    return " ".join(part for part in parts if part.strip()).strip()


def _token_set_f1(predicted: set[str], gold: set[str]) -> float:
    common = len(predicted & gold)
    precision = common / len(predicted) if predicted else 1.0
    recall = common / len(gold) if gold else 1.0
    if precision == 0.0 and recall == 0.0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _numbers_match(gold: set[str], predicted: set[str]) -> bool:
    gold_numbers = {token for token in gold if _is_number(token)}
    predicted_numbers = {token for token in predicted if _is_number(token)}
    return not gold_numbers or bool(gold_numbers & predicted_numbers)


def _span_list(answer: str | Sequence[str], *, name: str) -> list[str]:
    if isinstance(answer, str):
        return [answer]
    spans = check_text_list(answer, name=name)
    if not spans:
        raise ValueError(f"{name} is an empty list of spans: a multi-span answer needs a span")
    return spans


def _score_against(predicted: list[str], gold: list[str]) -> tuple[float, float]:
    predicted_spans = [normalize_drop_span(span) for span in predicted]
    gold_spans = [normalize_drop_span(span) for span in gold]
    same_spans = set(predicted_spans) == set(gold_spans)
    exact_match = 1.0 if same_spans and len(predicted_spans) == len(gold_spans) else 0.0

    predicted_bags = [set(span.split()) for span in predicted_spans]
    gold_bags = [set(span.split()) for span in gold_spans]
    scores = np.zeros((len(gold_bags), len(predicted_bags)))
    for row, gold_bag in enumerate(gold_bags):
        for column, predicted_bag in enumerate(predicted_bags):
            if _numbers_match(gold_bag, predicted_bag):
                scores[row, column] = _token_set_f1(predicted_bag, gold_bag)

    # Unaligned spans, on either side, add a zero to the mean.
    from scipy.optimize import linear_sum_assignment  # loaded on first use: about a second

    rows, columns = linear_sum_assignment(scores, maximize=True)
    aligned = scores[rows, columns].sum()
    f1 = aligned / max(len(gold_bags), len(predicted_bags))
    return exact_match, round(float(f1), 2)


def drop_scores(
    prediction: str | Sequence[str] | None, golds: Sequence[str | Sequence[str]]
) -> tuple[float, float]:
    """Compute the official DROP exact match and F1 of one prediction.

    Range: EM is 0 or 1; F1 lies in [0, 1], rounded to 2 decimals as in the official script.
    Best value: 1.

    Parameters
    ----------
    prediction : str, sequence of str, or None
        Raw generation, cut at its first line (:func:`~evalbook.metrics.generative.first_line`)
        and scored as one span. A sequence is scored as several spans, each cut the same way.
        None or an empty generation scores 0.
    golds : sequence of (str or sequence of str)
        The item's gold answers. A string is a one-span answer and a sequence of strings is a
        multi-span answer. Gold answers whose first span is blank are skipped.

    Returns
    -------
    tuple of float
        ``(exact_match, f1)``, each the maximum over the gold answers.

    Raises
    ------
    ValueError
        If ``golds`` has no gold answer with a non-blank first span.

    Examples
    --------
    >>> drop_scores("10\\n\\nPassage: ...", ["10"])
    (1.0, 1.0)
    >>> drop_scores("12", ["12.25"])
    (0.0, 0.0)
    >>> drop_scores("the Bears", [["Bears", "Lions"]])
    (0.0, 0.5)
    """
    if prediction is None or isinstance(prediction, str):
        predicted = [first_line(check_text(prediction, name="prediction"))]
    else:
        predicted = [first_line(span) for span in check_text_list(prediction, name="prediction")]

    if isinstance(golds, str):
        raise TypeError(
            f"golds must be a list of gold answers, not the single string {golds!r}; wrap it "
            "in a list"
        )
    answers = [_span_list(gold, name=f"golds[{index}]") for index, gold in enumerate(golds)]
    answers = [spans for spans in answers if spans[0].strip()]
    if not answers:
        raise ValueError(
            f"golds {list(golds)!r} contains no non-blank gold answer: a DROP item needs one. "
            "Check the item's input_correct_responses."
        )

    results = [_score_against(predicted, spans) for spans in answers]
    return max(em for em, _ in results), max(f1 for _, f1 in results)


def drop_exact_match(
    prediction: str | Sequence[str] | None, golds: Sequence[str | Sequence[str]]
) -> float:
    """Compute the official DROP exact match of one prediction (see :func:`drop_scores`).

    Examples
    --------
    >>> drop_exact_match("Four", ["4"])
    0.0
    """
    return drop_scores(prediction, golds)[0]


def drop_f1(prediction: str | Sequence[str] | None, golds: Sequence[str | Sequence[str]]) -> float:
    """Compute the official DROP F1 of one prediction (see :func:`drop_scores`).

    Examples
    --------
    >>> drop_f1("17 November", ["17 November 1995"])
    0.8
    """
    return drop_scores(prediction, golds)[1]


def drop_answer_type(gold: str | Sequence[str]) -> str:
    """Classify a DROP gold answer as ``"number"``, ``"date"``, ``"span"`` or ``"spans"``.

    The official data stores the type, but Meta's rows keep only the answer text, so the type
    is read from the text. Several spans give ``"spans"``. A text that parses as a number gives
    ``"number"``, and a text with a month name and an optional day and year gives ``"date"``.

    Examples
    --------
    >>> [drop_answer_type(g) for g in ["4", "17 November 1995", "Bears", ["Bears", "Lions"]]]
    ['number', 'date', 'span', 'spans']
    """
    # NOTE: A date given only as a year ("1995") is classified as a number, because its text
    # cannot be distinguished from one.
    spans = _span_list(gold, name="gold")
    if len(spans) > 1:
        return "spans"

    text = " ".join(spans[0].split())
    if _is_number(text.replace(",", "")):
        return "number"
    if _DATE.match(text):
        return "date"
    return "span"
