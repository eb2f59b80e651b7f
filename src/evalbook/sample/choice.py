"""Synthetic rows of the choice tasks: MMLU, ARC-Challenge and AGIEval English.

Each item is scored by likelihood: one prompt per option, identical except the final
``Answer: <letter>``, and one negative log-likelihood (NLL) per option under three
normalizations. ``raw`` is the NLL of the completion, ``char`` divides it by the completion's
length in characters (leading space included), and ``token`` divides it by a token count,
taken here as the completion's whitespace-separated words plus one. The generator first
decides which option each normalization picks (the smallest NLL, ties to the first option),
then draws NLLs that produce exactly those picks, and writes ``acc_char`` and ``acc_raw``
from them.

MMLU and ARC score the letters (" A", " B", ...), so all three normalizations rank the
options alike. AGIEval scores the option texts, which differ in length, so a few items are
built on purpose where ``raw`` and ``char`` pick different options.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from evalbook.registry import Benchmark, get_benchmark
from evalbook.sample import text
from evalbook.sample.rows import (
    Size,
    allocate_categories,
    allocate_flags,
    choice_row,
    details_table,
    eval_config,
    shot_range,
)

__all__ = [
    "AGIEVAL_EXAMS",
    "ARC_ROWS",
    "MMLU_SUBJECT_ROWS",
    "TARGET_ACCURACY",
    "build_agieval_english",
    "build_arc_challenge",
    "build_mmlu",
]

logger = logging.getLogger(__name__)

LETTERS = ("A", "B", "C", "D", "E")

METRIC_NAMES = ("acc_char", "acc_raw")

TARGET_ACCURACY = {"mmlu": 0.322, "arc_challenge": 0.328, "agieval_english": 0.233}
"""Intended ``acc_char`` of Llama 3.2 1B from its model card (MMLU and AGIEval: macro)."""

MMLU_SUBJECT_ROWS: dict[str, int] = {
    "abstract_algebra": 100, "anatomy": 135, "astronomy": 152, "business_ethics": 100,
    "clinical_knowledge": 265, "college_biology": 144, "college_chemistry": 100,
    "college_computer_science": 100, "college_mathematics": 100, "college_medicine": 173,
    "college_physics": 102, "computer_security": 100, "conceptual_physics": 235,
    "econometrics": 114, "electrical_engineering": 145, "elementary_mathematics": 378,
    "formal_logic": 126, "global_facts": 100, "high_school_biology": 310,
    "high_school_chemistry": 203, "high_school_computer_science": 100,
    "high_school_european_history": 165, "high_school_geography": 198,
    "high_school_government_and_politics": 193, "high_school_macroeconomics": 390,
    "high_school_mathematics": 270, "high_school_microeconomics": 238,
    "high_school_physics": 151, "high_school_psychology": 545, "high_school_statistics": 216,
    "high_school_us_history": 204, "high_school_world_history": 237, "human_aging": 223,
    "human_sexuality": 131, "international_law": 121, "jurisprudence": 108,
    "logical_fallacies": 163, "machine_learning": 112, "management": 103, "marketing": 234,
    "medical_genetics": 100, "miscellaneous": 783, "moral_disputes": 346,
    "moral_scenarios": 895, "nutrition": 306, "philosophy": 311, "prehistory": 324,
    "professional_accounting": 282, "professional_law": 1534, "professional_medicine": 272,
    "professional_psychology": 612, "public_relations": 110, "security_studies": 245,
    "sociology": 201, "us_foreign_policy": 100, "virology": 166, "world_religions": 171,
}  # fmt: skip
"""Items per subject in the MMLU test set (14,042 in all), the row counts of ``size="full"``."""


def _small_rows(full_rows: int, *, base: int, step: int, small: int, large: int) -> int:
    """Return a subtask's rows in ``size="small"``: fewer for small subtasks, more for large.

    Unequal counts keep macro and micro averages apart, as in the full data.
    """
    if full_rows <= small:
        return base - step
    if full_rows >= large:
        return base + step
    return base


ARC_ROWS: dict[str, int] = {"small": 120, "full": 1165}

_ARC_OPTION_COUNT_SHARE = 0.02
"""Share of ARC items with 3 options, and again with 5 (at least 2 each). The rest have 4."""


@dataclass(frozen=True)
class _Exam:
    full_rows: int
    options: int
    has_passage: bool
    kind: str
    """Name of the question writer for the exam's items, e.g. ``"algebra"``."""


