"""HTML sections of a benchmark page: notices, the headline, result and example tables.

Every value that comes from the data (labels, prompts, predictions, config strings) is escaped
before it enters the markup.
"""

from __future__ import annotations

import ast
import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from evalbook.metrics import choice, stats
from evalbook.registry import Benchmark, get_benchmark
from evalbook.report.tables import format_interval, format_percent, html_table

__all__ = [
    "about_benchmark",
    "agreement_section",
    "calibration_summary",
    "comparison_table",
    "examples_table",
    "group_table",
    "headline",
    "normalization_table",
    "overview_table",
    "prompt_template",
    "provenance_table",
    "results_table",
    "synthetic_banner",
    "unavailable_headline",
    "unscored_counts",
]

_EXAMPLE_SEARCH_SCRIPT = """
<script>
document.querySelectorAll('input.evalbook-search').forEach(function (box) {
  var table = document.getElementById(box.dataset.table);
  box.addEventListener('input', function () {
    var needle = box.value.toLowerCase();
    table.querySelectorAll('tbody tr').forEach(function (row) {
      row.style.display = row.textContent.toLowerCase().includes(needle) ? '' : 'none';
    });
  });
});
</script>
"""


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def synthetic_banner(snapshot) -> str:
    """Return a warning box when the snapshot's README marks it synthetic, else ""."""
    if not snapshot.synthetic:
        return ""
    marker = snapshot.front_matter.get("evalbook") or {}
    version = _escape(marker.get("generator_version", "?"))
    return (
        '<div class="admonition warning evalbook-synthetic"><p class="admonition-title">'
        "Synthetic data</p><p>This page is built from a synthetic snapshot that evalbook "
        f"generated (generator version {version}) in the layout of Meta's dump. Its prompts, "
        f"predictions and numbers are not Meta's and say nothing about {_escape(snapshot.model)}. "
        "Build the book with <code>--source hf</code> or <code>--source local:PATH</code> for "
        "the real rows.</p></div>"
    )


def prompt_template(prompt_fn: str) -> str | None:
    """Return the Jinja template inside a stringified ``functools.partial(jinja_format, ...)``.

    Examples
    --------
    >>> prompt_template("functools.partial(<function jinja_format at 0x7f>, 'Q: {{ q }}\\\\nA:')")
    'Q: {{ q }}\\nA:'
    >>> prompt_template("not a partial") is None
    True
    """
    start = prompt_fn.find(">,")
    if not prompt_fn.startswith("functools.partial(") or start < 0:
        return None
    try:
        call = ast.parse("f(" + prompt_fn[start + 2 :], mode="eval").body
    except SyntaxError:
        return None
    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
        value = call.args[0].value
        return value if isinstance(value, str) else None
    return None


def about_benchmark(
    benchmark: Benchmark, eval_config: Mapping[str, str], items: pd.DataFrame
) -> str:
    """Return what the benchmark measures and how Meta ran it, from ``eval_config``."""
    n_subtasks = items["subtask"].replace("", np.nan).nunique()
    facts = {
        "rows in the dump": f"{len(items):,}",
        "subtasks": f"{n_subtasks}" if n_subtasks else "none",
        "few-shot examples (documented)": benchmark.shots,
        "few-shot examples (eval_config)": eval_config.get("num_few_shot", "not stored"),
        "max prompt length (tokens)": eval_config.get("max_prompt_len", "not stored"),
    }
    if benchmark.task_type == "choice":
        facts["scored as"] = "likelihood of each choice (lowest NLL wins); nothing is generated"
    else:
        facts |= {
            "max generation length (tokens)": eval_config.get("max_gen_len", "not stored"),
            "temperature": eval_config.get("temperature", "not stored"),
            "top_p / top_k": (
                f"{eval_config.get('top_p', 'not stored')} / "
                f"{eval_config.get('top_k', 'not stored')}"
            ),
            "generations per item": eval_config.get("num_generations", "not stored"),
            "scored as": "generated text against the gold answers",
        }
    if eval_config.get("varies"):
        facts["eval_config fields that differ between rows"] = (
            f"{eval_config['varies']} (shown here for the first row)"
        )
    table = html_table(
        pd.DataFrame({"setting": list(facts), "value": list(facts.values())}),
        caption="How Meta ran it",
    )
    template = prompt_template(eval_config.get("prompt_fn", "") or "")
    template_html = (
        "<p>Prompt template (Jinja) of the first row, from <code>eval_config.prompt_fn</code>:"
        f'</p><pre class="evalbook-template">{_escape(template)}</pre>'
        if template
        else "<p>The dump stores no readable prompt template.</p>"
    )
    return f"<p>{_escape(benchmark.summary)}</p>{table}{template_html}"


