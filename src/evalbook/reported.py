"""Compare Meta's reported numbers with the book's recomputed estimates.

Meta publishes each headline number twice: in the dump's metrics config
(``metric_value_computed``) and in the model card. This module reads both, matches each
reported value to the recomputed estimate of the same quantity and decides whether the two
agree within a few standard errors. When they differ, it tests the usual explanations in a fixed
order: a percent/fraction scale mix-up, macro against micro averaging, a different metric
(``is_correct`` is exact match where the card reports F1), a different likelihood normalization,
and a different item count.

All functions take and return DataFrames and do no I/O, except :func:`model_card`, which reads
the table shipped with the package, and :func:`export_comparison`, which writes files.

Values are in percent. The recomputed table has one row per (model, benchmark, metric,
aggregation) with the columns ``model, benchmark, metric, aggregation, n_items, value, se,
ci_low, ci_high``, and optionally ``subtask`` for subtask-level rows.
"""

from __future__ import annotations

import logging
import math
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd

from evalbook._files import write_atomic
from evalbook.registry import benchmark_for_label
from evalbook.summary import SUMMARY_COLUMNS

__all__ = [
    "CAUSES",
    "COMPARISON_COLUMNS",
    "METRICS",
    "VERDICTS",
    "MetricTag",
    "MissingMetricError",
    "attach_reported",
    "compare_model_card",
    "compare_reported",
    "export_comparison",
    "model_card",
    "model_card_value",
    "parse_metric_tag",
    "repair_scale",
    "reported_values",
]

logger = logging.getLogger(__name__)

AGGREGATIONS = ("micro", "macro")

METRICS = ("acc_char", "acc_raw", "acc_token", "acc", "em", "f1", "recall", "is_correct")
"""Per-item metrics that a metric tag may name. ``acc`` stays distinct from ``acc_char``."""

NORMALIZATIONS = ("acc_char", "acc_raw", "acc_token")
"""Choice accuracies that differ only in how each choice's NLL is length-normalized."""

_AGGREGATION_PREFIXES = {"macro_avg": "macro", "average": "macro", "micro_avg": "micro"}

VERDICTS = ("agrees", "small difference", "differs", "not recomputed", "not reported")

CAUSES = (
    "scale",
    "aggregation",
    "metric",
    "normalization",
    "item_count",
    "unexplained",
    "missing_metric",
    "unknown_tag",
    "unknown_benchmark",
    "no_recomputed_rows",
    "no_reported_value",
)
"""Values of the ``cause`` column, the machine-readable form of ``likely_cause``."""

COMPARISON_COLUMNS = (
    "model",
    "benchmark",
    "label",
    "subtask",
    "metric_tag",
    "reported",
    "reported_scale_fix",
    "compared_with",
    "recomputed",
    "se",
    "ci_low",
    "ci_high",
    "n_items",
    "difference",
    "difference_se",
    "verdict",
    "cause",
    "likely_cause",
)

RECOMPUTED_COLUMNS = tuple(column for column in SUMMARY_COLUMNS if column != "reported")
"""Columns a recomputed table needs: those of ``summary.csv`` but the reported value."""
METRICS_CONFIG_COLUMNS = ("benchmark_label", "metric_tag", "metric_value_computed")
MODEL_CARD_COLUMNS = (
    "model",
    "benchmark_label",
    "shots",
    "metric_tag",
    "value_as_printed",
    "source",
)
REPORTED_COLUMNS = ("model", "label", "metric_tag", "reported")


class MissingMetricError(ValueError):
    """A reported tag names a metric that the recomputed table lacks for that benchmark."""


class MetricTag(NamedTuple):
    """Aggregation and per-item metric that a ``metric_tag`` names; both None when unknown."""

    aggregation: str | None
    metric: str | None

    @property
    def mapped(self) -> bool:
        """Whether the tag was recognised."""
        return self.metric is not None


# ---------------------------------------------------------------------------------------------
# Metric tags and reported values
# ---------------------------------------------------------------------------------------------


