"""Tests for the comparison of reported numbers with recomputed estimates.

Every case builds a recomputed table and a metrics config in which the reported value is
wrong in one known way, then checks the verdict and the stated cause.
"""

from __future__ import annotations

import json
import logging
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from evalbook.report.reported_plot import plot_differences, plot_reported_vs_recomputed
from evalbook.reported import (
    COMPARISON_COLUMNS,
    MetricTag,
    MissingMetricError,
    compare_model_card,
    compare_reported,
    export_comparison,
    model_card,
    parse_metric_tag,
    repair_scale,
    reported_values,
)

MODEL = "Llama-3.2-1B"


def estimate(benchmark, metric, aggregation, n_items, value, se, *, model=MODEL, subtask=None):
    """One row of a recomputed table, with a normal 95% interval around ``value``."""
    return {
        "model": model,
        "benchmark": benchmark,
        "subtask": subtask,
        "metric": metric,
        "aggregation": aggregation,
        "n_items": n_items,
        "value": value,
        "se": se,
        "ci_low": value - 1.96 * se,
        "ci_high": value + 1.96 * se,
    }


def recomputed_table() -> pd.DataFrame:
    """Recomputed estimates shaped like the book's, with realistic values and SEs."""
    rows = [
        # MMLU: 57 subjects, so the macro and micro averages differ by more than 2 SE.
        estimate("mmlu", "acc_char", "macro", 14042, 58.02, 0.41),
        estimate("mmlu", "acc_char", "micro", 14042, 56.43, 0.42),
        estimate("mmlu", "acc_raw", "macro", 14042, 57.10, 0.41),
        estimate("mmlu", "acc_raw", "micro", 14042, 55.70, 0.42),
        estimate("mmlu", "is_correct", "micro", 14042, 56.43, 0.42),
        # ARC-Challenge has no subtasks, and its normalizations disagree by several SE.
        estimate("arc_challenge", "acc_char", "micro", 1164, 32.80, 1.37),
        estimate("arc_challenge", "acc_raw", "micro", 1164, 28.10, 1.32),
        estimate("arc_challenge", "acc_token", "micro", 1164, 24.90, 1.27),
        estimate("arc_challenge", "is_correct", "micro", 1164, 32.80, 1.37),
        # DROP: is_correct is exact match, far below F1.
        estimate("drop", "em", "micro", 9536, 24.90, 0.44),
        estimate("drop", "f1", "micro", 9536, 31.20, 0.45),
        estimate("drop", "is_correct", "micro", 9536, 28.00, 0.46),
        # SQuAD v2.
        estimate("squad", "em", "micro", 11873, 49.25, 0.46),
        estimate("squad", "f1", "micro", 11873, 55.80, 0.43),
        estimate("squad", "is_correct", "micro", 11873, 49.25, 0.46),
        # Multi-needle has no subtasks, so only a micro recall exists.
        estimate("multi_needle", "recall", "micro", 400, 75.30, 1.90),
        estimate("multi_needle", "is_correct", "micro", 400, 61.00, 2.44),
        estimate("needle_in_haystack", "em", "micro", 1000, 96.70, 0.56),
        estimate("needle_in_haystack", "is_correct", "micro", 1000, 96.70, 0.56),
    ]
    return pd.DataFrame(rows)


def metrics_config(rows: list[tuple]) -> pd.DataFrame:
    """A metrics config with the documented columns and one unknown extra column."""
    table = pd.DataFrame(rows, columns=["benchmark_label", "metric_tag", "metric_value_computed"])
    table["eval_run_id"] = "run-0"
    return table


def compare_one(label: str, tag: str, value: float, **options) -> pd.Series:
    reported = reported_values(metrics_config([(label, tag, value)]), model=MODEL)
    table = compare_reported(recomputed_table(), reported, **options)
    assert len(table) == 1
    return table.iloc[0]


# ---------------------------------------------------------------------------------------------
# parse_metric_tag
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("macro_avg/acc_char", ("macro", "acc_char")),
        ("average/acc_char", ("macro", "acc_char")),
        ("micro_avg/acc_char", ("micro", "acc_char")),
        ("acc_char", ("micro", "acc_char")),
        ("acc_raw", ("micro", "acc_raw")),
        ("em", ("micro", "em")),
        ("f1", ("micro", "f1")),
        ("macro_avg/recall", ("macro", "recall")),
        ("macro_avg/acc", ("macro", "acc")),
        ("acc", ("micro", "acc")),
        (" em ", ("micro", "em")),
    ],
)
def test_parse_metric_tag_known(tag, expected):
    parsed = parse_metric_tag(tag)

    assert parsed == MetricTag(*expected)
    assert parsed.mapped