def unscored_counts(items: pd.DataFrame, metric: str) -> dict[str, int]:
    """Return how many items have no usable output: unscorable NLLs, or empty predictions.

    Each stays in every denominator. Each key states how ``metric`` scored those items. An empty
    prediction on an unanswerable question is an abstention and scores 1; any other scores 0.
    """
    counts = {}
    if "unscorable" in items.columns:
        unscorable = items["unscorable"].fillna(False).astype(bool)
        counts["unscorable (NLLs), counted as wrong"] = int(unscorable.sum())
    if "empty_prediction" in items.columns and metric in items.columns:
        empty = items["empty_prediction"].fillna(False).astype(bool)
        scored_one = empty & (items[metric] >= 1)
        counts["empty predictions, scored 0"] = int((empty & ~scored_one).sum())
        if scored_one.any():
            counts["empty predictions on unanswerable items, scored 1 as abstentions"] = int(
                scored_one.sum()
            )
    return counts


def unavailable_headline(benchmark: Benchmark, reason: str) -> str:
    """Return a notice in place of the headline number, saying why it cannot be computed."""
    return (
        '<div class="admonition warning evalbook-headline" id="headline" '
        f'data-benchmark="{_escape(benchmark.key)}" data-value="">'
        f'<p class="admonition-title">No headline number</p><p>{_escape(reason)}</p></div>'
    )


def headline(
    benchmark: Benchmark,
    row: pd.Series,
    *,
    model: str,
    counts: Mapping[str, int] | None = None,
    card_value: float | None = None,
) -> str:
    """Return the headline number with n, the 95% CI, its SE method and the reported values.

    ``counts`` are items without a usable output (see :func:`unscored_counts`); they are
    named beside n, with how they were scored. ``row["reported"]`` is the value of the
    dump's metrics config, and ``card_value`` is the model card's (scale repaired). Each is named
    by its source, since the two can differ.
    """
    parts = [f"n = {int(row['n_items']):,} items"]
    for label, count in (counts or {}).items():
        if count:
            parts.append(f"{count:,} {label}")
    if pd.notna(row.get("n_groups")):
        parts.append(f"{int(row['n_groups'])} subtasks")
    if pd.notna(row.get("n_clusters")):
        parts.append(f"{int(row['n_clusters']):,} clusters")

    tag = _escape(benchmark.reported_tag)
    if benchmark.reported_tag.startswith("macro_avg/") and row["aggregation"] == "micro":
        tag += ", which for a task without subtasks is the micro average"
    reported = row.get("reported")
    sources = [
        f"The dump's metrics config reports {format_percent(reported)} ({tag})."
        if pd.notna(reported)
        else "The dump's metrics config has no value for this number."
    ]
    if card_value is not None and pd.notna(card_value):
        sources.append(f"The model card prints {format_percent(card_value)}.")
    return (
        f'<div class="evalbook-headline" id="headline" data-benchmark="{_escape(benchmark.key)}" '
        f'data-metric="{_escape(row["metric"])}" data-aggregation="{_escape(row["aggregation"])}" '
        f'data-value="{row["value"]:.6f}">'
        f"<p>{_escape(model)} on <strong>{_escape(benchmark.label)}</strong>, "
        f"{_escape(row['aggregation'])} {_escape(row['metric'])}: "
        f'<strong class="evalbook-value">{format_percent(row["value"])}%</strong> '
        f"(95% CI {format_interval(row['ci_low'], row['ci_high'])}; "
        f"{'; '.join(parts)}; SE {_escape(row['se_method'])}). {' '.join(sources)}</p></div>"
    )


def results_table(summary: pd.DataFrame) -> str:
    """Return the page's estimates: metric, aggregation, n, value, CI, SE and its method."""
    frame = summary.assign(
        interval=[
            format_interval(low, high)
            for low, high in zip(summary["ci_low"], summary["ci_high"], strict=True)
        ]
    )
    return html_table(
        frame,
        columns={
            "metric": "metric",
            "aggregation": "aggregation",
            "n_items": "n",
            "value": "value (%)",
            "interval": "95% CI",
            "se": "SE",
            "se_method": "SE method",
            "n_clusters": "clusters",
            "se_ratio": "clustered / plain SE",
            "mde": "MDE (points)",
            "reported": "reported (%)",
        },
        formats={
            "value": format_percent,
            "se": lambda v: format_percent(v, digits=2),
            "reported": format_percent,
            "n_clusters": lambda v: "" if pd.isna(v) else f"{int(v):,}",
            "se_ratio": lambda v: "" if pd.isna(v) else f"{v:.2f}",
            "mde": lambda v: format_percent(v, digits=1),
        },
        caption=(
            "Recomputed from the rows; the bold row is the number Meta reports. MDE: the "
            "smallest true difference from a fixed value detectable at alpha = 0.05 with 80% power."
        ),
        highlight=list(summary["headline"]),
    )


