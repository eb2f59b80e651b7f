"""The metrics config of the sample: aggregates of the per-row metrics the generators wrote.

Values are averages of ``output_metrics`` as stored in the details tables, in percent. They
are not recomputed from predictions, so the book's scorers can be checked against them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from evalbook.registry import BENCHMARKS, Benchmark

__all__ = ["METRICS_SCHEMA", "build_metrics_table"]

logger = logging.getLogger(__name__)

METRICS_SCHEMA = pa.schema(
    [
        pa.field("benchmark_label", pa.string()),
        pa.field("metric_tag", pa.string()),
        pa.field("metric_value_computed", pa.float64()),
        pa.field("subtask_name", pa.string()),
        pa.field("num_samples", pa.int64()),
    ]
)
"""Columns of the sample's metrics config. ``subtask_name`` is null on aggregate rows."""

_SECONDARY_METRIC = {"em": "f1", "f1": "em"}
"""For tasks scored by EM and F1, the metric reported beside the headline one."""


def _metric_values(table: pa.Table, metric: str) -> np.ndarray:
    metrics = table.column("output_metrics").combine_chunks()
    return metrics.field(metric).to_numpy(zero_copy_only=False).astype(float)


def _row(
    benchmark: Benchmark, tag: str, values: np.ndarray, subtask: str | None = None
) -> dict[str, Any]:
    return {
        "benchmark_label": benchmark.label,
        "metric_tag": tag,
        "metric_value_computed": 100.0 * float(np.mean(values)),
        "subtask_name": subtask,
        "num_samples": len(values),
    }


def _benchmark_rows(benchmark: Benchmark, table: pa.Table) -> list[dict[str, Any]]:
    values = _metric_values(table, benchmark.metric)
    if benchmark.aggregation == "micro":
        rows = [_row(benchmark, benchmark.reported_tag, values)]
        secondary = _SECONDARY_METRIC.get(benchmark.metric)
        if secondary and secondary in table.schema.field("output_metrics").type.names:
            rows.append(_row(benchmark, secondary, _metric_values(table, secondary)))
        return rows

    subtasks = table.column("subtask_name").to_pylist()
    groups: dict[str, list[float]] = {}
    for subtask, value in zip(subtasks, values, strict=True):
        groups.setdefault(subtask, []).append(value)
    subtask_rows = [
        _row(benchmark, benchmark.metric, np.array(group), subtask)
        for subtask, group in groups.items()
    ]
    macro = {
        **_row(benchmark, benchmark.reported_tag, values),
        "metric_value_computed": float(
            np.mean([row["metric_value_computed"] for row in subtask_rows])
        ),
    }
    micro = _row(benchmark, f"micro_avg/{benchmark.metric}", values)
    return [macro, micro, *subtask_rows]


def build_metrics_table(details: Mapping[str, pa.Table]) -> pa.Table:
    """Return the metrics config computed from details tables keyed by task.

    Each benchmark gets its headline tag (``Benchmark.reported_tag``). MMLU and AGIEval
    also get ``micro_avg/acc_char`` and one ``acc_char`` row per subtask, and SQuAD, QuAC
    and DROP the other of EM and F1. A macro average is the mean of the subtask means.
    """
    rows = []
    for benchmark in BENCHMARKS:
        if benchmark.key in details:
            rows += _benchmark_rows(benchmark, details[benchmark.key])
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)
