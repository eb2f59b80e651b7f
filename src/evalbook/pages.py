"""Page objects for the notebooks: one per page, whose methods return what a cell displays.

A benchmark notebook opens its page with :func:`benchmark_page` and then calls one method per
section (about, results, agreement, breakdown, examples, provenance). Everything a page shows is
computed here, once, from the snapshot's rows; the notebooks hold no logic of their own.
"""

from __future__ import annotations

import html
import logging
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

import evalbook
from evalbook import items as item_scores
from evalbook import reported
from evalbook.metrics import choice
from evalbook.registry import BENCHMARKS, Benchmark, get_benchmark, select_benchmarks
from evalbook.report import plots, text
from evalbook.report.reported_plot import plot_differences, plot_reported_vs_recomputed
from evalbook.report.results import save_benchmark_results, summary_path
from evalbook.snapshot import Snapshot, open_snapshot
from evalbook.summary import summarize

__all__ = [
    "BenchmarkPage",
    "OverviewPage",
    "benchmark_page",
    "open_page_snapshot",
    "overview_page",
]

logger = logging.getLogger(__name__)


def open_page_snapshot(*, model: str, source: str, snapshot_path: str) -> Snapshot:
    """Open the snapshot a page reads: ``snapshot_path`` if given, else the one ``source`` names.

    The runner always passes a path. The fallback lets a notebook opened in JupyterLab run on
    its defaults: the bundled sample is generated on first use.
    """
    if snapshot_path:
        return open_snapshot(snapshot_path, model=model)
    from evalbook.sources import resolve_snapshot

    return open_snapshot(resolve_snapshot(source, model), model=model)


@dataclass
class BenchmarkPage:
    """The data and results behind one benchmark page."""

    benchmark: Benchmark
    snapshot: Snapshot
    source: str
    items: pd.DataFrame
    summary: pd.DataFrame
    eval_config: dict[str, str]
    parameters: dict[str, str]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def headline_row(self) -> pd.Series | None:
        """The summary row of the headline number (the metric and aggregation Meta reports).

        None when the dump lacks what the headline metric needs.
        """
        rows = self.summary.loc[self.summary["headline"].astype(bool)]
        return rows.iloc[0] if len(rows) else None

    def banner(self) -> HTML:
        """Return a notice when the data is synthetic, so no reader mistakes it for Meta's."""
        return HTML(text.synthetic_banner(self.snapshot))

    def about(self) -> HTML:
        """Return what the benchmark is and how Meta ran it, read from ``eval_config``."""
        return HTML(text.about_benchmark(self.benchmark, self.eval_config, self.items))

    def headline(self) -> HTML:
        """Return the headline number with n, its 95% CI and the values the dump and card report."""
        row = self.headline_row
        if row is None:
            reason = item_scores.unavailable_headline(self.items, self.benchmark) or ""
            return HTML(text.unavailable_headline(self.benchmark, reason))
        return HTML(
            text.headline(
                self.benchmark,
                row,
                model=self.snapshot.model,
                counts=text.unscored_counts(self.items, self.benchmark.metric),
                card_value=reported.model_card_value(self.snapshot.model, self.benchmark.label),
            )
        )

    def results(self) -> HTML:
        """Return every estimate of the page: each metric, micro and macro, with n and CI."""
        return HTML(text.results_table(self.summary))

    def agreement(self) -> HTML:
        """Return how often the recomputed per-item scores equal Meta's stored ones."""
        return HTML(text.agreement_section(item_scores.agreement(self.items, self.benchmark)))

    def breakdown(self) -> HTML:
        """Return the plot of the headline metric by the registry's breakdown column."""
        by = self.benchmark.breakdown
        title = f"{self.benchmark.label}: {self.benchmark.metric} by {by.replace('_', ' ')}"
        figure = plots.breakdown_plot(self.items, by=by, metric=self.benchmark.metric, title=title)
        return HTML(plots.figure_html(figure, alt=f"{title}, with 95% intervals"))

    def examples(self, *, n: int = 25, seed: int = 0) -> HTML:
        """Return a searchable table of ``n`` examples drawn with a fixed seed."""
        return HTML(text.examples_table(self.items, self.benchmark, n=n, seed=seed))

    def calibration(self) -> tuple[HTML, HTML]:
        """Return ECE, Brier score and the reliability diagram of a choice task."""
        metric = self.benchmark.metric
        if metric not in self.items.columns:
            reason = item_scores.unavailable_headline(self.items, self.benchmark) or ""
            message = HTML(text.unavailable_headline(self.benchmark, reason))
            return message, HTML("")
        # Items without a usable NLL for every option have no probabilities to calibrate.
        scored = self.items.loc[self.items["confidence"].notna()]
        diagram = choice.reliability_diagram(
            scored["confidence"].to_numpy(), scored[metric].to_numpy()
        )
        title = f"{self.benchmark.label}: reliability diagram"
        figure = plots.reliability_plot(diagram, title=title)
        image = plots.figure_html(figure, alt=f"{title}: accuracy against confidence per bin")
        summary = text.calibration_summary(
            scored, self.benchmark, n_dropped=len(self.items) - len(scored)
        )
        return HTML(summary), HTML(image)

    def normalizations(self) -> HTML:
        """Return accuracy under each NLL normalization the dump holds, with tie counts."""
        return HTML(text.normalization_table(self.items))

    def answerability(self) -> HTML:
        """Return EM and F1 of answerable and unanswerable items, reported apart."""
        return HTML(text.group_table(self.items, by="answerable", metrics=("em", "f1")))

    def answer_types(self) -> HTML:
        """Return EM and F1 by DROP answer type (number, date, span, spans)."""
        return HTML(text.group_table(self.items, by="answer_type", metrics=("em", "f1")))

    def needle_heatmap(self) -> HTML:
        """Return the headline metric by context length and needle depth."""
        title = f"{self.benchmark.label}: {self.benchmark.metric} by length and depth"
        figure = plots.needle_heatmap(self.items, metric=self.benchmark.metric, title=title)
        return HTML(plots.figure_html(figure, alt=title))

    def provenance(self) -> HTML:
        """Return where every number on the page came from: data, parameters, versions."""
        return HTML(
            text.provenance_table(
                {
                    "model": self.snapshot.model,
                    "source": self.source,
                    "snapshot": _display_path(self.snapshot.root),
                    "config": self.snapshot.details_config(self.benchmark),
                    "data files": ", ".join(
                        path.name
                        for path in self.snapshot.files(
                            self.snapshot.details_config(self.benchmark)
                        )
                    ),
                    "rows scored": str(len(self.items)),
                    "parameters": ", ".join(f"{k}={v!r}" for k, v in self.parameters.items()),
                    "evalbook": evalbook.__version__,
                    "python": platform.python_version(),
                    "run at (UTC)": self.started.strftime("%Y-%m-%d %H:%M"),
                }
            )
        )