@pytest.mark.parametrize(
    "tag", ["rougeL", "micro_avg/rougeL", "longbook_qa/f1", "a/b/c", "", None, float("nan")]
)
def test_parse_metric_tag_unknown(tag):
    parsed = parse_metric_tag(tag)

    assert parsed == MetricTag(None, None)
    assert not parsed.mapped


def test_parse_metric_tag_keeps_acc_distinct():
    assert parse_metric_tag("macro_avg/acc").metric == "acc"
    assert parse_metric_tag("macro_avg/acc").metric != parse_metric_tag("macro_avg/acc_char").metric


# ---------------------------------------------------------------------------------------------
# reported_values
# ---------------------------------------------------------------------------------------------


def full_metrics_config() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "benchmark_label": ["MMLU", "MMLU", "MMLU", "MMLU", "SQuAD", "Made-up Bench", "DROP"],
            # A subtask_name that is empty or equal to the label marks a benchmark-level row.
            "subtask_name": [None, "", "abstract_algebra", "anatomy", None, None, "drop"],
            "metric_tag": [
                "macro_avg/acc_char",
                "micro_avg/acc_char",
                "acc_char",
                "acc_char",
                "em",
                "f1",
                "rougeL",
            ],
            "metric_value_computed": [32.2, 31.5, 25.0, 40.74, 49.2, 10.0, 3.0],
            "num_samples": [14042, 14042, 100, 135, 11873, 10, 9536],
            "some_unknown_column": list("abcdefg"),
        }
    )


def test_reported_values_headline_rows():
    table = reported_values(full_metrics_config(), model=MODEL)

    assert table["metric_tag"].tolist() == [
        "macro_avg/acc_char",
        "micro_avg/acc_char",
        "em",
        "f1",
        "rougeL",
    ]
    assert table["model"].eq(MODEL).all()
    assert table["subtask"].isna().all()
    assert table["reported"].tolist() == [32.2, 31.5, 49.2, 10.0, 3.0]
    assert table["num_samples"].tolist() == [14042, 14042, 11873, 10, 9536]
    assert "some_unknown_column" not in table.columns


def test_reported_values_registry_mapping():
    table = reported_values(full_metrics_config(), model=MODEL)

    assert table["benchmark"].tolist() == ["mmlu", "mmlu", "squad", None, "drop"]
    assert table["aggregation"].tolist() == ["macro", "micro", "micro", "micro", None]
    assert table["metric"].tolist() == ["acc_char", "acc_char", "em", "f1", None]
    assert table["card_metric"].tolist() == [True, False, True, False, False]


def test_reported_values_subtask_rows():
    table = reported_values(full_metrics_config(), model=MODEL, level="subtask")

    assert table["subtask"].tolist() == ["abstract_algebra", "anatomy"]
    assert table["benchmark"].tolist() == ["mmlu", "mmlu"]
    assert table["reported"].tolist() == [25.0, 40.74]
    assert table["num_samples"].tolist() == [100, 135]


def test_reported_values_logs_unknowns(caplog):
    with caplog.at_level(logging.WARNING, logger="evalbook.reported"):
        reported_values(full_metrics_config(), model=MODEL)

    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "Made-up Bench" in messages
    assert "rougeL" in messages


def test_reported_values_without_optional_columns():
    table = reported_values(metrics_config([("QuAC", "f1", 37.9)]), model=MODEL)

    assert table["benchmark"].tolist() == ["quac"]
    assert table["num_samples"].isna().all()


def test_reported_values_any_index():
    config = full_metrics_config()
    config.index = [70, 60, 50, 40, 30, 20, 10]

    table = reported_values(config, model=MODEL)

    assert table["num_samples"].tolist() == [14042, 14042, 11873, 10, 9536]
    assert table["reported"].tolist() == [32.2, 31.5, 49.2, 10.0, 3.0]


def test_reported_values_missing_columns():
    config = pd.DataFrame({"benchmark_label": ["MMLU"], "value": [32.2]})

    with pytest.raises(ValueError, match="metric_tag, metric_value_computed"):
        reported_values(config, model=MODEL)


