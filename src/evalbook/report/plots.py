"""Figures for the book's pages, drawn on :class:`matplotlib.figure.Figure` objects.

Figures are built without pyplot, so no global figure state leaks between pages, and the
inline backend does not show a figure a second time. Pages embed them with :func:`figure_html`.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evalbook.metrics import stats

__all__ = ["breakdown_plot", "figure_html", "needle_heatmap", "reliability_plot"]

_Z95 = 1.959963984540054


def figure_html(figure: Figure, *, alt: str, dpi: int = 110) -> str:
    """Return ``figure`` as an ``<img>`` tag with the PNG inline and ``alt`` as its text.

    An inline image keeps the page self-contained (it works offline) and gives screen readers
    a description, which a bare figure output lacks.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img class="evalbook-figure" alt="{html.escape(alt, quote=True)}" '
        f'src="data:image/png;base64,{encoded}">'
    )


def breakdown_plot(
    items: pd.DataFrame, *, by: str, metric: str, title: str, max_groups: int = 60
) -> Figure:
    """Plot the mean of ``metric`` per value of ``by`` with 95% intervals, in percent.

    Groups of 0/1 scores get the Wilson interval (it stays inside [0, 100] for small groups);
    other scores get mean ± 1.96 SE. Groups are sorted by their label, or by mean when there
    are many, and at most ``max_groups`` are drawn (the rest are named in the title).
    """
    rows = []
    for label, group in items.groupby(by, observed=True, sort=True):
        scores = group[metric].to_numpy(dtype=float)
        mean = float(np.mean(scores))
        if np.isin(scores, (0.0, 1.0)).all():
            low, high = stats.wilson_interval(int(scores.sum()), len(scores))
        else:
            se = float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
            low, high = mean - _Z95 * se, mean + _Z95 * se
        rows.append((str(label), len(scores), 100 * mean, 100 * low, 100 * high))
    frame = pd.DataFrame(rows, columns=["group", "n", "mean", "low", "high"])
    if len(frame) > 12:
        frame = frame.sort_values("mean", kind="stable")
    left_out = max(0, len(frame) - max_groups)
    frame = frame.tail(max_groups)

    height = max(2.5, 0.22 * len(frame) + 1.2)
    figure = Figure(figsize=(7.5, height), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(frame))
    axes.errorbar(
        frame["mean"],
        positions,
        xerr=[frame["mean"] - frame["low"], frame["high"] - frame["mean"]],
        fmt="o",
        capsize=2,
    )
    # Group labels come from the data: parse_math=False draws a "$" as a "$" instead of
    # starting matplotlib's mathtext, which raises on text that is not valid TeX.
    axes.set_yticks(
        positions,
        [f"{g} (n={n})" for g, n in zip(frame["group"], frame["n"], strict=True)],
        parse_math=False,
    )
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"{metric} (%), 95% interval")
    suffix = f" ({left_out} lowest groups not shown)" if left_out else ""
    axes.set_title(title + suffix, fontsize=10, parse_math=False)
    axes.grid(axis="x", alpha=0.3)
    return figure


def reliability_plot(diagram, *, title: str) -> Figure:
    """Plot a reliability diagram: accuracy against mean confidence per bin, with bin counts."""
    figure = Figure(figsize=(5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    confidence = np.asarray(diagram.mean_confidence, dtype=float)
    accuracy = np.asarray(diagram.accuracy, dtype=float)
    counts = np.asarray(diagram.counts)
    shown = counts > 0
    axes.scatter(confidence[shown], accuracy[shown], s=10 + 200 * counts[shown] / counts.max())
    axes.plot(confidence[shown], accuracy[shown], alpha=0.5)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean confidence in bin (max softmax of −raw NLL)")
    axes.set_ylabel("accuracy in bin")
    axes.set_title(title, fontsize=10)
    # Below the axes, so that it covers no bin.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8)
    return figure


def needle_heatmap(items: pd.DataFrame, *, metric: str, title: str, depth_bins: int = 5) -> Figure:
    """Plot ``metric`` (percent) by context length (rows) and needle depth (columns)."""
    edges = np.linspace(0, 100, depth_bins + 1)
    depth = pd.cut(items["depth_percent"], edges, include_lowest=True)
    table = items.assign(depth=depth).pivot_table(
        index="context_length", columns="depth", values=metric, aggfunc="mean", observed=False
    )
    figure = Figure(figsize=(7, 0.35 * len(table) + 1.8), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(
        100 * table.to_numpy(dtype=float), vmin=0, vmax=100, aspect="auto", cmap="viridis"
    )
    axes.set_yticks(range(len(table.index)), [str(label) for label in table.index])
    axes.set_xticks(
        range(len(table.columns)),
        [f"{c.left:.0f}–{c.right:.0f}%" for c in table.columns],
        rotation=30,
    )
    axes.set_ylabel("context length (estimated tokens)")
    axes.set_xlabel("needle depth in the prompt")
    axes.set_title(f"{title}\n(blank cells: no items at that length and depth)", fontsize=10)
    figure.colorbar(image, ax=axes, label=f"{metric} (%)")
    return figure