AGIEVAL_EXAMS: dict[str, _Exam] = {
    "lsat-ar": _Exam(230, 5, has_passage=False, kind="arrangement"),
    "lsat-lr": _Exam(510, 5, has_passage=False, kind="argument"),
    "lsat-rc": _Exam(269, 5, has_passage=True, kind="reading"),
    "logiqa-en": _Exam(651, 4, has_passage=False, kind="argument"),
    "sat-math": _Exam(220, 4, has_passage=False, kind="algebra"),
    "sat-en": _Exam(206, 4, has_passage=True, kind="reading"),
    "sat-en-without-passage": _Exam(206, 4, has_passage=False, kind="completion"),
    "aqua-rat": _Exam(254, 5, has_passage=False, kind="rate"),
}
"""The 8 English exams of AGIEval: test-set rows (2,546 in all), option count, question kind."""


_TIE_RATE = 0.02
"""Share of MMLU and ARC items whose two lowest NLLs are exactly equal."""

_DISAGREE_RATE = 0.06
"""Share of AGIEval items built so that ``raw`` and ``char`` pick different options."""

_CHAR_MARGIN = 0.01
"""Minimum gap between per-character NLLs that must rank apart, far above the 1e-4 rounding."""

_RAW_MARGIN = 0.05
"""Minimum gap between raw NLLs that must rank apart."""

_CHOICE_MAX_PROMPT_LEN = 3072


@dataclass(frozen=True)
class _Question:
    question: str
    """The ``input_question`` value: the question, and the passage for reading exams."""
    block: str
    """The text that precedes the options in the prompt."""
    options: tuple[str, ...]
    gold: int


def _format_question(question: _Question, letters: Sequence[str], answer: str) -> str:
    lines = [question.block]
    lines += [
        f"{letter}. {option}" for letter, option in zip(letters, question.options, strict=False)
    ]
    lines.append(f"Answer: {answer}".rstrip())
    return "\n".join(lines)


def _format_shots(shots: Sequence[_Question]) -> str:
    return "".join(f"{_format_question(shot, LETTERS, LETTERS[shot.gold])}\n\n" for shot in shots)


def _shuffle_options(
    rng: np.random.Generator, correct: str, wrong: Sequence[str]
) -> tuple[tuple[str, ...], int]:
    options = [correct, *wrong]
    order = rng.permutation(len(options))
    shuffled = tuple(options[index] for index in order)
    return shuffled, int(np.flatnonzero(order == 0)[0])


def _unique(
    rng: np.random.Generator, draw: Callable[[np.random.Generator], _Question], seen: set[str]
) -> _Question:
    """Draw questions until one has an ``input_question`` not yet used in this task."""
    for _ in range(1000):
        question = draw(rng)
        if question.question not in seen and len(set(question.options)) == len(question.options):
            seen.add(question.question)
            return question
    raise RuntimeError("the synthetic vocabulary produced no new question in 1000 draws")


# Question writers. Each returns a _Question with the gold option at a random position.


_NUMERIC_SUBJECTS = frozenset(
    {
        "abstract_algebra",
        "college_mathematics",
        "college_physics",
        "econometrics",
        "elementary_mathematics",
        "high_school_mathematics",
        "high_school_physics",
        "high_school_statistics",
        "professional_accounting",
    }
)


def _numeric_options(rng: np.random.Generator, answer: int, count: int) -> list[int]:
    wrong: list[int] = []
    while len(wrong) < count - 1:
        candidate = answer + int(rng.integers(-12, 13))
        if candidate != answer and candidate > 0 and candidate not in wrong:
            wrong.append(candidate)
    return wrong


