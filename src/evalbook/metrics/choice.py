"""Metrics for multiple-choice items scored by likelihood (MMLU, ARC-Challenge, AGIEval).

An item's scores are the negative log-likelihoods (NLL) of its options, one row per item in a
matrix padded with NaN on the right for items with fewer options (3 to 5 options occur).
The prediction is the option with the smallest NLL, and P(gold) is the softmax of the negated
NLLs at the gold option. The calibration metrics live in
:mod:`evalbook.metrics.calibration` and are importable from here too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evalbook.metrics._validation import (
    check_indices,
    check_nll_matrix,
    check_same_length,
    check_text,
)
from evalbook.metrics.calibration import (
    ReliabilityDiagram,
    brier_score_loss,
    brier_scores,
    expected_calibration_error,
    reliability_diagram,
)

logger = logging.getLogger(__name__)

__all__ = [
    "NO_PREDICTION",
    "ChoicePredictions",
    "ReliabilityDiagram",
    "accuracy_score",
    "brier_score_loss",
    "brier_scores",
    "chance_level",
    "choice_correct",
    "choice_predictions",
    "choice_probabilities",
    "expected_calibration_error",
    "gold_probability",
    "length_normalized_nll",
    "nll_matrix",
    "parse_gold_index",
    "parse_gold_letter",
    "reliability_diagram",
]

NO_PREDICTION = -1
"""Predicted index of an item without a usable prediction; it counts as wrong."""

# "Answer: C", "answer:(c)", "C", "(C)", "C." or "C)", with any surrounding whitespace.
_GOLD_LETTER = re.compile(
    r"^\s*(?:answer\s*:?\s*)?(?:\(\s*(?P<bracketed>[a-z])\s*\)|(?P<bare>[a-z])[.)]?)\s*$",
    re.IGNORECASE,
)


def parse_gold_letter(text: str, *, letters: Sequence[str] | None = None) -> str:
    """Parse the gold letter from an entry of ``input_correct_responses``.

    Parameters
    ----------
    text : str
        ``"Answer: C"``, ``"C"``, ``"(C)"``, ``"C."`` or ``" c "``, in any case.
    letters : sequence of str, optional
        The item's option letters (the keys of ``input_choice_list``). When given, the parsed
        letter must be one of them.

    Returns
    -------
    str
        The letter in upper case.

    Raises
    ------
    ValueError
        If ``text`` is not one of the forms above, or the letter is not in ``letters``.

    Examples
    --------
    >>> [parse_gold_letter(text) for text in ["Answer: C", "(b)", " e "]]
    ['C', 'B', 'E']
    """
    match = _GOLD_LETTER.match(check_text(text, name="text"))
    if match is None:
        raise ValueError(
            f"cannot parse a gold letter from {text!r}: expected a form such as 'Answer: C', "
            "'C' or '(C)'"
        )

    letter = (match["bracketed"] or match["bare"]).upper()
    if letters is not None:
        options = [option.strip().upper() for option in letters]
        if letter not in options:
            raise ValueError(
                f"gold letter {letter!r} of {text!r} is not among the item's options "
                f"{', '.join(options)}"
            )
    return letter


def parse_gold_index(text: str, *, letters: Sequence[str]) -> int:
    """Return the position of the gold letter of ``text`` among the item's ``letters``.

    Examples
    --------
    >>> parse_gold_index("Answer: C", letters=["A", "B", "C", "D"])
    2
    """
    letter = parse_gold_letter(text, letters=letters)
    return [option.strip().upper() for option in letters].index(letter)


def nll_matrix(rows: Sequence[ArrayLike]) -> np.ndarray:
    """Stack per-item NLL lists of different lengths into a matrix padded with NaN.

    Examples
    --------
    >>> nll_matrix([[1.0, 2.0, 3.0], [0.5, 0.25]])
    array([[1.  , 2.  , 3.  ],
           [0.5 , 0.25,  nan]])
    """
    lists = [np.asarray(row, dtype=float).ravel() for row in rows]
    if not lists:
        raise ValueError("rows is empty: at least one item is needed")

    width = max(len(row) for row in lists)
    matrix = np.full((len(lists), width), np.nan)
    for index, row in enumerate(lists):
        matrix[index, : len(row)] = row
    return matrix


def length_normalized_nll(nll: ArrayLike, lengths: ArrayLike) -> np.ndarray:
    """Divide each option's NLL by the length of its completion (e.g. in characters).

    Dividing by the character length gives the ``char`` normalization that ``acc_char`` is
    usually read as. Raw NLL favours short completions, because every extra token adds to it,
    while the normalized NLL compares the likelihood per character.

    Examples
    --------
    >>> length_normalized_nll(np.array([[2.0, 3.0]]), np.array([[2, 6]]))
    array([[1. , 0.5]])
    """
    matrix, _ = check_nll_matrix(nll)
    sizes = np.asarray(lengths, dtype=float)
    if sizes.shape != matrix.shape:
        raise ValueError(f"lengths has shape {sizes.shape}, but nll has shape {matrix.shape}")

    present = ~np.isnan(matrix)
    bad = present & ~(np.isfinite(sizes) & (sizes > 0))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"lengths[{row}, {column}] is {sizes[row, column]}: every option needs a positive "
            "completion length"
        )
    return np.where(present, matrix / np.where(present, sizes, 1.0), np.nan)


@dataclass(frozen=True)
class ChoicePredictions:
    """Predicted option of each item, with tie flags and option counts."""

    index: np.ndarray
    """Position of the option with the smallest NLL; ties go to the first of them."""
    is_tie: np.ndarray
    """True where two or more options share the smallest NLL."""
    n_options: np.ndarray
    """Number of options of each item (non-NaN entries of its row)."""

    @property
    def n_ties(self) -> int:
        """Number of items whose prediction was decided by a tie."""
        return int(self.is_tie.sum())


def choice_predictions(nll: ArrayLike) -> ChoicePredictions:
    """Predict the option with the smallest NLL for each item.

    Parameters
    ----------
    nll : array of shape (n_items, max_options)
        NLL per option, padded with NaN on the right. ``+inf`` means probability 0.

    Returns
    -------
    ChoicePredictions

    Raises
    ------
    ValueError
        If a row has no finite NLL, fewer than two options, NaN between options, or ``-inf``.
        The message names the row.

    Examples
    --------
    >>> predictions = choice_predictions(np.array([[2.0, 1.0, 3.0], [1.5, 1.5, np.nan]]))
    >>> predictions.index, predictions.is_tie, predictions.n_options
    (array([1, 0]), array([False,  True]), array([3, 2]))
    """
    matrix, n_options = check_nll_matrix(nll)
    filled = np.where(np.isnan(matrix), np.inf, matrix)

    # np.argmin returns the first minimum, which is the documented tie rule.
    index = np.argmin(filled, axis=1)
    smallest = filled[np.arange(len(filled)), index]
    is_tie = (filled == smallest[:, None]).sum(axis=1) > 1
    return ChoicePredictions(index=index, is_tie=is_tie, n_options=n_options)


def choice_probabilities(raw_nll: ArrayLike) -> np.ndarray:
    """Return softmax(-NLL) over each item's options, with 0 on the padding.

    Computed with the log-sum-exp shift, so large NLLs do not underflow to a row of zeros.

    Examples
    --------
    >>> choice_probabilities(np.array([[np.log(2), np.log(2), np.nan]]))
    array([[0.5, 0.5, 0. ]])
    """
    matrix, _ = check_nll_matrix(raw_nll, name="raw_nll")
    present = ~np.isnan(matrix)

    logits = np.where(present, -matrix, -np.inf)
    shift = logits.max(axis=1, keepdims=True)
    weights = np.exp(logits - shift)
    return weights / weights.sum(axis=1, keepdims=True)


def _check_gold_index(gold_index: object, n_options: np.ndarray) -> np.ndarray:
    gold = check_indices(gold_index, name="gold_index")
    check_same_length(gold_index=gold, nll=n_options)
    bad = gold >= n_options
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"gold_index[{row}] is {gold[row]}, but item {row} has only {n_options[row]} options"
        )
    return gold


def gold_probability(raw_nll: ArrayLike, gold_index: ArrayLike) -> np.ndarray:
    """Return the probability of the gold option, softmax(-raw NLL)[gold], for each item.

    P(gold) is a continuous per-item score with lower variance than 0/1 accuracy.
    Range: [0, 1]. Best value: 1.

    Examples
    --------
    >>> gold_probability(np.array([[np.log(4), np.log(4 / 3), np.nan]]), np.array([1]))
    array([0.75])
    """
    probabilities = choice_probabilities(raw_nll)
    n_options = (~np.isnan(np.asarray(raw_nll, dtype=float))).sum(axis=1)
    gold = _check_gold_index(gold_index, n_options)
    return probabilities[np.arange(len(gold)), gold]


def choice_correct(nll: ArrayLike, gold_index: ArrayLike) -> np.ndarray:
    """Return 1.0 where the option with the smallest NLL is the gold option, else 0.0.

    Range: 0 or 1 per item. Best value: 1.

    Examples
    --------
    >>> choice_correct(np.array([[2.0, 1.0], [1.0, 1.0]]), np.array([1, 1]))
    array([1., 0.])
    """
    predictions = choice_predictions(nll)
    gold = _check_gold_index(gold_index, predictions.n_options)
    return (predictions.index == gold).astype(float)


def accuracy_score(predicted_index: ArrayLike, gold_index: ArrayLike) -> float:
    """Return the fraction of items whose predicted index equals the gold index.

    An item without a prediction has the index :data:`NO_PREDICTION` (-1). It counts as
    wrong and stays in the denominator, so 3 correct out of 6 items with 2 missing
    predictions is 0.5, not 0.75.

    Range: [0, 1]. Best value: 1.

    Examples
    --------
    >>> accuracy_score([0, 1, 2, 0, NO_PREDICTION, NO_PREDICTION], [0, 1, 2, 1, 0, 3])
    0.5
    """
    predicted = check_indices(predicted_index, name="predicted_index", allow=NO_PREDICTION)
    gold = check_indices(gold_index, name="gold_index")
    check_same_length(predicted_index=predicted, gold_index=gold)
    return float(np.mean(predicted == gold))


def chance_level(n_options: ArrayLike) -> np.ndarray:
    """Return the accuracy of uniform guessing, 1 / number of options, for each item.

    Examples
    --------
    >>> chance_level([3, 4, 5])
    array([0.333, 0.25 , 0.2  ])
    """
    counts = check_indices(n_options, name="n_options")
    if (counts == 0).any():
        row = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"n_options[{row}] is 0: every item needs at least one option")
    return 1.0 / counts
