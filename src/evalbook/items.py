"""Per-item scores of one benchmark, recomputed from the rows of its details config.

This module turns Arrow rows into arrays, calls the pure scorers of :mod:`evalbook.metrics`, and
puts Meta's own per-row metrics (``output_metrics``, ``is_correct``) beside the recomputed ones, so
every page can show where the two agree. The result is one DataFrame row per item.

Every item table has ``item_id`` (question hash), ``subtask``, ``cluster``, ``prompt_preview``,
``prediction`` and ``gold``. It has one column per recomputed metric (``acc_raw``,
``acc_char``, ``em``, ``f1``, ``recall``, …) and ``meta_<name>`` for each key of
``output_metrics``, plus ``meta_is_correct`` and the breakdown column the registry names.

Choice items also have ``n_options``, ``chance``, ``tie_<key>`` per NLL normalization, ``p_gold``,
``confidence``, ``brier`` and ``unscorable``. Generative items have ``empty_prediction``.

Rows that cannot be scored stay in the table and count as wrong: an empty generation scores 0
and is flagged ``empty_prediction``, and a choice item whose NLLs are NaN, ``-inf``, all
``+inf`` or of the wrong count scores 0 and is flagged ``unscorable``. Rows whose gold answer
is unusable are an error, because no score of them would be right.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evalbook import passages
from evalbook.metrics import choice, generative
from evalbook.registry import Benchmark
from evalbook.schema import SchemaError, SchemaProblem
from evalbook.snapshot import Snapshot

__all__ = [
    "DROP_SPAN_SEPARATOR",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Agreement",
    "agreement",
    "score_benchmark",
    "unavailable_headline",
]

logger = logging.getLogger(__name__)

DROP_SPAN_SEPARATOR = "|"
"""Separator of the spans of a multi-span DROP gold answer inside one string."""
# NOTE: how Meta writes multi-span DROP golds is not documented; "|" is what the bundled sample
# uses. A dump that writes them otherwise scores multi-span items as single spans.

NLL_COLUMN = "output_choice_negative_log_likelihoods"

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "choice": ("input_choice_list", "input_correct_responses", NLL_COLUMN),
    "generative": ("input_final_prompts", "input_correct_responses", "output_prediction_text"),
}
"""Columns without which the items of a task type cannot be scored, by task type.

A benchmark reported as a macro average also needs ``subtask_name``, and a file without
``input_question_hash`` needs ``input_question`` to recompute the item ids.
"""

OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "choice": (
        "input_question_hash",
        "subtask_name",
        "input_question",
        "output_metrics",
        "is_correct",
    ),
    "generative": ("input_question_hash", "subtask_name", "output_metrics", "is_correct"),
}
"""Columns read when present, by task type; a missing one removes only what it feeds."""

_WITHOUT_COLUMN = {
    "input_question_hash": (
        "item ids are recomputed as the SHA-256 of input_question, as Meta's dumps compute them"
    ),
    "subtask_name": "every item is put in one group, so the page has no per-subtask breakdown",
    "input_question": "the prompt previews are left empty",
    "output_metrics": "the agreement with Meta's per-row metrics cannot be shown",
    "is_correct": "the agreement with Meta's is_correct cannot be shown",
}

CHARS_PER_TOKEN = 4
"""Characters per token used to estimate a needle prompt's context length in tokens."""
# NOTE: an estimate for English text with Llama 3's tokenizer; the dump stores no token count.

UNSCORABLE = "(unscorable)"
"""The ``prediction`` shown for a choice item whose NLLs cannot be scored."""

_EXAMPLES = 3
"""Item ids quoted in a warning or error about several rows."""

# The gold of an item whose options are not letters: "Answer: 2", "(3)", "2." or "2".
_GOLD_LABEL = re.compile(
    r"^\s*(?:answer\s*:?\s*)?\(?\s*(?P<label>[^\s().:]+?)\s*\)?\s*[.)]?\s*$", re.IGNORECASE
)