def _mmlu_question(rng: np.random.Generator, subject: str) -> _Question:
    topic = subject.replace("_", " ")
    term = text.pseudo_word(rng)
    if subject in _NUMERIC_SUBJECTS:
        first, second = int(rng.integers(12, 400)), int(rng.integers(2, 60))
        question = (
            f"In a {topic} exercise, a {term} quantity starts at {first} and grows by {second}. "
            "What is its new value?"
        )
        answer = first + second
        wrong = [str(value) for value in _numeric_options(rng, answer, 4)]
        options, gold = _shuffle_options(rng, str(answer), wrong)
        return _Question(question, question, options, gold)

    templates = (
        "Which of the following best describes the {term} principle in {topic}?",
        "According to the {term} account of {topic}, what follows when {abstract} increases?",
        "Which statement about {term} in {topic} is correct?",
        "A specialist in {topic} observes a {adj} {noun} near a {term} site. "
        "What is the most likely explanation?",
    )
    question = text.pick(rng, templates).format(
        term=term,
        topic=topic,
        abstract=text.pick(rng, text.ABSTRACT_NOUNS),
        adj=text.pick(rng, text.ADJECTIVES),
        noun=text.pick(rng, text.NOUNS),
    )
    phrases = text.distinct(rng, _short_phrase, 4)
    options, gold = _shuffle_options(rng, phrases[0], phrases[1:])
    return _Question(question, question, options, gold)


def _short_phrase(rng: np.random.Generator) -> str:
    shapes = (
        "{adj} {abstract} of the {noun}",
        "it {verb}s the {term} {noun}",
        "a {adj} shift in {abstract}",
        "the {noun} loses its {abstract}",
        "{term} replaces {abstract}",
    )
    return text.pick(rng, shapes).format(
        adj=text.pick(rng, text.ADJECTIVES),
        abstract=text.pick(rng, text.ABSTRACT_NOUNS),
        noun=text.pick(rng, text.NOUNS),
        verb=text.pick(rng, text.VERBS_PRESENT),
        term=text.pseudo_word(rng),
    )


def _arc_question(rng: np.random.Generator, option_count: int) -> _Question:
    templates = (
        "Which {noun} would most likely change if the {adj} {term} layer were removed?",
        "A student measures the {term} of a {adj} {noun}. Which tool should the student use?",
        "Why does a {adj} {noun} lose {term} faster in summer than in winter?",
        "Which property of {term} explains why a {noun} stays {adj}?",
    )
    question = "Question: " + text.pick(rng, templates).format(
        noun=text.pick(rng, text.NOUNS),
        adj=text.pick(rng, text.ADJECTIVES),
        term=text.pseudo_word(rng),
    )
    phrases = text.distinct(rng, _short_phrase, option_count)
    options, gold = _shuffle_options(rng, phrases[0], phrases[1:])
    return _Question(question.removeprefix("Question: "), question, options, gold)


def _option_sentence(rng: np.random.Generator) -> str:
    """Return an answer option of 3 to about 16 words, so option lengths vary widely."""
    core = f"the {text.pick(rng, text.NOUNS)} was {text.pick(rng, text.VERBS_PAST)}"
    extras = (
        f" by {text.pick(rng, text.PEOPLE_NOUNS)}",
        f" because {text.pick(rng, text.ABSTRACT_NOUNS)} was {text.pick(rng, text.ADJECTIVES)}",
        f" before the {text.pick(rng, text.ADJECTIVES)} {text.pick(rng, text.NOUNS)} opened",
        f" in spite of the {text.pick(rng, text.ABSTRACT_NOUNS)} of the "
        f"{text.pick(rng, text.PEOPLE_NOUNS)}",
    )
    count = int(rng.integers(0, len(extras) + 1))
    chosen = [extras[index] for index in sorted(rng.permutation(len(extras))[:count])]
    sentence = core + "".join(chosen)
    return sentence[0].upper() + sentence[1:] + "."


def _passage(rng: np.random.Generator, sentences: int) -> str:
    return " ".join(text.filler_sentence(rng) for _ in range(sentences))


