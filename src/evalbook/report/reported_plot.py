"""Plot Meta's reported numbers against the book's recomputed estimates."""

from __future__ import annotations

import logging
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["plot_differences", "plot_reported_vs_recomputed"]

logger = logging.getLogger(__name__)

VERDICT_COLORS = {"agrees": "tab:green", "small difference": "tab:orange", "differs": "tab:red"}
"""Colour of each plotted verdict. Rows with any other verdict are not plotted."""

_REQUIRED_COLUMNS = ("label", "metric_tag", "reported", "recomputed", "ci_low", "ci_high")


def plot_reported_vs_recomputed(
    table: pd.DataFrame, *, ax: Axes | None = None, labels: bool = True
) -> Axes:
    """Draw each reported value (x) against its recomputed estimate (y) with the 95% CI.

    Points are coloured by verdict and labelled by benchmark. The line y = x marks perfect
    agreement. A row is left out, and listed in the title, when it has no recomputed value
    (verdict "not recomputed" or "not reported") or an unrepaired scale mix-up (cause
    ``scale``), because a fraction such as 1 would sit far from its percent.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`evalbook.reported.compare_reported`. Needs ``label, metric_tag,
        reported, recomputed, ci_low, ci_high, verdict`` and uses ``cause`` and ``model`` when
        present.
    ax : Axes, optional
        Axes to draw on; a new square figure is made when None.
    labels : bool
        Write each point's benchmark beside it. Close points make the labels overlap; a
        figure with many rows shows :func:`plot_differences` beside it instead.

    Returns
    -------
    Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    missing = [column for column in (*_REQUIRED_COLUMNS, "verdict") if column not in table]
    if missing:
        raise ValueError(
            f"table is missing the columns {', '.join(missing)}; pass the output of "
            "evalbook.reported.compare_reported"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))

    plotted, left_out = _split_plottable(table)
    names = _point_names(plotted)

    for verdict, color in VERDICT_COLORS.items():
        rows = plotted[plotted["verdict"] == verdict]
        if rows.empty:
            continue
        x = rows["reported"].to_numpy(dtype=float)
        y = rows["recomputed"].to_numpy(dtype=float)
        below = np.nan_to_num(y - rows["ci_low"].to_numpy(dtype=float)).clip(min=0)
        above = np.nan_to_num(rows["ci_high"].to_numpy(dtype=float) - y).clip(min=0)
        ax.errorbar(
            x,
            y,
            yerr=np.vstack([below, above]),
            fmt="o",
            color=color,
            ecolor=color,
            capsize=3,
            label=f"{verdict} ({len(rows)})",
        )
        for name, x_value, y_value in zip(names[rows.index], x, y, strict=True) if labels else ():
            ax.annotate(
                name,
                (x_value, y_value),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize="small",
                # Labels come from the metrics config; a "$" in them must not start mathtext.
                parse_math=False,
            )

    _draw_diagonal(ax, plotted)
    ax.set_xlabel("reported (%)")
    ax.set_ylabel("recomputed (%), with 95% CI")
    if not plotted.empty:
        ax.legend(title="verdict", loc="lower right")

    title = "Reported against recomputed"
    if left_out:
        note = "Not plotted: " + "; ".join(left_out)
        title = f"{title}\n" + textwrap.fill(note, width=70, break_on_hyphens=False)
        logger.info("%d rows left out of the plot: %s", len(left_out), "; ".join(left_out))
    ax.set_title(title, fontsize="medium", parse_math=False)
    return ax


def _split_plottable(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Return the rows to plot and a description of each row left out."""
    has_values = (
        table["verdict"].isin(list(VERDICT_COLORS))
        & np.isfinite(pd.to_numeric(table["reported"], errors="coerce"))
        & np.isfinite(pd.to_numeric(table["recomputed"], errors="coerce"))
    )
    scale_problem = (
        table["cause"].eq("scale") if "cause" in table else pd.Series(False, index=table.index)
    )
    plottable = has_values & ~scale_problem

    left_out = []
    for index, row in table[~plottable].iterrows():
        reason = "scale mix-up" if scale_problem[index] else str(row["verdict"])
        left_out.append(f"{row['label']} {row['metric_tag']} ({reason})")
    return table[plottable], left_out


def _point_names(plotted: pd.DataFrame) -> pd.Series:
    """Name each point by its benchmark label, adding the tag and model only where needed."""
    names = plotted["label"].astype(str)
    repeated = names.duplicated(keep=False)
    names = names.where(~repeated, names + " " + plotted["metric_tag"].astype(str))
    if "model" in plotted:
        repeated = names.duplicated(keep=False)
        names = names.where(~repeated, names + " " + plotted["model"].astype(str))
    return names


def _draw_diagonal(ax: Axes, plotted: pd.DataFrame) -> None:
    """Draw y = x and make both axes span the same range around the points."""
    if plotted.empty:
        low, high = 0.0, 100.0
    else:
        values = pd.concat(
            [plotted[column] for column in ("reported", "recomputed", "ci_low", "ci_high")]
        )
        values = pd.to_numeric(values, errors="coerce").dropna()
        low, high = float(values.min()), float(values.max())
    margin = max(2.0, 0.05 * (high - low))
    low, high = max(0.0, low - margin), high + margin

    ax.axline((low, low), slope=1, color="0.5", linestyle="--", linewidth=1, label="y = x")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")


def plot_differences(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Draw reported minus recomputed for each row, with the recomputed value's 95% CI.

    One row per reported value, named on the y axis, so close values stay readable. The
    interval is the recomputed estimate's 95% CI moved to 0: a point outside it lies outside
    sampling error. Rows are left out as in :func:`plot_reported_vs_recomputed`.
    """
    missing = [column for column in (*_REQUIRED_COLUMNS, "verdict") if column not in table]
    if missing:
        raise ValueError(
            f"table is missing the columns {', '.join(missing)}; pass the output of "
            "evalbook.reported.compare_reported"
        )
    plotted, _ = _split_plottable(table)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(plotted) + 1.5))

    names = (plotted["label"].astype(str) + " " + plotted["metric_tag"].astype(str)).to_numpy()
    positions = np.arange(len(plotted))[::-1]
    recomputed = plotted["recomputed"].to_numpy(dtype=float)
    below = np.nan_to_num(recomputed - plotted["ci_low"].to_numpy(dtype=float)).clip(min=0)
    above = np.nan_to_num(plotted["ci_high"].to_numpy(dtype=float) - recomputed).clip(min=0)
    ax.errorbar(
        np.zeros(len(plotted)),
        positions,
        xerr=np.vstack([below, above]),
        fmt="none",
        ecolor="0.6",
        capsize=3,
        label="95% CI of the recomputed value",
    )
    differences = plotted["reported"].to_numpy(dtype=float) - recomputed
    for verdict, color in VERDICT_COLORS.items():
        chosen = (plotted["verdict"] == verdict).to_numpy()
        if chosen.any():
            ax.plot(
                differences[chosen],
                positions[chosen],
                "D",
                color=color,
                label=f"{verdict} ({int(chosen.sum())})",
            )
    ax.axvline(0, color="0.5", linewidth=1)
    ax.set_yticks(positions, names)
    for tick in ax.get_yticklabels():
        tick.set_parse_math(False)
    ax.set_xlabel("reported − recomputed (points)")
    ax.set_title("Difference per reported value", fontsize="medium")
    if len(plotted):
        # Below the axes, so that it never covers a row.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize="small")
    return ax
