"""Broken dumps: each gets a clear error naming the file, column or value, or correct handling.

Every case writes real Parquet files: the synthetic sample's tables, altered, then written in
the Hub's layout. The cases that concern the whole book run the real `evalbook build`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import MODEL, copy_book_root, isolated_env, run_build

import evalbook.snapshot
from evalbook.items import agreement, score_benchmark, unavailable_headline
from evalbook.pages import benchmark_page, overview_page
from evalbook.registry import BENCHMARKS, get_benchmark
from evalbook.sample import build_tables, write_snapshot
from evalbook.schema import SchemaError
from evalbook.snapshot import Snapshot, SnapshotError, open_snapshot

OTHER_MODEL = "Llama-3.2-3B"
NLL = "output_choice_negative_log_likelihoods"


def config_of(task: str, model: str = MODEL) -> str:
    return f"{model}-evals__{task}__details"


def details_file(snapshot: Path, task: str, model: str = MODEL) -> Path:
    (path,) = (snapshot / f"{model}-evals").glob(f"Details_{task}_*.parquet.gzip")
    return path


def replace_column(table: pa.Table, name: str, values: pa.Array | list) -> pa.Table:
    array = values if isinstance(values, pa.Array) else pa.array(values)
    return table.set_column(table.schema.get_field_index(name), name, array)


def snapshot_of(folder: Path, tables: dict[str, pa.Table]) -> Snapshot:
    return open_snapshot(write_snapshot(folder, tables=tables))


def score(folder: Path, task: str, table: pa.Table):
    """Write ``table`` as the only config of a snapshot and score it as ``task``."""
    snapshot = snapshot_of(folder, {config_of(task): table})
    return score_benchmark(snapshot, get_benchmark(task))


def nll_struct(rows: list[list[float]], keys=("raw", "char", "token")) -> pa.Array:
    """Return an NLL column with the same values under every key in ``keys``."""
    return pa.array([{key: list(values) for key in keys} for values in rows])


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


# A config missing from the dump


@pytest.mark.slow
def test_build_skips_missing_benchmark(tmp_path: Path, sample_tables) -> None:
    tables = {name: table for name, table in sample_tables.items() if "__drop__" not in name}
    snapshot = write_snapshot(tmp_path / "snap", tables=tables)
    root = copy_book_root(tmp_path / "root")

    build = run_build(
        root, "--source", f"local:{snapshot}", "--jobs", "2", env=isolated_env(tmp_path)
    )

    assert build.process.returncode == 0, build.process.stderr[-6000:]
    assert f"skipped drop: the dump has no {config_of('drop')} config" in build.process.stderr
    assert not (build.html / "book" / "pages" / "drop.html").exists()
    for name in ["overview", *(b.key for b in BENCHMARKS if b.key != "drop")]:
        assert (build.html / "book" / "pages" / f"{name}.html").is_file(), name
    overview = (build.html / "book" / "pages" / "overview.html").read_text(encoding="utf-8")
    assert "not in this dump" in overview


def test_overview_lists_missing_benchmark(tmp_path: Path, sample_tables) -> None:
    tables = {name: table for name, table in sample_tables.items() if "__drop__" not in name}
    snapshot = write_snapshot(tmp_path / "snap", tables=tables)

    overview = overview_page(
        model=MODEL,
        source=f"local:{snapshot}",
        snapshot_path=str(snapshot),
        tasks="",
        exports_dir=str(tmp_path / "exports"),
    )

    assert overview.missing == ["DROP"]
    assert "not in this dump" in overview.benchmarks().data
    assert "drop" not in set(overview.recomputed["benchmark"])


def test_build_rejects_missing_requested_task(tmp_path: Path, sample_tables) -> None:
    tables = {name: table for name, table in sample_tables.items() if "__drop__" not in name}
    snapshot = write_snapshot(tmp_path / "snap", tables=tables)
    root = copy_book_root(tmp_path / "root")

    build = run_build(
        root, "--source", f"local:{snapshot}", "--tasks", "drop", env=isolated_env(tmp_path)
    )

    assert build.process.returncode == 1
    assert "no details config for drop of model Llama-3.2-1B" in build.process.stderr
    assert "the snapshot has: agieval_english, arc_challenge, mmlu" in build.process.stderr
    assert not build.html.exists()


# A missing column


@pytest.mark.parametrize(
    ("task", "column"),
    [
        ("mmlu", "input_choice_list"),
        ("mmlu", "input_correct_responses"),
        ("mmlu", NLL),
        ("mmlu", "subtask_name"),
        ("arc_challenge", NLL),
        ("squad", "input_final_prompts"),
        ("squad", "input_correct_responses"),
        ("squad", "output_prediction_text"),
        ("needle_in_haystack", "input_correct_responses"),
    ],
)
def test_missing_required_column_names_file(
    tmp_path: Path, sample_tables, task: str, column: str
) -> None:
    table = sample_tables[config_of(task)].drop_columns([column])

    with pytest.raises(SchemaError) as caught:
        score(tmp_path / "snap", task, table)

    message = str(caught.value)
    assert f"Details_{task}_" in message
    assert f"column {column!r}: missing" in message
    assert "cannot be scored without these columns" in message
    assert caught.value.problems[0].column == column


def test_macro_benchmark_needs_subtask_name(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("mmlu")].drop_columns(["subtask_name"])

    with pytest.raises(SchemaError, match="MMLU is reported as a macro average over subtask_name"):
        score(tmp_path / "snap", "mmlu", table)


def test_missing_hash_and_question_names_both(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("mmlu")].drop_columns(["input_question_hash", "input_question"])

    with pytest.raises(SchemaError) as caught:
        score(tmp_path / "snap", "mmlu", table)

    assert "column 'input_question_hash': missing, and so is input_question" in str(caught.value)


@pytest.mark.parametrize("task", ["mmlu", "squad"])
def test_missing_output_metrics_keeps_scores(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture, task: str
) -> None:
    full = score(tmp_path / "full", task, sample_tables[config_of(task)])
    table = sample_tables[config_of(task)].drop_columns(["output_metrics"])

    items = score(tmp_path / "snap", task, table)

    metric = get_benchmark(task).metric
    assert np.array_equal(items[metric], full[metric])
    assert [column for column in items.columns if column.startswith("meta_")] == ["meta_is_correct"]
    compared = [result.meta_column for result in agreement(items, get_benchmark(task))]
    assert compared == ["meta_is_correct"]
    assert any(
        "column output_metrics is missing" in message and "agreement" in message
        for message in warnings_of(caplog)
    )


@pytest.mark.parametrize("task", ["arc_challenge", "drop"])
def test_missing_is_correct_keeps_scores(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture, task: str
) -> None:
    full = score(tmp_path / "full", task, sample_tables[config_of(task)])
    table = sample_tables[config_of(task)].drop_columns(["is_correct"])

    items = score(tmp_path / "snap", task, table)

    metric = get_benchmark(task).metric
    assert np.array_equal(items[metric], full[metric])
    assert "meta_is_correct" not in items.columns
    compared = [result.meta_column for result in agreement(items, get_benchmark(task))]
    assert "meta_is_correct" not in compared
    assert compared
    assert any("column is_correct is missing" in message for message in warnings_of(caplog))


def test_page_without_output_metrics(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("squad")].drop_columns(["output_metrics"])
    snapshot = write_snapshot(tmp_path / "snap", tables={config_of("squad"): table})

    page = benchmark_page(
        model=MODEL, source=f"local:{snapshot}", snapshot_path=str(snapshot), task="squad"
    )

    assert page.headline_row["metric"] == "em"
    assert page.headline_row["n_items"] == table.num_rows
    assert "<code>em</code> against <code>is_correct</code>" in page.agreement().data
    assert "against <code>f1</code>" not in page.agreement().data


def test_missing_question_hash_is_recomputed(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table = sample_tables[config_of("squad")]
    questions = table.column("input_question").to_pylist()

    items = score(tmp_path / "snap", "squad", table.drop_columns(["input_question_hash"]))

    expected = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in questions]
    assert list(items["item_id"]) == expected
    assert list(items["item_id"]) == table.column("input_question_hash").to_pylist()
    assert any("recomputed as the SHA-256" in message for message in warnings_of(caplog))


def test_missing_subtask_name_of_micro_benchmark(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("arc_challenge")].drop_columns(["subtask_name"])

    items = score(tmp_path / "snap", "arc_challenge", table)

    assert len(items) == table.num_rows
    assert set(items["subtask"]) == {""}


# A wrong column type


def _as_map(table: pa.Table, column: str, item_type: pa.DataType) -> pa.Table:
    rows = table.column(column).to_pylist()
    values = pa.array([list(row.items()) for row in rows], type=pa.map_(pa.string(), item_type))
    return replace_column(table, column, values)


@pytest.mark.parametrize(
    ("column", "item_type", "expected", "found"),
    [
        ("input_choice_list", pa.string(), "struct of strings", "map<string, string>"),
        (
            NLL,
            pa.list_(pa.float64()),
            "struct of lists of floats",
            "map<string, list<element: double>>",
        ),
        ("output_metrics", pa.float64(), "struct of numbers or booleans", "map<string, double>"),
    ],
)
def test_map_column_names_both_types(
    tmp_path: Path,
    sample_tables,
    column: str,
    item_type: pa.DataType,
    expected: str,
    found: str,
) -> None:
    table = _as_map(sample_tables[config_of("mmlu")], column, item_type)

    with pytest.raises(SchemaError) as caught:
        score(tmp_path / "snap", "mmlu", table)

    message = str(caught.value)
    assert "Details_mmlu_" in message
    assert f"column {column!r}: expected {expected}" in message
    assert f"found {found}" in message
    assert "pa.array([dict(row) for row in column.to_pylist()])" in message


def test_map_rebuilt_as_struct_is_read(tmp_path: Path, sample_tables) -> None:
    # The fix the error message gives must work.
    table = _as_map(sample_tables[config_of("mmlu")], NLL, pa.list_(pa.float64()))
    rebuilt = replace_column(table, NLL, pa.array([dict(row) for row in table[NLL].to_pylist()]))

    items = score(tmp_path / "snap", "mmlu", rebuilt)

    assert len(items) == table.num_rows


@pytest.mark.parametrize(
    ("column", "values", "found"),
    [
        ("is_correct", lambda rows: [str(row) for row in rows], "found string"),
        ("input_final_prompts", lambda rows: [row[0] for row in rows], "found string"),
        ("output_metrics", lambda rows: [str(row) for row in rows], "found string"),
    ],
)
def test_wrong_type_names_column(tmp_path: Path, sample_tables, column, values, found) -> None:
    table = sample_tables[config_of("squad")]
    table = replace_column(table, column, values(table.column(column).to_pylist()))

    with pytest.raises(SchemaError) as caught:
        score(tmp_path / "snap", "squad", table)

    message = str(caught.value)
    assert "Details_squad_" in message
    assert f"column {column!r}: expected" in message
    assert found in message
    assert "write each listed column with the expected type" in message
    assert "map" not in message


# A corrupt or truncated Parquet file


def _damage(path: Path, damage: str) -> None:
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        # Scramble the data pages but keep the footer, so the file opens and fails on read.
        for index in range(len(data) // 4, len(data) // 2):
            data[index] = (data[index] * 7 + 13) % 256
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_file_names_file(sample_snapshot: Path, tmp_path: Path, damage: str) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    path = details_file(copy, "quac")
    _damage(path, damage)
    snapshot = open_snapshot(copy)

    with pytest.raises(SnapshotError) as caught:
        score_benchmark(snapshot, get_benchmark("quac"))

    assert str(path) in str(caught.value)
    assert "download the dump again" in str(caught.value)
    assert score_benchmark(snapshot, get_benchmark("squad")).shape[0] > 0


@pytest.mark.slow
def test_build_names_damaged_file(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    path = details_file(copy, "quac")
    _damage(path, "truncated")
    root = copy_book_root(tmp_path / "root")

    build = run_build(
        root,
        "--source",
        f"local:{copy}",
        "--tasks",
        "squad,quac",
        "--jobs",
        "2",
        env=isolated_env(tmp_path),
    )

    assert build.process.returncode == 1
    failures = [line for line in build.process.stderr.splitlines() if "notebook failed:" in line]
    quac = [line for line in failures if "quac.ipynb" in line]
    assert quac, build.process.stderr[-6000:]
    assert str(path) in quac[0]
    assert "download the dump again" in quac[0]
    assert (build.html / "book" / "pages" / "squad.html").is_file()
    assert not (build.html / "book" / "pages" / "quac.html").exists()
    assert not any("overview.ipynb" in line for line in failures)
    overview = (build.html / "book" / "pages" / "overview.html").read_text(encoding="utf-8")
    assert "not scored" in overview


# A task with no rows


@pytest.mark.parametrize("task", ["mmlu", "squad"])
def test_empty_task_names_file(tmp_path: Path, sample_tables, task: str) -> None:
    table = sample_tables[config_of(task)].slice(0, 0)

    with pytest.raises(ValueError, match="has 0 rows") as caught:
        score(tmp_path / "snap", task, table)

    assert f"Details_{task}_" in str(caught.value)
    assert "--tasks" in str(caught.value)


# NLL normalizations other than raw, char and token


def test_extra_nll_key_is_reported(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("mmlu")]
    rows = table.column(NLL).to_pylist()
    # per_byte reverses the raw order, so its predictions differ from every other key.
    extended = [{**row, "per_byte": [-value for value in row["raw"]]} for row in rows]

    items = score(tmp_path / "snap", "mmlu", replace_column(table, NLL, pa.array(extended)))

    gold = items["gold"].map("ABCD".index).to_numpy()
    per_byte = np.array([np.argmax(row["raw"]) for row in rows])
    assert np.array_equal(items["acc_per_byte"], (per_byte == gold).astype(float))
    assert "tie_per_byte" in items.columns
    assert {"acc_raw", "acc_char", "acc_token"} <= set(items.columns)
    assert unavailable_headline(items, get_benchmark("mmlu")) is None


def test_nll_without_char_has_no_headline(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table = sample_tables[config_of("mmlu")]
    rows = table.column(NLL).to_pylist()
    # per_byte contains the char values, but its name is not char, so nothing reads it as char.
    renamed = [{"raw": row["raw"], "per_byte": row["char"]} for row in rows]

    items = score(tmp_path / "snap", "mmlu", replace_column(table, NLL, pa.array(renamed)))

    assert "acc_char" not in items.columns
    assert {"acc_raw", "acc_per_byte"} <= set(items.columns)
    message = unavailable_headline(items, get_benchmark("mmlu"))
    assert message is not None
    assert message.startswith("acc_char is unavailable")
    assert "has no 'char' NLLs (it has raw, per_byte)" in message
    assert "Meta reports macro_avg/acc_char" in message
    assert any(message in warning for warning in warnings_of(caplog))
    raw_prediction = [chr(ord("A") + int(np.argmin(row["raw"]))) for row in rows]
    assert list(items["prediction"]) == raw_prediction


# Three or five options, and options that are not letters


def test_option_counts_set_chance_and_gold(tmp_path: Path, sample_tables) -> None:
    base = sample_tables[config_of("arc_challenge")].slice(0, 3)
    choices = [
        {"A": "one", "B": "two", "C": "three", "D": None, "E": None},
        {"A": "one", "B": "two", "C": "three", "D": "four", "E": "five"},
        {"A": "one", "B": "two", "C": "three", "D": "four", "E": None},
    ]
    golds = [["Answer: C"], ["Answer: E"], ["Answer: A"]]
    nlls = [[2.0, 2.0, 0.5], [1.0, 2.0, 3.0, 4.0, 0.5], [1.0, 0.5, 2.0, 3.0]]
    table = replace_column(base, "input_choice_list", choices)
    table = replace_column(table, "input_correct_responses", golds)
    table = replace_column(table, NLL, nll_struct(nlls))

    items = score(tmp_path / "snap", "arc_challenge", table)

    assert list(items["n_options"]) == [3, 5, 4]
    assert np.allclose(items["chance"], [1 / 3, 1 / 5, 1 / 4])
    assert list(items["gold"]) == ["C", "E", "A"]
    assert list(items["prediction"]) == ["C", "E", "B"]
    assert list(items["acc_char"]) == [1.0, 1.0, 0.0]


def test_sample_arc_option_counts_match_data(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("arc_challenge")]
    counts = [
        sum(text is not None for text in row.values())
        for row in table.column("input_choice_list").to_pylist()
    ]

    items = score(tmp_path / "snap", "arc_challenge", table)

    assert list(items["n_options"]) == counts
    assert {3, 4, 5} <= set(counts)
    assert np.allclose(items["chance"], 1 / np.array(counts))


def _numbered(table: pa.Table, golds: list[str]) -> pa.Table:
    rows = table.column("input_choice_list").to_pylist()
    numbered = [{str(i + 1): text for i, text in enumerate(row.values())} for row in rows]
    table = replace_column(table, "input_choice_list", numbered)
    return replace_column(table, "input_correct_responses", [[gold] for gold in golds])


@pytest.mark.parametrize("form", ["Answer: {}", "{}", "({})", "{}."])
def test_numbered_options_map_gold(tmp_path: Path, sample_tables, form: str) -> None:
    table = sample_tables[config_of("mmlu")]
    letters = [
        row[0].removeprefix("Answer: ") for row in table["input_correct_responses"].to_pylist()
    ]
    numbers = [str("ABCD".index(letter) + 1) for letter in letters]
    letter_items = score(tmp_path / "letters", "mmlu", table)

    items = score(tmp_path / "numbers", "mmlu", _numbered(table, [form.format(n) for n in numbers]))

    assert list(items["gold"]) == numbers
    assert np.array_equal(items["acc_char"], letter_items["acc_char"])
    assert set(items["prediction"]) <= {"1", "2", "3", "4"}


def test_numbered_options_reject_letter_gold(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("mmlu")]
    golds = [row[0] for row in table["input_correct_responses"].to_pylist()]
    first_id = table["input_question_hash"][0].as_py()

    with pytest.raises(ValueError) as caught:
        score(tmp_path / "snap", "mmlu", _numbered(table, golds))

    message = str(caught.value)
    assert "Details_mmlu_" in message
    assert f"{table.num_rows} of {table.num_rows} items have no usable gold answer" in message
    assert f"{first_id}: gold {golds[0]!r} is none of the options 1, 2, 3, 4" in message


# NaN and infinite NLLs


def _six_items(sample_tables) -> tuple[pa.Table, list[int]]:
    table = sample_tables[config_of("mmlu")].slice(0, 6)
    gold = [
        "ABCD".index(row[0].removeprefix("Answer: "))
        for row in table["input_correct_responses"].to_pylist()
    ]
    return table, gold


def _nlls_with_gold(gold: int, best: float = 0.5, other: float = 2.0) -> list[float]:
    return [best if option == gold else other for option in range(4)]


def test_unscorable_nlls_stay_in_denominator(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table, gold = _six_items(sample_tables)
    rows = [_nlls_with_gold(g) for g in gold]
    rows[0][(gold[0] + 1) % 4] = math.inf  # +inf is probability 0: still scorable
    rows[3] = _nlls_with_gold((gold[3] + 1) % 4)  # wrong
    rows[4][(gold[4] + 1) % 4] = math.nan
    rows[5][gold[5]] = -math.inf  # would win if it were read as a number
    ids = table.column("input_question_hash").to_pylist()

    items = score(tmp_path / "snap", "mmlu", replace_column(table, NLL, nll_struct(rows)))

    assert len(items) == 6
    assert items["acc_char"].sum() == 3
    assert items["acc_char"].mean() == 0.5
    assert list(items["unscorable"]) == [False, False, False, False, True, True]
    assert list(items["prediction"][4:]) == ["(unscorable)", "(unscorable)"]
    assert list(items["p_gold"][4:]) == [0.0, 0.0]
    assert items["confidence"][4:].isna().all()
    assert items["p_gold"][0] > 0.5
    warning = [m for m in warnings_of(caplog) if "'char' NLLs" in m]
    assert len(warning) == 1
    assert "2 of 6 items cannot be scored" in warning[0]
    assert "NaN among the NLLs: 1" in warning[0]
    assert "-inf among the NLLs: 1" in warning[0]
    assert ids[4] in warning[0]
    assert ids[5] in warning[0]


def test_all_infinite_or_short_nlls_are_unscorable(tmp_path: Path, sample_tables) -> None:
    table, gold = _six_items(sample_tables)
    rows = [_nlls_with_gold(g) for g in gold]
    rows[1] = [math.inf] * 4
    rows[2] = rows[2][:3]

    items = score(tmp_path / "snap", "mmlu", replace_column(table, NLL, nll_struct(rows)))

    assert list(items["unscorable"]) == [False, True, True, False, False, False]
    assert list(items["acc_char"]) == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_nan_in_one_normalization_only(tmp_path: Path, sample_tables) -> None:
    table, gold = _six_items(sample_tables)
    rows = [{"raw": _nlls_with_gold(g), "char": _nlls_with_gold(g)} for g in gold]
    rows[2]["raw"][0] = math.nan

    items = score(tmp_path / "snap", "mmlu", replace_column(table, NLL, pa.array(rows)))

    assert items["acc_char"].sum() == 6
    assert items["acc_raw"].sum() == 5
    assert not items["unscorable"].any()
    assert items["p_gold"][2] == 0.0


# Bytes that are not UTF-8


def _invalid_strings(values: list[bytes]) -> pa.Array:
    return pa.array(values, type=pa.binary()).view(pa.string())


def test_invalid_utf8_is_replaced_and_logged(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table = sample_tables[config_of("squad")]
    prompts = [row[0].encode("utf-8") for row in table["input_final_prompts"].to_pylist()]
    prompts[0] += b"\xff\xfe end"
    prompts[1] = b"\xc3" + prompts[1]
    offsets = pa.array(range(len(prompts) + 1), type=pa.int32())
    table = replace_column(
        table, "input_final_prompts", pa.ListArray.from_arrays(offsets, _invalid_strings(prompts))
    )
    questions = [text.encode("utf-8") for text in table["input_question"].to_pylist()]
    questions[2] += b"\x80"
    table = replace_column(table, "input_question", _invalid_strings(questions))
    snapshot = snapshot_of(tmp_path / "snap", {config_of("squad"): table})
    path = details_file(tmp_path / "snap", "squad")

    items = score_benchmark(snapshot, get_benchmark("squad"))
    read = snapshot.read(config_of("squad"), ["input_final_prompts", "input_question"])

    assert len(items) == table.num_rows
    assert read["input_final_prompts"][0].as_py()[0].endswith("\ufffd\ufffd end")
    assert read["input_question"][2].as_py().endswith("\ufffd")
    warnings = warnings_of(caplog)
    assert any(
        f"{path}: column input_final_prompts has 2 values with bytes that are not valid UTF-8"
        in message
        for message in warnings
    )
    assert any(f"{path}: column input_question has 1 values" in message for message in warnings)


def test_invalid_utf8_in_choice_struct(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table = sample_tables[config_of("mmlu")]
    choices = table.column("input_choice_list").combine_chunks()
    option_a = [text.encode("utf-8") for text in choices.field("A").to_pylist()]
    option_a[0] = b"caf\xe9"
    fields = [_invalid_strings(option_a)] + [choices.field(name) for name in "BCD"]
    table = replace_column(
        table, "input_choice_list", pa.StructArray.from_arrays(fields, names=list("ABCD"))
    )

    items = score(tmp_path / "snap", "mmlu", table)

    assert len(items) == table.num_rows
    assert any(
        "column input_choice_list has 1 values" in message for message in warnings_of(caplog)
    )


# Very long prompts


def _long_prompts(table: pa.Table, rows: int, chars: int) -> pa.Table:
    """Return the first ``rows`` rows, each prompt preceded by ``chars`` characters of filler."""
    table = table.slice(0, rows)
    prompts = []
    for row, prompt in enumerate(table["input_final_prompts"].to_pylist()):
        sentences = (f"Sentence {row}-{k} of the long context." for k in range(chars // 30 + 1))
        filler = " ".join(sentences)[:chars]
        prompts.append([filler + " " + prompt[0]])
    return replace_column(table, "input_final_prompts", prompts)


def test_long_prompts_are_read_in_small_batches(
    tmp_path: Path, sample_tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _long_prompts(sample_tables[config_of("squad")], rows=10, chars=2_000_000)
    snapshot = snapshot_of(tmp_path / "snap", {config_of("squad"): table})
    del table
    monkeypatch.setattr(evalbook.snapshot, "BATCH_BYTES", 4 * 2**20)

    batches = list(snapshot.iter_batches(config_of("squad"), ["input_final_prompts"]))
    tracemalloc.start()
    try:
        items = score_benchmark(snapshot, get_benchmark("squad"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sum(batch.num_rows for batch in batches) == 10
    assert all(batch.nbytes <= 4 * 2**20 for batch in batches)
    # The ten prompts hold 20 MB of text; reading them one at a time keeps Python's peak far
    # below that.
    assert peak < 10 * 2**20
    assert len(items) == 10
    assert items["prompt_preview"].str.len().max() <= 301
    assert items["prompt_preview"].str.startswith("…").all()


def test_long_needle_prompts_are_scored(tmp_path: Path, sample_tables) -> None:
    table = _long_prompts(sample_tables[config_of("needle_in_haystack")], rows=4, chars=2_000_000)

    items = score(tmp_path / "snap", "needle_in_haystack", table)

    assert len(items) == 4
    assert (items["context_chars"] > 2_000_000).all()
    assert items["depth_percent"].between(0, 100).all()
    assert items["prompt_preview"].str.len().max() <= 301


# README front matter


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        ("configs: [unclosed\n", "invalid YAML front matter"),
        ("configs:\n  - config_name: a\n", "no closing '---' line"),
        ("configs: just-a-string\n", "`configs:` must be a list"),
        ("configs:\n  - data_files: x.parquet\n", "each `configs:` entry needs a `config_name`"),
    ],
)
def test_broken_readme_names_readme(
    sample_snapshot: Path, tmp_path: Path, front_matter: str, expected: str
) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    closing = "" if "no closing" in expected else "---\n"
    (copy / "README.md").write_text(f"---\n{front_matter}{closing}# body\n", encoding="utf-8")

    with pytest.raises(SnapshotError) as caught:
        open_snapshot(copy)

    assert str(copy / "README.md") in str(caught.value)
    assert expected in str(caught.value)


def test_readme_list_front_matter_falls_back(
    sample_snapshot: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    (copy / "README.md").write_text("---\n- a\n- b\n---\n# body\n", encoding="utf-8")

    snapshot = open_snapshot(copy)

    assert sorted(snapshot.tasks()) == sorted(benchmark.key for benchmark in BENCHMARKS)
    assert any("not a mapping; it is ignored" in message for message in warnings_of(caplog))


def test_readme_config_names_without_model(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    data = f"{MODEL}-evals/Details_mmlu_*.parquet.gzip"
    readme = f"---\nconfigs:\n- config_name: mmlu\n  data_files: {data}\n---\n"
    (copy / "README.md").write_text(readme, encoding="utf-8")

    with pytest.raises(SnapshotError, match="no config name has the form"):
        open_snapshot(copy)


def test_readme_config_with_missing_file(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    details_file(copy, "mmlu").rename(copy / "elsewhere.parquet")

    with pytest.raises(SnapshotError) as caught:
        open_snapshot(copy)

    assert f"config '{config_of('mmlu')}' lists" in str(caught.value)
    assert "run `evalbook download` again" in str(caught.value)


# Two models in one folder


def _two_models(tmp_path: Path, sample_snapshot: Path) -> tuple[Path, int]:
    """Return a README-less folder with the 1B sample and a 3B dump of 20 needle rows."""
    folder = shutil.copytree(sample_snapshot, tmp_path / "two")
    (folder / "README.md").unlink()
    tables = build_tables(model=OTHER_MODEL)
    needle = config_of("needle_in_haystack", OTHER_MODEL)
    other = write_snapshot(
        tmp_path / "other", model=OTHER_MODEL, tables={needle: tables[needle].slice(0, 20)}
    )
    shutil.copytree(other / f"{OTHER_MODEL}-evals", folder / f"{OTHER_MODEL}-evals")
    return folder, 20


@pytest.mark.slow
def test_build_picks_requested_model(sample_snapshot: Path, tmp_path: Path) -> None:
    folder, rows = _two_models(tmp_path, sample_snapshot)
    root = copy_book_root(tmp_path / "root")

    build = run_build(
        root,
        "--source",
        f"local:{folder}",
        "--model",
        OTHER_MODEL,
        "--tasks",
        "needle_in_haystack",
        env=isolated_env(tmp_path),
    )

    assert build.process.returncode == 0, build.process.stderr[-6000:]
    summary = root / "_build" / "results" / OTHER_MODEL / "summary.csv"
    lines = summary.read_text(encoding="utf-8").splitlines()
    assert all(line.startswith(f"{OTHER_MODEL},") for line in lines[1:])
    assert f",{rows}," in lines[1]
    assert not (root / "_build" / "results" / MODEL).exists()


def test_build_lists_models_when_none_matches(sample_snapshot: Path, tmp_path: Path) -> None:
    folder, _ = _two_models(tmp_path, sample_snapshot)
    root = copy_book_root(tmp_path / "root")

    build = run_build(
        root, "--source", f"local:{folder}", "--model", "Llama-3.1-8B", env=isolated_env(tmp_path)
    )

    assert build.process.returncode == 1
    assert "no configs for model 'Llama-3.1-8B'" in build.process.stderr
    assert "the folder has: Llama-3.2-1B, Llama-3.2-3B" in build.process.stderr
    assert "Pass one of them with --model" in build.process.stderr


# Duplicate ids, empty golds and golds outside the options


def test_duplicate_hashes_are_scored_and_logged(
    tmp_path: Path, sample_tables, caplog: pytest.LogCaptureFixture
) -> None:
    table = sample_tables[config_of("mmlu")]
    hashes = table.column("input_question_hash").to_pylist()
    hashes[1] = hashes[0]
    hashes[3] = hashes[2]

    with caplog.at_level(logging.INFO, logger="evalbook.items"):
        items = score(
            tmp_path / "snap", "mmlu", replace_column(table, "input_question_hash", hashes)
        )

    assert len(items) == table.num_rows
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        "4 rows share their input_question_hash" in m and "2 distinct" in m for m in messages
    )


@pytest.mark.parametrize(
    ("gold", "problem"),
    [
        ([], "input_correct_responses is empty"),
        ([""], "input_correct_responses is empty"),
        (["Answer: E"], "gold 'Answer: E' is none of the options A, B, C, D"),
        (["the second one"], "gold 'the second one' is none of the options A, B, C, D"),
    ],
)
def test_unusable_gold_names_item(tmp_path: Path, sample_tables, gold, problem) -> None:
    table = sample_tables[config_of("mmlu")]
    golds = table.column("input_correct_responses").to_pylist()
    golds[5] = gold
    item_id = table["input_question_hash"][5].as_py()

    with pytest.raises(ValueError) as caught:
        score(tmp_path / "snap", "mmlu", replace_column(table, "input_correct_responses", golds))

    message = str(caught.value)
    assert "Details_mmlu_" in message
    assert f"1 of {table.num_rows} items have no usable gold answer" in message
    assert f"{item_id}: {problem}" in message


def test_agreement_skips_null_stored_values(tmp_path: Path, sample_tables) -> None:
    table = sample_tables[config_of("squad")]
    metrics = table.column("output_metrics").to_pylist()
    metrics[0] = None
    correct = table.column("is_correct").to_pylist()
    correct[1] = None
    table = replace_column(
        table, "output_metrics", pa.array(metrics, type=table["output_metrics"].type)
    )
    table = replace_column(table, "is_correct", pa.array(correct, type=pa.bool_()))

    items = score(tmp_path / "snap", "squad", table)
    results = {result.meta_column: result for result in agreement(items, get_benchmark("squad"))}

    assert np.isnan(items["meta_em"][0])
    assert results["meta_em"].n_items == table.num_rows - 1
    assert results["meta_is_correct"].n_items == table.num_rows - 1
    assert results["meta_em"].n_agree == table.num_rows - 1
