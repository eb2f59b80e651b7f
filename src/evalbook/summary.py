"""Aggregate a benchmark's per-item table into estimates with n, standard error and 95% CI.

One row per (metric, aggregation): the micro average over items and, where the benchmark has
subtasks, the macro average over subtask means. Items that share a passage, dialogue or haystack
get a clustered standard error; the table keeps the plain SE and the cluster count beside it.
Values are in percent.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from evalbook.metrics import stats
from evalbook.registry import Benchmark

__all__ = ["SUMMARY_COLUMNS", "item_metrics", "summarize"]

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "model",
    "benchmark",
    "metric",
    "aggregation",
    "n_items",
    "value",
    "se",
    "ci_low",
    "ci_high",
    "reported",
)
"""Columns of ``summary.csv``; values, SEs and interval bounds in percent."""

DETAIL_COLUMNS = (
    "se_method",
    "plain_se",
    "n_clusters",
    "se_ratio",
    "n_groups",
    "mde",
    "headline",
)
"""Further columns of a benchmark's own summary file and results table."""


def item_metrics(items: pd.DataFrame, benchmark: Benchmark) -> list[str]:
    """Return the per-item metric columns of ``items``, the headline metric first.

    ``is_correct`` is Meta's stored flag (``meta_is_correct``), listed when the dump has it.
    The headline metric is missing when the dump lacks its inputs (a choice task without
    ``char`` NLLs); the other metrics are then still summarized.
    """
    candidates = [benchmark.metric, "acc_char", "acc_raw", "acc_token", "em", "f1", "recall"]
    candidates += sorted(
        column for column in items.columns if column.startswith("acc_") and column not in candidates
    )
    metrics = [name for name in dict.fromkeys(candidates) if name in items.columns]
    if not metrics:
        raise ValueError(f"{benchmark.label}: the per-item table has no metric column.")
    if "meta_is_correct" in items.columns and items["meta_is_correct"].notna().any():
        metrics.append("is_correct")
    return metrics


def summarize(items: pd.DataFrame, benchmark: Benchmark, *, model: str) -> pd.DataFrame:
    """Return the estimates of every metric of ``items`` (see the module docstring).

    The ``reported`` column is left empty; :mod:`evalbook.reported` fills it.
    """
    subtasks = items["subtask"].astype(str)
    has_groups = len(set(subtasks)) > 1
    clusters = items["cluster"] if benchmark.cluster and "cluster" in items.columns else None

    rows = []
    for metric in item_metrics(items, benchmark):
        column = "meta_is_correct" if metric == "is_correct" else metric
        # Only Meta's stored flag can be null (a row without is_correct); it is left out.
        present = items[column].notna().to_numpy()
        scores = items[column].to_numpy(dtype=float)[present]
        headline = metric == benchmark.metric

        plain = stats.mean_estimate(scores)
        micro = plain
        if clusters is not None:
            micro = stats.clustered_estimate(scores, clusters.to_numpy()[present])
        micro = _bounded(micro, scores)
        rows.append(
            _row(
                micro,
                plain,
                benchmark,
                model,
                metric,
                "micro",
                headline=headline and benchmark.aggregation == "micro",
            )
        )

        if has_groups:
            macro = stats.macro_estimate(scores, subtasks.to_numpy()[present])
            rows.append(
                _row(
                    macro.estimate,
                    macro.estimate,
                    benchmark,
                    model,
                    metric,
                    "macro",
                    headline=headline and benchmark.aggregation == "macro",
                    n_groups=len(macro.groups),
                )
            )
        elif headline and benchmark.aggregation == "macro":
            logger.info(
                "%s has one subtask; its macro average is the micro average", benchmark.label
            )
            rows[-1]["headline"] = True
    return pd.DataFrame(rows)


def _bounded(estimate: stats.Estimate, scores: np.ndarray) -> stats.Estimate:
    """Return the estimate with the Wilson interval when the normal one leaves [0, 1].

    That happens for 0/1 scores with a mean near 0 or 1 and few items (a needle task at 98%);
    the Wilson interval stays inside the range. The SE is kept, and the method says so.
    """
    inside = estimate.ci_low >= 0.0 and estimate.ci_high <= 1.0
    if inside or not np.isin(scores, (0.0, 1.0)).all():
        return estimate
    low, high = stats.wilson_interval(int(scores.sum()), len(scores))
    method = (
        f"{estimate.method}; Wilson interval (which ignores clusters), "
        "as the normal one leaves [0, 1]"
    )
    return replace(estimate, ci_low=low, ci_high=high, method=method)


def _row(
    estimate: stats.Estimate,
    plain: stats.Estimate,
    benchmark: Benchmark,
    model: str,
    metric: str,
    aggregation: str,
    *,
    headline: bool,
    n_groups: int | None = None,
) -> dict[str, object]:
    percent = estimate.scaled(100.0)
    return {
        "model": model,
        "benchmark": benchmark.key,
        "metric": metric,
        "aggregation": aggregation,
        "n_items": estimate.n,
        "value": percent.value,
        "se": percent.se,
        "ci_low": percent.ci_low,
        "ci_high": percent.ci_high,
        "reported": np.nan,
        "se_method": estimate.method,
        "plain_se": 100.0 * plain.se,
        "n_clusters": estimate.n_clusters,
        "se_ratio": estimate.se_ratio,
        "n_groups": n_groups,
        # The smallest true difference from a fixed number that a two-sided test at 5% finds
        # with 80% power, given this SE.
        "mde": stats.minimum_detectable_effect(percent.se),
        "headline": headline,
    }