def _agieval_question(rng: np.random.Generator, exam: _Exam) -> _Question:
    count = exam.options
    if exam.kind == "algebra":
        x, a = int(rng.integers(2, 30)), int(rng.integers(2, 9))
        b = int(rng.integers(1, 40))
        question = f"If {a}x + {b} = {a * x + b}, what is the value of x?"
        wrong = [str(value) for value in _numeric_options(rng, x, count)]
        options, gold = _shuffle_options(rng, str(x), wrong)
        return _Question(question, f"Question: {question}", options, gold)

    if exam.kind == "rate":
        hours, speed = int(rng.integers(2, 9)), int(rng.integers(8, 90))
        name = text.place_name(rng)
        question = (
            f"A cart leaves {name} and covers {hours * speed} km in {hours} hours at a constant "
            "speed. What is its speed?"
        )
        wrong = [f"{value} km/h" for value in _numeric_options(rng, speed, count)]
        options, gold = _shuffle_options(rng, f"{speed} km/h", wrong)
        return _Question(question, f"Question: {question}", options, gold)

    if exam.kind == "arrangement":
        names = text.distinct(rng, lambda r: text.pick(r, text.FIRST_NAMES), 5)
        question = (
            f"Exactly five {text.pick(rng, text.PEOPLE_NOUNS)} ({', '.join(names)}) each visit "
            f"one {text.pick(rng, text.NOUNS)} on consecutive days. {names[0]} visits before "
            f"{names[1]}, and {names[2]} does not visit last. Which one of the following could "
            "be the order of the visits?"
        )
        orders = text.distinct(
            rng,
            lambda r: ", ".join(names[index] for index in r.permutation(5)[: r.integers(3, 6)]),
            count,
        )
        options, gold = _shuffle_options(rng, orders[0], orders[1:])
        return _Question(question, f"Question: {question}", options, gold)

    if exam.kind == "completion":
        question = (
            f"The {text.pick(rng, text.PEOPLE_NOUNS)} were surprisingly ______ about the "
            f"{text.pseudo_word(rng)} {text.pick(rng, text.NOUNS)}, which they had long "
            "ignored. Which choice completes the sentence most logically?"
        )
        words = text.distinct(rng, _completion_word, count)
        options, gold = _shuffle_options(rng, words[0], words[1:])
        return _Question(question, f"Question: {question}", options, gold)

    sentences = text.distinct(rng, _option_sentence, count)
    options, gold = _shuffle_options(rng, sentences[0], sentences[1:])
    if exam.kind == "argument":
        argument = _passage(rng, 2)
        claim = f"Therefore, the {text.pseudo_word(rng)} {text.pick(rng, text.NOUNS)} will close."
        question = (
            f"{argument} {claim} Which one of the following, if true, most weakens the argument?"
        )
        return _Question(question, f"Question: {question}", options, gold)

    passage = _passage(rng, int(rng.integers(4, 7)))
    ask = "Which one of the following best expresses the main point of the passage?"
    question = f"{passage}\n{ask}"
    return _Question(question, f"Passage: {passage}\nQuestion: {ask}", options, gold)


def _completion_word(rng: np.random.Generator) -> str:
    word = text.pick(rng, text.ADJECTIVES)
    if rng.random() < 0.5:
        return f"{word} and {text.pick(rng, text.ADJECTIVES)}"
    return word


# NLLs: draw values that make each normalization pick the intended option.


def _argmin_first(values: Sequence[float]) -> int:
    """Return the index of the smallest value, or of the first one when several are equal."""
    return min(range(len(values)), key=values.__getitem__)


def _letter_raw_nlls(
    rng: np.random.Generator, count: int, predicted: int, tie_with: int | None
) -> list[float]:
    best = float(rng.uniform(0.8, 1.6))
    raw = [best + float(rng.uniform(_RAW_MARGIN, 1.5)) for _ in range(count)]
    raw[predicted] = best
    if tie_with is not None:
        raw[tie_with] = best
    return [round(value, 4) for value in raw]


