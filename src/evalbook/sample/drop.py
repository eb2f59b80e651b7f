"""Synthetic rows of DROP: numbers, dates and several-span answers over short passages.

Each element of ``input_correct_responses`` is one acceptable gold answer. An answer of
several spans is written as its spans joined by :data:`DROP_SPAN_SEPARATOR`, in golds and in
predictions alike (``"Hollis|Brandt"``). Numbers are written plainly (``"12"``, ``"12.25"``)
and dates as day, month name and year (``"7 May 1921"``).

Every outcome's F1 follows from how the prediction is built, under DROP's bag-of-tokens F1
(which aligns spans one to one and scores 0 for a pair whose numbers differ): a prediction
with one of two gold spans scores 0.5, one gold name padded to three words scores 0.5, a date
without its day scores 0.8, and a wrong number or name scores 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from evalbook.registry import get_benchmark
from evalbook.sample import text
from evalbook.sample.rows import (
    Size,
    allocate_categories,
    details_table,
    eval_config,
    generative_row,
    shot_range,
)

__all__ = ["DROP_ROWS", "DROP_SPAN_SEPARATOR", "build_drop"]

logger = logging.getLogger(__name__)

DROP_SPAN_SEPARATOR = "|"
"""Joins the spans of a several-span answer in golds and predictions, e.g. ``"Hollis|Brandt"``."""

DROP_ROWS: dict[str, int] = {"small": 150, "full": 9536}
"""Rows per size. The full count is that of the DROP dev set."""

METRIC_NAMES = ("em", "f1")

_MAX_GEN_LEN = 32
_MAX_PROMPT_LEN = 3072
_SHOT_POOL = 12

_OUTCOMES = {
    "number": {"exact": 0.21, "wrong": 0.72, "empty": 0.07},
    "date": {"exact": 0.25, "partial": 0.35, "wrong": 0.35, "empty": 0.05},
    "span": {"exact": 0.22, "partial": 0.28, "wrong": 0.45, "empty": 0.05},
    "spans": {"exact": 0.15, "partial": 0.5, "wrong": 0.3, "empty": 0.05},
}
"""Outcome shares per answer type, which give an F1 near the 28.0 of the model card."""

_PARTIAL_F1 = {"date": 0.8, "span": 0.5, "spans": 0.5}
"""F1 of the partial prediction of each answer type, by construction (see the module doc)."""

_TEMPLATE = (
    '{% for x in few_shot -%}\nPassage: {{ x["passage"] }}\nQuestion: {{ x["question"] }}\n'
    'Answer: {{ x["answer"] }}\n\n{% endfor -%}\nPassage: {{ passage }}\n'
    "Question: {{ question }}\nAnswer:"
)

_TEAM_ANIMALS = ("Herons", "Wolves", "Falcons", "Otters", "Stags", "Ravens", "Bison", "Lynxes")


@dataclass(frozen=True)
class _Question:
    question: str
    kind: str
    """Answer type: ``number``, ``date``, ``span`` (one span) or ``spans`` (several)."""
    golds: tuple[str, ...]
    partial: str
    wrong: str
    exact: str = ""
    """The prediction of an exact answer, when it differs from the first gold (span order)."""


@dataclass(frozen=True)
class _Passage:
    text: str
    questions: tuple[_Question, ...]


def _surnames(rng: np.random.Generator, count: int) -> list[str]:
    return text.distinct(rng, lambda r: text.pick(r, text.SURNAMES), count)


def _spans(*spans: str) -> str:
    return DROP_SPAN_SEPARATOR.join(spans)


def _wrong_number(rng: np.random.Generator, value: int) -> str:
    return str(value + int(rng.choice([-1, 1])) * int(rng.integers(1, 9)))


def _game_passage(rng: np.random.Generator) -> _Passage:
    home, away = (
        f"{place} {animal}"
        for place, animal in zip(
            text.distinct(rng, text.place_name, 2),
            text.distinct(rng, lambda r: text.pick(r, _TEAM_ANIMALS), 2),
            strict=True,
        )
    )
    kicker, passer, first_receiver, second_receiver, runner, *spare = _surnames(rng, 7)
    short_kick, long_kick = sorted(text.distinct(rng, lambda r: int(r.integers(19, 56)), 2))
    first_pass, second_pass, run = (int(value) for value in rng.integers(3, 70, size=3))
    kicks = [long_kick, short_kick] if rng.random() < 0.5 else [short_kick, long_kick]

    passage = " ".join(
        [
            f"The {home} hosted the {away} on a {text.pick(rng, text.ADJECTIVES)} afternoon.",
            f"In the first quarter, {kicker} kicked a {kicks[0]}-yard field goal.",
            f"{passer} then found {first_receiver} on a {first_pass}-yard touchdown pass.",
            f"In the second quarter, {second_receiver} caught a {second_pass}-yard touchdown "
            f"pass from {passer}.",
            f"{kicker} added a {kicks[1]}-yard field goal before halftime.",
            f"In the fourth quarter, {runner} ran {run} yards for the final touchdown.",
        ]
    )
    questions = (
        _Question(
            "How many yards was the longest field goal?",
            "number",
            (str(long_kick),),
            "",
            _wrong_number(rng, long_kick),
        ),
        _Question(
            "How many more yards was the longer field goal than the shorter one?",
            "number",
            (str(long_kick - short_kick),) * int(rng.integers(1, 3)),
            "",
            str(long_kick),
        ),
        _Question(
            f"How many yards did {runner} run for the final touchdown?",
            "number",
            (str(run),),
            "",
            _wrong_number(rng, run),
        ),
        _Question(
            "How many touchdown passes were thrown in the first half?",
            "number",
            ("2",),
            "",
            "3",
        ),
        _Question(
            f"Who threw the touchdown passes for the {home}?",
            "span",
            (passer,),
            f"{passer} and {spare[0]}",
            spare[1],
        ),
        _Question(
            "Which players caught touchdown passes?",
            "spans",
            (_spans(first_receiver, second_receiver),),
            first_receiver,
            _spans(spare[0], spare[1]),
            exact=_spans(second_receiver, first_receiver) if rng.random() < 0.3 else "",
        ),
    )
    return _Passage(passage, questions)


def _hundredths(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _history_passage(rng: np.random.Generator) -> _Passage:
    place, town = text.distinct(rng, text.place_name, 2)
    first_leader, second_leader, *spare = _surnames(rng, 4)
    day, other_day = (int(value) for value in rng.permutation(np.arange(1, 29))[:2])
    month, other_month = text.distinct(rng, lambda r: text.pick(r, text.MONTHS), 2)
    year = int(rng.integers(1500, 1950))
    other_year = year + int(rng.integers(11, 60))
    census_year = year + int(rng.integers(2, 10))
    # Percentages in hundredths. A last digit other than 0 keeps two decimals in both values.
    farmers = int(rng.integers(101, 4990))
    farmers += 1 if farmers % 10 == 0 else 0
    larger, smaller = sorted(text.distinct(rng, lambda r: int(r.integers(800, 20000)), 2))[::-1]
    adjective = text.pick(rng, text.ADJECTIVES)

    passage = " ".join(
        [
            f"On {day} {month} {year}, the treaty of {place} was signed by the delegations of "
            f"{first_leader} and {second_leader}.",
            f"{first_leader} had led an army of {larger} soldiers, while {second_leader} "
            f"commanded {smaller}.",
            f"In the census of {census_year}, {_hundredths(farmers)} percent of the people of "
            f"{town} were {adjective} farmers.",
            text.filler_sentence(rng),
        ]
    )
    date = f"{day} {month} {year}"
    questions = (
        _Question(
            f"When was the treaty of {place} signed?",
            "date",
            (date, f"{month} {day}, {year}") if rng.random() < 0.4 else (date,),
            f"{month} {year}",
            f"{other_day} {other_month} {other_year}",
        ),
        _Question(
            f"What percent of the people of {town} were {adjective} farmers?",
            "number",
            (_hundredths(farmers),),
            "",
            str(farmers // 100),
        ),
        _Question(
            f"What percent of the people of {town} were not {adjective} farmers?",
            "number",
            (_hundredths(10000 - farmers),),
            "",
            _hundredths(farmers),
        ),
        _Question(
            f"How many more soldiers did {first_leader} lead than {second_leader}?",
            "number",
            (str(larger - smaller),),
            "",
            _wrong_number(rng, larger - smaller),
        ),
        _Question(
            "How many soldiers did the two armies have together?",
            "number",
            (str(larger + smaller),),
            "",
            _wrong_number(rng, larger + smaller),
        ),
        _Question(
            "Which leaders signed the treaty?",
            "spans",
            (_spans(first_leader, second_leader),),
            second_leader,
            _spans(spare[0], spare[1]),
            exact=_spans(second_leader, first_leader) if rng.random() < 0.3 else "",
        ),
        _Question(
            "Who led the larger army?",
            "span",
            (first_leader,),
            f"{first_leader} and {second_leader}",
            spare[0],
        ),
    )
    return _Passage(passage, questions)


def _new_passage(rng: np.random.Generator) -> _Passage:
    return _game_passage(rng) if rng.random() < 0.6 else _history_passage(rng)


def _block(passage: _Passage, question: _Question) -> str:
    return f"Passage: {passage.text}\nQuestion: {question.question}\nAnswer:"


def _prediction_answer(question: _Question, outcome: str) -> tuple[str, dict[str, float]]:
    if outcome == "exact":
        return question.exact or question.golds[0], {"em": 1.0, "f1": 1.0}
    if outcome == "partial":
        return question.partial, {"em": 0.0, "f1": _PARTIAL_F1[question.kind]}
    if outcome == "wrong":
        return question.wrong, {"em": 0.0, "f1": 0.0}
    return "", {"em": 0.0, "f1": 0.0}


def build_drop(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the DROP details table: 3 to 5 questions per passage, 3 shots per prompt.

    The shots are drawn for each row from a pool of shot questions on other passages.
    """
    benchmark = get_benchmark("drop")
    shots = shot_range(benchmark)[0]
    pool = []
    for _ in range(_SHOT_POOL):
        passage = _new_passage(rng)
        question = passage.questions[int(rng.integers(len(passage.questions)))]
        pool.append(f"{_block(passage, question)} {question.golds[0]}\n\n")
    config = eval_config(
        max_gen_len=_MAX_GEN_LEN,
        max_prompt_len=_MAX_PROMPT_LEN,
        num_few_shot=shots,
        template=_TEMPLATE,
    )

    count = DROP_ROWS[size]
    pairs: list[tuple[_Passage, _Question]] = []
    while len(pairs) < count:
        passage = _new_passage(rng)
        chosen = rng.permutation(len(passage.questions))[: int(rng.integers(3, 6))]
        pairs += [(passage, passage.questions[index]) for index in sorted(chosen)]
    pairs = pairs[:count]

    outcomes = [""] * count
    for kind, shares in _OUTCOMES.items():
        positions = [index for index, (_, question) in enumerate(pairs) if question.kind == kind]
        for index, outcome in zip(
            positions, allocate_categories(rng, len(positions), shares), strict=True
        ):
            outcomes[index] = outcome

    rows = []
    for (passage, question), outcome in zip(pairs, outcomes, strict=True):
        shot_text = "".join(pool[index] for index in rng.permutation(_SHOT_POOL)[:shots])
        answer, metrics = _prediction_answer(question, outcome)
        prediction = ""
        if answer:
            space = " " if rng.random() < 0.85 else ""
            run_on = f"\n\nPassage: {text.filler_sentence(rng)}" if rng.random() < 0.85 else ""
            prediction = space + answer + run_on
        # The parsed answer is the first line as written. SQuAD normalization would turn
        # "12.25" into "1225" and drop the span separator.
        rows.append(
            generative_row(
                benchmark,
                subtask=None,
                prompt=shot_text + _block(passage, question),
                golds=question.golds,
                prediction=prediction,
                parsed=text.first_line(prediction).strip(),
                metrics=metrics,
                is_correct=metrics["em"] == 1.0,
                config=config,
            )
        )
    return details_table(rows, letters=None, metric_names=METRIC_NAMES)
