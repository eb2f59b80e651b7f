"""Synthetic rows of the long-context retrieval tasks: needle in a haystack and multi-needle.

A haystack is filler essay text (no digits) cut at a sentence end. Needle sentences such as
"The special magic number is 4821." are inserted between sentences, so the number occurs
once in the prompt, and the question comes last. Context lengths are the 10 values evenly
spaced from 2,000 to 131,072 tokens that Meta documents. A prompt has about
``tokens * CHARS_PER_TOKEN * CONTEXT_SCALE[size]`` characters: ``full`` keeps real lengths
(up to about 0.5 MB), ``small`` scales them down to at most about 40 KB.

No column states the context length or the needle depth: like Meta's rows, they can only be
derived from the prompt (its length, and where the gold number sits in it). The rows of one
haystack share its text, and each needle row of it puts the needle at another depth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from evalbook.registry import Benchmark, get_benchmark
from evalbook.sample import text
from evalbook.sample.rows import (
    Size,
    allocate_categories,
    details_table,
    eval_config,
    generative_row,
)

__all__ = [
    "CHARS_PER_TOKEN",
    "CONTEXT_SCALE",
    "HAYSTACKS_PER_LENGTH",
    "MULTI_NEEDLE_ROWS_PER_HAYSTACK",
    "NEEDLE_CONTEXT_TOKENS",
    "NEEDLE_DEPTHS",
    "build_multi_needle",
    "build_needle_in_haystack",
    "context_chars",
]

logger = logging.getLogger(__name__)

NEEDLE_CONTEXT_TOKENS: tuple[int, ...] = tuple(
    round(value) for value in np.linspace(2000, 131072, 10)
)
"""The 10 context lengths in tokens, evenly spaced from 2,000 to 131,072."""

NEEDLE_DEPTHS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Needle positions as a fraction of the haystack, from its start (0.0) to its end (1.0)."""

CHARS_PER_TOKEN = 4
"""Characters per token of English text, a common estimate for Llama 3's tokenizer."""

CONTEXT_SCALE: dict[str, float] = {"small": 0.075, "full": 1.0}
"""Factor on the character length of a prompt. 0.075 keeps small prompts under 40,000 chars."""

HAYSTACKS_PER_LENGTH: dict[str, int] = {"small": 1, "full": 25}
"""Haystacks per context length, for both tasks."""

MULTI_NEEDLE_ROWS_PER_HAYSTACK = 3

_TARGET_NEEDLE_EM = 0.968
"""Needle EM of Llama 3.2 1B on its model card."""

_MULTI_NEEDLE_OUTCOMES = {"all": 0.36, "miss_one": 0.47, "miss_half": 0.14, "none": 0.03}
"""Shares of multi-needle outcomes, which give a mean recall near the 75.0 of the card."""

_MULTI_NEEDLE_COUNTS = (2, 3, 4)

_MAX_GEN_LEN = 256
_SENTENCE_POOL = 2000

_NEEDLE_QUESTION = "What is the special magic number mentioned in the text above?"
_MULTI_NEEDLE_QUESTION = "What are all the special magic numbers mentioned in the text above?"
_TEMPLATE = "{{ context }}\n\nQuestion: {{ question }}\nAnswer:"


def context_chars(tokens: int, size: Size) -> int:
    """Return the character length of a prompt of ``tokens`` tokens at ``size``.

    Examples
    --------
    >>> context_chars(131072, "small"), context_chars(2000, "full")
    (39322, 8000)
    """
    return round(tokens * CHARS_PER_TOKEN * CONTEXT_SCALE[size])


def _prompt(context: str, question: str) -> str:
    return f"{context}\n\nQuestion: {question}\nAnswer:"