def test_reported_values_rejects_text_values():
    config = metrics_config([("MMLU", "macro_avg/acc_char", "n/a")])

    with pytest.raises(ValueError, match=r"metric_value_computed.*'n/a'"):
        reported_values(config, model=MODEL)


def test_reported_values_rejects_invalid_level():
    with pytest.raises(ValueError, match="invalid level 'all'"):
        reported_values(full_metrics_config(), model=MODEL, level="all")


# ---------------------------------------------------------------------------------------------
# compare_reported: each kind of disagreement
# ---------------------------------------------------------------------------------------------


def test_compare_columns():
    reported = reported_values(full_metrics_config(), model=MODEL)

    table = compare_reported(recomputed_table(), reported)

    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert len(table) == len(reported)


def test_compare_agrees_within_tolerance():
    row = compare_one("MMLU", "macro_avg/acc_char", 58.0)

    assert row["verdict"] == "agrees"
    assert row["cause"] == ""
    assert row["likely_cause"] == ""
    assert row["compared_with"] == "acc_char (macro)"
    assert row["recomputed"] == 58.02
    assert row["n_items"] == 14042
    assert row["difference"] == pytest.approx(-0.02)
    assert row["difference_se"] == pytest.approx(-0.02 / 0.41)


def test_compare_tolerance_edges():
    # ARC acc_char: 32.80 with SE 1.37, so 2 SE is 2.74 points. Only the printed precision
    # (0.05 points) agrees; an unexplained gap within 2 SE is a small difference.
    rounded = compare_one("ARC-Challenge", "acc_char", 32.80 + 0.05)
    beyond_rounding = compare_one("ARC-Challenge", "acc_char", 32.80 + 0.06)
    inside = compare_one("ARC-Challenge", "acc_char", 32.80 + 2.70)
    outside = compare_one("ARC-Challenge", "acc_char", 32.80 + 2.80)
    wide = compare_one("ARC-Challenge", "acc_char", 32.80 + 2.80, tolerance_se=3.0)

    assert rounded["verdict"] == "agrees"
    assert beyond_rounding["verdict"] == "small difference"
    assert inside["verdict"] == "small difference"
    assert inside["cause"] == "unexplained"
    assert "within sampling error" in inside["likely_cause"]
    assert outside["verdict"] == "differs"
    assert wide["verdict"] == "small difference"


def test_compare_micro_reported_as_macro():
    row = compare_one("MMLU", "macro_avg/acc_char", 56.4)

    assert row["verdict"] == "differs"
    assert row["cause"] == "aggregation"
    assert "micro average 56.43" in row["likely_cause"]
    assert "not the macro average 58.02" in row["likely_cause"]
    assert row["difference_se"] == pytest.approx((56.4 - 58.02) / 0.41)


def test_compare_em_reported_as_f1():
    row = compare_one("DROP", "f1", 28.0)

    assert row["verdict"] == "differs"
    assert row["cause"] == "metric"
    assert "is_correct" in row["likely_cause"]
    assert "exact match" in row["likely_cause"]
    assert "not f1 (micro) 31.2" in row["likely_cause"]
    assert row["recomputed"] == 31.2


def test_compare_fraction_reported_for_percent():
    # 0.5802 is the macro accuracy 58.02 % written as a fraction.
    row = compare_one("MMLU", "macro_avg/acc_char", 0.5802)

    assert row["verdict"] == "differs"
    assert row["cause"] == "scale"
    assert "0.5802 is a fraction" in row["likely_cause"]
    assert "58.02" in row["likely_cause"]


def test_compare_fraction_card_example():
    recomputed = pd.DataFrame([estimate("mmlu", "acc_char", "macro", 14042, 32.25, 0.38)])
    reported = reported_values(metrics_config([("MMLU", "macro_avg/acc_char", 0.322)]), model=MODEL)

    row = compare_reported(recomputed, reported).iloc[0]

    assert row["verdict"] == "differs"
    assert row["cause"] == "scale"
    assert "100 x 0.322 = 32.2" in row["likely_cause"]


def test_compare_recomputed_fraction():
    recomputed = pd.DataFrame([estimate("squad", "em", "micro", 11873, 0.4925, 0.0046)])
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    row = compare_reported(recomputed, reported).iloc[0]

    assert row["cause"] == "scale"
    assert "0.4925 is a fraction" in row["likely_cause"]


