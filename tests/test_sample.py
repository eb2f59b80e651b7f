"""Tests of the synthetic snapshot generator, run on the files it writes.

The checks recompute everything from the written Parquet files with plain Python, numpy and
pyarrow: hashes, the option each normalization picks, EM and F1 of reading answers, needle
recall, and the aggregates of the metrics config.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from evalbook.registry import BENCHMARKS, get_benchmark
from evalbook.sample import (
    DROP_SPAN_SEPARATOR,
    GENERATOR_VERSION,
    build_details,
    build_tables,
    write_snapshot,
)
from evalbook.sample.needles import NEEDLE_CONTEXT_TOKENS, context_chars
from evalbook.schema import DETAILS_COLUMNS, METRICS_COLUMNS, check_schema
from evalbook.snapshot import open_snapshot

MODEL = "Llama-3.2-1B"
CHOICE_TASKS = ("mmlu", "arc_challenge", "agieval_english")
READING_TASKS = ("squad", "quac", "drop")

SMALL_ROWS = {
    "mmlu": 219,
    "arc_challenge": 120,
    "agieval_english": 152,
    "squad": 150,
    "quac": 120,
    "drop": 150,
    "needle_in_haystack": 50,
    "multi_needle": 30,
}

AGIEVAL_EXAMS = {
    "lsat-ar",
    "lsat-lr",
    "lsat-rc",
    "logiqa-en",
    "sat-math",
    "sat-en",
    "sat-en-without-passage",
    "aqua-rat",
}

# Llama 3.2 1B on its model card. Multi-needle recall is from the instruct card.
MODEL_CARD = {
    "mmlu": 32.2,
    "arc_challenge": 32.8,
    "agieval_english": 23.3,
    "squad": 49.2,
    "quac": 37.9,
    "drop": 28.0,
    "needle_in_haystack": 96.8,
    "multi_needle": 75.0,
}

TIMESTAMPED_NAME = re.compile(
    r"^Details_(?P<task>[a-z_]+)_\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}\.parquet\.gzip$"
)


# Helpers: the test's own readings of the files, independent of the generator's code.


def squad_normalize(answer: str) -> str:
    answer = answer.lower()
    answer = "".join(char for char in answer if char not in set(string.punctuation))
    answer = re.sub(r"\b(a|an|the)\b", " ", answer)
    return " ".join(answer.split())


def bag_f1(prediction: str, gold: str) -> float:
    predicted, expected = squad_normalize(prediction).split(), squad_normalize(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def read_front_matter(snapshot: Path) -> tuple[dict, str]:
    text = (snapshot / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def metric(row: dict, name: str) -> float:
    return row["output_metrics"][name]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("sample") / "snapshot")


@pytest.fixture(scope="module")
def files(snapshot: Path) -> dict[str, Path]:
    """Data file of each config, as listed in the README front matter."""
    front, _ = read_front_matter(snapshot)
    return {
        entry["config_name"]: snapshot / entry["data_files"][0]["path"][0]
        for entry in front["configs"]
    }


@pytest.fixture(scope="module")
def rows(files: dict[str, Path]) -> dict[str, list[dict]]:
    """Rows of each details config, keyed by task."""
    return {
        benchmark.key: pq.read_table(files[benchmark.config_name(MODEL)]).to_pylist()
        for benchmark in BENCHMARKS
    }


@pytest.fixture(scope="module")
def metrics_rows(files: dict[str, Path]) -> list[dict]:
    return pq.read_table(files[f"{MODEL}-evals__metrics"]).to_pylist()


# Files and layout.


def test_same_seed_gives_identical_bytes(tmp_path: Path, snapshot: Path) -> None:
    again = write_snapshot(tmp_path / "again")
    assert file_bytes(again) == file_bytes(snapshot)


def test_other_seed_gives_other_rows(tmp_path: Path, snapshot: Path) -> None:
    other = file_bytes(write_snapshot(tmp_path / "other", seed=1))
    for name, content in file_bytes(snapshot).items():
        if name.endswith(".parquet.gzip"):
            assert other[name] != content, name


def test_layout_matches_hub(snapshot: Path, files: dict[str, Path]) -> None:
    expected = {benchmark.config_name(MODEL) for benchmark in BENCHMARKS}
    expected.add(f"{MODEL}-evals__metrics")
    assert set(files) == expected

    for config, path in files.items():
        assert path.is_file(), config
        assert path.parent == snapshot / f"{MODEL}-evals"
        match = TIMESTAMPED_NAME.match(path.name)
        assert match, path.name
        task = "metrics_details" if config.endswith("__metrics") else config.split("__")[1]
        assert match.group("task") == task

    data_files = sorted(path.name for path in (snapshot / f"{MODEL}-evals").iterdir())
    assert data_files == sorted(path.name for path in files.values())
    assert sorted(path.name for path in snapshot.iterdir()) == ["Llama-3.2-1B-evals", "README.md"]


def test_readme_front_matter(snapshot: Path) -> None:
    front, _ = read_front_matter(snapshot)

    assert front["license"] == "llama3.2"
    assert "synthetic" in front["tags"]
    assert front["evalbook"] == {
        "synthetic": True,
        "generator_version": GENERATOR_VERSION,
        "seed": 0,
        "size": "small",
    }
    for entry in front["configs"]:
        assert set(entry) == {"config_name", "data_files"}
        assert len(entry["data_files"]) == 1
        assert entry["data_files"][0]["split"] == "latest"
        assert len(entry["data_files"][0]["path"]) == 1


def test_readme_body_says_synthetic_first(snapshot: Path) -> None:
    _, body = read_front_matter(snapshot)
    first_line = body.splitlines()[0]
    assert "synthetic" in first_line
    assert "evalbook" in first_line
    assert "not Meta's" in first_line


def test_readme_without_configs(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "bare", readme_configs=False)
    front, _ = read_front_matter(folder)
    assert "configs" not in front
    assert front["evalbook"]["synthetic"] is True
    assert len(list((folder / f"{MODEL}-evals").glob("Details_*.parquet.gzip"))) == 9


def test_reader_opens_both_readme_forms(tmp_path: Path, snapshot: Path) -> None:
    bare = write_snapshot(tmp_path / "bare", readme_configs=False)
    for folder in (snapshot, bare):
        opened = open_snapshot(folder)
        assert opened.model == MODEL
        assert opened.synthetic
        assert sorted(opened.tasks()) == sorted(benchmark.key for benchmark in BENCHMARKS)
        assert opened.num_rows(opened.details_config("squad")) == SMALL_ROWS["squad"]


def test_files_are_plain_parquet_with_gzip(files: dict[str, Path]) -> None:
    for path in files.values():
        content = path.read_bytes()
        assert content[:4] == b"PAR1", path.name
        assert content[-4:] == b"PAR1", path.name
        assert content[:2] != b"\x1f\x8b", path.name
        metadata = pq.ParquetFile(path).metadata
        codecs = {
            metadata.row_group(group).column(column).compression
            for group in range(metadata.num_row_groups)
            for column in range(metadata.num_columns)
        }
        assert codecs == {"GZIP"}, path.name


# Schema and row counts.


def test_details_files_pass_schema_check(files: dict[str, Path]) -> None:
    for benchmark in BENCHMARKS:
        schema = pq.read_schema(files[benchmark.config_name(MODEL)])
        assert check_schema(schema) == [], benchmark.key
        assert schema.names == [spec.name for spec in DETAILS_COLUMNS]


def test_eval_config_fields_are_strings(files: dict[str, Path]) -> None:
    for benchmark in BENCHMARKS:
        eval_config = pq.read_schema(files[benchmark.config_name(MODEL)]).field("eval_config")
        assert [field.type for field in eval_config.type] == [pa.string()] * 10


def test_metrics_file_schema(files: dict[str, Path]) -> None:
    schema = pq.read_schema(files[f"{MODEL}-evals__metrics"])
    assert check_schema(schema, METRICS_COLUMNS) == []
    assert schema.field("metric_value_computed").type == pa.float64()
    assert schema.field("subtask_name").type == pa.string()
    assert schema.field("num_samples").type == pa.int64()


def test_small_row_counts(rows: dict[str, list[dict]]) -> None:
    assert {task: len(task_rows) for task, task_rows in rows.items()} == SMALL_ROWS


def test_full_row_counts_of_small_configs() -> None:
    arc = build_details("arc_challenge", size="full")
    assert arc.num_rows == 1165

    agieval = build_details("agieval_english", size="full")
    exams = Counter(agieval.column("subtask_name").to_pylist())
    assert agieval.num_rows == 2546
    assert exams["logiqa-en"] == 651
    assert exams["aqua-rat"] == 254


def test_task_names_and_labels(rows: dict[str, list[dict]]) -> None:
    for task, task_rows in rows.items():
        benchmark = get_benchmark(task)
        assert {row["task_name"] for row in task_rows} == {task}
        assert {row["benchmark_label"] for row in task_rows} == {benchmark.label}
        expected_type = "Choice" if benchmark.task_type == "choice" else "Generative"
        assert {row["task_type"] for row in task_rows} == {expected_type}


def test_hashes_are_sha256_of_text(rows: dict[str, list[dict]]) -> None:
    def sha256(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    for task, task_rows in rows.items():
        for row in task_rows:
            assert row["input_question_hash"] == sha256(row["input_question"]), task
            assert row["input_final_prompts_hash"] == [
                sha256(prompt) for prompt in row["input_final_prompts"]
            ], task


def test_question_hashes_are_unique(rows: dict[str, list[dict]]) -> None:
    for task, task_rows in rows.items():
        hashes = [row["input_question_hash"] for row in task_rows]
        assert len(set(hashes)) == len(hashes), task


def test_eval_config_values(rows: dict[str, list[dict]]) -> None:
    prompt_fn = re.compile(
        r"^functools\.partial\(<function jinja_format at 0x[0-9a-f]+>, '.+'"
        r"(, subject='[a-z ]+')?\)$",
        re.DOTALL,
    )
    max_gen_len = {task: "0" for task in CHOICE_TASKS}
    max_gen_len |= {task: "32" for task in READING_TASKS}
    max_gen_len |= {"needle_in_haystack": "256", "multi_needle": "256"}

    for task, task_rows in rows.items():
        low, _, high = get_benchmark(task).shots.partition("-")
        for row in task_rows:
            config = row["eval_config"]
            assert config["max_gen_len"] == max_gen_len[task]
            assert int(low) <= int(config["num_few_shot"]) <= int(high or low)
            assert prompt_fn.match(config["prompt_fn"]), config["prompt_fn"][:200]
            assert ("subject=" in config["prompt_fn"]) == (task == "mmlu")


# Choice tasks.


def test_choice_rows_are_consistent(rows: dict[str, list[dict]]) -> None:
    for task in CHOICE_TASKS:
        for row in rows[task]:
            letters = [letter for letter, text in row["input_choice_list"].items() if text]
            options = len(letters)
            completions = row["output_choice_completions"]
            nlls = row["output_choice_negative_log_likelihoods"]
            gold = row["input_correct_responses"]

            assert len(gold) == 1
            assert re.fullmatch(r"Answer: [A-E]", gold[0])
            assert row["output_prediction_text"] is None
            assert len(row["input_final_prompts"]) == options
            assert len(completions) == options
            assert {key: len(values) for key, values in nlls.items()} == {
                "raw": options,
                "char": options,
                "token": options,
            }

            raw, char, token = (np.array(nlls[key]) for key in ("raw", "char", "token"))
            lengths = np.array([len(completion) for completion in completions])
            words = np.array([len(completion.split()) + 1 for completion in completions])
            np.testing.assert_allclose(char, raw / lengths, atol=1e-4)
            np.testing.assert_allclose(token, raw / words, atol=1e-4)
            assert raw.tolist() == [round(value, 4) for value in raw.tolist()]

            gold_letter = gold[0][-1]
            char_pick = letters[int(np.argmin(char))]
            raw_pick = letters[int(np.argmin(raw))]
            assert row["output_parsed_answer"] == char_pick
            assert metric(row, "acc_char") == float(char_pick == gold_letter)
            assert metric(row, "acc_raw") == float(raw_pick == gold_letter)
            assert row["is_correct"] == (metric(row, "acc_char") == 1.0)


def test_choice_prompts_differ_only_in_answer(rows: dict[str, list[dict]]) -> None:
    for task in CHOICE_TASKS:
        for row in rows[task]:
            letters = [letter for letter, text in row["input_choice_list"].items() if text]
            prompts = row["input_final_prompts"]
            stems = {
                prompt.removesuffix(f" {letter}")
                for prompt, letter in zip(prompts, letters, strict=True)
            }
            assert len(stems) == 1, task
            stem = stems.pop()
            assert stem.endswith("\nAnswer:")
            for letter, text in row["input_choice_list"].items():
                if text is not None:
                    assert f"\n{letter}. {text}\n" in stem


def test_mmlu_prompt_shape(rows: dict[str, list[dict]]) -> None:
    for row in rows["mmlu"]:
        prompt = row["input_final_prompts"][0]
        subject = row["subtask_name"].replace("_", " ")
        header = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
        assert prompt.startswith(header)
        assert len(re.findall(r"\nAnswer: [A-D]\n\n", prompt)) == 5
        assert row["input_question"] in prompt


def test_choice_completions(rows: dict[str, list[dict]]) -> None:
    for task in ("mmlu", "arc_challenge"):
        for row in rows[task]:
            letters = [letter for letter, text in row["input_choice_list"].items() if text]
            assert row["output_choice_completions"] == [f" {letter}" for letter in letters]
    for row in rows["agieval_english"]:
        texts = [text for text in row["input_choice_list"].values() if text]
        assert row["output_choice_completions"] == [f" {text}" for text in texts]


def test_ties_and_normalization_disagreements(rows: dict[str, list[dict]]) -> None:
    ties = 0
    for task in ("mmlu", "arc_challenge"):
        for row in rows[task]:
            raw = row["output_choice_negative_log_likelihoods"]["raw"]
            ties += raw.count(min(raw)) > 1
    assert ties >= 2

    disagreements = [
        row
        for row in rows["agieval_english"]
        if np.argmin(row["output_choice_negative_log_likelihoods"]["raw"])
        != np.argmin(row["output_choice_negative_log_likelihoods"]["char"])
    ]
    assert len(disagreements) >= 3
    assert any(metric(row, "acc_raw") != metric(row, "acc_char") for row in disagreements)


def test_option_counts(rows: dict[str, list[dict]]) -> None:
    def option_count(row: dict) -> int:
        return sum(text is not None for text in row["input_choice_list"].values())

    assert {option_count(row) for row in rows["mmlu"]} == {4}
    assert set(rows["mmlu"][0]["input_choice_list"]) == set("ABCD")

    arc = Counter(option_count(row) for row in rows["arc_challenge"])
    assert set(arc) == {3, 4, 5}
    assert arc[4] > len(rows["arc_challenge"]) / 2
    assert set(rows["arc_challenge"][0]["input_choice_list"]) == set("ABCDE")

    for row in rows["agieval_english"]:
        assert option_count(row) in (4, 5)
        if row["subtask_name"] == "aqua-rat":
            assert option_count(row) == 5


def test_subtasks(rows: dict[str, list[dict]]) -> None:
    subjects = {row["subtask_name"] for row in rows["mmlu"]}
    assert len(subjects) == 57
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", subject) for subject in subjects)
    assert {row["subtask_name"] for row in rows["agieval_english"]} == AGIEVAL_EXAMS
    for task in ("arc_challenge", *READING_TASKS, "needle_in_haystack", "multi_needle"):
        assert {row["subtask_name"] for row in rows[task]} == {None}, task


# Generative tasks.


def test_generative_rows_are_consistent(rows: dict[str, list[dict]]) -> None:
    for task in (*READING_TASKS, "needle_in_haystack", "multi_needle"):
        binary = "recall" if task == "multi_needle" else "em"
        for row in rows[task]:
            assert row["input_choice_list"] is None
            assert row["output_choice_completions"] is None
            assert row["output_choice_negative_log_likelihoods"] is None
            assert row["input_final_prompts"] == [row["input_question"]]
            assert len(row["output_prediction_text"]) == 1
            assert row["is_correct"] == (metric(row, binary) == 1.0)


def test_parsed_answer_is_first_line(rows: dict[str, list[dict]]) -> None:
    for task in ("squad", "quac", "needle_in_haystack"):
        for row in rows[task]:
            first_line = row["output_prediction_text"][0].split("\n")[0]
            assert row["output_parsed_answer"] == squad_normalize(first_line), task
    for row in rows["drop"]:
        first_line = row["output_prediction_text"][0].split("\n")[0]
        assert row["output_parsed_answer"] == first_line.strip()


def test_predictions_run_on_and_vary(rows: dict[str, list[dict]]) -> None:
    for task in (*READING_TASKS, "needle_in_haystack"):
        predictions = [row["output_prediction_text"][0] for row in rows[task]]
        right_after_cut = [
            row
            for row in rows[task]
            if row["is_correct"] and "\n" in row["output_prediction_text"][0]
        ]
        assert any(prediction.startswith(" ") for prediction in predictions), task
        assert len(right_after_cut) >= 3, task
    for task in READING_TASKS:
        predictions = [row["output_prediction_text"][0] for row in rows[task]]
        assert "" in predictions, task
        assert any(prediction[:1].isalnum() for prediction in predictions), task


def test_reading_metrics_match_recomputed(rows: dict[str, list[dict]]) -> None:
    for task, abstention in (("squad", "not in background"), ("quac", None)):
        for row in rows[task]:
            parsed = row["output_parsed_answer"]
            golds = row["input_correct_responses"]
            if golds:
                em = float(parsed in {squad_normalize(gold) for gold in golds})
                f1 = max(bag_f1(parsed, gold) for gold in golds)
            else:
                em = f1 = float(parsed in ("", abstention))
            assert metric(row, "em") == em, (task, parsed, golds)
            assert metric(row, "f1") == pytest.approx(f1), (task, parsed, golds)


def test_reading_partial_answers_present(rows: dict[str, list[dict]]) -> None:
    for task in READING_TASKS:
        partial = [row for row in rows[task] if 0.0 < metric(row, "f1") < 1.0]
        assert len(partial) >= 3, task
        assert all(metric(row, "em") == 0.0 for row in partial)


def test_squad_unanswerable_questions(rows: dict[str, list[dict]]) -> None:
    squad = rows["squad"]
    unanswerable = [row for row in squad if row["input_correct_responses"] == []]
    assert 0.25 < len(unanswerable) / len(squad) < 0.42

    abstained = [row for row in unanswerable if row["output_parsed_answer"] == "not in background"]
    answered = [
        row for row in unanswerable if row["output_parsed_answer"] not in ("", "not in background")
    ]
    assert abstained and all(row["is_correct"] for row in abstained)
    assert answered and not any(row["is_correct"] for row in answered)

    for row in squad:
        golds = row["input_correct_responses"]
        assert golds == [] or len(golds) == 3
        assert golds == [squad_normalize(gold) for gold in golds]
        assert 'reply "Not in background"' in row["input_question"]


def test_squad_passages_have_several_questions(rows: dict[str, list[dict]]) -> None:
    passages = Counter(
        row["input_question"].rsplit("\n\nBackground: ", 1)[1].split("\n\n")[0]
        for row in rows["squad"]
    )
    assert len(passages) < len(rows["squad"]) / 2.5
    assert max(passages.values()) >= 4

    with_history = [
        row
        for row in rows["squad"]
        if row["input_question"].rsplit("Background: ", 1)[1].count("\n\nQ: ") >= 2
    ]
    assert with_history


def test_quac_dialogues(rows: dict[str, list[dict]]) -> None:
    quac = rows["quac"]
    cannot = [row for row in quac if "CANNOTANSWER" in row["input_correct_responses"]]
    assert 0.12 < len(cannot) / len(quac) < 0.28
    assert any(
        row["output_parsed_answer"] == "cannotanswer" and row["is_correct"] for row in cannot
    )
    assert any(row["output_parsed_answer"] != "cannotanswer" for row in cannot)

    history = [row["input_question"].rsplit("Background: ", 1)[1].count("\n\nQ: ") for row in quac]
    assert max(history) >= 3


def test_drop_answer_shapes(rows: dict[str, list[dict]]) -> None:
    drop = rows["drop"]
    golds = [gold for row in drop for gold in row["input_correct_responses"]]
    months = "January|February|March|April|May|June|July|August|September|October|November|December"
    assert any(DROP_SPAN_SEPARATOR in gold for gold in golds)
    assert any(re.fullmatch(r"\d+\.\d+", gold) for gold in golds)
    assert any(re.fullmatch(rf"\d{{1,2}} ({months}) \d{{4}}", gold) for gold in golds)
    assert any(re.fullmatch(r"\d+", gold) for gold in golds)

    for row in drop:
        assert row["input_question"].count("Passage: ") == 4
        assert row["input_question"].endswith("\nAnswer:")
        assert metric(row, "f1") in (0.0, 0.5, 0.8, 1.0)
        assert (metric(row, "em") == 1.0) == (metric(row, "f1") == 1.0)


def test_drop_partial_scores_follow_spans(rows: dict[str, list[dict]]) -> None:
    for row in rows["drop"]:
        if metric(row, "f1") != 0.5:
            continue
        predicted = row["output_parsed_answer"].split(DROP_SPAN_SEPARATOR)
        gold = row["input_correct_responses"][0].split(DROP_SPAN_SEPARATOR)
        if len(gold) == 2:
            assert len(predicted) == 1
            assert predicted[0] in gold
        else:
            words = predicted[0].split()
            assert len(gold) == 1
            assert len(words) == 3
            assert gold[0] in words


def test_needle_rows(rows: dict[str, list[dict]]) -> None:
    needle = rows["needle_in_haystack"]
    haystacks: dict[str, list[float]] = defaultdict(list)
    for row in needle:
        prompt = row["input_question"]
        (value,) = row["input_correct_responses"]
        assert prompt.count(value) == 1
        assert len(re.findall(r"\d", prompt)) == len(value)
        assert prompt.endswith("\nAnswer:")
        assert list(row["output_metrics"]) == ["em"]

        context = prompt.split("\n\nQuestion: ")[0]
        sentence = f"The special magic number is {value}."
        haystack = context.replace(f"{sentence} ", "").replace(f" {sentence}", "")
        haystacks[haystack].append(context.index(sentence) / len(haystack))

    assert len(haystacks) == len(NEEDLE_CONTEXT_TOKENS)
    for haystack, depths in haystacks.items():
        # The needle goes between sentences, so a depth is off by at most half a sentence.
        longest = max(len(sentence) + 1 for sentence in re.split(r"(?<=\.) ", haystack))
        tolerance = longest / len(haystack) / 2 + 0.01
        np.testing.assert_allclose(sorted(depths), [0.0, 0.25, 0.5, 0.75, 1.0], atol=tolerance)

    # Haystacks are cut at a sentence end, so a prompt is at most one sentence short.
    lengths = sorted({len(row["input_question"]) for row in needle})
    targets = [context_chars(tokens, "small") for tokens in NEEDLE_CONTEXT_TOKENS]
    assert len(lengths) == len(targets)
    for length, target in zip(lengths, targets, strict=True):
        assert target - 150 <= length <= target
    assert max(lengths) <= 41_000


def test_multi_needle_recall(rows: dict[str, list[dict]]) -> None:
    several_lines = 0
    for row in rows["multi_needle"]:
        golds = row["input_correct_responses"]
        assert 2 <= len(golds) <= 4
        assert all(row["input_question"].count(gold) == 1 for gold in golds)

        answer = row["output_prediction_text"][0].split("\n\n")[0]
        listed = set(re.findall(r"\d+", answer))
        found = sum(gold in listed for gold in golds)
        assert metric(row, "recall") == pytest.approx(found / len(golds))
        several_lines += "\n" in answer and found >= 2
    assert several_lines >= 1


# Metrics config.


def test_metrics_equal_means_of_rows(rows: dict[str, list[dict]], metrics_rows: list[dict]) -> None:
    reported = {
        (row["benchmark_label"], row["metric_tag"], row["subtask_name"]): row
        for row in metrics_rows
    }
    assert len(reported) == len(metrics_rows)

    for benchmark in BENCHMARKS:
        task_rows = rows[benchmark.key]
        values = np.array([metric(row, benchmark.metric) for row in task_rows])
        headline = reported[(benchmark.label, benchmark.reported_tag, None)]
        assert headline["num_samples"] == len(task_rows)

        if benchmark.aggregation == "macro":
            by_subtask: dict[str, list[float]] = defaultdict(list)
            for row, value in zip(task_rows, values, strict=True):
                by_subtask[row["subtask_name"]].append(value)
            means = {subtask: np.mean(group) for subtask, group in by_subtask.items()}
            assert headline["metric_value_computed"] == pytest.approx(
                100 * np.mean(list(means.values()))
            )
            micro = reported[(benchmark.label, f"micro_avg/{benchmark.metric}", None)]
            assert micro["metric_value_computed"] == pytest.approx(100 * values.mean())
            # Subtasks differ in size, so the check above distinguishes macro from micro.
            assert micro["metric_value_computed"] != pytest.approx(
                headline["metric_value_computed"]
            )
            for subtask, mean in means.items():
                row = reported[(benchmark.label, benchmark.metric, subtask)]
                assert row["metric_value_computed"] == pytest.approx(100 * mean)
                assert row["num_samples"] == len(by_subtask[subtask])
        else:
            assert headline["metric_value_computed"] == pytest.approx(100 * values.mean())

    for task, tag in (("squad", "f1"), ("quac", "em"), ("drop", "em")):
        values = [metric(row, tag) for row in rows[task]]
        row = reported[(get_benchmark(task).label, tag, None)]
        assert row["metric_value_computed"] == pytest.approx(100 * np.mean(values))


def test_metrics_rows_per_benchmark(metrics_rows: list[dict]) -> None:
    tags = Counter(row["benchmark_label"] for row in metrics_rows)
    assert tags["MMLU"] == 2 + 57
    assert tags["AGIEval English"] == 2 + 8
    assert tags["ARC-Challenge"] == 1
    assert tags["SQuAD"] == tags["QuAC"] == tags["DROP"] == 2
    assert tags["Needle in Haystack"] == tags["Multi-needle"] == 1


def test_outcomes_near_model_card(metrics_rows: list[dict]) -> None:
    headline = {
        (row["benchmark_label"], row["metric_tag"]): row["metric_value_computed"]
        for row in metrics_rows
        if row["subtask_name"] is None
    }
    for task, card in MODEL_CARD.items():
        benchmark = get_benchmark(task)
        tolerance = 8.0 if task == "multi_needle" else 5.0
        assert abs(headline[(benchmark.label, benchmark.reported_tag)] - card) < tolerance, task


# Writing.


def test_rejects_non_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")

    with pytest.raises(FileExistsError, match=r"taken.*overwrite=True"):
        write_snapshot(target)
    assert (target / "notes.txt").read_text() == "keep me"

    write_snapshot(target, overwrite=True)
    assert not (target / "notes.txt").exists()
    assert (target / "README.md").is_file()


def test_uses_existing_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    write_snapshot(target)
    assert (target / "README.md").is_file()


def test_failed_write_leaves_no_folder(tmp_path: Path) -> None:
    tables: dict = build_tables()
    tables[f"{MODEL}-evals__broken__details"] = "not a table"

    with pytest.raises(TypeError, match="broken"):
        write_snapshot(tmp_path / "snapshot", tables=tables)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_old_snapshot(tmp_path: Path) -> None:
    target = write_snapshot(tmp_path / "snapshot")
    before = file_bytes(target)
    tables: dict = build_tables(seed=1)
    tables[f"{MODEL}-evals__broken__details"] = "not a table"

    with pytest.raises(TypeError):
        write_snapshot(target, tables=tables, overwrite=True)
    assert file_bytes(target) == before
    assert [path.name for path in tmp_path.iterdir()] == ["snapshot"]


def test_writes_altered_tables(tmp_path: Path) -> None:
    tables = build_tables()
    config = f"{MODEL}-evals__mmlu__details"
    tables[config] = tables[config].slice(0, 10).drop_columns(["eval_config"])

    target = write_snapshot(tmp_path / "altered", tables=tables)
    (path,) = (target / f"{MODEL}-evals").glob("Details_mmlu_*.parquet.gzip")
    written = pq.read_table(path)
    assert written.num_rows == 10
    assert "eval_config" not in written.column_names


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"size": "medium"}, "invalid size 'medium'"),
        ({"seed": -1}, "invalid seed -1"),
        ({"model": "meta/Llama"}, "invalid model name 'meta/Llama'"),
    ],
)
def test_invalid_arguments(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_snapshot(tmp_path / "snapshot", **arguments)
    assert not (tmp_path / "snapshot").exists()


def test_rejects_config_of_other_model(tmp_path: Path) -> None:
    tables = {"Llama-3.2-3B-evals__mmlu__details": build_details("mmlu")}
    with pytest.raises(ValueError, match=re.escape("Llama-3.2-3B-evals__mmlu__details")):
        write_snapshot(tmp_path / "snapshot", tables=tables)