def agreement_section(agreements: Sequence, *, max_rows: int = 20) -> str:
    """Return the agreement rate of each recomputed metric with Meta's, and the rows that differ."""
    if not agreements:
        return "<p>The dump stores no per-row metric that the book recomputes.</p>"
    parts = []
    for result in agreements:
        parts.append(
            f"<p><code>{_escape(result.metric)}</code> against <code>"
            f"{_escape(result.meta_column.removeprefix('meta_'))}</code>: {result.n_agree:,} of "
            f"{result.n_items:,} items agree ({format_percent(100 * result.rate)}%).</p>"
        )
        if len(result.disagreements):
            shown = result.disagreements.head(max_rows)
            more = len(result.disagreements) - len(shown)
            caption = "Rows that disagree" + (f" (first {max_rows}; {more:,} more)" if more else "")
            parts.append(html_table(shown, caption=caption))
    return "".join(parts)


def examples_table(items: pd.DataFrame, benchmark: Benchmark, *, n: int, seed: int) -> str:
    """Return a seeded sample of ``n`` items as a table with a search box over its rows."""
    sample = items.sample(n=min(n, len(items)), random_state=seed).sort_index()
    metric = benchmark.metric
    columns = {
        "subtask": "subtask",
        "prompt_preview": "prompt (end)",
        "prediction": "prediction",
        "gold": "gold",
        metric: metric,
        "meta_is_correct": "is_correct (Meta)",
    }
    if not sample["subtask"].astype(bool).any():
        columns.pop("subtask")
    for name in [name for name in columns if name not in sample.columns]:
        columns.pop(name)
    table_id = f"examples-{benchmark.key}"
    search = (
        f'<p><label>Search these examples: <input type="search" class="evalbook-search" '
        f'data-table="{_escape(table_id)}" placeholder="text in any column"></label></p>'
    )
    table = html_table(
        sample,
        columns=columns,
        formats={
            metric: lambda v: f"{v:.2f}",
            "meta_is_correct": _yes_no,
        },
        caption=f"{len(sample)} of {len(items):,} items, drawn with seed {seed}",
        css_class="evalbook-table evalbook-examples",
        table_id=table_id,
    )
    return search + table + _EXAMPLE_SEARCH_SCRIPT


def _yes_no(value: float) -> str:
    if pd.isna(value):
        return ""
    return "yes" if value >= 0.5 else "no"


def calibration_summary(items: pd.DataFrame, benchmark: Benchmark, *, n_dropped: int = 0) -> str:
    """Return ECE (with a bootstrap CI), Brier score, mean P(gold) and the chance level.

    ``n_dropped`` items without usable NLLs were left out of ``items``, and the caption
    gives their count.
    """
    correct = items[benchmark.metric].to_numpy(dtype=float)
    confidence = items["confidence"].to_numpy(dtype=float)
    ece = choice.expected_calibration_error(confidence, correct)
    interval = stats.bootstrap_interval((confidence, correct), choice.expected_calibration_error)
    p_gold = stats.mean_estimate(items["p_gold"].to_numpy(dtype=float))
    facts = {
        "ECE (10 equal-width bins)": (
            f"{ece:.3f} (95% bootstrap CI [{interval.ci_low:.3f}, {interval.ci_high:.3f}])"
        ),
        "Brier score (multi-class, lower is better)": f"{items['brier'].mean():.3f}",
        "mean P(gold) from raw NLLs": (
            f"{p_gold.value:.3f} (95% CI [{p_gold.ci_low:.3f}, {p_gold.ci_high:.3f}])"
        ),
        "chance level (mean of 1 / options)": f"{items['chance'].mean():.3f}",
    }
    return html_table(
        pd.DataFrame({"statistic": list(facts), "value": list(facts.values())}),
        caption="Calibration of the choice probabilities (softmax of −raw NLL)"
        + (f"; {n_dropped:,} unscorable items left out" if n_dropped else ""),
    )


def normalization_table(items: pd.DataFrame) -> str:
    """Return accuracy under each NLL normalization, its ties, and where it differs from raw."""
    rows = []
    for column in sorted(c for c in items.columns if c.startswith("acc_")):
        key = column.removeprefix("acc_")
        estimate = stats.mean_estimate(items[column].to_numpy(dtype=float))
        rows.append(
            {
                "normalization": key,
                "accuracy (%)": format_percent(100 * estimate.value),
                "95% CI": format_interval(100 * estimate.ci_low, 100 * estimate.ci_high),
                "ties (first choice wins)": int(items.get(f"tie_{key}", pd.Series(0)).sum()),
            }
        )
    return html_table(pd.DataFrame(rows), caption="Accuracy by NLL normalization")


