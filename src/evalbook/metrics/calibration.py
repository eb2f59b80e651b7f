"""Calibration of choice predictions: expected calibration error, reliability diagram, Brier.

Confidence is the largest option probability of an item (see
:func:`evalbook.metrics.choice.choice_probabilities`), and ``correct`` is 1 where that
option is the gold one and 0 elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evalbook.metrics._validation import (
    check_binary,
    check_indices,
    check_positive_int,
    check_same_length,
    check_scores,
)

logger = logging.getLogger(__name__)

# Rows of a probability matrix must sum to 1 within this tolerance, which allows for float
# rounding in a softmax but not for a missing option.
_ROW_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Equal-width confidence bins with the accuracy and mean confidence of each bin.

    Bin ``b`` covers ``(bin_edges[b], bin_edges[b + 1]]``, and the first bin also contains 0.
    Empty bins have NaN mean confidence and accuracy.
    """

    bin_edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def n(self) -> int:
        """Number of items over all bins."""
        return int(self.counts.sum())


def _check_confidence_and_correct(
    confidence: object, correct: object
) -> tuple[np.ndarray, np.ndarray]:
    values = check_scores(confidence, name="confidence")
    outcomes = check_binary(correct, name="correct")
    check_same_length(confidence=values, correct=outcomes)

    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise ValueError(f"confidence[{index}] is {values[index]}: probabilities lie in [0, 1]")
    return values, outcomes


def reliability_diagram(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10
) -> ReliabilityDiagram:
    """Bin items by confidence into ``n_bins`` equal-width bins over [0, 1].

    Examples
    --------
    >>> diagram = reliability_diagram([0.95, 0.9, 0.55, 0.6], [1, 0, 1, 1], n_bins=2)
    >>> diagram.counts, diagram.mean_confidence, diagram.accuracy
    (array([0, 4]), array([  nan, 0.75]), array([ nan, 0.75]))
    """
    values, outcomes = _check_confidence_and_correct(confidence, correct)
    n_bins = check_positive_int(n_bins, name="n_bins")

    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" puts a confidence equal to an inner edge into the lower bin: bins are (lo, hi].
    bins = np.searchsorted(edges[1:-1], values, side="left")
    counts = np.bincount(bins, minlength=n_bins)
    confidence_sums = np.bincount(bins, weights=values, minlength=n_bins)
    correct_sums = np.bincount(bins, weights=outcomes, minlength=n_bins)

    nonempty = counts > 0
    safe_counts = np.where(nonempty, counts, 1)
    mean_confidence = np.where(nonempty, confidence_sums / safe_counts, np.nan)
    accuracy = np.where(nonempty, correct_sums / safe_counts, np.nan)
    return ReliabilityDiagram(edges, counts, mean_confidence, accuracy)


def expected_calibration_error(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10
) -> float:
    """Compute the expected calibration error with equal-width bins.

    ECE = sum over bins b of (n_b / n) * |accuracy_b - mean confidence_b|, with the bins of
    :func:`reliability_diagram`. Empty bins add nothing.

    Range: [0, 1]. Best value: 0.

    Examples
    --------
    >>> # Bin (0.5, 1]: 4 items, accuracy 3/4, mean confidence 0.75, so ECE = 0.
    >>> expected_calibration_error([0.95, 0.9, 0.55, 0.6], [1, 0, 1, 1], n_bins=2)
    0.0
    >>> # Bin (0.8, 0.9]: 2 items, accuracy 1/2, confidence 0.85, so ECE = 2/2 * 0.35.
    >>> expected_calibration_error([0.85, 0.85], [1, 0])
    0.35
    """
    diagram = reliability_diagram(confidence, correct, n_bins=n_bins)
    nonempty = diagram.counts > 0
    weights = diagram.counts[nonempty] / diagram.n
    gaps = np.abs(diagram.accuracy[nonempty] - diagram.mean_confidence[nonempty])
    return float(np.sum(weights * gaps))


def brier_score_loss(probabilities: ArrayLike, gold_index: ArrayLike) -> float:
    """Compute the multi-class Brier score, averaged over items.

    The mean of :func:`brier_scores`. Range: [0, 2]. Best value: 0.

    Examples
    --------
    >>> # (0.7 - 1)^2 + 0.2^2 + 0.1^2 = 0.14 and (0.5 - 1)^2 + 0.5^2 = 0.5; mean 0.32.
    >>> brier_score_loss(np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]]), np.array([0, 1]))
    0.32
    """
    return float(np.mean(brier_scores(probabilities, gold_index)))


def brier_scores(probabilities: ArrayLike, gold_index: ArrayLike) -> np.ndarray:
    """Compute the multi-class Brier score of each item.

    Each item scores sum over options k of (p_k - y_k)^2, where y is 1 at the gold option and 0
    elsewhere: Brier's original definition over all options. Padding columns hold 0 and add
    nothing. For two options this is twice the one-class binary form (p - y)^2.

    Range: [0, 2] per item. Best value: 0.

    Examples
    --------
    >>> brier_scores(np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]]), np.array([0, 1]))
    array([0.14, 0.5 ])
    """
    matrix = np.asarray(probabilities, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(
            f"probabilities must be a non-empty 2-D array (items x options), found shape "
            f"{matrix.shape}"
        )

    invalid = ~np.isfinite(matrix) | (matrix < 0.0) | (matrix > 1.0)
    if invalid.any():
        row = int(np.argwhere(invalid)[0][0])
        raise ValueError(
            f"probabilities row {row} is {matrix[row].tolist()}: values must lie in [0, 1], "
            "with 0 (not NaN) on padding; use choice_probabilities to build them"
        )
    off = np.abs(matrix.sum(axis=1) - 1.0) > _ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"probabilities row {row} sums to {matrix[row].sum()}, not 1: pass the "
            "probabilities of all of the item's options"
        )

    gold = check_indices(gold_index, name="gold_index")
    check_same_length(gold_index=gold, probabilities=matrix)
    if (gold >= matrix.shape[1]).any():
        row = int(np.flatnonzero(gold >= matrix.shape[1])[0])
        raise ValueError(f"gold_index[{row}] is {gold[row]}, beyond the {matrix.shape[1]} columns")

    target = np.zeros_like(matrix)
    target[np.arange(len(gold)), gold] = 1.0
    return np.sum((matrix - target) ** 2, axis=1)
