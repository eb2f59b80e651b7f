"""Per-item scores of one benchmark, recomputed from the rows of its details config.

This module turns Arrow rows into arrays, calls the pure scorers of :mod:`evalbook.metrics`, and
puts Meta's own per-row metrics (``output_metrics``, ``is_correct``) beside the recomputed ones, so
every page can show where the two agree. The result is one DataFrame row per item.

Column names of the item table: ``item_id`` (question hash), ``subtask``, ``cluster``,
``prompt_preview``, ``prediction``, ``gold``, then one column per recomputed metric (``acc_raw``,
``acc_char``, ``em``, ``f1``, ``recall``, …), ``meta_<name>`` for each key of ``output_metrics``,
``meta_is_correct``, and the breakdown column the registry names for the benchmark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from evalbook import passages
from evalbook.metrics import choice, generative
from evalbook.registry import Benchmark
from evalbook.schema import SchemaError, SchemaProblem
from evalbook.snapshot import Snapshot

__all__ = [
    "DROP_SPAN_SEPARATOR",
    "Agreement",
    "agreement",
    "score_benchmark",
]

logger = logging.getLogger(__name__)

DROP_SPAN_SEPARATOR = "|"
"""Separator of the spans of a multi-span DROP gold answer inside one string."""
# NOTE: how Meta writes multi-span DROP golds is not documented; "|" is what the bundled sample
# uses. A dump that writes them otherwise scores multi-span items as single spans.

CHOICE_COLUMNS = (
    "subtask_name",
    "input_question_hash",
    "input_question",
    "input_choice_list",
    "input_correct_responses",
    "output_choice_negative_log_likelihoods",
    "output_metrics",
    "is_correct",
)
GENERATIVE_COLUMNS = (
    "subtask_name",
    "input_question_hash",
    "input_final_prompts",
    "input_correct_responses",
    "output_prediction_text",
    "output_metrics",
    "is_correct",
)
CHARS_PER_TOKEN = 4
"""Characters per token used to estimate a needle prompt's context length in tokens."""
# NOTE: an estimate for English text with Llama 3's tokenizer; the dump stores no token count.


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
    """
    config = snapshot.details_config(benchmark)
    path = str(snapshot.files(config)[0])
    if benchmark.task_type == "choice":
        table = snapshot.read(config, CHOICE_COLUMNS)
        items = _score_choice(table, benchmark, path=path)
    else:
        batches = snapshot.iter_batches(config, GENERATIVE_COLUMNS, batch_size=256)
        items = _score_generative(batches, benchmark)

    if subtasks:
        wanted = set(subtasks)
        unknown = wanted - set(items["subtask"])
        if unknown:
            raise ValueError(
                f"{path}: no items for subtask {', '.join(sorted(unknown))}; the subtasks are: "
                f"{', '.join(sorted(set(items['subtask'])))}."
            )
        items = items[items["subtask"].isin(wanted)].reset_index(drop=True)
    if items.empty:
        raise ValueError(f"{path}: the {benchmark.label} config has no rows to score.")
    logger.info("%s: scored %d items", config, len(items))
    return items


def _meta_metrics(table: pa.Table) -> pd.DataFrame:
    """Return Meta's per-row metrics as columns ``meta_<key>`` plus ``meta_is_correct``."""
    metrics = table.column("output_metrics").combine_chunks()
    frame = pd.DataFrame(
        {
            f"meta_{metrics.type.field(i).name}": metrics.field(i).to_numpy(zero_copy_only=False)
            for i in range(metrics.type.num_fields)
        }
    )
    frame["meta_is_correct"] = table.column("is_correct").to_numpy(zero_copy_only=False)
    return frame.astype(float)


def _subtasks(table: pa.Table) -> list[str]:
    return [value or "" for value in table.column("subtask_name").to_pylist()]


# Choice tasks