def parse_metric_tag(tag: str) -> MetricTag:
    """Split a metrics-config ``metric_tag`` into its aggregation and per-item metric.

    A bare metric (``acc_char``, ``em``, ``f1``) is an average over all items, so it is read as
    ``micro``. ``macro_avg/`` averages subtask means. ``average/`` is read as ``macro`` too:
    the card uses it only for AGIEval English, described as an average over the English exams.
    ``acc`` is kept as its own metric, never folded into ``acc_char``. A tag with another
    prefix or metric returns ``MetricTag(None, None)``, so the caller keeps the row as unmapped.

    Examples
    --------
    >>> parse_metric_tag("macro_avg/acc_char")
    MetricTag(aggregation='macro', metric='acc_char')
    >>> parse_metric_tag("f1")
    MetricTag(aggregation='micro', metric='f1')
    >>> parse_metric_tag("rougeL").mapped
    False
    """
    if not isinstance(tag, str):
        return MetricTag(None, None)

    parts = tag.strip().split("/")
    if len(parts) == 1:
        aggregation, metric = "micro", parts[0]
    elif len(parts) == 2 and parts[0] in _AGGREGATION_PREFIXES:
        # NOTE: reading "average/" as an unweighted mean over AGIEval's exams is an assumption;
        # Meta does not define it. An item-weighted average would be "micro".
        aggregation, metric = _AGGREGATION_PREFIXES[parts[0]], parts[1]
    else:
        return MetricTag(None, None)

    if metric not in METRICS:
        return MetricTag(None, None)
    return MetricTag(aggregation, metric)


def reported_values(
    metrics_config: pd.DataFrame,
    *,
    model: str,
    level: Literal["headline", "subtask"] = "headline",
) -> pd.DataFrame:
    """Select the reported values of one model's metrics config and map them to the registry.

    Parameters
    ----------
    metrics_config : DataFrame
        The dump's metrics config as read. It needs ``benchmark_label``, ``metric_tag`` and
        ``metric_value_computed`` (percent). ``subtask_name`` and ``num_samples`` are used when
        present; other columns are ignored.
    model : str
        Model name written into the ``model`` column, e.g. ``"Llama-3.2-1B"``.
    level : {"headline", "subtask"}
        ``"headline"`` returns the benchmark-level rows (every tag, micro averages included).
        ``"subtask"`` returns the subtask-level rows, for a subtask table.

    Returns
    -------
    DataFrame
        Columns ``model, benchmark, label, subtask, metric_tag, aggregation, metric, reported,
        num_samples, card_metric``. ``benchmark`` is the registry key, or None for a label the
        registry does not know. ``aggregation`` and ``metric`` are None for an unknown tag.
        ``card_metric`` is True for the tag that the model card prints for the benchmark.

    Raises
    ------
    ValueError
        If a required column is missing, a value is not a number, or ``level`` is invalid.
    """
    _require_columns(metrics_config, METRICS_CONFIG_COLUMNS, "metrics_config")
    if level not in ("headline", "subtask"):
        raise ValueError(f"invalid level {level!r}; use 'headline' or 'subtask'")

    labels = metrics_config["benchmark_label"].astype("object")
    values = _to_numbers(metrics_config["metric_value_computed"], "metric_value_computed")
    subtasks = _subtask_names(metrics_config, labels)

    benchmarks = [_benchmark_key(label) for label in labels]
    tags = [parse_metric_tag(tag) for tag in metrics_config["metric_tag"]]
    card_metric = [
        key is not None and benchmark_for_label(label).reported_tag == tag
        for key, label, tag in zip(benchmarks, labels, metrics_config["metric_tag"], strict=True)
    ]
    if "num_samples" in metrics_config.columns:
        num_samples = pd.to_numeric(metrics_config["num_samples"], errors="coerce")
        num_samples = num_samples.astype("Int64").array
    else:
        num_samples = pd.array([pd.NA] * len(metrics_config), dtype="Int64")

    table = pd.DataFrame(
        {
            "model": model,
            "benchmark": pd.Series(benchmarks, dtype="object"),
            "label": labels.to_numpy(),
            "subtask": pd.Series(subtasks, dtype="object"),
            "metric_tag": metrics_config["metric_tag"].to_numpy(),
            "aggregation": pd.Series([tag.aggregation for tag in tags], dtype="object"),
            "metric": pd.Series([tag.metric for tag in tags], dtype="object"),
            "reported": values.to_numpy(),
            "num_samples": num_samples,
            "card_metric": card_metric,
        }
    )

    unknown_labels = sorted(
        {str(label) for label, key in zip(labels, benchmarks, strict=True) if key is None}
    )
    if unknown_labels:
        logger.warning(
            "metrics config of %s: benchmark labels not in the registry, kept with "
            "benchmark=None: %s",
            model,
            ", ".join(unknown_labels),
        )
    unknown_tags = sorted(
        {
            str(tag)
            for tag, parsed in zip(table["metric_tag"], tags, strict=True)
            if not parsed.mapped
        }
    )
    if unknown_tags:
        logger.warning(
            "metrics config of %s: unknown metric tags, kept as unmapped: %s",
            model,
            ", ".join(unknown_tags),
        )

    is_subtask = table["subtask"].notna()
    selected = table[is_subtask] if level == "subtask" else table[~is_subtask]
    logger.info(
        "metrics config of %s: %d benchmark-level rows, %d subtask rows; returning the %s rows",
        model,
        int((~is_subtask).sum()),
        int(is_subtask.sum()),
        level,
    )
    return selected.reset_index(drop=True)