def _text_raw_nlls(
    rng: np.random.Generator, lengths: Sequence[int], char_pick: int, raw_pick: int
) -> list[float] | None:
    """Return raw NLLs that ``char`` ranks lowest at ``char_pick`` and ``raw`` at ``raw_pick``.

    Returns None when the picks differ and the option at ``raw_pick`` is not short enough
    for a raw NLL below that of ``char_pick`` with a per-character NLL above it.
    """
    best = float(rng.uniform(0.12, 0.45))
    per_char = [0.0] * len(lengths)
    per_char[char_pick] = best
    raw_floor, char_floor = best * lengths[char_pick], best

    if raw_pick != char_pick:
        upper = (best * lengths[char_pick] - _RAW_MARGIN) / lengths[raw_pick]
        lower = best + _CHAR_MARGIN
        if upper - lower < 2 * _CHAR_MARGIN:
            return None
        per_char[raw_pick] = (lower + upper) / 2
        raw_floor = per_char[raw_pick] * lengths[raw_pick]
        char_floor = per_char[raw_pick]

    for index, length in enumerate(lengths):
        if index in (char_pick, raw_pick):
            continue
        above_char = char_floor + float(rng.uniform(_CHAR_MARGIN, 0.25))
        above_raw = (raw_floor + _RAW_MARGIN) / length + _CHAR_MARGIN
        per_char[index] = max(above_char, above_raw)

    return [round(value * length, 4) for value, length in zip(per_char, lengths, strict=True)]


def _disagreeing_pick(lengths: Sequence[int], char_pick: int, gold: int) -> int | None:
    """Return an option clearly shorter than ``char_pick`` for ``raw`` to pick, or None.

    When the ``char`` pick is wrong and the gold option is short enough, ``raw`` picks the
    gold option, so these items are right under ``raw`` only.
    """
    shorter = [
        index
        for index, length in enumerate(lengths)
        if index != char_pick and length <= 0.7 * lengths[char_pick]
    ]
    if not shorter:
        return None
    if gold in shorter:
        return gold
    return min(shorter, key=lengths.__getitem__)


def _text_picks_and_nlls(
    rng: np.random.Generator,
    lengths: Sequence[int],
    char_pick: int,
    gold: int,
    intent: _Intent,
) -> tuple[int, list[float]]:
    """Return the option that ``raw`` picks and the raw NLLs of an item scored by option text."""
    if intent.disagree:
        raw_pick = _disagreeing_pick(lengths, char_pick, gold)
        if raw_pick is not None:
            raw = _text_raw_nlls(rng, lengths, char_pick, raw_pick)
            if raw is not None:
                return raw_pick, raw

    raw = _text_raw_nlls(rng, lengths, char_pick, char_pick)
    if raw is None:
        raise RuntimeError("NLLs for one pick under both normalizations are always possible")
    return char_pick, raw


@dataclass(frozen=True)
class _Intent:
    predicted: int
    """The option that ``char`` normalization picks."""
    tie: bool = False
    disagree: bool = False


def _scored_row(
    rng: np.random.Generator,
    benchmark: Benchmark,
    *,
    subtask: str | None,
    question: _Question,
    prefix: str,
    file_letters: Sequence[str],
    score_texts: bool,
    intent: _Intent,
    config: dict[str, str],
) -> dict[str, Any]:
    count = len(question.options)
    letters = file_letters[:count]
    if score_texts:
        completions = [f" {option}" for option in question.options]
    else:
        completions = [f" {letter}" for letter in letters]
    lengths = [len(completion) for completion in completions]
    token_counts = [len(completion.split()) + 1 for completion in completions]

    char_pick = intent.predicted
    if score_texts:
        raw_pick, raw = _text_picks_and_nlls(rng, lengths, char_pick, question.gold, intent)
    else:
        tie_with = None
        if intent.tie and char_pick < count - 1:
            tie_with = int(rng.integers(char_pick + 1, count))
        raw_pick, raw = char_pick, _letter_raw_nlls(rng, count, char_pick, tie_with)

    char = [round(value / length, 4) for value, length in zip(raw, lengths, strict=True)]
    token = [round(value / tokens, 4) for value, tokens in zip(raw, token_counts, strict=True)]
    if _argmin_first(char) != char_pick or _argmin_first(raw) != raw_pick:
        raise RuntimeError(
            f"{benchmark.key}: drawn NLLs {raw} do not pick the intended options "
            f"(char {char_pick}, raw {raw_pick}). This is a bug in the sample generator."
        )

    stem = _format_question(question, letters, "")
    return choice_row(
        benchmark,
        subtask=subtask,
        question=question.question,
        choices={
            letter: (question.options[index] if index < count else None)
            for index, letter in enumerate(file_letters)
        },
        prompts=[f"{prefix}{stem} {letter}" for letter in letters],
        gold=letters[question.gold],
        predicted=letters[char_pick],
        completions=completions,
        nlls={"raw": raw, "char": char, "token": token},
        metrics={
            "acc_char": float(char_pick == question.gold),
            "acc_raw": float(raw_pick == question.gold),
        },
        config=config,
    )


