"""Metrics and statistics behind every number of the book: arrays and strings in, numbers out.

The modules are pure functions with no file access and no plotting:

- :mod:`~evalbook.metrics.choice` and :mod:`~evalbook.metrics.calibration` score
  multiple-choice items from their option NLLs.
- :mod:`~evalbook.metrics.generative` and :mod:`~evalbook.metrics.drop` score generated answers.
- :mod:`~evalbook.metrics.stats` aggregates per-item scores with standard errors and intervals.
- :mod:`~evalbook.metrics.paired` compares two models on the same items.
- :mod:`~evalbook.metrics.registry` lists the per-item metrics.
"""

import logging

from evalbook.metrics.choice import (
    NO_PREDICTION,
    ChoicePredictions,
    ReliabilityDiagram,
    accuracy_score,
    brier_score_loss,
    brier_scores,
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
from evalbook.metrics.generative import (
    drop_answer_type,
    drop_exact_match,
    drop_f1,
    drop_scores,
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
from evalbook.metrics.paired import PairedComparison, mcnemar_exact, paired_comparison
from evalbook.metrics.registry import METRICS, MetricInfo, get_metric
from evalbook.metrics.stats import (
    Estimate,
    GroupEstimate,
    MacroEstimate,
    bootstrap_interval,
    clustered_estimate,
    macro_estimate,
    mean_estimate,
    micro_estimate,
    minimum_detectable_effect,
    wilson_interval,
    z_quantile,
)

logger = logging.getLogger(__name__)

__all__ = [
    "METRICS",
    "NO_PREDICTION",
    "ChoicePredictions",
    "Estimate",
    "GroupEstimate",
    "MacroEstimate",
    "MetricInfo",
    "PairedComparison",
    "ReliabilityDiagram",
    "accuracy_score",
    "bootstrap_interval",
    "brier_score_loss",
    "brier_scores",
    "chance_level",
    "choice_correct",
    "choice_predictions",
    "choice_probabilities",
    "clustered_estimate",
    "drop_answer_type",
    "drop_exact_match",
    "drop_f1",
    "drop_scores",
    "expected_calibration_error",
    "first_line",
    "get_metric",
    "gold_probability",
    "is_abstention",
    "is_empty_prediction",
    "length_normalized_nll",
    "macro_estimate",
    "mcnemar_exact",
    "mean_estimate",
    "micro_estimate",
    "minimum_detectable_effect",
    "multi_needle_recall",
    "needle_exact_match",
    "nll_matrix",
    "normalize_answer",
    "paired_comparison",
    "parse_gold_index",
    "parse_gold_letter",
    "quac_exact_match",
    "quac_f1",
    "reliability_diagram",
    "squad_exact_match",
    "squad_f1",
    "wilson_interval",
    "z_quantile",
]