def attach_reported(summary: pd.DataFrame, metrics_config: pd.DataFrame) -> pd.DataFrame:
    """Return ``summary`` with its ``reported`` column filled from the metrics config.

    A summary row gets the value of the benchmark-level metrics-config row whose tag names the
    same metric and aggregation. Rows with no such tag keep NaN.
    """
    if summary.empty:
        return summary
    model = str(summary["model"].iloc[0])
    reported = reported_values(metrics_config, model=model)
    reported = reported.dropna(subset=["benchmark", "metric", "aggregation"])
    lookup = {
        (row.benchmark, row.metric, row.aggregation): row.reported
        for row in reported.itertuples(index=False)
    }
    # A macro tag on a benchmark without subtasks (multi-needle's macro_avg/recall) names the
    # same number as the micro average, so it fills the micro row.
    with_macro = set(summary.loc[summary["aggregation"] == "macro", "benchmark"])
    for (benchmark, metric, aggregation), value in list(lookup.items()):
        if aggregation == "macro" and benchmark not in with_macro:
            lookup.setdefault((benchmark, metric, "micro"), value)
    filled = summary.copy()
    filled["reported"] = [
        lookup.get((row.benchmark, row.metric, row.aggregation), math.nan)
        for row in summary.itertuples(index=False)
    ]
    return filled


def _benchmark_key(label: object) -> str | None:
    if not isinstance(label, str):
        return None
    benchmark = benchmark_for_label(label)
    return None if benchmark is None else benchmark.key


def _subtask_names(metrics_config: pd.DataFrame, labels: pd.Series) -> list[str | None]:
    """Return each row's subtask, or None for a benchmark-level row."""
    if "subtask_name" not in metrics_config.columns:
        return [None] * len(metrics_config)

    # NOTE: how Meta marks a benchmark-level row is not documented. A null or empty
    # subtask_name, or one equal to the benchmark label, is read as benchmark level.
    subtasks: list[str | None] = []
    for subtask, label in zip(metrics_config["subtask_name"], labels, strict=True):
        is_blank = not isinstance(subtask, str) or not subtask.strip()
        is_label = (
            not is_blank
            and isinstance(label, str)
            and subtask.strip().casefold() == label.casefold()
        )
        subtasks.append(None if is_blank or is_label else subtask)
    return subtasks


# ---------------------------------------------------------------------------------------------
# Model card and scale repair
# ---------------------------------------------------------------------------------------------


def repair_scale(values: pd.Series, *, groups: pd.Series | None = None) -> pd.DataFrame:
    """Read values printed as fractions among percents as percents, and state each fix.

    Within each group (each benchmark, say), a value in (0, 1] is read as a fraction and
    multiplied by 100 when another value of the group is above 1, so that the group is on the
    percent scale. The model card prints the needle results as 96.8 for one model and 1 for
    two others, which this reads as 96.8 and 100.0. A group whose values are all at most 1 is
    ambiguous: its values are kept and flagged, never silently plotted as 1 %.

    Parameters
    ----------
    values : Series
        Reported values as printed, on the percent scale except for the mix-ups to repair.
    groups : Series, optional
        Group of each value, matched to ``values`` by position. Without it, all values form
        one group.

    Returns
    -------
    DataFrame
        ``value`` (repaired, percent) and ``scale_fix`` (the fix or flag as text, "" when none),
        with the index of ``values``.

    Raises
    ------
    ValueError
        If a value is negative or above 100, or ``groups`` has another length.

    Examples
    --------
    >>> needle = pd.Series([96.8, 1.0, 1.0])
    >>> repair_scale(needle)["value"].tolist()
    [96.8, 100.0, 100.0]
    """
    numbers = pd.to_numeric(values, errors="raise").astype("float64")
    out_of_range = numbers[(numbers < 0) | (numbers > 100)]
    if not out_of_range.empty:
        listing = ", ".join(f"{index!r}: {value:g}" for index, value in out_of_range.items())
        raise ValueError(
            f"reported values outside 0-100 ({listing}); values must be percents or fractions"
        )

    if groups is None:
        keys = pd.Series(0, index=numbers.index)
    elif len(groups) != len(numbers):
        raise ValueError(f"groups has {len(groups)} entries but values has {len(numbers)}")
    else:
        keys = pd.Series(pd.Series(groups).fillna("").to_numpy(), index=numbers.index)

    repaired = numbers.copy()
    fixes = pd.Series("", index=numbers.index, dtype="object")

    # NOTE: a genuine result below 1 % in a group of percents (0.5 % next to 40 %) is read as
    # a fraction too. The fix is stated next to the value so that a reader can undo it.
    for group, members in numbers.groupby(keys, sort=False):
        is_fraction = (members > 0) & (members <= 1)
        if not is_fraction.any():
            continue

        percent_values = members[members > 1]
        for index, value in members[is_fraction].items():
            if percent_values.empty:
                fixes[index] = (
                    f"ambiguous scale: {value:g} may be the fraction {100 * value:g} % or "
                    f"{value:g} %; not repaired"
                )
                continue
            repaired[index] = 100 * value
            fixes[index] = (
                f"printed as {value:g} next to percents such as {percent_values.iloc[0]:g}; "
                f"read as a fraction, {100 * value:g} %"
            )
            logger.info("scale repaired in group %r: %g read as %g %%", group, value, 100 * value)

    return pd.DataFrame({"value": repaired, "scale_fix": fixes})


