"""The snapshot reader on generated snapshots, on Meta's real rows, and on broken folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import MODEL, real_row

from evalbook.registry import BENCHMARKS
from evalbook.sample import write_snapshot
from evalbook.schema import DETAILS_COLUMNS, SchemaError, check_schema
from evalbook.snapshot import SnapshotError, open_snapshot

DETAILS_NAMES = [spec.name for spec in DETAILS_COLUMNS]


def details_file(snapshot: Path, task: str) -> Path:
    (path,) = (snapshot / f"{MODEL}-evals").glob(f"Details_{task}_*.parquet.gzip")
    return path


def test_reader_lists_every_config(sample_snapshot: Path) -> None:
    snapshot = open_snapshot(sample_snapshot)

    assert snapshot.model == MODEL
    assert snapshot.tasks() == [benchmark.key for benchmark in BENCHMARKS]
    assert snapshot.has_config(f"{MODEL}-evals__metrics")
    assert snapshot.synthetic


def test_reader_validates_every_details_config(sample_snapshot: Path) -> None:
    snapshot = open_snapshot(sample_snapshot)

    for task in snapshot.tasks():
        config = snapshot.details_config(task)
        assert snapshot.validate(config) == [], config
        assert snapshot.schema(config).names == DETAILS_NAMES


def test_reader_reads_only_requested_columns(sample_snapshot: Path) -> None:
    snapshot = open_snapshot(sample_snapshot)
    config = snapshot.details_config("needle_in_haystack")

    table = snapshot.read(config, ["input_question_hash", "is_correct"])

    assert table.column_names == ["input_question_hash", "is_correct"]
    assert table.num_rows == snapshot.num_rows(config)
    assert (
        table.num_rows
        == pq.ParquetFile(details_file(sample_snapshot, "needle_in_haystack")).metadata.num_rows
    )


def test_reader_batches_long_prompts(sample_snapshot: Path) -> None:
    snapshot = open_snapshot(sample_snapshot)
    config = snapshot.details_config("needle_in_haystack")

    batches = list(snapshot.iter_batches(config, ["input_final_prompts"], batch_size=8))

    assert max(batch.num_rows for batch in batches) == 8
    assert sum(batch.num_rows for batch in batches) == snapshot.num_rows(config)


def test_reader_hands_over_a_datasets_dataset(
    sample_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    snapshot = open_snapshot(sample_snapshot)
    config = snapshot.details_config("squad")

    dataset = snapshot.to_dataset(config, ["input_question_hash", "output_metrics"])

    assert dataset.num_rows == snapshot.num_rows(config)
    assert dataset.column_names == ["input_question_hash", "output_metrics"]
    assert set(dataset[0]["output_metrics"]) == {"em", "f1"}


def test_reader_falls_back_to_file_names(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    (copy / "README.md").write_text("# no front matter\n", encoding="utf-8")

    snapshot = open_snapshot(copy)

    assert snapshot.model == MODEL
    assert snapshot.tasks() == sorted(benchmark.key for benchmark in BENCHMARKS)
    assert snapshot.has_config(snapshot.metrics_config)


def test_reader_keeps_newest_run_by_file_name(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    (copy / "README.md").unlink()
    newest = details_file(copy, "squad")
    older = newest.with_name("Details_squad_2023-01-01T00-00-00.000000.parquet.gzip")
    shutil.copy2(newest, older)

    snapshot = open_snapshot(copy)

    assert snapshot.files(snapshot.details_config("squad")) == (newest,)


def test_reader_rejects_two_models_without_model(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    (copy / "README.md").unlink()
    shutil.copytree(copy / f"{MODEL}-evals", copy / "Llama-3.2-3B-evals")

    with pytest.raises(SnapshotError, match=r"several models \(Llama-3.2-1B, Llama-3.2-3B\)"):
        open_snapshot(copy)
    assert open_snapshot(copy, model="Llama-3.2-3B").model == "Llama-3.2-3B"


def test_reader_names_missing_config(sample_snapshot: Path) -> None:
    snapshot = open_snapshot(sample_snapshot)

    with pytest.raises(
        SnapshotError, match=r"config 'Llama-3\.2-1B-evals__gsm8k__details' not found"
    ):
        snapshot.files(snapshot.details_config("gsm8k"))


def test_reader_names_missing_data_file(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    details_file(copy, "drop").unlink()

    with pytest.raises(SnapshotError, match="no such file exists"):
        open_snapshot(copy)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_reader_names_broken_parquet(sample_snapshot: Path, tmp_path: Path, damage: str) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    path = details_file(copy, "quac")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not parquet" * 100)
    snapshot = open_snapshot(copy)

    with pytest.raises(SnapshotError) as caught:
        snapshot.read(snapshot.details_config("quac"), ["is_correct"])

    assert str(path) in str(caught.value)
    assert "download the dump again" in str(caught.value)


def test_reader_names_missing_column(sample_snapshot: Path, tmp_path: Path, sample_tables) -> None:
    config = f"{MODEL}-evals__squad__details"
    tables = dict(sample_tables)
    tables[config] = tables[config].drop_columns(["output_metrics"])
    snapshot = open_snapshot(write_snapshot(tmp_path / "snap", tables=tables))

    with pytest.raises(SchemaError) as caught:
        snapshot.read(config, ["input_question_hash", "output_metrics"])

    assert "column 'output_metrics': missing" in str(caught.value)
    assert "Details_squad_" in str(caught.value)
    assert [str(p) for p in snapshot.validate(config)] == ["column 'output_metrics': missing"]


def test_reader_rejects_map_instead_of_struct(
    sample_snapshot: Path, tmp_path: Path, sample_tables
) -> None:
    config = f"{MODEL}-evals__mmlu__details"
    tables = dict(sample_tables)
    table = tables[config]
    choices = table.column("input_choice_list").to_pylist()
    as_map = pa.array(
        [list(row.items()) for row in choices], type=pa.map_(pa.string(), pa.string())
    )
    index = table.schema.get_field_index("input_choice_list")
    tables[config] = table.set_column(index, "input_choice_list", as_map)
    snapshot = open_snapshot(write_snapshot(tmp_path / "snap", tables=tables))

    with pytest.raises(SchemaError) as caught:
        snapshot.read(config, ["input_choice_list"])

    message = str(caught.value)
    assert "column 'input_choice_list': expected struct of strings" in message
    assert "found map" in message
    assert "Details_mmlu_" in message


def test_reader_on_real_squad_row(tmp_path: Path, sample_tables) -> None:
    row = real_row("squad-1.json")
    config = f"{MODEL}-evals__squad__details"
    schema = sample_tables[config].schema
    table = pa.Table.from_pylist([row], schema=schema)
    tables = {config: table}

    snapshot = open_snapshot(write_snapshot(tmp_path / "snap", tables=tables))

    assert snapshot.tasks() == ["squad"]
    assert snapshot.validate(config) == []
    read = snapshot.read(config, ["output_parsed_answer", "output_metrics"]).to_pylist()
    assert read == [
        {"output_parsed_answer": "john paul ii", "output_metrics": {"em": 1.0, "f1": 1.0}}
    ]


def test_reader_reports_what_real_mmlu_loader_row_lacks(tmp_path: Path) -> None:
    # A third-party loader kept 7 columns, renamed is_correct and added two of its own.
    row = real_row("mmlu-1.json")
    table = pa.Table.from_pylist([row])
    folder = tmp_path / "snap" / f"{MODEL}-evals"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "Details_mmlu_2024-09-23T17-21-06.543107.parquet.gzip")

    snapshot = open_snapshot(tmp_path / "snap")
    problems = {
        problem.column: problem.problem
        for problem in snapshot.validate(snapshot.details_config("mmlu"))
    }

    assert problems["is_correct"] == "missing"
    assert problems["output_choice_negative_log_likelihoods"] == "missing"
    assert "input_question" not in problems
    assert "input_choice_list" not in problems
    assert len(problems) == len(DETAILS_COLUMNS) - 6


def test_readme_front_matter_lists_latest_split(sample_snapshot: Path) -> None:
    text = (sample_snapshot / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---")[1])

    splits = {entry["config_name"]: entry["data_files"][0]["split"] for entry in front["configs"]}

    assert set(splits.values()) == {"latest"}
    assert len(splits) == len(BENCHMARKS) + 1


def test_check_schema_accepts_all_null_columns() -> None:
    schema = pa.schema(
        [(spec.name, pa.null() if spec.nullable else pa.string()) for spec in DETAILS_COLUMNS]
    )

    problems = {problem.column for problem in check_schema(schema)}

    assert "input_choice_list" not in problems
    assert "output_metrics" in problems


def test_copy_without_readme_is_still_synthetic(sample_snapshot: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(sample_snapshot, tmp_path / "copy")
    (copy / "README.md").unlink()

    assert open_snapshot(copy).synthetic


def test_real_data_is_not_synthetic(tmp_path: Path) -> None:
    folder = tmp_path / "snap" / f"{MODEL}-evals"
    folder.mkdir(parents=True)
    table = pa.table({"benchmark_label": ["MMLU"], "metric_tag": ["em"]})
    pq.write_table(table, folder / "Details_mmlu_2024-09-23T17-21-06.543107.parquet.gzip")

    assert not open_snapshot(tmp_path / "snap").synthetic


def test_inner_data_folder_suggests_parent(sample_snapshot: Path) -> None:
    inner = sample_snapshot / f"{MODEL}-evals"

    with pytest.raises(SnapshotError, match="pass its parent"):
        open_snapshot(inner)