class _Haystacks:
    """A pool of filler sentences from which haystacks of a given length are drawn."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._sentences = [text.filler_sentence(rng) for _ in range(_SENTENCE_POOL)]
        self._lengths = np.array([len(sentence) + 1 for sentence in self._sentences])

    def draw(self, chars: int) -> list[str]:
        """Return whole sentences whose text, joined by spaces, has at most ``chars`` characters.

        At least one sentence is returned, even when it alone is longer than ``chars``.
        """
        # Each sentence adds its length plus one space. Draw until the text is long enough.
        batch = int(chars / self._lengths.mean() * 1.3) + 4
        indices = self._rng.integers(len(self._sentences), size=batch)
        while self._lengths[indices].sum() <= chars + 1:
            indices = np.concatenate(
                [indices, self._rng.integers(len(self._sentences), size=batch)]
            )
        ends = np.cumsum(self._lengths[indices])
        count = max(1, int(np.searchsorted(ends, chars + 1, side="right")))
        return [self._sentences[index] for index in indices[:count]]


def _insert(sentences: Sequence[str], inserts: dict[int, str]) -> str:
    """Return ``sentences`` joined by spaces with ``inserts[i]`` placed before sentence ``i``."""
    parts: list[str] = []
    for index in range(len(sentences) + 1):
        if index in inserts:
            parts.append(inserts[index])
        if index < len(sentences):
            parts.append(sentences[index])
    return " ".join(parts)


def _boundary_at(sentences: Sequence[str], depth: float) -> int:
    """Return the sentence boundary nearest to ``depth`` of the text (0 = start, len = end)."""
    starts = np.concatenate([[0], np.cumsum([len(sentence) + 1 for sentence in sentences])])
    return int(np.argmin(np.abs(starts - depth * starts[-1])))


def _needle_values(rng: np.random.Generator, count: int) -> list[str]:
    return [
        str(value) for value in text.distinct(rng, lambda r: int(r.integers(1000, 10000)), count)
    ]


def _run_on(rng: np.random.Generator) -> str:
    if rng.random() < 0.2:
        return ""
    return "\n\n" + text.filler_sentence(rng)


def _config(benchmark: Benchmark) -> dict[str, str]:
    return eval_config(
        max_gen_len=_MAX_GEN_LEN,
        max_prompt_len=max(NEEDLE_CONTEXT_TOKENS),
        num_few_shot=int(benchmark.shots),
        template=_TEMPLATE,
    )


def build_needle_in_haystack(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the needle-in-a-haystack details table: 10 lengths x 5 depths per haystack.

    About 3% of the rows are wrong (another number, or an empty answer), all of them at
    the five longest context lengths.
    """
    benchmark = get_benchmark("needle_in_haystack")
    config = _config(benchmark)
    haystacks = _Haystacks(rng)
    needle_template = "The special magic number is {}."
    overhead = len(_prompt("", _NEEDLE_QUESTION)) + len(needle_template.format("0000")) + 1

    rows = []
    for length_index, tokens in enumerate(NEEDLE_CONTEXT_TOKENS):
        for _ in range(HAYSTACKS_PER_LENGTH[size]):
            sentences = haystacks.draw(context_chars(tokens, size) - overhead)
            values = _needle_values(rng, len(NEEDLE_DEPTHS))
            for depth, value in zip(NEEDLE_DEPTHS, values, strict=True):
                needle = needle_template.format(value)
                context = _insert(sentences, {_boundary_at(sentences, depth): needle})
                rows.append((length_index, _prompt(context, _NEEDLE_QUESTION), value))

    long_rows = [index for index, (length, _, _) in enumerate(rows) if length >= 5]
    wrong_count = int(np.floor(len(rows) * (1 - _TARGET_NEEDLE_EM) + rng.random()))
    wrong = set(rng.permutation(long_rows)[:wrong_count].tolist())

    table_rows = []
    for index, (_, prompt, value) in enumerate(rows):
        answer = value
        if index in wrong:
            answer = "" if rng.random() < 0.3 else str(int(value) + int(rng.integers(1, 90)))
        prediction = f" {answer}{_run_on(rng)}" if answer else ""
        em = float(answer == value)
        table_rows.append(
            generative_row(
                benchmark,
                subtask=None,
                prompt=prompt,
                golds=[value],
                prediction=prediction,
                parsed=text.normalize_answer(text.first_line(prediction)),
                metrics={"em": em},
                is_correct=em == 1.0,
                config=config,
            )
        )
    return details_table(table_rows, letters=None, metric_names=("em",))


def _multi_needle_prediction(rng: np.random.Generator, found: Sequence[str]) -> str:
    """Return a generation listing ``found`` on one line or one per line, then run-on text."""
    if not found:
        return ""
    listing = ", ".join(found) if rng.random() < 0.5 else "\n".join(found)
    return f" {listing}{_run_on(rng)}"


def build_multi_needle(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the multi-needle details table: 2 to 4 needles per prompt, 3 rows per haystack.

    ``output_metrics.recall`` is the share of hidden needles that the prediction lists.
    ``output_parsed_answer`` is the answer block before the first blank line, normalized,
    because a list may span several lines.
    """
    benchmark = get_benchmark("multi_needle")
    config = _config(benchmark)
    haystacks = _Haystacks(rng)
    needle_template = "One of the special magic numbers is {}."
    total = len(NEEDLE_CONTEXT_TOKENS) * HAYSTACKS_PER_LENGTH[size] * MULTI_NEEDLE_ROWS_PER_HAYSTACK
    outcomes = iter(allocate_categories(rng, total, _MULTI_NEEDLE_OUTCOMES))

    rows = []
    for tokens in NEEDLE_CONTEXT_TOKENS:
        for _ in range(HAYSTACKS_PER_LENGTH[size]):
            needle_count = max(_MULTI_NEEDLE_COUNTS)
            overhead = len(_prompt("", _MULTI_NEEDLE_QUESTION)) + needle_count * (
                len(needle_template.format("0000")) + 1
            )
            sentences = haystacks.draw(context_chars(tokens, size) - overhead)
            for _ in range(MULTI_NEEDLE_ROWS_PER_HAYSTACK):
                rows.append(
                    _multi_needle_row(
                        rng, benchmark, sentences, needle_template, next(outcomes), config
                    )
                )
    return details_table(rows, letters=None, metric_names=("recall",))


def _multi_needle_row(
    rng: np.random.Generator,
    benchmark: Benchmark,
    sentences: Sequence[str],
    needle_template: str,
    outcome: str,
    config: dict[str, str],
) -> dict:
    count = int(rng.choice(_MULTI_NEEDLE_COUNTS))
    values = _needle_values(rng, count)
    boundaries = sorted(rng.choice(len(sentences) + 1, size=count, replace=len(sentences) < count))
    inserts: dict[int, str] = {}
    for boundary, value in zip(boundaries, values, strict=True):
        needle = needle_template.format(value)
        inserts[boundary] = f"{inserts[boundary]} {needle}" if boundary in inserts else needle
    prompt = _prompt(_insert(sentences, inserts), _MULTI_NEEDLE_QUESTION)

    missed = {"all": 0, "miss_one": 1, "miss_half": count // 2, "none": count}[outcome]
    found_indices = sorted(rng.permutation(count)[: count - missed].tolist())
    found = [values[index] for index in found_indices]
    prediction = _multi_needle_prediction(rng, found)
    recall = len(found) / count
    return generative_row(
        benchmark,
        subtask=None,
        prompt=prompt,
        golds=values,
        prediction=prediction,
        parsed=text.normalize_answer(prediction.split("\n\n", 1)[0]),
        metrics={"recall": recall},
        is_correct=recall == 1.0,
        config=config,
    )