def test_compare_other_normalization():
    row = compare_one("ARC-Challenge", "acc_char", 28.1)

    assert row["verdict"] == "differs"
    assert row["cause"] == "normalization"
    assert "acc_raw (micro) 28.1" in row["likely_cause"]
    assert "not acc_char (micro) 32.8" in row["likely_cause"]


def test_compare_three_se_unexplained():
    value = 32.80 + 3 * 1.37
    row = compare_one("ARC-Challenge", "acc_char", value)

    assert row["verdict"] == "differs"
    assert row["cause"] == "unexplained"
    assert row["difference_se"] == pytest.approx(3.0)
    assert "off by +3.0 SE" in row["likely_cause"]


def test_compare_different_item_count():
    config = metrics_config([("ARC-Challenge", "acc_char", 32.80 + 3 * 1.37)])
    config["num_samples"] = 1172

    reported = reported_values(config, model=MODEL)
    row = compare_reported(recomputed_table(), reported).iloc[0]

    assert row["cause"] == "item_count"
    assert "1,172 items" in row["likely_cause"]
    assert "1,164" in row["likely_cause"]


def test_compare_equal_item_count_not_blamed():
    config = metrics_config([("ARC-Challenge", "acc_char", 32.80 + 3 * 1.37)])
    config["num_samples"] = 1164

    reported = reported_values(config, model=MODEL)
    row = compare_reported(recomputed_table(), reported).iloc[0]

    assert row["cause"] == "unexplained"


def test_compare_unknown_tag_kept():
    row = compare_one("SQuAD", "rougeL", 12.0)

    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "unknown_tag"
    assert "'rougeL'" in row["likely_cause"]
    assert row["reported"] == 12.0
    assert math.isnan(row["recomputed"])


def test_compare_unknown_benchmark_kept():
    row = compare_one("Made-up Bench", "em", 12.0)

    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "unknown_benchmark"
    assert "'Made-up Bench'" in row["likely_cause"]
    assert row["benchmark"] is None


def test_compare_benchmark_not_recomputed():
    row = compare_one("QuAC", "f1", 37.9)

    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "no_recomputed_rows"
    assert "'quac'" in row["likely_cause"]


def test_compare_missing_reported_value():
    row = compare_one("SQuAD", "em", float("nan"))

    assert row["verdict"] == "not reported"
    assert row["cause"] == "no_reported_value"


def test_compare_macro_tag_uses_micro():
    row = compare_one("Multi-needle", "macro_avg/recall", 75.3)

    assert row["verdict"] == "agrees"
    assert row["compared_with"] == "recall (micro)"


def test_compare_acc_kept_distinct():
    row = compare_one("MMLU", "macro_avg/acc", 58.0)

    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "missing_metric"
    assert "'acc'" in row["likely_cause"]


def test_compare_acc_used_when_recomputed():
    recomputed = pd.DataFrame([estimate("mmlu", "acc", "macro", 14042, 49.3, 0.40)])
    reported = reported_values(metrics_config([("MMLU", "macro_avg/acc", 49.3)]), model=MODEL)

    row = compare_reported(recomputed, reported).iloc[0]

    assert row["verdict"] == "agrees"
    assert row["compared_with"] == "acc (macro)"


def test_compare_zero_se_uses_rounding():
    recomputed = pd.DataFrame([estimate("needle_in_haystack", "em", "micro", 100, 100.0, 0.0)])
    reported = reported_values(
        metrics_config([("Needle in Haystack", "em", 100.0), ("Needle in Haystack", "em", 99.96)]),
        model=MODEL,
    )

    table = compare_reported(recomputed, reported)

    assert table["verdict"].tolist() == ["agrees", "agrees"]
    assert table["difference_se"].iloc[0] == 0.0
    assert math.isnan(table["difference_se"].iloc[1])


def test_compare_matches_model():
    recomputed = pd.concat(
        [
            recomputed_table(),
            pd.DataFrame([estimate("squad", "em", "micro", 11873, 67.70, 0.43, model="other")]),
        ],
        ignore_index=True,
    )
    reported = reported_values(metrics_config([("SQuAD", "em", 67.7)]), model="other")

    row = compare_reported(recomputed, reported).iloc[0]

    assert row["verdict"] == "agrees"
    assert row["recomputed"] == 67.7


# ---------------------------------------------------------------------------------------------
# Missing metric for a group
# ---------------------------------------------------------------------------------------------