def _intents(
    rng: np.random.Generator,
    questions: Sequence[_Question],
    rate: float,
    *,
    tie_rate: float = 0.0,
    disagree_rate: float = 0.0,
) -> list[_Intent]:
    """Return an intent per question: about ``rate`` of them right under ``char``."""
    correct = allocate_flags(rng, len(questions), rate)
    ties = allocate_flags(rng, len(questions), tie_rate)
    disagreements = allocate_flags(rng, len(questions), disagree_rate)
    intents = []
    for index, question in enumerate(questions):
        predicted = question.gold
        if not correct[index]:
            wrong = [i for i in range(len(question.options)) if i != question.gold]
            predicted = text.pick(rng, wrong)
        intents.append(_Intent(predicted, bool(ties[index]), bool(disagreements[index])))
    return intents


# Task builders.


def _subtask_rates(
    rng: np.random.Generator, subtasks: Sequence[str], target: float, *, spread: float
) -> dict[str, float]:
    """Return an accuracy per subtask that varies by about ``spread`` and averages ``target``.

    The offsets are centred before they are added, so the macro average stays on target.
    """
    offsets = rng.normal(0.0, spread, size=len(subtasks))
    rates = np.clip(target + offsets - offsets.mean(), 0.05, 0.95)
    return dict(zip(subtasks, rates.tolist(), strict=True))


_MMLU_TEMPLATE = (
    "The following are multiple choice questions (with answers) about {{ subject }}.\n\n"
    '{% for x in few_shot -%}\n{{ x["question"] }}\n'
    '{% for label, choice in x["choices"].items() -%}\n{{ label }}. {{ choice }}\n'
    '{% endfor -%}\nAnswer: {{ x["answer"] }}\n\n{% endfor -%}\n{{ question }}\n'
    "{% for label, choice in choices.items() -%}\n{{ label }}. {{ choice }}\n"
    "{% endfor -%}\nAnswer: {{ answer }}"
)

_ARC_TEMPLATE = (
    '{% for x in few_shot -%}\nQuestion: {{ x["question"] }}\n'
    '{% for label, choice in x["choices"].items() -%}\n{{ label }}. {{ choice }}\n'
    '{% endfor -%}\nAnswer: {{ x["answer"] }}\n\n{% endfor -%}\nQuestion: {{ question }}\n'
    "{% for label, choice in choices.items() -%}\n{{ label }}. {{ choice }}\n"
    "{% endfor -%}\nAnswer: {{ answer }}"
)

_AGIEVAL_TEMPLATE = (
    '{% for x in few_shot -%}\n{% if x["passage"] %}Passage: {{ x["passage"] }}\n{% endif -%}\n'
    'Question: {{ x["question"] }}\n'
    '{% for label, choice in x["choices"].items() -%}\n{{ label }}. {{ choice }}\n'
    '{% endfor -%}\nAnswer: {{ x["answer"] }}\n\n{% endfor -%}\n'
    "{% if passage %}Passage: {{ passage }}\n{% endif -%}\nQuestion: {{ question }}\n"
    "{% for label, choice in choices.items() -%}\n{{ label }}. {{ choice }}\n"
    "{% endfor -%}\nAnswer: {{ answer }}"
)