def _score_choice(table: pa.Table, benchmark: Benchmark, *, path: str) -> pd.DataFrame:
    hashes = table.column("input_question_hash").to_pylist()
    nll_type = table.schema.field("output_choice_negative_log_likelihoods").type
    if pa.types.is_null(nll_type) or nll_type.num_fields == 0:
        raise SchemaError(
            path,
            [SchemaProblem("output_choice_negative_log_likelihoods", "empty in every row")],
            "A choice task needs one NLL per option to recompute accuracy.",
        )
    keys = [nll_type.field(i).name for i in range(nll_type.num_fields)]
    headline_key = benchmark.metric.removeprefix("acc_")
    if headline_key not in keys:
        raise SchemaError(
            path,
            [
                SchemaProblem(
                    "output_choice_negative_log_likelihoods",
                    f"has the normalizations {', '.join(keys)}, but {benchmark.metric} needs "
                    f"{headline_key!r}",
                )
            ],
            "Pick the metric that matches one of the normalizations (--metric) or check the dump.",
        )

    letters = _choice_letters(table, path=path, hashes=hashes)
    n_options = np.array([len(row) for row in letters])
    width = int(n_options.max())
    matrices = {key: np.full((len(letters), width), np.nan) for key in keys}
    nll_rows = table.column("output_choice_negative_log_likelihoods").to_pylist()
    for row, (values, row_letters) in enumerate(zip(nll_rows, letters, strict=True)):
        values = values or {}
        for key in keys:
            nll = values.get(key)
            if nll is None:
                continue
            if len(nll) != len(row_letters):
                raise ValueError(
                    f"{path}: item {hashes[row]} has {len(row_letters)} options but "
                    f"{len(nll)} NLLs under {key!r}; the row is inconsistent."
                )
            matrices[key][row, : len(nll)] = [np.nan if v is None else v for v in nll]

    gold_index = np.empty(len(letters), dtype=int)
    for row, (responses, row_letters) in enumerate(
        zip(table.column("input_correct_responses").to_pylist(), letters, strict=True)
    ):
        if not responses:
            raise ValueError(f"{path}: item {hashes[row]} has no input_correct_responses.")
        gold = choice.parse_gold_letter(responses[0], letters=row_letters)
        gold_index[row] = row_letters.index(gold)

    columns: dict[str, object] = {
        "item_id": hashes,
        "subtask": _subtasks(table),
        "prompt_preview": [
            passages.prompt_preview(text) for text in table.column("input_question").to_pylist()
        ],
        "gold": [row_letters[g] for row_letters, g in zip(letters, gold_index, strict=True)],
        "n_options": n_options,
        "chance": choice.chance_level(n_options),
    }
    for key in keys:
        present = ~np.isnan(matrices[key]).all(axis=1)
        if not present.all():
            missing = [hashes[i] for i in np.flatnonzero(~present)[:3]]
            raise ValueError(
                f"{path}: the {key!r} NLLs are missing for {int((~present).sum())} items "
                f"(e.g. {', '.join(missing)}); every item needs them to compute acc_{key}."
            )
        predictions = _checked_predictions(matrices[key], hashes, key=key, path=path)
        columns[f"acc_{key}"] = (predictions.index == gold_index).astype(float)
        columns[f"tie_{key}"] = predictions.is_tie
        if key == headline_key:
            columns["prediction"] = [
                row_letters[i] for row_letters, i in zip(letters, predictions.index, strict=True)
            ]

    raw = matrices.get("raw", matrices[headline_key])
    probabilities = choice.choice_probabilities(raw)
    columns["p_gold"] = choice.gold_probability(raw, gold_index)
    columns["confidence"] = np.nanmax(probabilities, axis=1)
    columns["brier"] = choice.brier_scores(probabilities, gold_index)
    items = pd.DataFrame(columns)
    items = pd.concat([items, _meta_metrics(table)], axis=1)
    items["n_options"] = items["n_options"].astype(int)
    return items


