"""Paired comparison of two sets of per-item scores on the same questions.

Two dumps scored on the same items are paired data: an item's difficulty affects both scores.
So the comparison uses the per-item differences d_i = s_A,i - s_B,i and, for 0/1 scores, the
exact McNemar test. An unpaired two-proportion test ignores the pairing and gives wrong p-values.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from math import sqrt

import numpy as np
from numpy.typing import ArrayLike

from evalbook.metrics._validation import (
    check_confidence,
    check_count,
    check_labels,
    check_same_length,
    check_scores,
    is_binary,
)
from evalbook.metrics.stats import Estimate, mean_estimate, minimum_detectable_effect

logger = logging.getLogger(__name__)

__all__ = ["PairedComparison", "mcnemar_exact", "paired_comparison"]


def mcnemar_exact(b: int, c: int) -> float:
    """Return the two-sided exact McNemar p-value for discordant counts ``b`` and ``c``.

    p = min(1, 2 * BinomCDF(min(b, c); b + c, 1/2)), and p = 1 when there are no discordant
    items. ``b`` counts items right only for A and ``c`` items right only for B.

    Examples
    --------
    >>> mcnemar_exact(20, 6)
    0.00936
    >>> mcnemar_exact(0, 0)
    1.0
    """
    b = check_count(b, name="b")
    c = check_count(c, name="c")
    if b + c == 0:
        return 1.0
    from scipy.stats import binom  # imported here: scipy.stats takes about a second to load

    return float(min(1.0, 2 * binom.cdf(min(b, c), b + c, 0.5)))


@dataclass(frozen=True)
class PairedComparison:
    """Result of comparing model A with model B on the items they share."""

    n: int
    """Number of matched items."""
    n_unmatched_a: int
    """Items of A whose id is not among B's ids; they are left out of every statistic."""
    n_unmatched_b: int
    mean_a: float
    mean_b: float
    difference: Estimate
    """Mean of d = A - B with the paired SE sd(d, ddof=1) / sqrt(n) and a normal interval."""
    correlation: float
    """Pearson correlation of A's and B's scores; NaN when either is constant."""
    mde: float
    """Minimum detectable effect of the difference at 80% power."""
    mcnemar_p: float | None
    """Exact McNemar p-value; None unless all scores are 0 or 1."""
    only_a_correct: tuple[Hashable, ...] | None
    """Ids right for A and wrong for B (the count b); None unless all scores are 0 or 1."""
    only_b_correct: tuple[Hashable, ...] | None
    """Ids right for B and wrong for A (the count c)."""


def _check_unique(ids: list[Hashable], name: str) -> None:
    counts = Counter(ids)
    duplicated = next((item for item, count in counts.items() if count > 1), None)
    if duplicated is not None:
        raise ValueError(
            f"{name} contains {duplicated!r} {counts[duplicated]} times: each item must appear "
            "once. Drop duplicated rows, or match on the prompt hash if questions repeat."
        )


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    # Computed directly, because scipy and numpy warn on constant input and NaN is the answer.
    dx = x - x.mean()
    dy = y - y.mean()
    denominator = sqrt(float(np.sum(dx**2)) * float(np.sum(dy**2)))
    if denominator == 0.0:
        return float("nan")
    return float(np.sum(dx * dy) / denominator)


def paired_comparison(
    ids_a: Iterable[Hashable],
    scores_a: ArrayLike,
    ids_b: Iterable[Hashable],
    scores_b: ArrayLike,
    *,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare two models item by item, matching items by id (e.g. ``input_question_hash``).

    Only items present in both are compared, and the result reports how many were unmatched
    on each side. The MDE uses alpha = 1 - ``confidence``.

    Raises
    ------
    ValueError
        If an id occurs twice on one side (the message names it), or no id is shared.

    Examples
    --------
    >>> result = paired_comparison(["q1", "q2", "q3", "q4"], [1, 1, 0, 1],
    ...                            ["q4", "q3", "q2", "q1"], [1, 0, 0, 0])
    >>> result.difference.value, result.only_a_correct, result.only_b_correct
    (0.5, ('q1', 'q2'), ())
    """
    confidence = check_confidence(confidence)
    labels_a = check_labels(ids_a, name="ids_a")
    labels_b = check_labels(ids_b, name="ids_b")
    values_a = check_scores(scores_a, name="scores_a")
    values_b = check_scores(scores_b, name="scores_b")
    check_same_length(ids_a=labels_a, scores_a=values_a)
    check_same_length(ids_b=labels_b, scores_b=values_b)
    _check_unique(labels_a, "ids_a")
    _check_unique(labels_b, "ids_b")

    position_b = {label: index for index, label in enumerate(labels_b)}
    pairs = [
        (index, position_b[label]) for index, label in enumerate(labels_a) if label in position_b
    ]
    if not pairs:
        raise ValueError(
            "ids_a and ids_b share no id, so nothing can be paired; check that both use the "
            "same hash column"
        )

    rows_a, rows_b = (np.array(rows) for rows in zip(*pairs, strict=True))
    matched_a, matched_b = values_a[rows_a], values_b[rows_b]
    n = len(pairs)
    n_unmatched_a, n_unmatched_b = len(labels_a) - n, len(labels_b) - n
    if n_unmatched_a or n_unmatched_b:
        logger.warning(
            "paired %d items; %d of A and %d of B have no partner and are left out",
            n,
            n_unmatched_a,
            n_unmatched_b,
        )

    difference = replace(
        mean_estimate(matched_a - matched_b, confidence=confidence), method="paired"
    )

    p_value = only_a = only_b = None
    if is_binary(matched_a) and is_binary(matched_b):
        matched_ids = [labels_a[index] for index in rows_a]
        only_a = tuple(
            i for i, a, b in zip(matched_ids, matched_a, matched_b, strict=True) if a > b
        )
        only_b = tuple(
            i for i, a, b in zip(matched_ids, matched_a, matched_b, strict=True) if a < b
        )
        p_value = mcnemar_exact(len(only_a), len(only_b))

    return PairedComparison(
        n=n,
        n_unmatched_a=n_unmatched_a,
        n_unmatched_b=n_unmatched_b,
        mean_a=float(matched_a.mean()),
        mean_b=float(matched_b.mean()),
        difference=difference,
        correlation=_pearson(matched_a, matched_b),
        mde=minimum_detectable_effect(difference.se, alpha=1 - confidence),
        mcnemar_p=p_value,
        only_a_correct=only_a,
        only_b_correct=only_b,
    )