def model_card(model: str | None = None) -> pd.DataFrame:
    """Load the base-model table of Meta's Llama 3.2 model card, with mixed scales repaired.

    The table ships with the package as ``evalbook/data/model_card.csv``. Scales are repaired
    per benchmark over all models (see :func:`repair_scale`) before ``model`` selects rows, so
    a model's needle value of 1 is read as 100.0 % even when it is the only row returned.

    Parameters
    ----------
    model : str, optional
        Model name as in the table (``"Llama-3.2-1B"``, ``"Llama-3.2-3B"``, ``"Llama-3.1-8B"``).
        None returns all models.

    Returns
    -------
    DataFrame
        Columns ``model, benchmark, label, subtask, shots, metric_tag, aggregation, metric,
        value_as_printed, reported, reported_scale_fix, source, card_metric``.

    Raises
    ------
    ValueError
        If ``model`` is not in the table.

    Examples
    --------
    >>> card = model_card("Llama-3.2-3B")
    >>> needle = card[card["benchmark"] == "needle_in_haystack"]
    >>> needle["value_as_printed"].item(), needle["reported"].item()
    ('1', 100.0)
    """
    resource = resources.files("evalbook").joinpath("data", "model_card.csv")
    with resource.open("r", encoding="utf-8") as handle:
        card = pd.read_csv(handle, dtype=str, keep_default_na=False)
    _require_columns(card, MODEL_CARD_COLUMNS, "evalbook/data/model_card.csv")

    printed = pd.to_numeric(card["value_as_printed"], errors="coerce")
    if printed.isna().any():
        bad = card.loc[printed.isna(), "value_as_printed"].tolist()
        raise ValueError(f"evalbook/data/model_card.csv: value_as_printed is not a number: {bad}")
    repaired = repair_scale(printed, groups=card["benchmark_label"])

    tags = [parse_metric_tag(tag) for tag in card["metric_tag"]]
    table = pd.DataFrame(
        {
            "model": card["model"],
            "benchmark": pd.Series(
                [_benchmark_key(label) for label in card["benchmark_label"]], dtype="object"
            ),
            "label": card["benchmark_label"],
            "subtask": pd.Series([None] * len(card), dtype="object"),
            "shots": card["shots"],
            "metric_tag": card["metric_tag"],
            "aggregation": pd.Series([tag.aggregation for tag in tags], dtype="object"),
            "metric": pd.Series([tag.metric for tag in tags], dtype="object"),
            "value_as_printed": card["value_as_printed"],
            "reported": repaired["value"],
            "reported_scale_fix": repaired["scale_fix"],
            "source": card["source"],
            "card_metric": True,
        }
    )

    if model is None:
        return table
    if model not in set(table["model"]):
        known = ", ".join(dict.fromkeys(table["model"]))
        raise ValueError(f"model {model!r} is not in the model card table; known models: {known}")
    return table[table["model"] == model].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


