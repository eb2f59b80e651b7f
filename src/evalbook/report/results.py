"""Result files a page writes beside the site: per-item scores and the benchmark's summary.

``<output_dir>/<benchmark>.items.parquet`` holds one row per item; ``<benchmark>.summary.csv``
holds the page's estimates. The runner joins the summaries into ``summary.csv``. Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from evalbook._files import write_atomic

__all__ = ["items_path", "save_benchmark_results", "summary_path", "write_atomic"]


def items_path(output_dir: Path, key: str) -> Path:
    """Return the path of a benchmark's per-item scores."""
    return Path(output_dir) / f"{key}.items.parquet"


def summary_path(output_dir: Path, key: str) -> Path:
    """Return the path of a benchmark's summary (its page's estimates)."""
    return Path(output_dir) / f"{key}.summary.csv"


def save_benchmark_results(
    output_dir: Path, key: str, items: pd.DataFrame, summary: pd.DataFrame
) -> None:
    """Write a benchmark's per-item table (Parquet) and summary (CSV) into ``output_dir``."""
    items_file = items_path(output_dir, key)
    items_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = items_file.with_name(f".{items_file.name}.partial")
    items.to_parquet(temporary, index=False)
    os.replace(temporary, items_file)

    csv = summary.to_csv(index=False, float_format="%.6f").encode("utf-8")
    write_atomic(summary_path(output_dir, key), csv)