def group_recomputed() -> pd.DataFrame:
    """An MMLU group scored with ``acc``, at benchmark and at subtask level."""
    return pd.DataFrame(
        [
            estimate("mmlu", "acc", "macro", 14042, 49.3, 0.40),
            estimate("mmlu", "acc", "micro", 100, 30.0, 4.6, subtask="abstract_algebra"),
        ]
    )


def subtask_reported() -> pd.DataFrame:
    config = pd.DataFrame(
        {
            "benchmark_label": ["MMLU", "MMLU"],
            "subtask_name": [None, "abstract_algebra"],
            "metric_tag": ["macro_avg/acc", "em"],
            "metric_value_computed": [49.3, 30.0],
        }
    )
    return reported_values(config, model=MODEL, level="subtask")


def test_missing_metric_recorded(caplog):
    with caplog.at_level(logging.WARNING, logger="evalbook.reported"):
        table = compare_reported(group_recomputed(), subtask_reported())

    row = table.iloc[0]
    assert row["verdict"] == "not recomputed"
    assert row["cause"] == "missing_metric"
    assert "'em'" in row["likely_cause"]
    assert "'mmlu'" in row["likely_cause"]
    assert "'abstract_algebra'" in row["likely_cause"]
    assert "has acc" in row["likely_cause"]
    assert row["likely_cause"] != ""

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "abstract_algebra" in warnings[0]


def test_missing_metric_strict_raises():
    with pytest.raises(MissingMetricError, match=r"'em'.*'mmlu', subtask 'abstract_algebra'"):
        compare_reported(group_recomputed(), subtask_reported(), strict=True)


def test_missing_metric_is_value_error():
    assert issubclass(MissingMetricError, ValueError)


def test_compare_subtask_row():
    config = pd.DataFrame(
        {
            "benchmark_label": ["MMLU"],
            "subtask_name": ["abstract_algebra"],
            "metric_tag": ["acc"],
            "metric_value_computed": [30.0],
        }
    )
    reported = reported_values(config, model=MODEL, level="subtask")

    row = compare_reported(group_recomputed(), reported).iloc[0]

    assert row["verdict"] == "agrees"
    assert row["subtask"] == "abstract_algebra"
    assert row["n_items"] == 100


# ---------------------------------------------------------------------------------------------
# compare_reported: invalid input
# ---------------------------------------------------------------------------------------------


def test_compare_missing_recomputed_columns():
    recomputed = recomputed_table().drop(columns=["se", "ci_high"])
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    with pytest.raises(ValueError, match="recomputed is missing the columns se, ci_high"):
        compare_reported(recomputed, reported)


def test_compare_missing_reported_columns():
    reported = pd.DataFrame({"label": ["SQuAD"], "reported": [49.2]})

    with pytest.raises(ValueError, match="reported is missing the columns model, metric_tag"):
        compare_reported(recomputed_table(), reported)


def test_compare_rejects_duplicate_estimates():
    recomputed = pd.concat([recomputed_table(), recomputed_table().iloc[[0]]], ignore_index=True)
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    with pytest.raises(ValueError, match=r"duplicate row.*'mmlu'.*'acc_char', 'macro'"):
        compare_reported(recomputed, reported)


def test_compare_rejects_invalid_aggregation():
    recomputed = recomputed_table()
    recomputed.loc[0, "aggregation"] = "weighted"
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    with pytest.raises(ValueError, match=r"invalid aggregation values \['weighted'\]"):
        compare_reported(recomputed, reported)


def test_compare_rejects_missing_item_count():
    recomputed = recomputed_table()
    recomputed.loc[2, "n_items"] = None
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    with pytest.raises(ValueError, match=r"'n_items' is missing in rows \[2\]"):
        compare_reported(recomputed, reported)


def test_compare_rejects_invalid_tolerance():
    reported = reported_values(metrics_config([("SQuAD", "em", 49.2)]), model=MODEL)

    with pytest.raises(ValueError, match="tolerance_se must be positive"):
        compare_reported(recomputed_table(), reported, tolerance_se=0)


# ---------------------------------------------------------------------------------------------
# Model card and mixed scales
# ---------------------------------------------------------------------------------------------


def test_model_card_rows():
    card = model_card()

    assert len(card) == 21
    assert list(dict.fromkeys(card["model"])) == ["Llama-3.2-1B", "Llama-3.2-3B", "Llama-3.1-8B"]
    assert card["benchmark"].notna().all()
    assert card["source"].str.contains("models/llama3_2/MODEL_CARD.md").all()
    assert card["aggregation"].notna().all()