def compare_reported(
    recomputed: pd.DataFrame,
    reported: pd.DataFrame,
    *,
    tolerance_se: float = 2.0,
    rounding: float = 0.05,
    strict: bool = False,
) -> pd.DataFrame:
    """Match each reported value to its recomputed estimate and explain any difference.

    The reported value and the recomputation come from the same rows, so they should be equal
    up to the printed precision: a reported value agrees when it lies within ``rounding`` of
    the recomputed one. Otherwise the explanations below are tested in this order, each asking
    whether the reported value equals (within ``rounding``) another recomputed quantity, and
    the first that applies is the likely cause:

    1. ``scale``: the reported value is at most 1 while the recomputed one is a percent, and
       100 times the reported value agrees (or the reverse, a recomputed fraction).
    2. ``aggregation``: the reported value agrees with the other average (micro for macro).
    3. ``metric``: it agrees with another recomputed metric, such as ``is_correct`` (exact
       match) where the tag names ``f1``.
    4. ``normalization``: it agrees with another choice accuracy (``acc_raw`` or ``acc_token``
       for ``acc_char``).
    5. ``item_count``: the reported row has a ``num_samples`` unequal to ``n_items``.
    6. ``unexplained``: none of the above; the text gives the distance in SE.

    The verdict is "differs" for an explained difference and for an unexplained one of more
    than ``tolerance_se`` SE, and "small difference" for an unexplained one within that band:
    it is within sampling error, yet a recomputation from the same rows should not differ.

    Parameters
    ----------
    recomputed : DataFrame
        Recomputed estimates in percent, columns ``model, benchmark, metric, aggregation,
        n_items, value, se, ci_low, ci_high`` and optionally ``subtask``.
    reported : DataFrame
        Output of :func:`reported_values` or :func:`model_card`: at least ``model, label,
        metric_tag, reported``. ``benchmark`` (else derived from ``label``), ``subtask``,
        ``num_samples`` and ``reported_scale_fix`` are used when present.
    tolerance_se : float
        Band in standard errors of the recomputed value that separates a "small difference"
        from one that "differs".
    rounding : float
        Largest difference in percentage points that still agrees, because the card prints
        one decimal: half a unit of the last printed digit.
    strict : bool
        Raise :class:`MissingMetricError` when a tag names a metric that the recomputed table
        lacks for the benchmark. By default the row is kept with verdict "not recomputed", the
        reason in ``likely_cause`` and a WARNING in the log.

    Returns
    -------
    DataFrame
        One row per reported row, with the columns of :data:`COMPARISON_COLUMNS`.
        ``difference`` is reported minus recomputed, and ``difference_se`` is that difference
        in SE, NaN when the SE is 0 or missing and the difference is not 0. ``compared_with``
        names the recomputed metric and aggregation used. ``likely_cause`` is "" when the
        values agree.

    Raises
    ------
    ValueError
        If a required column is missing, ``recomputed`` has invalid or duplicate rows,
        ``tolerance_se`` is not positive or ``rounding`` is negative.
    MissingMetricError
        In strict mode, for the first tag whose metric is not recomputed.
    """
    _require_columns(recomputed, RECOMPUTED_COLUMNS, "recomputed")
    _require_columns(reported, REPORTED_COLUMNS, "reported")
    if not tolerance_se > 0:
        raise ValueError(f"tolerance_se must be positive, got {tolerance_se!r}")
    if not rounding >= 0:
        raise ValueError(f"rounding must be zero or positive, got {rounding!r}")

    estimates = _index_recomputed(recomputed)
    matcher = _Matcher(tolerance_se=tolerance_se, rounding=rounding)

    rows = []
    for row in reported.to_dict("records"):
        rows.append(_compare_row(row, estimates, matcher, strict=strict))

    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    table["n_items"] = table["n_items"].astype("Int64")
    float_columns = ("reported", "recomputed", "se", "ci_low", "ci_high")
    for column in (*float_columns, "difference", "difference_se"):
        table[column] = table[column].astype("float64")

    counts = table["verdict"].value_counts().to_dict()
    logger.info("compared %d reported values: %s", len(table), counts)
    return table


def model_card_value(model: str, label: str) -> float | None:
    """Return the model card's headline value of a benchmark for ``model``, scale repaired.

    None when the card shipped with evalbook has no such row.
    """
    card = model_card()
    rows = card[(card["model"] == model) & (card["label"] == label)]
    return float(rows["reported"].iloc[0]) if len(rows) else None


def compare_model_card(
    recomputed: pd.DataFrame,
    *,
    model: str,
    tolerance_se: float = 2.0,
    rounding: float = 0.05,
    strict: bool = False,
) -> pd.DataFrame:
    """Compare the model card's numbers for ``model`` with the recomputed estimates.

    The card's scales are repaired first (see :func:`model_card`). Options are those of
    :func:`compare_reported`.

    Raises
    ------
    ValueError
        If ``model`` is not on the card, or ``recomputed`` has no rows for it.
    """
    _require_columns(recomputed, RECOMPUTED_COLUMNS, "recomputed")
    card = model_card(model)

    own_rows = recomputed[recomputed["model"] == model]
    if own_rows.empty:
        present = ", ".join(str(name) for name in dict.fromkeys(recomputed["model"]))
        raise ValueError(
            f"recomputed has no rows for model {model!r} (models present: {present or 'none'}); "
            "pass the recomputed table of that model"
        )
    return compare_reported(
        own_rows, card, tolerance_se=tolerance_se, rounding=rounding, strict=strict
    )


class _Estimate(NamedTuple):
    metric: str
    aggregation: str
    value: float
    se: float
    ci_low: float
    ci_high: float
    n_items: int

    @property
    def name(self) -> str:
        return f"{self.metric} ({self.aggregation})"


_EstimateKey = tuple[str, str, str | None]
"""(model, benchmark, subtask) of a group of recomputed estimates."""