def benchmark_page(
    *,
    model: str,
    source: str,
    snapshot_path: str,
    task: str,
    subtasks: str = "",
    output_dir: str = "",
) -> BenchmarkPage:
    """Score one benchmark of a snapshot and return its page; save results to ``output_dir``.

    Parameters mirror the notebook's ``parameters`` cell: ``subtasks`` is a comma-separated
    filter on ``subtask_name``, and an empty ``output_dir`` saves nothing.
    """
    benchmark = get_benchmark(task)
    snapshot = open_page_snapshot(model=model, source=source, snapshot_path=snapshot_path)
    wanted = [name.strip() for name in subtasks.split(",") if name.strip()]
    items = item_scores.score_benchmark(snapshot, benchmark, subtasks=wanted or None)
    summary = summarize(items, benchmark, model=snapshot.model)
    summary = _attach_reported(summary, snapshot)
    page = BenchmarkPage(
        benchmark=benchmark,
        snapshot=snapshot,
        source=source,
        items=items,
        summary=summary,
        eval_config=_eval_config(snapshot, benchmark),
        parameters={"task": task, "subtasks": subtasks},
    )
    if output_dir:
        save_benchmark_results(Path(output_dir), benchmark.key, items, summary)
    return page


def _display_path(path: Path) -> str:
    """Return ``path`` with the home folder written as ``~``, so a published page keeps the
    user name out.
    """
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return str(path)


def _attach_reported(summary: pd.DataFrame, snapshot: Snapshot) -> pd.DataFrame:
    """Fill ``reported`` from the snapshot's metrics config; a dump without one leaves it empty."""
    if not snapshot.has_config(snapshot.metrics_config):
        logger.warning("%s has no metrics config; reported values are left empty", snapshot.root)
        return summary
    metrics_config = snapshot.read_metrics().to_pandas()
    return reported.attach_reported(summary, metrics_config)


def _eval_config(snapshot: Snapshot, benchmark: Benchmark) -> dict[str, str]:
    """Return the first row's ``eval_config``, and which fields differ between rows.

    The key ``varies`` lists those fields (MMLU's ``prompt_fn`` names each row's subject).
    A dump without the column gives an empty mapping, and the page then shows each setting as
    not stored.
    """
    config = snapshot.details_config(benchmark)
    if snapshot.schema(config).get_field_index("eval_config") < 0:
        logger.warning("%s has no eval_config column; the page cannot say how Meta ran it", config)
        return {}
    rows = snapshot.read(config, ["eval_config"]).column("eval_config").to_pylist()
    first = dict(rows[0] or {}) if rows else {}
    varies = [key for key in first if len({(row or {}).get(key) for row in rows}) > 1]
    return {**first, "varies": ", ".join(varies)}