def test_model_card_values():
    card = model_card().set_index(["model", "benchmark"])

    assert card.loc[("Llama-3.2-1B", "mmlu"), "reported"] == 32.2
    assert card.loc[("Llama-3.2-3B", "mmlu"), "value_as_printed"] == "58"
    assert card.loc[("Llama-3.2-3B", "mmlu"), "reported"] == 58.0
    assert card.loc[("Llama-3.1-8B", "drop"), "reported"] == 59.5
    assert card.loc[("Llama-3.2-1B", "agieval_english"), "shots"] == "3-5"


def test_model_card_mixed_needle_scales():
    card = model_card()
    needle = card[card["benchmark"] == "needle_in_haystack"].set_index("model")

    assert needle["value_as_printed"].tolist() == ["96.8", "1", "1"]
    assert needle["reported"].tolist() == [96.8, 100.0, 100.0]
    assert needle.loc["Llama-3.2-1B", "reported_scale_fix"] == ""
    for model in ("Llama-3.2-3B", "Llama-3.1-8B"):
        fix = needle.loc[model, "reported_scale_fix"]
        assert "printed as 1" in fix
        assert "fraction" in fix
        assert "100 %" in fix


def test_model_card_other_rows_unrepaired():
    card = model_card()
    others = card[card["benchmark"] != "needle_in_haystack"]

    assert others["reported_scale_fix"].eq("").all()
    assert (others["reported"] == others["value_as_printed"].astype(float)).all()


def test_model_card_one_model_keeps_repair():
    card = model_card("Llama-3.1-8B")

    assert card["model"].eq("Llama-3.1-8B").all()
    assert len(card) == 7
    needle = card[card["benchmark"] == "needle_in_haystack"]
    assert needle["reported"].item() == 100.0


def test_model_card_unknown_model():
    with pytest.raises(ValueError, match=r"'Llama-9B' is not in the model card.*Llama-3\.2-1B"):
        model_card("Llama-9B")


def test_repair_scale_groups():
    values = pd.Series([96.8, 1.0, 0.5, 45.0, 0.0], index=[10, 11, 12, 13, 14])
    groups = pd.Series(["needle", "needle", "mmlu", "mmlu", "mmlu"])

    repaired = repair_scale(values, groups=groups)

    assert repaired.index.tolist() == [10, 11, 12, 13, 14]
    assert repaired["value"].tolist() == [96.8, 100.0, 50.0, 45.0, 0.0]
    assert repaired["scale_fix"].tolist()[0] == ""
    assert repaired["scale_fix"].tolist()[3:] == ["", ""]
    assert "read as a fraction, 50 %" in repaired["scale_fix"][12]


def test_repair_scale_flags_ambiguous_group():
    values = pd.Series([1.0, 1.0, 58.0])
    groups = pd.Series(["needle", "needle", "mmlu"])

    repaired = repair_scale(values, groups=groups)

    assert repaired["value"].tolist() == [1.0, 1.0, 58.0]
    assert repaired["scale_fix"][0].startswith("ambiguous scale")
    assert "not repaired" in repaired["scale_fix"][1]


def test_repair_scale_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"outside 0-100.*150"):
        repair_scale(pd.Series([150.0, 30.0]))


def test_repair_scale_rejects_misaligned_groups():
    with pytest.raises(ValueError, match="groups has 1 entries but values has 2"):
        repair_scale(pd.Series([1.0, 30.0]), groups=pd.Series(["a"]))


def card_recomputed(model: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            estimate("mmlu", "acc_char", "macro", 14042, 58.02, 0.41, model=model),
            estimate("mmlu", "acc_char", "micro", 14042, 56.43, 0.42, model=model),
            estimate("needle_in_haystack", "em", "micro", 1000, 99.97, 0.05, model=model),
        ]
    )


def test_compare_model_card_repaired_needle():
    table = compare_model_card(card_recomputed("Llama-3.2-3B"), model="Llama-3.2-3B")
    needle = table[table["benchmark"] == "needle_in_haystack"].iloc[0]

    assert needle["reported"] == 100.0
    assert needle["verdict"] == "agrees"
    assert "printed as 1" in needle["reported_scale_fix"]
    assert table["model"].eq("Llama-3.2-3B").all()
    assert len(table) == 7


