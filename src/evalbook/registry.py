"""The benchmarks of a Meta eval dump: one entry each, the only place their facts live.

The runner, the table of contents, the notebooks and the tests all read this module, so a
benchmark's label, metric, shot count or notebook is never written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BENCHMARKS",
    "DEFAULT_MODEL",
    "Benchmark",
    "UnknownBenchmarkError",
    "benchmark_for_label",
    "get_benchmark",
    "select_benchmarks",
]

DEFAULT_MODEL = "Llama-3.2-1B"

TaskType = Literal["choice", "generative"]
Scorer = Literal["choice", "squad", "quac", "drop", "needle", "multi_needle"]
Aggregation = Literal["micro", "macro"]
Cluster = Literal["passage", "dialogue", "haystack"]


@dataclass(frozen=True)
class Benchmark:
    """Facts about one task of a dump, as Meta ran and reported it."""

    key: str
    """Task name inside the config name ``<Model>-evals__<key>__details``."""
    label: str
    """``benchmark_label`` in the rows and in the metrics config."""
    task_type: TaskType
    scorer: Scorer
    """Which per-item scorer of :mod:`evalbook.metrics` recomputes the metric."""
    metric: str
    """Per-item metric of the headline number, e.g. ``acc_char`` or ``f1``."""
    reported_tag: str
    """``metric_tag`` of the headline number in the metrics config."""
    aggregation: Aggregation
    """``macro`` averages the subtask means; ``micro`` averages all items."""
    shots: str
    """Few-shot examples per prompt, as Meta documents it (a range for AGIEval)."""
    cluster: Cluster | None
    """Items sharing this text are correlated, so their standard error is clustered."""
    breakdown: str
    """Column of the per-item table that the breakdown plot groups by."""
    summary: str
    """One sentence on what the benchmark measures."""

    @property
    def notebook(self) -> str:
        """File name of the benchmark's notebook in ``notebooks/``."""
        return f"{self.key}.ipynb"

    def config_name(self, model: str) -> str:
        """Return the Hub config name of this task for ``model``."""
        return f"{model}-evals__{self.key}__details"


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        key="mmlu",
        label="MMLU",
        task_type="choice",
        scorer="choice",
        metric="acc_char",
        reported_tag="macro_avg/acc_char",
        aggregation="macro",
        shots="5",
        cluster=None,
        breakdown="subtask",
        summary="Four-option questions on 57 school and professional subjects.",
    ),
    Benchmark(
        key="arc_challenge",
        label="ARC-Challenge",
        task_type="choice",
        scorer="choice",
        metric="acc_char",
        reported_tag="acc_char",
        aggregation="micro",
        shots="25",
        cluster=None,
        breakdown="n_options",
        summary="Grade-school science questions that retrieval and co-occurrence methods fail.",
    ),
    Benchmark(
        key="agieval_english",
        label="AGIEval English",
        task_type="choice",
        scorer="choice",
        metric="acc_char",
        reported_tag="average/acc_char",
        aggregation="macro",
        shots="3-5",
        cluster=None,
        breakdown="subtask",
        summary="Questions from English-language admission and qualification exams (SAT, LSAT, …).",
    ),
    Benchmark(
        key="squad",
        label="SQuAD",
        task_type="generative",
        scorer="squad",
        metric="em",
        reported_tag="em",
        aggregation="micro",
        shots="1",
        cluster="passage",
        breakdown="answerable",
        summary="Reading comprehension on Wikipedia passages, with unanswerable questions (v2).",
    ),
    Benchmark(
        key="quac",
        label="QuAC",
        task_type="generative",
        scorer="quac",
        metric="f1",
        reported_tag="f1",
        aggregation="micro",
        shots="1",
        cluster="dialogue",
        breakdown="answerable",
        summary="Questions asked in a dialogue about a hidden Wikipedia section.",
    ),
    Benchmark(
        key="drop",
        label="DROP",
        task_type="generative",
        scorer="drop",
        metric="f1",
        reported_tag="f1",
        aggregation="micro",
        shots="3",
        cluster="passage",
        breakdown="answer_type",
        summary="Reading comprehension that needs counting, sorting and arithmetic over a passage.",
    ),
    Benchmark(
        key="needle_in_haystack",
        label="Needle in Haystack",
        task_type="generative",
        scorer="needle",
        metric="em",
        reported_tag="em",
        aggregation="micro",
        shots="0",
        cluster="haystack",
        breakdown="context_length",
        summary="Retrieval of one fact hidden at a given depth of a long context.",
    ),
    Benchmark(
        key="multi_needle",
        label="Multi-needle",
        task_type="generative",
        scorer="multi_needle",
        metric="recall",
        reported_tag="macro_avg/recall",
        aggregation="micro",
        shots="0",
        cluster="haystack",
        breakdown="context_length",
        summary="Retrieval of several facts hidden in one long context.",
    ),
)


class UnknownBenchmarkError(ValueError):
    """A benchmark key that the registry does not have; the message lists the known keys."""


_BY_KEY = {benchmark.key: benchmark for benchmark in BENCHMARKS}
_BY_LABEL = {benchmark.label.casefold(): benchmark for benchmark in BENCHMARKS}


def get_benchmark(key: str) -> Benchmark:
    """Return the benchmark registered under ``key``.

    Keys are matched without regard to case, so ``MMLU`` finds ``mmlu``.

    Raises
    ------
    UnknownBenchmarkError
        If no benchmark has that key; the message lists the known keys.

    Examples
    --------
    >>> get_benchmark("MMLU").reported_tag
    'macro_avg/acc_char'
    """
    try:
        return _BY_KEY[key.strip().lower()]
    except KeyError:
        known = ", ".join(_BY_KEY)
        raise UnknownBenchmarkError(
            f"unknown benchmark {key!r}; known benchmarks: {known}"
        ) from None


def benchmark_for_label(label: str) -> Benchmark | None:
    """Return the benchmark whose ``benchmark_label`` is ``label`` (any case), or None."""
    return _BY_LABEL.get(label.casefold())


def select_benchmarks(keys: str | list[str] | None) -> tuple[Benchmark, ...]:
    """Return the benchmarks named in a comma-separated list (all of them for None or "").

    Examples
    --------
    >>> [b.key for b in select_benchmarks("squad,mmlu")]
    ['mmlu', 'squad']
    """
    if keys is None or keys == "" or keys == []:
        return BENCHMARKS
    if isinstance(keys, str):
        keys = [key.strip() for key in keys.split(",") if key.strip()]
    wanted = {get_benchmark(key).key for key in keys}
    return tuple(benchmark for benchmark in BENCHMARKS if benchmark.key in wanted)
