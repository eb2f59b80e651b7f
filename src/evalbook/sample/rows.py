"""Row assembly shared by the task generators: hashes, ``eval_config``, Arrow schemas, outcomes.

A task generator decides the text of each row and the outcome it intends (right, wrong,
partly right). The helpers here turn that into the 17 details columns in Meta's order and
types, so the generators never repeat the column layout.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from evalbook.registry import Benchmark
from evalbook.schema import DETAILS_COLUMNS

__all__ = [
    "EVAL_CONFIG_KEYS",
    "SIZES",
    "Size",
    "allocate_categories",
    "allocate_flags",
    "choice_row",
    "details_table",
    "eval_config",
    "generative_row",
    "prompt_fn",
    "sha256_hex",
    "shot_range",
]

logger = logging.getLogger(__name__)

Size = Literal["small", "full"]
SIZES: tuple[Size, ...] = ("small", "full")

EVAL_CONFIG_KEYS = (
    "max_gen_len",
    "max_prompt_len",
    "num_few_shot",
    "num_generations",
    "prompt_fn",
    "return_logprobs",
    "seed",
    "temperature",
    "top_k",
    "top_p",
)

_JINJA_FORMAT_ADDRESS = "0x7f3a5c2e1d90"
"""A fixed stand-in for the memory address that Meta's stringified ``prompt_fn`` shows."""

_NLL_KEYS = ("raw", "char", "token")