def test_compare_model_card_verdicts():
    table = compare_model_card(card_recomputed("Llama-3.2-3B"), model="Llama-3.2-3B")
    verdicts = dict(zip(table["benchmark"], table["verdict"], strict=True))

    assert verdicts["mmlu"] == "agrees"
    assert verdicts["squad"] == "not recomputed"
    assert verdicts["drop"] == "not recomputed"


def test_compare_model_card_missing_model():
    with pytest.raises(ValueError, match=r"no rows for model 'Llama-3\.1-8B'.*Llama-3\.2-3B"):
        compare_model_card(card_recomputed("Llama-3.2-3B"), model="Llama-3.1-8B")


def test_unrepaired_needle_scale_mixup():
    reported = reported_values(metrics_config([("Needle in Haystack", "em", 1.0)]), model=MODEL)
    recomputed = pd.DataFrame([estimate("needle_in_haystack", "em", "micro", 1000, 99.97, 0.05)])

    row = compare_reported(recomputed, reported).iloc[0]

    assert row["verdict"] == "differs"
    assert row["cause"] == "scale"


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------


def comparison_for_export() -> pd.DataFrame:
    config = metrics_config(
        [
            ("MMLU", "macro_avg/acc_char", 58.0),
            ("DROP", "f1", 28.0),
            ("SQuAD", "rougeL", 12.0),
        ]
    )
    return compare_reported(recomputed_table(), reported_values(config, model=MODEL))


def test_export_writes_three_files(tmp_path):
    paths = export_comparison(comparison_for_export(), tmp_path / "out", stem="reported")

    assert set(paths) == {"csv", "tex", "json"}
    for suffix, path in paths.items():
        assert path == tmp_path / "out" / f"reported.{suffix}"
        assert path.is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "reported.csv",
        "reported.json",
        "reported.tex",
    ]


def test_export_csv_round_trip(tmp_path):
    table = comparison_for_export()
    paths = export_comparison(table, tmp_path, stem="reported")

    read = pd.read_csv(paths["csv"], keep_default_na=False, na_values=[""])

    assert read.columns.tolist() == list(COMPARISON_COLUMNS)
    assert read["metric_tag"].tolist() == ["macro_avg/acc_char", "f1", "rougeL"]
    assert read["verdict"].tolist() == ["agrees", "differs", "not recomputed"]
    assert read["reported"].tolist() == [58.0, 28.0, 12.0]
    assert read["recomputed"].iloc[:2].tolist() == [58.02, 31.2]
    assert math.isnan(read["recomputed"].iloc[2])


def test_export_json_nan_as_null(tmp_path):
    paths = export_comparison(comparison_for_export(), tmp_path, stem="reported")

    records = json.loads(paths["json"].read_text(encoding="utf-8"))

    assert len(records) == 3
    assert records[1]["cause"] == "metric"
    assert records[1]["n_items"] == 9536
    assert records[2]["recomputed"] is None
    assert records[2]["n_items"] is None
    assert records[2]["subtask"] is None
    assert "NaN" not in paths["json"].read_text(encoding="utf-8")


def test_export_latex_tabular(tmp_path):
    paths = export_comparison(comparison_for_export(), tmp_path, stem="reported")

    latex = paths["tex"].read_text(encoding="utf-8")

    assert "\\begin{tabular}" in latex
    assert "\\end{tabular}" in latex
    assert "macro\\_avg/acc\\_char" in latex
    assert "58.02" in latex


def test_export_replaces_existing_files(tmp_path):
    export_comparison(comparison_for_export(), tmp_path, stem="reported")
    smaller = comparison_for_export().iloc[:1]

    paths = export_comparison(smaller, tmp_path, stem="reported")

    assert len(pd.read_csv(paths["csv"])) == 1
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("stem", ["", "a/b", "..", "."])
def test_export_rejects_invalid_stem(tmp_path, stem):
    with pytest.raises(ValueError, match="invalid stem"):
        export_comparison(comparison_for_export(), tmp_path, stem=stem)


# ---------------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def plot_table() -> pd.DataFrame:
    """Two agreeing rows, one differing, one scale mix-up and one unknown tag."""
    config = metrics_config(
        [
            ("MMLU", "macro_avg/acc_char", 58.0),
            ("SQuAD", "em", 49.2),
            ("DROP", "f1", 28.0),
            ("Needle in Haystack", "em", 0.967),
            ("SQuAD", "rougeL", 12.0),
        ]
    )
    return compare_reported(recomputed_table(), reported_values(config, model=MODEL))