def _index_recomputed(recomputed: pd.DataFrame) -> dict[_EstimateKey, list[_Estimate]]:
    """Validate the recomputed table and group its rows by (model, benchmark, subtask)."""
    invalid = sorted(set(recomputed["aggregation"]) - set(AGGREGATIONS), key=str)
    if invalid:
        raise ValueError(
            f"recomputed: invalid aggregation values {invalid}; use 'micro' or 'macro'"
        )
    numbers = {
        column: _to_numbers(recomputed[column], f"recomputed column {column!r}")
        for column in ("value", "se", "ci_low", "ci_high")
    }
    if numbers["value"].isna().any():
        rows = recomputed.index[numbers["value"].isna()].tolist()
        raise ValueError(f"recomputed: 'value' is missing in rows {rows}; drop or fill them")
    n_items = _to_numbers(recomputed["n_items"], "recomputed column 'n_items'")
    if n_items.isna().any():
        rows = recomputed.index[n_items.isna()].tolist()
        raise ValueError(f"recomputed: 'n_items' is missing in rows {rows}; give each row's count")

    if "subtask" in recomputed.columns:
        subtasks = [s if isinstance(s, str) and s else None for s in recomputed["subtask"]]
    else:
        subtasks = [None] * len(recomputed)

    estimates: dict[_EstimateKey, list[_Estimate]] = {}
    seen: set[tuple[object, ...]] = set()
    for position, (index, row) in enumerate(recomputed.iterrows()):
        key = (row["model"], row["benchmark"], subtasks[position])
        identity = (*key, row["metric"], row["aggregation"])
        if identity in seen:
            raise ValueError(
                f"recomputed: duplicate row {identity} at index {index!r}; keep one row per "
                "model, benchmark, subtask, metric and aggregation"
            )
        seen.add(identity)
        estimates.setdefault(key, []).append(
            _Estimate(
                metric=row["metric"],
                aggregation=row["aggregation"],
                value=float(numbers["value"][index]),
                se=float(numbers["se"][index]),
                ci_low=float(numbers["ci_low"][index]),
                ci_high=float(numbers["ci_high"][index]),
                n_items=int(n_items[index]),
            )
        )
    return estimates


class _Matcher:
    """The agreement rule: equal within ``rounding``; ``tolerance_se`` grades a difference."""

    def __init__(self, *, tolerance_se: float, rounding: float) -> None:
        self.tolerance_se = tolerance_se
        self.rounding = rounding

    def agrees(self, reported: float, estimate: _Estimate, *, scale: float = 1.0) -> bool:
        """Return True when ``reported`` equals ``estimate`` up to the printed precision.

        ``scale`` multiplies the rounding band, for comparisons on the fraction scale. The
        band gets 1e-9 more so that a value printed exactly half a unit away still agrees.
        """
        return abs(reported - estimate.value) <= self.rounding * scale + 1e-9

    def within_se(self, reported: float, estimate: _Estimate) -> bool:
        """Return True when ``reported`` lies within ``tolerance_se`` SE of ``estimate``."""
        if not math.isfinite(estimate.se):
            return False
        return abs(reported - estimate.value) <= self.tolerance_se * estimate.se

    @staticmethod
    def in_se(reported: float, estimate: _Estimate) -> float:
        """Return ``reported - estimate`` in SE units.

        The result is NaN when the SE is 0 or missing, unless the difference is 0 too.
        """
        if reported == estimate.value:
            return 0.0
        if not math.isfinite(estimate.se) or estimate.se <= 0:
            return math.nan
        return (reported - estimate.value) / estimate.se