def sha256_hex(text: str) -> str:
    """Return the SHA-256 hex digest of ``text`` encoded as UTF-8, as in Meta's hash columns.

    Examples
    --------
    >>> sha256_hex("")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_fn(template: str, subject: str | None = None) -> str:
    """Return ``prompt_fn`` in the stringified ``functools.partial`` form of Meta's rows.

    Examples
    --------
    >>> prompt_fn("Q: {{ question }}\\nA:")
    "functools.partial(<function jinja_format at 0x7f3a5c2e1d90>, 'Q: {{ question }}\\\\nA:')"
    """
    arguments = [repr(template)]
    if subject is not None:
        arguments.append(f"subject={subject!r}")
    return f"functools.partial(<function jinja_format at {_JINJA_FORMAT_ADDRESS}>, " + (
        ", ".join(arguments) + ")"
    )


def eval_config(
    *,
    max_gen_len: int,
    max_prompt_len: int,
    num_few_shot: int,
    template: str,
    subject: str | None = None,
) -> dict[str, str]:
    """Return an ``eval_config`` value: every field a string, as in Meta's rows.

    Sampling is greedy (temperature 0) with Meta's seed 42, the values seen in a real row.
    """
    return {
        "max_gen_len": str(max_gen_len),
        "max_prompt_len": str(max_prompt_len),
        "num_few_shot": str(num_few_shot),
        "num_generations": "1",
        "prompt_fn": prompt_fn(template, subject),
        "return_logprobs": "false",
        "seed": "42",
        "temperature": "0.0",
        "top_k": "0",
        "top_p": "0",
    }


def shot_range(benchmark: Benchmark) -> tuple[int, int]:
    """Return the lowest and highest shot count of ``Benchmark.shots`` (``"5"`` or ``"3-5"``).

    Examples
    --------
    >>> from evalbook.registry import get_benchmark
    >>> shot_range(get_benchmark("agieval_english"))
    (3, 5)
    """
    low, _, high = benchmark.shots.partition("-")
    return int(low), int(high or low)


def allocate_flags(rng: np.random.Generator, count: int, rate: float) -> np.ndarray:
    """Return ``count`` booleans of which about ``rate * count`` are True, at random positions.

    The number of True values is ``rate * count`` rounded up or down at random (in proportion
    to the fraction), so the share stays close to ``rate`` even in small groups.
    """
    expected = rate * count
    true_count = int(np.floor(expected + rng.random()))
    flags = np.zeros(count, dtype=bool)
    flags[rng.permutation(count)[: min(true_count, count)]] = True
    return flags


def allocate_categories(
    rng: np.random.Generator, count: int, shares: Mapping[str, float]
) -> list[str]:
    """Return ``count`` category names in random order, each about ``share * count`` times.

    Counts are the largest-remainder rounding of ``share * count``. Shares must sum to 1.
    """
    total = sum(shares.values())
    if not np.isclose(total, 1.0):
        raise ValueError(f"category shares must sum to 1, found {total}: {dict(shares)}")

    names = list(shares)
    exact = np.array([shares[name] * count for name in names])
    counts = np.floor(exact).astype(int)
    remainders = exact - counts
    for index in np.argsort(-remainders, kind="stable")[: count - int(counts.sum())]:
        counts[index] += 1

    categories = [name for name, repeat in zip(names, counts, strict=True) for _ in range(repeat)]
    order = rng.permutation(count)
    return [categories[index] for index in order]


def _common_columns(
    benchmark: Benchmark,
    *,
    subtask: str | None,
    question: str,
    prompts: Sequence[str],
    config: dict[str, str],
) -> dict[str, Any]:
    return {
        "task_name": benchmark.key,
        "subtask_name": subtask,
        "input_question": question,
        "input_final_prompts": list(prompts),
        "input_question_hash": sha256_hex(question),
        "input_final_prompts_hash": [sha256_hex(prompt) for prompt in prompts],
        "benchmark_label": benchmark.label,
        "eval_config": config,
    }


def choice_row(
    benchmark: Benchmark,
    *,
    subtask: str | None,
    question: str,
    choices: Mapping[str, str | None],
    prompts: Sequence[str],
    gold: str,
    predicted: str,
    completions: Sequence[str],
    nlls: Mapping[str, Sequence[float]],
    metrics: Mapping[str, float],
    config: dict[str, str],
) -> dict[str, Any]:
    """Return one details row of a choice task (MMLU, ARC-Challenge, AGIEval).

    ``is_correct`` is ``acc_char == 1``, the binary form of the headline metric.
    """
    row = {
        "task_type": "Choice",
        "input_choice_list": dict(choices),
        "input_correct_responses": [f"Answer: {gold}"],
        "output_prediction_text": None,
        "output_parsed_answer": predicted,
        "output_choice_completions": list(completions),
        "output_choice_negative_log_likelihoods": {key: list(nlls[key]) for key in _NLL_KEYS},
        "output_metrics": dict(metrics),
        "is_correct": metrics["acc_char"] == 1.0,
    }
    row.update(
        _common_columns(
            benchmark, subtask=subtask, question=question, prompts=prompts, config=config
        )
    )
    return row


def generative_row(
    benchmark: Benchmark,
    *,
    subtask: str | None,
    prompt: str,
    golds: Sequence[str],
    prediction: str,
    parsed: str,
    metrics: Mapping[str, float],
    is_correct: bool,
    config: dict[str, str],
) -> dict[str, Any]:
    """Return one details row of a generative task, whose question is the whole prompt."""
    row = {
        "task_type": "Generative",
        "input_choice_list": None,
        "input_correct_responses": list(golds),
        "output_prediction_text": [prediction],
        "output_parsed_answer": parsed,
        "output_choice_completions": None,
        "output_choice_negative_log_likelihoods": None,
        "output_metrics": dict(metrics),
        "is_correct": is_correct,
    }
    row.update(
        _common_columns(
            benchmark, subtask=subtask, question=prompt, prompts=[prompt], config=config
        )
    )
    return row


def _details_schema(letters: Sequence[str] | None, metric_names: Sequence[str]) -> pa.Schema:
    """Return the Arrow schema of a details file, with choice columns typed for choice tasks.

    Columns that are null in every row of a file (the choice columns of a generative task,
    the prediction text of a choice task) get Arrow type ``null``, as a writer that infers
    types from the data stores them.
    """
    string_list = pa.list_(pa.string())
    is_choice = letters is not None
    types = {
        "task_type": pa.string(),
        "task_name": pa.string(),
        "subtask_name": pa.string(),
        "input_question": pa.string(),
        "input_choice_list": (
            pa.struct([(letter, pa.string()) for letter in letters]) if is_choice else pa.null()
        ),
        "input_final_prompts": string_list,
        "input_correct_responses": string_list,
        "output_prediction_text": pa.null() if is_choice else string_list,
        "output_parsed_answer": pa.string(),
        "output_choice_completions": string_list if is_choice else pa.null(),
        "output_choice_negative_log_likelihoods": (
            pa.struct([(key, pa.list_(pa.float64())) for key in _NLL_KEYS])
            if is_choice
            else pa.null()
        ),
        "output_metrics": pa.struct([(name, pa.float64()) for name in metric_names]),
        "is_correct": pa.bool_(),
        "input_question_hash": pa.string(),
        "input_final_prompts_hash": string_list,
        "benchmark_label": pa.string(),
        "eval_config": pa.struct([(key, pa.string()) for key in EVAL_CONFIG_KEYS]),
    }
    return pa.schema([pa.field(spec.name, types[spec.name]) for spec in DETAILS_COLUMNS])


def details_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    letters: Sequence[str] | None,
    metric_names: Sequence[str],
) -> pa.Table:
    """Return the rows as an Arrow table with the 17 details columns in Meta's order.

    Parameters
    ----------
    rows
        Rows from :func:`choice_row` or :func:`generative_row`.
    letters
        Option letters of a choice task's ``input_choice_list`` struct, or None for a
        generative task.
    metric_names
        Fields of the ``output_metrics`` struct, in order.
    """
    schema = _details_schema(letters, metric_names)
    return pa.Table.from_pylist(list(rows), schema=schema)