def build_mmlu(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the MMLU details table: 57 subjects, 4 letters, 5 shots per subject."""
    benchmark = get_benchmark("mmlu")
    shots = shot_range(benchmark)[0]
    seen: set[str] = set()
    rates = _subtask_rates(rng, list(MMLU_SUBJECT_ROWS), TARGET_ACCURACY["mmlu"], spread=0.07)
    rows = []
    for subject, full_rows in MMLU_SUBJECT_ROWS.items():
        count = full_rows
        if size == "small":
            count = _small_rows(full_rows, base=4, step=1, small=110, large=500)
        topic = subject.replace("_", " ")
        draw = partial(_mmlu_question, subject=subject)
        shot_questions = [_unique(rng, draw, seen) for _ in range(shots)]
        prefix = (
            f"The following are multiple choice questions (with answers) about {topic}.\n\n"
            + _format_shots(shot_questions)
        )
        config = eval_config(
            max_gen_len=0,
            max_prompt_len=_CHOICE_MAX_PROMPT_LEN,
            num_few_shot=shots,
            template=_MMLU_TEMPLATE,
            subject=topic,
        )

        questions = [_unique(rng, draw, seen) for _ in range(count)]
        intents = _intents(rng, questions, rates[subject], tie_rate=_TIE_RATE)
        rows += [
            _scored_row(
                rng,
                benchmark,
                subtask=subject,
                question=question,
                prefix=prefix,
                file_letters=LETTERS[:4],
                score_texts=False,
                intent=intent,
                config=config,
            )
            for question, intent in zip(questions, intents, strict=True)
        ]
    return details_table(rows, letters=LETTERS[:4], metric_names=METRIC_NAMES)


def build_arc_challenge(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the ARC-Challenge details table: 3 to 5 options (letters A-E), 25 shots."""
    benchmark = get_benchmark("arc_challenge")
    shots = shot_range(benchmark)[0]
    count = ARC_ROWS[size]
    seen: set[str] = set()

    shot_questions = [
        _unique(rng, partial(_arc_question, option_count=4), seen) for _ in range(shots)
    ]
    prefix = _format_shots(shot_questions)
    config = eval_config(
        max_gen_len=0,
        max_prompt_len=_CHOICE_MAX_PROMPT_LEN,
        num_few_shot=shots,
        template=_ARC_TEMPLATE,
    )

    odd = max(2, round(_ARC_OPTION_COUNT_SHARE * count))
    option_counts = allocate_categories(
        rng, count, {"3": odd / count, "5": odd / count, "4": 1 - 2 * odd / count}
    )
    questions = [
        _unique(rng, partial(_arc_question, option_count=int(options)), seen)
        for options in option_counts
    ]
    intents = _intents(rng, questions, TARGET_ACCURACY["arc_challenge"], tie_rate=_TIE_RATE)
    rows = [
        _scored_row(
            rng,
            benchmark,
            subtask=None,
            question=question,
            prefix=prefix,
            file_letters=LETTERS,
            score_texts=False,
            intent=intent,
            config=config,
        )
        for question, intent in zip(questions, intents, strict=True)
    ]
    return details_table(rows, letters=LETTERS, metric_names=METRIC_NAMES)


def build_agieval_english(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the AGIEval English details table: 8 exams, letters A-E, option texts scored.

    Exams whose questions carry a passage or an argument (lsat-lr, lsat-rc, logiqa-en,
    sat-en) get the fewest shots of the registry's range (3), the others the most (5), so
    that the longest prompts get the fewest shots.
    """
    benchmark = get_benchmark("agieval_english")
    fewest, most = shot_range(benchmark)
    seen: set[str] = set()
    rates = _subtask_rates(
        rng, list(AGIEVAL_EXAMS), TARGET_ACCURACY["agieval_english"], spread=0.03
    )
    rows = []
    for name, exam in AGIEVAL_EXAMS.items():
        count = exam.full_rows
        if size == "small":
            count = _small_rows(exam.full_rows, base=20, step=4, small=230, large=500)
        shots = fewest if exam.has_passage or exam.kind == "argument" else most
        draw = partial(_agieval_question, exam=exam)
        shot_questions = [_unique(rng, draw, seen) for _ in range(shots)]
        prefix = _format_shots(shot_questions)
        config = eval_config(
            max_gen_len=0,
            max_prompt_len=_CHOICE_MAX_PROMPT_LEN,
            num_few_shot=shots,
            template=_AGIEVAL_TEMPLATE,
        )

        questions = [_unique(rng, draw, seen) for _ in range(count)]
        intents = _intents(rng, questions, rates[name], disagree_rate=_DISAGREE_RATE)
        rows += [
            _scored_row(
                rng,
                benchmark,
                subtask=name,
                question=question,
                prefix=prefix,
                file_letters=LETTERS,
                score_texts=True,
                intent=intent,
                config=config,
            )
            for question, intent in zip(questions, intents, strict=True)
        ]
    return details_table(rows, letters=LETTERS, metric_names=METRIC_NAMES)
