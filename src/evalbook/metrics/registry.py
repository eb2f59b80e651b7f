"""Registry of the per-item metrics, keyed by name.

Generative metrics score one item: ``function(prediction, gold)``, where ``gold`` is the gold
list, or the single needle for ``needle_em``. Choice metrics are vectorized:
``function(nll, gold_index)`` takes the NLL matrix and the gold indices and returns one score
per item. Aggregate-only metrics (ECE, Brier score) are not per-item and are not listed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from evalbook.metrics.choice import choice_correct, gold_probability
from evalbook.metrics.generative import (
    drop_exact_match,
    drop_f1,
    multi_needle_recall,
    needle_exact_match,
    quac_exact_match,
    quac_f1,
    squad_exact_match,
    squad_f1,
)

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "MetricInfo", "get_metric"]


@dataclass(frozen=True)
class MetricInfo:
    """Facts about one per-item metric."""

    name: str
    higher_is_better: bool
    range: tuple[float, float]
    """Smallest and largest possible per-item score."""
    description: str
    function: Callable[..., Any]
    kind: Literal["generative", "choice"]
    """``generative``: ``function(prediction, gold)`` per item; ``choice``: vectorized."""


_ENTRIES = (
    MetricInfo(
        "squad_em", True, (0.0, 1.0), "SQuAD v2 exact match.", squad_exact_match, "generative"
    ),
    MetricInfo("squad_f1", True, (0.0, 1.0), "SQuAD v2 token F1.", squad_f1, "generative"),
    MetricInfo("quac_em", True, (0.0, 1.0), "QuAC exact match.", quac_exact_match, "generative"),
    MetricInfo("quac_f1", True, (0.0, 1.0), "QuAC token F1.", quac_f1, "generative"),
    MetricInfo("drop_em", True, (0.0, 1.0), "DROP exact match.", drop_exact_match, "generative"),
    MetricInfo(
        "drop_f1", True, (0.0, 1.0), "DROP F1 over aligned answer spans.", drop_f1, "generative"
    ),
    MetricInfo(
        "needle_em",
        True,
        (0.0, 1.0),
        "Exact match of the first line with the hidden needle.",
        needle_exact_match,
        "generative",
    ),
    MetricInfo(
        "multi_needle_recall",
        True,
        (0.0, 1.0),
        "Fraction of hidden needles found anywhere in the generation.",
        multi_needle_recall,
        "generative",
    ),
    MetricInfo(
        "choice_acc",
        True,
        (0.0, 1.0),
        "1 when the option with the smallest NLL is the gold option.",
        choice_correct,
        "choice",
    ),
    MetricInfo(
        "choice_p_gold",
        True,
        (0.0, 1.0),
        "Probability of the gold option, softmax of the negated raw NLLs.",
        gold_probability,
        "choice",
    ),
)

METRICS: dict[str, MetricInfo] = {entry.name: entry for entry in _ENTRIES}


def get_metric(name: str) -> MetricInfo:
    """Return the metric registered under ``name``.

    Raises
    ------
    KeyError
        If no metric has that name; the message lists the known names.

    Examples
    --------
    >>> get_metric("drop_f1").higher_is_better
    True
    """
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None