def _compare_row(
    row: dict[str, object],
    estimates: dict[_EstimateKey, list[_Estimate]],
    matcher: _Matcher,
    *,
    strict: bool,
) -> dict[str, object]:
    """Compare one reported row and return its row of the comparison table."""
    label = row["label"]
    benchmark = row.get("benchmark") if "benchmark" in row else _benchmark_key(label)
    benchmark = benchmark if isinstance(benchmark, str) and benchmark else None
    subtask = row.get("subtask")
    subtask = subtask if isinstance(subtask, str) and subtask else None
    scale_fix = row.get("reported_scale_fix")
    reported = float(row["reported"]) if _is_number(row["reported"]) else math.nan

    result: dict[str, object] = {column: math.nan for column in COMPARISON_COLUMNS}
    result.update(
        model=row["model"],
        benchmark=benchmark,
        label=label,
        subtask=subtask,
        metric_tag=row["metric_tag"],
        reported=reported,
        reported_scale_fix=scale_fix if isinstance(scale_fix, str) else "",
        compared_with="",
        n_items=pd.NA,
    )
    where = _describe_place(benchmark if benchmark else label, subtask)

    def without_estimate(cause: str, text: str, verdict: str = "not recomputed") -> dict:
        result.update(verdict=verdict, cause=cause, likely_cause=text)
        return result

    if not math.isfinite(reported):
        return without_estimate(
            "no_reported_value", f"no reported value for {where}", verdict="not reported"
        )
    if benchmark is None:
        return without_estimate(
            "unknown_benchmark",
            f"benchmark label {label!r} is not in the registry, so nothing is recomputed for it",
        )

    tag = parse_metric_tag(row["metric_tag"])
    if not tag.mapped:
        return without_estimate(
            "unknown_tag",
            f"metric tag {row['metric_tag']!r} of {where} names no known aggregation and "
            f"metric ({', '.join(METRICS)}); compare it by hand",
        )

    candidates = estimates.get((row["model"], benchmark, subtask), [])
    if not candidates:
        return without_estimate(
            "no_recomputed_rows",
            f"the recomputed table has no rows for model {row['model']!r}, {where}",
        )

    same_metric = [estimate for estimate in candidates if estimate.metric == tag.metric]
    if not same_metric:
        available = ", ".join(sorted({estimate.metric for estimate in candidates}))
        message = (
            f"metric {tag.metric!r} (tag {row['metric_tag']!r}) is missing from the recomputed "
            f"table for {where}, which has {available}; recompute {tag.metric} there or "
            "compare this row by hand"
        )
        if strict:
            raise MissingMetricError(message)
        logger.warning("model %s: %s", row["model"], message)
        return without_estimate("missing_metric", message)

    primary = _pick_aggregation(same_metric, tag.aggregation)
    if primary.aggregation != tag.aggregation:
        logger.info(
            "%s: no %s average of %s recomputed; compared with the %s average",
            where,
            tag.aggregation,
            tag.metric,
            primary.aggregation,
        )

    result.update(
        compared_with=primary.name,
        recomputed=primary.value,
        se=primary.se,
        ci_low=primary.ci_low,
        ci_high=primary.ci_high,
        n_items=primary.n_items,
        difference=reported - primary.value,
        difference_se=matcher.in_se(reported, primary),
    )
    if matcher.agrees(reported, primary):
        result.update(verdict="agrees", cause="", likely_cause="")
        return result

    cause, text = _explain(reported, primary, candidates, row.get("num_samples"), matcher)
    small = cause == "unexplained" and matcher.within_se(reported, primary)
    if small:
        text += "; within sampling error, but a recomputation from the same rows should match"
    result.update(
        verdict="small difference" if small else "differs", cause=cause, likely_cause=text
    )
    return result


def _pick_aggregation(same_metric: list[_Estimate], aggregation: str | None) -> _Estimate:
    """Return the estimate with ``aggregation``, else the other one.

    A benchmark without subtasks has only a micro average, which is then compared with a
    ``macro_avg/`` tag such as Multi-needle's ``macro_avg/recall``.
    """
    for estimate in same_metric:
        if estimate.aggregation == aggregation:
            return estimate
    return same_metric[0]


def _explain(
    reported: float,
    primary: _Estimate,
    candidates: list[_Estimate],
    num_samples: object,
    matcher: _Matcher,
) -> tuple[str, str]:
    """Return the first cause, in the documented order, that accounts for a difference."""
    distance = _format_se(matcher.in_se(reported, primary))
    against = f"the recomputed {primary.name} {primary.value:.4g}"

    if reported <= 1 < primary.value and matcher.agrees(100 * reported, primary):
        return "scale", (
            f"percent/fraction scale mix-up: the reported {reported:g} is a fraction; "
            f"100 x {reported:g} = {100 * reported:g} agrees with {against}"
        )
    if primary.value <= 1 < reported and matcher.agrees(reported / 100, primary, scale=0.01):
        return "scale", (
            f"percent/fraction scale mix-up: {against} is a fraction while the reported "
            f"{reported:g} is a percent; {reported:g} / 100 agrees with it"
        )

    others = [estimate for estimate in candidates if estimate != primary]
    for estimate in others:
        if estimate.metric == primary.metric and matcher.agrees(reported, estimate):
            return "aggregation", (
                f"macro vs micro: the reported {reported:g} agrees with the recomputed "
                f"{estimate.aggregation} average {estimate.value:.4g} "
                f"({_format_se(matcher.in_se(reported, estimate))}), not the "
                f"{primary.aggregation} average {primary.value:.4g} ({distance})"
            )

    for family, cause in ((_other_metrics, "metric"), (_other_normalizations, "normalization")):
        for estimate in family(primary, others):
            if matcher.agrees(reported, estimate):
                return cause, (
                    f"{_CAUSE_TITLES[cause]}: the reported {reported:g} agrees with the "
                    f"recomputed {_describe_metric(estimate)} {estimate.value:.4g} "
                    f"({_format_se(matcher.in_se(reported, estimate))}), not "
                    f"{primary.name} {primary.value:.4g} ({distance})"
                )

    if _is_number(num_samples) and int(num_samples) != primary.n_items:
        return "item_count", (
            f"different item count: the reported value covers {int(num_samples):,} items, "
            f"the recomputed {primary.n_items:,}; off by {distance}"
        )

    return "unexplained", (
        f"unexplained: off by {distance} (reported {reported:g}, {against} with SE "
        f"{primary.se:.2g})"
    )