def _choice_letters(table: pa.Table, *, path: str, hashes: list[str]) -> list[list[str]]:
    """Return each item's option letters: the non-null fields of ``input_choice_list``."""
    choice_type = table.schema.field("input_choice_list").type
    if pa.types.is_null(choice_type):
        raise SchemaError(
            path,
            [SchemaProblem("input_choice_list", "empty in every row")],
            "A choice task needs its option letters to locate the gold answer.",
        )
    letters = []
    for row, options in enumerate(table.column("input_choice_list").to_pylist()):
        present = [letter for letter, text in (options or {}).items() if text is not None]
        if len(present) < 2:
            raise ValueError(
                f"{path}: item {hashes[row]} has {len(present)} options in input_choice_list; "
                "a choice item needs at least 2."
            )
        letters.append(present)
    return letters


def _checked_predictions(
    nll: np.ndarray, hashes: list[str], *, key: str, path: str
) -> choice.ChoicePredictions:
    try:
        return choice.choice_predictions(nll)
    except ValueError as error:
        raise ValueError(
            f"{path}: invalid {key!r} NLLs ({error}). Row numbers count from 0 in file order; "
            f"the first item is {hashes[0]}."
        ) from error


# Generative tasks


@dataclass
class _GenerativeRow:
    prompt: str
    golds: list[str]
    prediction: str | None


def _score_generative(batches: Iterable[pa.RecordBatch], benchmark: Benchmark) -> pd.DataFrame:
    frames = []
    for batch in batches:
        table = pa.Table.from_batches([batch])
        prompts = table.column("input_final_prompts").to_pylist()
        golds = table.column("input_correct_responses").to_pylist()
        outputs = table.column("output_prediction_text").to_pylist()
        records = []
        for prompt_list, gold_list, output in zip(prompts, golds, outputs, strict=True):
            row = _GenerativeRow(
                prompt=(prompt_list or [""])[0] or "",
                golds=[gold for gold in (gold_list or []) if gold is not None],
                prediction=(output or [None])[0],
            )
            records.append(_score_generative_row(row, benchmark))
        frame = pd.DataFrame.from_records(records)
        frame.insert(0, "item_id", table.column("input_question_hash").to_pylist())
        frame.insert(1, "subtask", _subtasks(table))
        frames.append(pd.concat([frame, _meta_metrics(table)], axis=1))
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if benchmark.breakdown == "context_length" and not items.empty:
        items["context_length"] = _length_bins(items["context_tokens"])
    return items


def _score_generative_row(row: _GenerativeRow, benchmark: Benchmark) -> dict[str, object]:
    prediction = row.prediction or ""
    shown = generative.first_line(prediction)
    record: dict[str, object] = {
        "prompt_preview": passages.prompt_preview(row.prompt),
        "prediction": shown if benchmark.scorer != "multi_needle" else prediction.strip(),
        "gold": " / ".join(row.golds) if row.golds else "(unanswerable)",
        "empty_prediction": not shown.strip(),
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
            raise ValueError(f"{benchmark.label}: a row has no needle in input_correct_responses.")
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
    n_agree: int
    rate: float
    disagreements: pd.DataFrame


def agreement(items: pd.DataFrame, benchmark: Benchmark, *, atol: float = 1e-6) -> list[Agreement]:
    """Compare each recomputed metric with the stored ``output_metrics`` key of the same name,
    and the binary metric (exact match, else the headline) with ``is_correct``.
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
        agrees = np.isclose(items[metric], items[meta_column], atol=atol)
        results.append(_agreement(items, metric, meta_column, agrees))

    # is_correct is binary: exact match where the task has it (QuAC and DROP report F1 but
    # store EM here), else the headline metric reaching 1.
    binary = "em" if "em" in items.columns else benchmark.metric
    if binary in items.columns:
        agrees = (items[binary] >= 1 - atol) == (items["meta_is_correct"] >= 0.5)
        results.append(_agreement(items, binary, "meta_is_correct", agrees))
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