def group_table(items: pd.DataFrame, *, by: str, metrics: Sequence[str]) -> str:
    """Return each metric's mean and 95% CI per value of ``by`` (Wilson for 0/1 scores)."""
    rows = []
    for label, group in items.groupby(by, observed=True, sort=True):
        row: dict[str, object] = {by.replace("_", " "): label, "n": len(group)}
        for metric in metrics:
            scores = group[metric].to_numpy(dtype=float)
            estimate = stats.mean_estimate(scores)
            if np.isin(scores, (0.0, 1.0)).all():
                low, high = stats.wilson_interval(int(scores.sum()), len(scores))
                method = "Wilson"
            else:
                low, high, method = estimate.ci_low, estimate.ci_high, "CLT"
            row[f"{metric} (%)"] = format_percent(100 * estimate.value)
            row[f"{metric} 95% CI"] = f"{format_interval(100 * low, 100 * high)} {method}"
        rows.append(row)
    return html_table(pd.DataFrame(rows), caption=f"By {by.replace('_', ' ')}")


def provenance_table(facts: Mapping[str, str]) -> str:
    """Return a two-column table of where the page's numbers came from."""
    return html_table(
        pd.DataFrame({"item": list(facts), "value": list(facts.values())}),
        caption="Provenance",
        css_class="evalbook-table evalbook-provenance",
    )


def overview_table(
    recomputed: pd.DataFrame,
    missing: Sequence[str],
    failed: Mapping[str, str] | None = None,
) -> str:
    """Return one row per benchmark: its headline estimate with n, CI and the reported value.

    Benchmarks not in the dump, and those that could not be scored (``failed`` maps their
    label to the error), get a row that states the reason.
    """
    headline = recomputed.loc[recomputed["headline"].astype(bool)].copy()
    headline["label"] = [get_benchmark(key).label for key in headline["benchmark"]]
    headline["interval"] = [
        format_interval(low, high)
        for low, high in zip(headline["ci_low"], headline["ci_high"], strict=True)
    ]
    without = [
        get_benchmark(key).label
        for key in dict.fromkeys(recomputed["benchmark"])
        if key not in set(headline["benchmark"])
    ]
    absent = pd.DataFrame(
        {
            "label": [*missing, *without],
            "metric": ["not in this dump"] * len(missing)
            + ["no headline number (see its page)"] * len(without),
        }
    )
    errors = pd.DataFrame(
        {
            "label": list(failed or {}),
            "metric": [f"not scored: {e}" for e in (failed or {}).values()],
        }
    )
    table = pd.concat([headline, absent, errors], ignore_index=True)
    return html_table(
        table,
        columns={
            "label": "benchmark",
            "metric": "metric",
            "aggregation": "aggregation",
            "n_items": "n",
            "value": "recomputed (%)",
            "interval": "95% CI",
            "reported": "metrics config (%)",
        },
        formats={
            "value": format_percent,
            "reported": format_percent,
            "n_items": lambda v: "" if pd.isna(v) else f"{int(v):,}",
            "interval": lambda v: "" if not isinstance(v, str) else v,
        },
        caption="Headline numbers, recomputed from the rows",
        table_id="overview",
    )


def comparison_table(comparison: pd.DataFrame, *, caption: str) -> str:
    """Return a reported-against-recomputed table with verdicts and likely causes."""
    frame = comparison.assign(
        interval=[
            "" if pd.isna(low) else format_interval(low, high)
            for low, high in zip(comparison["ci_low"], comparison["ci_high"], strict=True)
        ]
    )
    return html_table(
        frame,
        columns={
            "label": "benchmark",
            "metric_tag": "reported tag",
            "reported": "reported (%)",
            "reported_scale_fix": "scale fix",
            "recomputed": "recomputed (%)",
            "interval": "95% CI",
            "difference": "difference",
            "difference_se": "difference (SE)",
            "verdict": "verdict",
            "likely_cause": "likely cause",
        },
        formats={
            "reported": format_percent,
            "recomputed": format_percent,
            "difference": lambda v: format_percent(v, digits=2),
            "difference_se": lambda v: format_percent(v, digits=1),
            "reported_scale_fix": lambda v: "" if pd.isna(v) else str(v),
            "likely_cause": lambda v: "" if pd.isna(v) else str(v),
        },
        caption=caption,
    )