_CAUSE_TITLES = {"metric": "different metric", "normalization": "different normalization"}


_METRIC_PREFERENCE = ("is_correct", "em", "f1", "recall", "acc")
"""Order in which other metrics are tried: ``is_correct`` first, because Meta stores it in
every row and it is exact match where the card reports F1."""


def _other_metrics(primary: _Estimate, others: list[_Estimate]) -> list[_Estimate]:
    """Return the other metrics, same aggregation first, without the choice accuracies."""
    found = [e for e in others if e.metric != primary.metric and e.metric not in NORMALIZATIONS]
    return sorted(
        found,
        key=lambda estimate: (
            estimate.aggregation != primary.aggregation,
            _METRIC_PREFERENCE.index(estimate.metric)
            if estimate.metric in _METRIC_PREFERENCE
            else len(_METRIC_PREFERENCE),
        ),
    )


def _other_normalizations(primary: _Estimate, others: list[_Estimate]) -> list[_Estimate]:
    """Return the other choice accuracies, same aggregation first.

    The list is empty unless the reported metric is a choice accuracy itself.
    """
    if primary.metric not in NORMALIZATIONS:
        return []
    found = [e for e in others if e.metric != primary.metric and e.metric in NORMALIZATIONS]
    return sorted(found, key=lambda estimate: estimate.aggregation != primary.aggregation)


def _describe_metric(estimate: _Estimate) -> str:
    if estimate.metric == "is_correct":
        return f"is_correct, Meta's binary exact match ({estimate.aggregation})"
    return estimate.name


def _describe_place(benchmark: object, subtask: str | None) -> str:
    place = f"benchmark {benchmark!r}"
    return f"{place}, subtask {subtask!r}" if subtask else f"{place} (benchmark level)"


def _format_se(value: float) -> str:
    return "SE is 0" if not math.isfinite(value) else f"{value:+.1f} SE"


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def export_comparison(table: pd.DataFrame, out_dir: str | Path, *, stem: str) -> dict[str, Path]:
    """Write a comparison table as CSV, LaTeX and JSON, each file replaced atomically.

    Each file is written to a temporary file in ``out_dir`` and renamed over the target, so a
    reader never sees half a file. The JSON is a list of records with NaN written as null. The
    LaTeX is a booktabs ``tabular`` with special characters escaped and numbers to 2 decimals.
    In the CSV, a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading ``'``, so a spreadsheet shows labels from a dump as text and never
    runs them as formulas.

    Returns
    -------
    dict
        Paths keyed by ``"csv"``, ``"tex"`` and ``"json"``.

    Raises
    ------
    ValueError
        If ``stem`` is empty or contains a path separator.
    """
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ValueError(f"invalid stem {stem!r}; give a file name without directories")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)

    texts = {
        "csv": _spreadsheet_safe(table).to_csv(index=False),
        "tex": table.to_latex(index=False, escape=True, na_rep="", float_format="%.2f"),
        "json": table.to_json(orient="records", indent=2) + "\n",
    }
    paths = {}
    for suffix, text in texts.items():
        path = directory / f"{stem}.{suffix}"
        write_atomic(path, text)
        paths[suffix] = path
    logger.info("wrote the comparison of %d rows to %s.{csv,tex,json}", len(table), stem)
    return paths


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _require_columns(table: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        present = ", ".join(map(str, table.columns)) or "none"
        raise ValueError(
            f"{name} is missing the columns {', '.join(missing)} (columns present: {present})"
        )


def _to_numbers(values: pd.Series, name: str) -> pd.Series:
    """Convert a column to floats and raise on text that is not a number.

    Missing values stay NaN.
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    not_numbers = values[numbers.isna() & values.notna()]
    if not not_numbers.empty:
        listing = ", ".join(f"row {index!r}: {value!r}" for index, value in not_numbers.items())
        raise ValueError(f"{name} contains values that are not numbers ({listing})")
    return numbers


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with each text cell that a spreadsheet would read as a formula quoted."""

    def quote(value: object) -> object:
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value

    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(quote)
    return safe


def _is_number(value: object) -> bool:
    if value is None or value is pd.NA:
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