def score_benchmark(
    snapshot: Snapshot, benchmark: Benchmark, *, subtasks: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the per-item table of ``benchmark``, recomputed from the snapshot's rows.

    Parameters
    ----------
    snapshot
        An opened snapshot that has the benchmark's details config.
    benchmark
        The registry entry; its ``scorer`` selects how items are scored.
    subtasks
        Keep only these ``subtask_name`` values; None keeps every item.

    Raises
    ------
    evalbook.snapshot.SnapshotError
        If a data file is missing, corrupt or truncated.
    evalbook.schema.SchemaError
        If a column the task needs is missing or has the wrong type.
    ValueError
        If the config has no rows, or a row's gold answer or options cannot be used. The
        message names the file and quotes item ids.
    """
    config = snapshot.details_config(benchmark)
    path = str(snapshot.files(config)[0])
    if snapshot.num_rows(config) == 0:
        raise ValueError(
            f"{path}: the {benchmark.label} config has 0 rows, so there are no items to score. "
            "Download the dump again; if it really has no rows, leave the benchmark out with "
            "--tasks."
        )

    columns = _columns_to_read(snapshot.schema(config), benchmark, path=path)
    batches = snapshot.iter_batches(config, columns)
    if benchmark.task_type == "choice":
        items = _score_choice(batches, benchmark, path=path)
    else:
        items = _score_generative(batches, benchmark, path=path)
    _log_duplicate_ids(items["item_id"], path=path)

    if subtasks:
        wanted = set(subtasks)
        unknown = wanted - set(items["subtask"])
        if unknown:
            raise ValueError(
                f"{path}: no items for subtask {', '.join(sorted(unknown))}; the subtasks are: "
                f"{', '.join(sorted(set(items['subtask'])))}."
            )
        items = items[items["subtask"].isin(wanted)].reset_index(drop=True)
    logger.info("%s: scored %d items", config, len(items))
    return items


def unavailable_headline(items: pd.DataFrame, benchmark: Benchmark) -> str | None:
    """Return why the item table has no column for the headline metric, or None if it has one.

    Only a choice task can lack it: its headline ``acc_<key>`` needs the NLLs of normalization
    ``<key>``, and no other normalization is read in its place.
    """
    if benchmark.metric in items.columns:
        return None
    keys = [column.removeprefix("tie_") for column in items.columns if column.startswith("tie_")]
    return _headline_message(benchmark, keys)


def _headline_message(benchmark: Benchmark, keys: Sequence[str]) -> str:
    key = benchmark.metric.removeprefix("acc_")
    reported = ", ".join(f"acc_{name}" for name in keys)
    return (
        f"{benchmark.metric} is unavailable: {NLL_COLUMN} has no {key!r} NLLs (it has "
        f"{', '.join(keys)}), and no other normalization is read as {key!r}. Meta reports "
        f"{benchmark.reported_tag}; this page reports {reported} instead."
    )


def _columns_to_read(schema: pa.Schema, benchmark: Benchmark, *, path: str) -> list[str]:
    """Return the columns to read: every required one, and the optional ones that are present.

    Raises :class:`SchemaError` naming each missing required column, and logs a warning for each
    missing optional one, saying what the page loses.
    """
    present = set(schema.names)
    required = list(REQUIRED_COLUMNS[benchmark.task_type])
    if benchmark.aggregation == "macro":
        required.append("subtask_name")
    problems = [SchemaProblem(name, "missing") for name in required if name not in present]
    if "input_question_hash" not in present:
        if "input_question" in present:
            required.append("input_question")
        else:
            problems.append(
                SchemaProblem(
                    "input_question_hash",
                    "missing, and so is input_question, from which it could be recomputed",
                )
            )
    if problems:
        macro = (
            f" {benchmark.label} is reported as a macro average over subtask_name."
            if any(problem.column == "subtask_name" for problem in problems)
            else ""
        )
        raise SchemaError(
            path,
            problems,
            f"A {benchmark.task_type} task cannot be scored without these columns.{macro} "
            "Download the dump again; a file that another tool rewrote may have lost columns.",
        )

    optional = [name for name in OPTIONAL_COLUMNS[benchmark.task_type] if name not in required]
    for name in optional:
        if name not in present:
            logger.warning("%s: column %s is missing; %s", path, name, _WITHOUT_COLUMN[name])
    return [name for name in [*required, *optional] if name in present]


def _item_ids(table: pa.Table) -> list[str]:
    """Return ``input_question_hash``, or the SHA-256 of ``input_question`` when it is missing."""
    if "input_question_hash" in table.column_names:
        return [value or "" for value in table.column("input_question_hash").to_pylist()]
    return [
        hashlib.sha256((text or "").encode("utf-8")).hexdigest()
        for text in table.column("input_question").to_pylist()
    ]


def _subtasks(table: pa.Table) -> list[str]:
    if "subtask_name" not in table.column_names:
        return [""] * table.num_rows
    return [value or "" for value in table.column("subtask_name").to_pylist()]


def _as_floats(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)


def _meta_metrics(table: pa.Table) -> pd.DataFrame:
    """Return Meta's per-row metrics as columns ``meta_<key>`` plus ``meta_is_correct``.

    A missing column adds no ``meta_`` column; a null value becomes NaN.
    """
    frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    if "output_metrics" in table.column_names:
        metrics = table.column("output_metrics").combine_chunks()
        if pa.types.is_struct(metrics.type):
            for field, values in zip(metrics.type, metrics.flatten(), strict=True):
                frame[f"meta_{field.name}"] = _as_floats(values)
    if "is_correct" in table.column_names:
        frame["meta_is_correct"] = _as_floats(table.column("is_correct"))
    return frame


def _examples(ids: Sequence[str], rows: Iterable[int]) -> str:
    return ", ".join(ids[row] for row in list(rows)[:_EXAMPLES])


def _log_duplicate_ids(ids: pd.Series, *, path: str) -> None:
    """Log rows that share an item id: they are scored apart, but cannot be paired by hash."""
    duplicated = ids[ids.duplicated(keep=False)]
    if duplicated.empty:
        return
    # The hash covers the question text only, so two questions with the same wording and
    # different options get the same hash. Both rows count, as in Meta's item counts.
    logger.info(
        "%s: %d rows share their input_question_hash with another row (%d distinct hashes, "
        "e.g. %s); each row is scored as its own item, but pairing these rows with another "
        "dump by hash is ambiguous",
        path,
        len(duplicated),
        duplicated.nunique(),
        ", ".join(duplicated.drop_duplicates().head(_EXAMPLES)),
    )


# Choice tasks


@dataclass(frozen=True)
class _Normalization:
    """One normalization's NLLs: a NaN-padded matrix, and why each row cannot be scored."""

    matrix: np.ndarray
    """Items x options; a row that cannot be scored is all NaN."""
    problems: list[str | None]
    """None for a row that can be scored, else the reason it cannot."""

    @property
    def scorable(self) -> np.ndarray:
        return np.array([problem is None for problem in self.problems])


def _score_choice(
    batches: Iterable[pa.RecordBatch], benchmark: Benchmark, *, path: str
) -> pd.DataFrame:
    table, ids, previews = _read_choice_rows(batches)
    letters = _choice_letters(table, path=path, ids=ids)
    n_options = np.array([len(row) for row in letters])
    gold_index = _gold_indices(table, letters, path=path, ids=ids)
    normalizations = _read_nlls(table, n_options, path=path, ids=ids)

    # The prediction shown, and the unscorable flag, follow the headline's normalization. When
    # the dump lacks it, raw (or the first key) is used for display only, never as acc_char.
    headline_key = benchmark.metric.removeprefix("acc_")
    shown_key = next(key for key in (headline_key, "raw", *normalizations) if key in normalizations)
    if headline_key not in normalizations:
        logger.warning(
            "%s: %s Predictions are shown under %r.",
            path,
            _headline_message(benchmark, list(normalizations)),
            shown_key,
        )

    columns: dict[str, object] = {
        "item_id": ids,
        "subtask": _subtasks(table),
        "prompt_preview": previews,
        "gold": [row_letters[g] for row_letters, g in zip(letters, gold_index, strict=True)],
        "n_options": n_options,
        "chance": choice.chance_level(n_options),
    }
    for key, normalization in normalizations.items():
        _log_unscorable(normalization, key=key, ids=ids, path=path)
        predicted, is_tie = _predict(normalization)
        columns[f"acc_{key}"] = (predicted == gold_index).astype(float)
        columns[f"tie_{key}"] = is_tie
        if key == shown_key:
            columns["prediction"] = [
                row_letters[index] if index >= 0 else UNSCORABLE
                for row_letters, index in zip(letters, predicted, strict=True)
            ]
            columns["unscorable"] = ~normalization.scorable

    probability_key = "raw" if "raw" in normalizations else shown_key
    columns.update(_probability_columns(normalizations[probability_key], gold_index))
    items = pd.DataFrame(columns)
    items = pd.concat([items, _meta_metrics(table)], axis=1)
    items["n_options"] = items["n_options"].astype(int)
    return items


def _read_choice_rows(batches: Iterable[pa.RecordBatch]) -> tuple[pa.Table, list[str], list[str]]:
    """Return the rows without ``input_question``, their item ids and their prompt previews.

    The question text is cut to a preview batch by batch, so long prompts never sit in memory
    all at once.
    """
    tables, ids, previews = [], [], []
    for batch in batches:
        table = pa.Table.from_batches([batch])
        ids += _item_ids(table)
        if "input_question" in table.column_names:
            texts = table.column("input_question").to_pylist()
            previews += [passages.prompt_preview(text or "") for text in texts]
            table = table.drop_columns(["input_question"])
        else:
            previews += [""] * table.num_rows
        tables.append(table)
    return pa.concat_tables(tables), ids, previews


def _choice_letters(table: pa.Table, *, path: str, ids: list[str]) -> list[list[str]]:
    """Return each item's option labels: the fields of ``input_choice_list`` that have text."""
    choice_type = table.schema.field("input_choice_list").type
    if pa.types.is_null(choice_type):
        raise SchemaError(
            path,
            [SchemaProblem("input_choice_list", "empty in every row")],
            "A choice task needs its option labels to locate the gold answer. Download the "
            "dump again.",
        )
    letters = []
    too_few = []
    for row, options in enumerate(table.column("input_choice_list").to_pylist()):
        present = [letter for letter, text in (options or {}).items() if text is not None]
        if len(present) < 2:
            too_few.append(row)
        letters.append(present)
    if too_few:
        raise ValueError(
            f"{path}: {len(too_few)} items have fewer than 2 options in input_choice_list "
            f"(e.g. {_examples(ids, too_few)}); a choice item needs at least 2. Download the "
            "dump again; if the error remains, the rows are inconsistent as published."
        )
    return letters


def _gold_position(text: str, labels: Sequence[str]) -> int | None:
    """Return the position of the gold answer ``text`` among an item's option ``labels``.

    Letters are parsed as :func:`evalbook.metrics.choice.parse_gold_letter` reads them. Other
    labels, such as the digits of ARC items that were never mapped to letters, must equal one
    of the item's own labels. Returns None when the gold names no option of the item.
    """
    try:
        return choice.parse_gold_index(text, letters=labels)
    except ValueError:
        pass
    match = _GOLD_LABEL.match(text)
    if match is None:
        return None
    wanted = match["label"].casefold()
    for position, label in enumerate(labels):
        if label.strip().casefold() == wanted:
            return position
    return None


def _gold_indices(
    table: pa.Table, letters: list[list[str]], *, path: str, ids: list[str]
) -> np.ndarray:
    """Return each item's gold position, or raise naming the items whose gold is unusable."""
    gold_index = np.zeros(len(letters), dtype=int)
    problems = []
    responses = table.column("input_correct_responses").to_pylist()
    for row, (response, labels) in enumerate(zip(responses, letters, strict=True)):
        text = response[0] if response else None
        if not text:
            problems.append(f"{ids[row]}: input_correct_responses is empty")
            continue
        position = _gold_position(text, labels)
        if position is None:
            problems.append(f"{ids[row]}: gold {text!r} is none of the options {', '.join(labels)}")
            continue
        gold_index[row] = position
    if problems:
        raise ValueError(
            f"{path}: {len(problems)} of {len(letters)} items have no usable gold answer "
            f"({'; '.join(problems[:_EXAMPLES])}). Each choice item needs a gold such as "
            "'Answer: C' that names one of its options in input_choice_list. Download the dump "
            "again; if the error remains, the rows are inconsistent as published and the "
            "benchmark cannot be scored."
        )
    return gold_index


def _nll_problem(values: list[float | None] | None, n_options: int) -> str | None:
    """Return why one item's NLLs under one normalization cannot be scored, or None."""
    if values is None:
        return "no NLLs"
    if len(values) != n_options:
        return "NLL count differs from the option count"
    array = np.array([np.nan if value is None else value for value in values], dtype=float)
    if np.isnan(array).any():
        return "NaN among the NLLs"
    if np.isneginf(array).any():
        return "-inf among the NLLs"
    if not np.isfinite(array).any():
        return "every NLL is +inf"
    return None


def _read_nlls(
    table: pa.Table, n_options: np.ndarray, *, path: str, ids: list[str]
) -> dict[str, _Normalization]:
    """Return the NLLs of every normalization that some row has, keyed by its name."""
    nll_type = table.schema.field(NLL_COLUMN).type
    rows = table.column(NLL_COLUMN).to_pylist()
    keys = [field.name for field in nll_type] if pa.types.is_struct(nll_type) else []
    width = int(n_options.max())

    normalizations = {}
    for key in keys:
        values = [(row or {}).get(key) for row in rows]
        if all(value is None for value in values):
            logger.warning(
                "%s: the %r NLLs are null in every row; acc_%s is left out", path, key, key
            )
            continue
        matrix = np.full((len(rows), width), np.nan)
        problems = []
        for row, (nll, count) in enumerate(zip(values, n_options, strict=True)):
            problem = _nll_problem(nll, int(count))
            problems.append(problem)
            if problem is None:
                matrix[row, :count] = nll
        normalizations[key] = _Normalization(matrix, problems)

    if not normalizations:
        raise SchemaError(
            path,
            [SchemaProblem(NLL_COLUMN, "empty in every row")],
            "A choice task needs one NLL per option to recompute accuracy. Download the dump "
            "again.",
        )
    return normalizations


def _log_unscorable(normalization: _Normalization, *, key: str, ids: list[str], path: str) -> None:
    bad = [row for row, problem in enumerate(normalization.problems) if problem is not None]
    if not bad:
        return
    reasons = Counter(normalization.problems[row] for row in bad)
    logger.warning(
        "%s: %d of %d items cannot be scored under the %r NLLs (%s; e.g. %s). They count as "
        "wrong in acc_%s and stay in its denominator.",
        path,
        len(bad),
        len(ids),
        key,
        ", ".join(f"{reason}: {count}" for reason, count in reasons.most_common()),
        _examples(ids, bad),
        key,
    )


def _predict(normalization: _Normalization) -> tuple[np.ndarray, np.ndarray]:
    """Return the predicted option of each item (``NO_PREDICTION`` if unscorable) and ties."""
    scorable = normalization.scorable
    predicted = np.full(len(scorable), choice.NO_PREDICTION)
    is_tie = np.zeros(len(scorable), dtype=bool)
    if scorable.any():
        predictions = choice.choice_predictions(normalization.matrix[scorable])
        predicted[scorable] = predictions.index
        is_tie[scorable] = predictions.is_tie
    return predicted, is_tie


def _probability_columns(
    normalization: _Normalization, gold_index: np.ndarray
) -> dict[str, np.ndarray]:
    """Return P(gold), confidence and Brier score per item from one normalization's NLLs.

    An unscorable item gets P(gold) 0, like its accuracy, and no confidence or Brier score
    (NaN), because its NLLs give no probability distribution.
    """
    scorable = normalization.scorable
    p_gold = np.zeros(len(scorable))
    confidence = np.full(len(scorable), np.nan)
    brier = np.full(len(scorable), np.nan)
    if scorable.any():
        nll = normalization.matrix[scorable]
        gold = gold_index[scorable]
        probabilities = choice.choice_probabilities(nll)
        p_gold[scorable] = choice.gold_probability(nll, gold)
        confidence[scorable] = probabilities.max(axis=1)
        brier[scorable] = choice.brier_scores(probabilities, gold)
    return {"p_gold": p_gold, "confidence": confidence, "brier": brier}


# Generative tasks


@dataclass
class _GenerativeRow:
    item_id: str
    prompt: str
    golds: list[str]
    prediction: str | None


def _score_generative(
    batches: Iterable[pa.RecordBatch], benchmark: Benchmark, *, path: str
) -> pd.DataFrame:
    frames = []
    for batch in batches:
        table = pa.Table.from_batches([batch])
        ids = _item_ids(table)
        prompts = table.column("input_final_prompts").to_pylist()
        golds = table.column("input_correct_responses").to_pylist()
        outputs = table.column("output_prediction_text").to_pylist()
        records = []
        for item_id, prompt_list, gold_list, output in zip(
            ids, prompts, golds, outputs, strict=True
        ):
            row = _GenerativeRow(
                item_id=item_id,
                prompt=(prompt_list or [""])[0] or "",
                golds=[gold for gold in (gold_list or []) if gold is not None],
                prediction=(output or [None])[0],
            )
            records.append(_score_generative_row(row, benchmark, path=path))
        frame = pd.DataFrame.from_records(records)
        frame.insert(0, "item_id", ids)
        frame.insert(1, "subtask", _subtasks(table))
        frames.append(pd.concat([frame, _meta_metrics(table)], axis=1))

    items = pd.concat(frames, ignore_index=True)
    if benchmark.breakdown == "context_length":
        items["context_length"] = _length_bins(items["context_tokens"])
    _log_empty_predictions(items, path=path)
    return items


def _log_empty_predictions(items: pd.DataFrame, *, path: str) -> None:
    empty = items.index[items["empty_prediction"]]
    if len(empty) == 0:
        return
    # Every prediction empty points at the file rather than the model.
    level = logging.WARNING if len(empty) == len(items) else logging.INFO
    logger.log(
        level,
        "%s: %d of %d predictions are empty (e.g. %s); they score 0 and stay in the denominator",
        path,
        len(empty),
        len(items),
        ", ".join(items.loc[empty[:_EXAMPLES], "item_id"]),
    )


def _score_generative_row(
    row: _GenerativeRow, benchmark: Benchmark, *, path: str
) -> dict[str, object]:
    prediction = row.prediction or ""
    shown = generative.first_line(prediction)
    record: dict[str, object] = {
        "prompt_preview": passages.prompt_preview(row.prompt),
        "prediction": shown if benchmark.scorer != "multi_needle" else prediction.strip(),
        "gold": " / ".join(row.golds) if row.golds else "(unanswerable)",
        "empty_prediction": generative.is_empty_prediction(prediction),
    }

    if benchmark.scorer in ("squad", "quac"):
        if benchmark.scorer == "squad":
            em = generative.squad_exact_match(prediction, row.golds)
            f1 = generative.squad_f1(prediction, row.golds)
        else:
            em = generative.quac_exact_match(prediction, row.golds)
            f1 = generative.quac_f1(prediction, row.golds)
        answerable = not all(generative.is_abstention(gold) for gold in row.golds)
        record.update(
            em=em,
            f1=f1,
            answerable="answerable" if answerable else "unanswerable",
            abstained=generative.is_abstention(shown),
            cluster=passages.passage_key(row.prompt),
        )
    elif benchmark.scorer == "drop":
        golds = [_drop_answer(gold) for gold in row.golds]
        # The few-shot answers in the prompt use the same separator, so a model that names
        # several spans writes them that way too.
        em, f1 = generative.drop_scores(_drop_answer(shown), golds)
        record.update(
            em=em,
            f1=f1,
            answer_type=generative.drop_answer_type(golds[0]) if golds else "none",
            cluster=passages.passage_key(row.prompt),
        )
    elif benchmark.scorer in ("needle", "multi_needle"):
        if not row.golds:
            raise ValueError(
                f"{path}: item {row.item_id} has no needle in input_correct_responses; a "
                f"{benchmark.label} item needs the hidden text to score the answer. Download "
                "the dump again."
            )
        if benchmark.scorer == "needle":
            record["em"] = generative.needle_exact_match(prediction, row.golds[0])
        else:
            record["recall"] = generative.multi_needle_recall(prediction, row.golds)
        record.update(
            context_chars=len(row.prompt),
            context_tokens=round(len(row.prompt) / CHARS_PER_TOKEN),
            depth_percent=passages.needle_depth(row.prompt, row.golds[0]),
            cluster=passages.haystack_key(row.prompt, row.golds),
        )
    else:
        raise ValueError(f"no generative scorer named {benchmark.scorer!r}")

    if record.get("cluster") is None:
        record["cluster"] = passages.text_key(row.prompt)
    return record


def _drop_answer(text: str) -> str | list[str]:
    """Return one span, or the list of spans of a multi-span DROP answer."""
    spans = text.split(DROP_SPAN_SEPARATOR)
    return spans[0] if len(spans) == 1 else spans


def _length_bins(tokens: pd.Series, *, max_bins: int = 10) -> pd.Series:
    """Return an ordered label per item for its context length, rounded to 2 significant digits."""
    rounded = tokens.apply(lambda value: float(f"{value:.2g}"))
    if rounded.nunique() > max_bins:
        rounded = pd.qcut(tokens, max_bins, duplicates="drop").apply(lambda b: round(b.mid, -2))
    order = sorted(rounded.unique())
    labels = {value: f"{int(value):,}" for value in order}
    return pd.Categorical(rounded.map(labels), categories=[labels[v] for v in order], ordered=True)


# Agreement with Meta's per-row metrics


@dataclass(frozen=True)
class Agreement:
    """How often the recomputed per-item metric equals Meta's stored one."""

    metric: str
    meta_column: str
    n_items: int
    """Items that store Meta's value (a null stored value is left out)."""
    n_agree: int
    rate: float
    disagreements: pd.DataFrame


def agreement(items: pd.DataFrame, benchmark: Benchmark, *, atol: float = 1e-6) -> list[Agreement]:
    """Compare each recomputed metric with the stored ``output_metrics`` key of the same name,
    and the binary metric (exact match, else the headline) with ``is_correct``.

    A dump without ``output_metrics`` or ``is_correct`` gives no comparison for it.
    """
    pairs = [
        (column.removeprefix("meta_"), column)
        for column in items.columns
        if column.startswith("meta_")
        and column != "meta_is_correct"
        and column.removeprefix("meta_") in items.columns
    ]
    results = []
    for metric, meta_column in pairs:
        stored = items[meta_column].notna().to_numpy()
        agrees = np.isclose(items[metric], items[meta_column], atol=atol)
        results.append(_agreement(items[stored], metric, meta_column, agrees[stored]))

    # is_correct is binary: exact match where the task has it (QuAC and DROP report F1 but
    # store EM here), else the headline metric reaching 1.
    binary = "em" if "em" in items.columns else benchmark.metric
    if binary in items.columns and "meta_is_correct" in items.columns:
        stored = items["meta_is_correct"].notna().to_numpy()
        agrees = ((items[binary] >= 1 - atol) == (items["meta_is_correct"] >= 0.5)).to_numpy()
        results.append(_agreement(items[stored], binary, "meta_is_correct", agrees[stored]))
    return results


def _agreement(items: pd.DataFrame, metric: str, meta_column: str, agrees) -> Agreement:
    shown = ["item_id", "subtask", "prediction", "gold", metric, meta_column]
    disagreements = items.loc[~np.asarray(agrees), [c for c in shown if c in items.columns]]
    n_agree = int(np.sum(agrees))
    return Agreement(
        metric=metric,
        meta_column=meta_column,
        n_items=len(items),
        n_agree=n_agree,
        rate=n_agree / len(items) if len(items) else float("nan"),
        disagreements=disagreements.reset_index(drop=True),
    )