def plotted_points(ax) -> dict[str, list[tuple[float, float]]]:
    """Return the (x, y) points of each error-bar container, keyed by its legend label."""
    points = {}
    for container in ax.containers:
        line = container.lines[0]
        points[container.get_label()] = list(zip(line.get_xdata(), line.get_ydata(), strict=True))
    return points


def test_plot_points_per_row(close_figures):
    table = plot_table()

    ax = plot_reported_vs_recomputed(table)

    points = plotted_points(ax)
    assert points == {
        "agrees (2)": [(58.0, 58.02), (49.2, 49.25)],
        "differs (1)": [(28.0, 31.2)],
    }
    assert sorted(text.get_text() for text in ax.texts) == ["DROP", "MMLU", "SQuAD"]


def test_plot_lists_left_out_rows(close_figures):
    ax = plot_reported_vs_recomputed(plot_table())

    title = " ".join(ax.get_title().split())
    assert "Needle in Haystack em (scale mix-up)" in title
    assert "SQuAD rougeL (not recomputed)" in title


def test_plot_colours_by_verdict(close_figures):
    ax = plot_reported_vs_recomputed(plot_table())

    colours = {c.get_label(): c.lines[0].get_color() for c in ax.containers}
    assert colours == {"agrees (2)": "tab:green", "differs (1)": "tab:red"}


def test_plot_error_bars_are_ci(close_figures):
    ax = plot_reported_vs_recomputed(plot_table())

    differs = next(c for c in ax.containers if c.get_label() == "differs (1)")
    segment = differs.lines[2][0].get_segments()[0]
    assert segment[0][1] == pytest.approx(31.2 - 1.96 * 0.45)
    assert segment[1][1] == pytest.approx(31.2 + 1.96 * 0.45)


def test_plot_diagonal_line(close_figures):
    ax = plot_reported_vs_recomputed(plot_table())

    diagonal = [line for line in ax.get_lines() if line.get_label() == "y = x"]
    assert len(diagonal) == 1


def test_plot_repaired_card_needle_at_100(close_figures):
    table = compare_model_card(card_recomputed("Llama-3.2-3B"), model="Llama-3.2-3B")

    ax = plot_reported_vs_recomputed(table)

    xs = [x for points in plotted_points(ax).values() for x, _ in points]
    assert sorted(xs) == [58.0, 100.0]
    assert 1.0 not in xs


def test_plot_uses_given_axes(close_figures):
    figure, ax = plt.subplots()

    returned = plot_reported_vs_recomputed(plot_table(), ax=ax)

    assert returned is ax
    assert returned.figure is figure


def test_plot_nothing_plottable(close_figures):
    table = plot_table()
    table = table[table["verdict"] == "not recomputed"]

    ax = plot_reported_vs_recomputed(table)

    assert ax.containers == []
    assert "SQuAD rougeL (not recomputed)" in " ".join(ax.get_title().split())


def test_plot_missing_columns(close_figures):
    with pytest.raises(ValueError, match="missing the columns recomputed"):
        plot_reported_vs_recomputed(pd.DataFrame({"label": [], "metric_tag": [], "reported": []}))


def test_difference_plot_names_each_row(close_figures):
    ax = plot_differences(plot_table())

    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == ["MMLU macro_avg/acc_char", "SQuAD em", "DROP f1"]
    differs = next(line for line in ax.get_lines() if line.get_label() == "differs (1)")
    assert list(differs.get_xdata()) == [pytest.approx(28.0 - 31.2)]


def test_plot_without_labels_draws_no_text(close_figures):
    ax = plot_reported_vs_recomputed(plot_table(), labels=False)

    assert len(ax.texts) == 0
    assert len(ax.containers) == 2


def test_csv_export_quotes_formula_cells(tmp_path):
    table = pd.DataFrame({"label": ["=HYPERLINK(1)", "MMLU", "-2+3"], "reported": [1.0, 2.0, -3.0]})

    paths = export_comparison(table, tmp_path, stem="t")

    read = pd.read_csv(paths["csv"])
    assert list(read["label"]) == ["'=HYPERLINK(1)", "MMLU", "'-2+3"]
    assert list(read["reported"]) == [1.0, 2.0, -3.0]
