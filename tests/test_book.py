"""The whole book built from the sample with `evalbook build`: pages, numbers and result files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import MODEL, BookBuild

from evalbook.registry import BENCHMARKS
from evalbook.summary import SUMMARY_COLUMNS

pytestmark = pytest.mark.slow

PAGES = ["overview", *(benchmark.key for benchmark in BENCHMARKS)]


class HeadlineParser(HTMLParser):
    """Collect the ``data-*`` attributes and the shown value of the page's headline."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: dict[str, str] = {}
        self.shown = ""
        self._in_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if attributes.get("id") == "headline":
            self.attributes = attributes
        if "evalbook-value" in attributes.get("class", ""):
            self._in_value = True

    def handle_data(self, data: str) -> None:
        if self._in_value:
            self.shown += data

    def handle_endtag(self, tag: str) -> None:
        self._in_value = False


def headline_of(page: str) -> HeadlineParser:
    parser = HeadlineParser()
    parser.feed(page)
    return parser


def summary_of(book: BookBuild) -> pd.DataFrame:
    return pd.read_csv(book.results / "summary.csv")


def test_build_prints_index_path(sample_book: BookBuild) -> None:
    lines = sample_book.process.stdout.strip().splitlines()

    assert lines[-1] == str(sample_book.html / "index.html")
    assert (sample_book.html / "index.html").is_file()


def test_build_writes_every_page(sample_book: BookBuild) -> None:
    for name in PAGES:
        assert (sample_book.html / "book" / "pages" / f"{name}.html").is_file(), name
    assert (sample_book.html / "book" / "intro.html").is_file()
    assert (sample_book.html / "book" / "methods.html").is_file()


@pytest.mark.parametrize("name", PAGES)
def test_page_says_data_is_synthetic(sample_book: BookBuild, name: str) -> None:
    assert "Synthetic data" in sample_book.page(name)


@pytest.mark.parametrize("name", PAGES)
def test_page_hides_parameter_cells(
    sample_book: BookBuild, sample_snapshot: Path, name: str
) -> None:
    page = sample_book.page(name)

    assert "papermill injects" not in page
    assert "Injected parameters" not in page
    assert str(sample_snapshot) not in page.split("Provenance")[0]
    assert "Traceback" not in page
    assert "Error" not in re.sub(r"<[^>]+>", " ", page).split()


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.key)
def test_page_headline_equals_summary(sample_book: BookBuild, benchmark) -> None:
    summary = summary_of(sample_book)
    parser = headline_of(sample_book.page(benchmark.key))
    row = summary[
        (summary["benchmark"] == benchmark.key)
        & (summary["metric"] == parser.attributes["data-metric"])
        & (summary["aggregation"] == parser.attributes["data-aggregation"])
    ]

    assert parser.attributes["data-metric"] == benchmark.metric
    assert len(row) == 1
    assert float(parser.attributes["data-value"]) == pytest.approx(row["value"].iloc[0], abs=1e-6)
    assert parser.shown == f"{row['value'].iloc[0]:.1f}%"


def test_summary_has_every_benchmark(sample_book: BookBuild) -> None:
    summary = summary_of(sample_book)

    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert set(summary["benchmark"]) == {benchmark.key for benchmark in BENCHMARKS}
    assert (summary["model"] == MODEL).all()
    assert summary[["n_items", "value", "se", "ci_low", "ci_high"]].notna().all().all()
    assert (summary["ci_low"] <= summary["value"]).all()
    assert (summary["value"] <= summary["ci_high"]).all()
    assert summary["ci_low"].min() >= 0
    assert summary["ci_high"].max() <= 100


def clustered_se(scores: np.ndarray, clusters: np.ndarray) -> float:
    """SE_cl = sqrt(C / (C - 1) * sum_c (sum_{i in c} (s_i - mean))^2) / n, written out here."""
    residuals = pd.Series(scores - scores.mean()).groupby(clusters).sum()
    count = len(residuals)
    return float(np.sqrt(count / (count - 1) * np.sum(residuals**2)) / len(scores))


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.key)
def test_summary_matches_items(sample_book: BookBuild, benchmark) -> None:
    summary = summary_of(sample_book).set_index(["benchmark", "metric", "aggregation"])
    items = pd.read_parquet(sample_book.results / f"{benchmark.key}.items.parquet")
    scores = items[benchmark.metric].to_numpy(dtype=float)

    micro = summary.loc[(benchmark.key, benchmark.metric, "micro")]
    assert micro["n_items"] == len(items)
    assert micro["value"] == pytest.approx(100 * scores.mean(), abs=1e-5)
    if benchmark.cluster:
        expected_se = clustered_se(scores, items["cluster"].to_numpy())
    else:
        expected_se = scores.std(ddof=1) / np.sqrt(len(scores))
    assert micro["se"] == pytest.approx(100 * expected_se, abs=1e-5)

    if benchmark.aggregation == "macro":
        macro = summary.loc[(benchmark.key, benchmark.metric, "macro")]
        groups = items.groupby("subtask")[benchmark.metric]
        assert macro["value"] == pytest.approx(100 * groups.mean().mean(), abs=1e-5)
        group_se = groups.std(ddof=1) / np.sqrt(groups.count())
        expected = np.sqrt((group_se**2).sum()) / len(group_se)
        assert macro["se"] == pytest.approx(100 * expected, abs=1e-5)


def test_summary_is_correct_rows_are_meta_flags(sample_book: BookBuild) -> None:
    summary = summary_of(sample_book).set_index(["benchmark", "metric", "aggregation"])

    for benchmark in BENCHMARKS:
        items = pd.read_parquet(sample_book.results / f"{benchmark.key}.items.parquet")
        row = summary.loc[(benchmark.key, "is_correct", "micro")]
        assert row["value"] == pytest.approx(100 * items["meta_is_correct"].mean(), abs=1e-5)


def test_summary_reported_values_come_from_metrics_config(sample_book: BookBuild) -> None:
    # The generator writes Meta-style values computed from the outcomes it intends, without
    # evalbook's scorers; the recomputation must reproduce each headline value.
    summary = summary_of(sample_book).set_index(["benchmark", "metric", "aggregation"])

    for benchmark in BENCHMARKS:
        aggregation = benchmark.aggregation if benchmark.key != "multi_needle" else "micro"
        row = summary.loc[(benchmark.key, benchmark.metric, aggregation)]
        assert row["reported"] == pytest.approx(row["value"], abs=1e-4), benchmark.key


def test_overview_compares_every_benchmark(sample_book: BookBuild) -> None:
    page = sample_book.page("overview")

    for benchmark in BENCHMARKS:
        assert benchmark.label in page
    assert "agrees" in page
    downloads = list((sample_book.html / "_downloads").rglob("reported.csv"))
    assert len(downloads) == 1
    assert pd.read_csv(downloads[0])["verdict"].notna().all()