@dataclass
class OverviewPage:
    """All benchmarks of one dump: recomputed estimates against Meta's reported values."""

    snapshot: Snapshot
    source: str
    recomputed: pd.DataFrame
    comparison: pd.DataFrame
    card_comparison: pd.DataFrame | None
    exports: dict[str, Path]
    missing: list[str]
    failed: dict[str, str]
    """Benchmarks in the dump that could not be scored, with the error message."""
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def banner(self) -> HTML:
        """Return a notice when the data is synthetic."""
        return HTML(text.synthetic_banner(self.snapshot))

    def benchmarks(self) -> HTML:
        """Return one row per benchmark: its headline number with n and 95% CI."""
        return HTML(text.overview_table(self.recomputed, self.missing, self.failed))

    def reported(self) -> HTML:
        """Return the metrics config's values against the recomputed ones, with verdicts."""
        return HTML(text.comparison_table(self.comparison, caption="Dump's metrics config"))

    def reported_plot(self) -> HTML:
        """Return reported against recomputed values with the 95% intervals."""
        figure = Figure(figsize=(12, 6), layout="constrained")
        scatter, differences = figure.subplots(1, 2, width_ratios=[1, 1.2])
        plot_reported_vs_recomputed(self.comparison, ax=scatter, labels=False)
        plot_differences(self.comparison, ax=differences)
        alt = (
            "Left: reported against recomputed values with 95% CIs. Right: reported minus "
            "recomputed for each reported number, with the recomputed value's 95% CI."
        )
        return HTML(plots.figure_html(figure, alt=alt))

    def model_card(self) -> HTML:
        """Return the model card's values against the recomputed ones, scales repaired."""
        if self.card_comparison is None:
            return HTML(
                f"<p>The model card table shipped with evalbook has no row for "
                f"{html.escape(self.snapshot.model)}.</p>"
            )
        return HTML(text.comparison_table(self.card_comparison, caption="Model card"))


def overview_page(
    *,
    model: str,
    source: str,
    snapshot_path: str,
    tasks: str = "",
    output_dir: str = "",
    exports_dir: str = "exports",
) -> OverviewPage:
    """Collect every benchmark's estimates and compare them with what Meta reported.

    Each benchmark's summary is read from ``output_dir`` when its page has written one, and
    computed here otherwise. The comparison tables are exported to ``exports_dir`` as CSV,
    LaTeX and JSON.
    """
    snapshot = open_page_snapshot(model=model, source=source, snapshot_path=snapshot_path)
    present = set(snapshot.tasks())
    wanted = select_benchmarks(tasks or None)
    summaries = []
    failed: dict[str, str] = {}
    for benchmark in wanted:
        if benchmark.key not in present:
            continue
        saved = summary_path(Path(output_dir), benchmark.key) if output_dir else None
        if saved is not None and saved.is_file():
            summaries.append(pd.read_csv(saved))
            continue
        try:
            items = item_scores.score_benchmark(snapshot, benchmark)
        except (ValueError, OSError) as error:
            # The benchmark's own page shows the error; the overview lists it and goes on.
            logger.error("%s could not be scored: %s", benchmark.label, error)
            failed[benchmark.label] = " ".join(str(error).split())
            continue
        summaries.append(_attach_reported(summarize(items, benchmark, model=model), snapshot))
    missing = [benchmark.label for benchmark in wanted if benchmark.key not in present]
    if not summaries:
        raise ValueError(f"{snapshot.root}: no benchmark of the dump could be scored.")
    recomputed = pd.concat(summaries, ignore_index=True)

    if snapshot.has_config(snapshot.metrics_config):
        metrics_config = snapshot.read_metrics().to_pandas()
        values = reported.reported_values(metrics_config, model=snapshot.model)
        # Benchmarks left out of this build (--tasks) are not compared; unknown labels are.
        left_out = {b.key for b in BENCHMARKS} - set(recomputed["benchmark"])
        values = values[~values["benchmark"].isin(left_out)]
    else:
        values = pd.DataFrame(columns=list(reported.REPORTED_COLUMNS))
    comparison = reported.compare_reported(recomputed, values)
    card_models = set(reported.model_card()["model"])
    card = None
    if snapshot.model in card_models:
        card = reported.compare_model_card(recomputed, model=snapshot.model)
        card = card[card["benchmark"].isin(set(recomputed["benchmark"]))]

    # The card exports exist for every model, empty when the card has no row for it, so the
    # page's download links always resolve.
    card_export = card if card is not None else comparison.iloc[0:0]
    exports = reported.export_comparison(comparison, Path(exports_dir), stem="reported")
    exports |= {
        f"card-{kind}": path
        for kind, path in reported.export_comparison(
            card_export, Path(exports_dir), stem="model-card"
        ).items()
    }
    return OverviewPage(snapshot, source, recomputed, comparison, card, exports, missing, failed)
