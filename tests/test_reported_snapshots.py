"""Reported against recomputed on generated snapshots whose metrics config is deliberately wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import MODEL

from evalbook.pages import overview_page
from evalbook.sample import write_snapshot

METRICS = f"{MODEL}-evals__metrics"
MMLU = f"{MODEL}-evals__mmlu__details"


def skewed_mmlu(table: pa.Table) -> pa.Table:
    """Return an MMLU table with one small, mostly right subject and one large, mostly wrong one.

    Its macro average (about 50%) and micro average (about 14%) then differ by many SEs.
    """
    right = table.filter(pc.equal(table["is_correct"], True))
    wrong = table.filter(pc.equal(table["is_correct"], False))
    parts = [
        (right, 9, "subject_small"),
        (wrong, 1, "subject_small"),
        (right, 20, "subject_large"),
        (wrong, 180, "subject_large"),
    ]
    rows = []
    for source, count, subject in parts:
        for index in range(count):
            row = source.slice(index % source.num_rows, 1).to_pylist()[0]
            row["subtask_name"] = subject
            row["input_question_hash"] = hashlib.sha256(
                f"{subject}-{len(rows)}".encode()
            ).hexdigest()
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=table.schema)


def metrics_row(config: pd.DataFrame, label: str, tag: str) -> int:
    matches = config.index[
        (config["benchmark_label"] == label)
        & (config["metric_tag"] == tag)
        & config["subtask_name"].isna()
    ]
    assert len(matches) == 1, (label, tag)
    return int(matches[0])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory, sample_tables) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("reported")
    tables = dict(sample_tables)
    tables[MMLU] = skewed_mmlu(tables[MMLU])

    # A first pass recomputes the true values, from which the wrong reports are made.
    honest = write_snapshot(tmp / "honest", tables={**tables, METRICS: tables[METRICS]})
    truth = overview_page(
        model=MODEL, source="local", snapshot_path=str(honest), exports_dir=str(tmp / "x")
    ).recomputed.set_index(["benchmark", "metric", "aggregation"])

    config = tables[METRICS].to_pandas()
    config = config[~((config["benchmark_label"] == "MMLU") & config["subtask_name"].notna())]
    mmlu = metrics_row(config, "MMLU", "macro_avg/acc_char")
    config.loc[mmlu, "metric_value_computed"] = truth.loc[("mmlu", "acc_char", "micro"), "value"]
    quac = metrics_row(config, "QuAC", "f1")
    config.loc[quac, "metric_value_computed"] = truth.loc[("quac", "em", "micro"), "value"]
    agieval = metrics_row(config, "AGIEval English", "average/acc_char")
    config.loc[agieval, "metric_value_computed"] = (
        truth.loc[("agieval_english", "acc_char", "macro"), "value"] / 100
    )
    arc = metrics_row(config, "ARC-Challenge", "acc_char")
    estimate = truth.loc[("arc_challenge", "acc_char", "micro")]
    config.loc[arc, "metric_value_computed"] = estimate["value"] + 3 * estimate["se"]
    config.loc[len(config)] = ["SQuAD", "bleu_4", 12.0, None, 150]

    tables[METRICS] = pa.Table.from_pandas(
        config, schema=tables[METRICS].schema, preserve_index=False
    )
    altered = write_snapshot(tmp / "altered", tables=tables)
    page = overview_page(
        model=MODEL, source="local", snapshot_path=str(altered), exports_dir=str(tmp / "exports")
    )
    return page.comparison.set_index(["label", "metric_tag"])


def test_micro_reported_as_macro_is_diagnosed(comparison: pd.DataFrame) -> None:
    row = comparison.loc[("MMLU", "macro_avg/acc_char")]

    assert row["verdict"] == "differs"
    assert row["cause"] == "aggregation"
    assert "micro" in row["likely_cause"]


def test_em_reported_as_f1_is_diagnosed(comparison: pd.DataFrame) -> None:
    row = comparison.loc[("QuAC", "f1")]

    assert row["verdict"] == "differs"
    assert row["cause"] == "metric"
    assert "em" in row["likely_cause"] or "is_correct" in row["likely_cause"]


def test_fraction_is_diagnosed_as_scale(comparison: pd.DataFrame) -> None:
    row = comparison.loc[("AGIEval English", "average/acc_char")]

    assert row["verdict"] == "differs"
    assert row["cause"] == "scale"


def test_three_se_off_is_unexplained(comparison: pd.DataFrame) -> None:
    row = comparison.loc[("ARC-Challenge", "acc_char")]

    assert row["verdict"] == "differs"
    assert row["cause"] == "unexplained"
    assert row["difference_se"] == pytest.approx(3.0, abs=1e-6)
    assert "3.0 SE" in row["likely_cause"]


def test_unknown_tag_is_listed_not_dropped(comparison: pd.DataFrame) -> None:
    row = comparison.loc[("SQuAD", "bleu_4")]

    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "unknown_tag"


def test_honest_rows_agree(comparison: pd.DataFrame) -> None:
    for key in [("SQuAD", "em"), ("DROP", "f1"), ("Needle in Haystack", "em")]:
        assert comparison.loc[key, "verdict"] == "agrees", key


def test_exports_are_written(tmp_path_factory: pytest.TempPathFactory, comparison) -> None:
    exports = sorted(Path(tmp_path_factory.getbasetemp()).rglob("exports/reported.*"))

    assert {path.suffix for path in exports} >= {".csv", ".tex", ".json"}
