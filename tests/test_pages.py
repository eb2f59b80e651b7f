"""Benchmark and overview pages built in-process on sample snapshots, intact and degraded."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import MODEL

from evalbook.pages import benchmark_page, overview_page
from evalbook.sample import write_snapshot

NLL = "output_choice_negative_log_likelihoods"


def config_of(task: str) -> str:
    return f"{MODEL}-evals__{task}__details"


def replace_column(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values))


def page_of(tmp_path: Path, task: str, table: pa.Table, sample_tables):
    tables = {
        config_of(task): table,
        f"{MODEL}-evals__metrics": sample_tables[f"{MODEL}-evals__metrics"],
    }
    snapshot = write_snapshot(tmp_path / "snap", tables=tables)
    return benchmark_page(model=MODEL, source="local", snapshot_path=str(snapshot), task=task)


def html_of(display) -> str:
    return display.data


def test_six_items_two_empty_give_half(tmp_path: Path, sample_tables) -> None:
    # 3 right, 1 wrong, 2 empty predictions: accuracy 3/6 with the 2 empty ones shown.
    table = sample_tables[config_of("squad")]
    answerable = [
        i for i, golds in enumerate(table["input_correct_responses"].to_pylist()) if golds
    ]
    table = table.take(answerable[:6])
    golds = table["input_correct_responses"].to_pylist()
    predictions = [
        [f" {golds[0][0]}\n"],
        [f" {golds[1][0]}"],
        [golds[2][0]],
        ["Warsaw"],
        [""],
        None,
    ]
    table = replace_column(table, "output_prediction_text", predictions)

    page = page_of(tmp_path, "squad", table, sample_tables)
    headline = html_of(page.headline())

    assert page.headline_row["value"] == pytest.approx(50.0)
    assert page.headline_row["n_items"] == 6
    assert "2 empty predictions, scored 0" in headline
    assert "abstentions" not in headline
    assert "unscorable" not in headline
    assert "n = 6 items" in headline


def test_unscorable_nlls_are_named_in_headline(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("mmlu")]
    rows = table[NLL].to_pylist()
    rows[0] = {key: [math.nan, *values[1:]] for key, values in rows[0].items()}
    table = replace_column(table, NLL, rows)

    page = page_of(tmp_path, "mmlu", table, sample_tables)
    calibration, figure = page.calibration()

    assert "1 unscorable (NLLs), counted as wrong" in html_of(page.headline())
    assert "1 unscorable items left out" in html_of(calibration)
    assert "<img" in html_of(figure)


def test_missing_char_nlls_give_no_headline(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("arc_challenge")]
    rows = [{"raw": row["raw"], "per_byte": row["token"]} for row in table[NLL].to_pylist()]
    table = replace_column(table, NLL, rows)

    page = page_of(tmp_path, "arc_challenge", table, sample_tables)

    assert page.headline_row is None
    headline = html_of(page.headline())
    assert "No headline number" in headline
    assert "no &#x27;char&#x27; NLLs" in headline
    assert set(page.summary["metric"]) == {"acc_raw", "acc_per_byte", "is_correct"}
    assert "No headline number" in html_of(page.calibration()[0])
    assert "acc_raw" in html_of(page.results())


def test_page_without_is_correct_and_eval_config(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("drop")].drop_columns(["is_correct", "eval_config"])

    page = page_of(tmp_path, "drop", table, sample_tables)

    assert "is_correct" not in set(page.summary["metric"])
    assert "not stored" in html_of(page.about())
    assert "is_correct (Meta)" not in html_of(page.examples())
    assert page.headline_row["metric"] == "f1"


def test_overview_lists_unscorable_benchmark(tmp_path: Path, sample_tables) -> None:
    tables = dict(sample_tables)
    tables[config_of("quac")] = tables[config_of("quac")].drop_columns(["output_prediction_text"])
    snapshot = write_snapshot(tmp_path / "snap", tables=tables)

    overview = overview_page(
        model=MODEL, source="local", snapshot_path=str(snapshot), exports_dir=str(tmp_path / "x")
    )

    assert set(overview.failed) == {"QuAC"}
    assert "output_prediction_text" in overview.failed["QuAC"]
    table = html_of(overview.benchmarks())
    assert "not scored" in table
    assert "SQuAD" in table


def test_results_show_minimum_detectable_effect(sample_snapshot: Path) -> None:
    page = benchmark_page(
        model=MODEL, source="local", snapshot_path=str(sample_snapshot), task="squad"
    )

    # MDE = (z_0.975 + z_0.8) * SE = (1.959964 + 0.841621) * SE.
    expected = (1.959964 + 0.841621) * page.summary["se"]
    assert page.summary["mde"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-6)
    assert "MDE (points)" in html_of(page.results())


def test_empty_abstentions_are_named_apart(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("squad")]
    golds = table["input_correct_responses"].to_pylist()
    unanswerable = [i for i, gold in enumerate(golds) if not gold][:2]
    answerable = [i for i, gold in enumerate(golds) if gold][:2]
    table = table.take(unanswerable + answerable)
    table = replace_column(table, "output_prediction_text", [[""], [""], [""], ["\n"]])

    page = page_of(tmp_path, "squad", table, sample_tables)
    headline = html_of(page.headline())

    assert page.headline_row["value"] == pytest.approx(50.0)
    assert "2 empty predictions, scored 0" in headline
    assert "2 empty predictions on unanswerable items, scored 1 as abstentions" in headline
