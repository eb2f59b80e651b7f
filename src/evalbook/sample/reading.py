"""Synthetic rows of the reading tasks SQuAD (v2) and QuAC.

Both ask questions about a passage and score the first line of a generation against gold
spans. The generator decides each row's outcome first (exact, partly right, wrong, abstained,
empty) and writes a prediction that has that outcome. Exact answers score 1. SQuAD's wrong
answers and all abstentions share no token with any gold answer, so they score 0. Partly
right answers, and QuAC's wrong answers (a sentence of the section that may share a few
words with the gold span), get the F1 of :func:`text.token_f1`. Every row's EM and F1 are
checked against the intended outcome, so a passage writer that breaks one raises an error.

Predictions run on past the answer as a base model's do, so most of them are right only
after the cut at the first newline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from evalbook.registry import get_benchmark
from evalbook.sample import text
from evalbook.sample.rows import (
    Size,
    allocate_categories,
    allocate_flags,
    details_table,
    eval_config,
    generative_row,
    shot_range,
)

__all__ = [
    "NOT_IN_BACKGROUND",
    "QUAC_CANNOT_ANSWER",
    "READING_ROWS",
    "build_quac",
    "build_squad",
]

logger = logging.getLogger(__name__)

READING_ROWS: dict[str, dict[str, int]] = {
    "squad": {"small": 150, "full": 11873},
    "quac": {"small": 120, "full": 7354},
}
"""Rows per size. The full counts are those of the SQuAD v2 and QuAC dev sets."""

NOT_IN_BACKGROUND = "Not in background"
"""The answer that Meta's SQuAD prompt requests when the passage does not contain one."""

QUAC_CANNOT_ANSWER = "CANNOTANSWER"
"""QuAC's gold answer, and the abstaining prediction, for a question the section cannot answer."""

METRIC_NAMES = ("em", "f1")

_MAX_GEN_LEN = 32
_MAX_PROMPT_LEN = 3072

_SQUAD_UNANSWERABLE_SHARE = 1 / 3

_SQUAD_OUTCOMES = {
    "answerable": {"exact": 0.46, "partial": 0.08, "wrong": 0.28, "abstain": 0.12, "empty": 0.06},
    "unanswerable": {"abstain": 0.52, "empty": 0.03, "wrong": 0.45},
}
"""Outcome shares that give SQuAD an EM near the 49.2 of the Llama 3.2 1B model card."""

_QUAC_CANNOT_ANSWER_SHARE = 0.2

_QUAC_OUTCOMES = {
    "answerable": {"exact": 0.18, "partial": 0.34, "wrong": 0.18, "abstain": 0.24, "empty": 0.06},
    "unanswerable": {"abstain": 0.5, "wrong": 0.5},
}
"""Outcome shares that give QuAC an F1 near the 37.9 of the Llama 3.2 1B model card."""

_SQUAD_INSTRUCTION = (
    "Read the background paragraph and answer the question that follows it. When the "
    f'paragraph does not contain the answer, reply "{NOT_IN_BACKGROUND}".'
)

_QUAC_INSTRUCTION = (
    "Answer each question about the section with a passage copied from its text. When the "
    f'text does not answer the question, reply "{QUAC_CANNOT_ANSWER}".'
)

_SQUAD_TEMPLATE = (
    _SQUAD_INSTRUCTION + '\n\n{% for x in few_shot -%}\nTitle: {{ x["title"] }}\n\n'
    'Background: {{ x["context"] }}\n\n{% for prev_question in x["prev_questions"] -%}\n'
    'Q: {{ prev_question }}\n\nA: {{ x["prev_answers"][loop.index0] }}\n\n{% endfor -%}\n'
    'Q: {{ x["question"] }}\n\nA: {{ x["answers"][0] }}\n\n{% endfor -%}\n'
    "Title: {{ title }}\n\nBackground: {{ context }}\n\n"
    "{% for prev_question in prev_questions -%}\nQ: {{ prev_question }}\n\n"
    "A: {{ prev_answers[loop.index0] }}\n\n{% endfor -%}\nQ: {{ question }}\n\nA:"
)

_QUAC_TEMPLATE = (
    _QUAC_INSTRUCTION + '\n\n{% for x in few_shot -%}\nTitle: {{ x["title"] }}\n\n'
    'Section: {{ x["section_title"] }}\n\nBackground: {{ x["context"] }}\n\n'
    '{% for turn in x["turns"] -%}\nQ: {{ turn["question"] }}\n\nA: {{ turn["answer"] }}\n\n'
    "{% endfor -%}\n{% endfor -%}\nTitle: {{ title }}\n\nSection: {{ section_title }}\n\n"
    "Background: {{ context }}\n\n{% for prev_question in prev_questions -%}\n"
    "Q: {{ prev_question }}\n\nA: {{ prev_answers[loop.index0] }}\n\n{% endfor -%}\n"
    "Q: {{ question }}\n\nA:"
)


@dataclass(frozen=True)
class _Question:
    """A question about one passage and everything needed to write any outcome for it."""

    question: str
    answer: str
    """The answer as the passage writes it, or the abstention for an unanswerable question."""
    golds: tuple[str, ...]
    """``input_correct_responses``: empty for an unanswerable SQuAD question."""
    partial: str
    """A prediction that overlaps the golds only in part ("" if the question has none)."""
    distractor: str
    """A wrong answer taken from the passage (for SQuAD it shares no token with the golds)."""
    answerable: bool = True


@dataclass
class _Passage:
    title: str
    background: str
    answerable: list[_Question]
    unanswerable: list[_Question]
    section: str = ""
    asked: list[_Question] = field(default_factory=list)


# Prediction text.


def _run_on(rng: np.random.Generator, continuation: str) -> str:
    """Return what a base model writes after its answer: nothing, or text after a line break."""
    roll = rng.random()
    if roll < 0.15:
        return ""
    separator = "\n" if roll < 0.3 else "\n\n"
    words = continuation.split(" ")
    return separator + " ".join(words[: int(rng.integers(8, 22))])


def _generation(rng: np.random.Generator, answer: str, continuation: str) -> str:
    """Return a raw generation: usually a leading space, the answer, then run-on text."""
    if answer == "":
        return ""
    space = " " if rng.random() < 0.85 else ""
    return space + answer + _run_on(rng, continuation)


def _scored(
    question: _Question, outcome: str, abstention: str, *, wrong_may_overlap: bool = False
) -> tuple[str, dict[str, float], bool]:
    """Return the answer to write for ``outcome``, its EM and F1, and whether EM is 1.

    A wrong answer scores F1 0 unless ``wrong_may_overlap``. Then it is a sentence of the
    passage, and words it shares with the gold span give it an F1 below 1.

    Raises
    ------
    RuntimeError
        If the answer does not have the intended outcome, which is a bug in the passage
        writer (for example a distractor that shares a token with a gold answer).
    """
    answer = {
        "exact": question.answer,
        "partial": question.partial,
        "wrong": question.distractor,
        "abstain": abstention,
        "empty": "",
    }[outcome]

    if not question.golds:
        # SQuAD v2 unanswerable: abstaining, or answering nothing, is the right answer.
        score = float(outcome in ("abstain", "empty"))
        return answer, {"em": score, "f1": score}, score == 1.0

    golds = [text.normalize_answer(gold) for gold in question.golds]
    em = float(text.normalize_answer(answer) in golds)
    f1 = max(text.token_f1(answer, gold) for gold in question.golds)
    if outcome == "exact" or (outcome == "abstain" and not question.answerable):
        intended = em == 1.0 and f1 == 1.0
    elif outcome == "partial":
        intended = em == 0.0 and 0.0 < f1 < 1.0
    elif outcome == "wrong" and wrong_may_overlap:
        intended = em == 0.0 and f1 < 1.0
    else:
        intended = em == 0.0 and f1 == 0.0
    if not intended:
        raise RuntimeError(
            f"sample answer {answer!r} for golds {question.golds} scores EM {em}, F1 {f1}, "
            f"not the intended {outcome!r} outcome. This is a bug in the sample generator."
        )
    return answer, {"em": em, "f1": f1}, em == 1.0


# SQuAD.

_MATERIALS = ("stone", "brick", "oak", "slate", "copper", "marble", "iron", "glass")


def _other_person(rng: np.random.Generator, person: str) -> str:
    """Return a person name that shares neither first name nor surname with ``person``."""
    used_names = set(person.split())
    for _ in range(200):
        other = text.person_name(rng)
        if not used_names & set(other.split()):
            return other
    raise RuntimeError("the name lists are too small to draw two unrelated names")


def _squad_passage(rng: np.random.Generator) -> _Passage:
    noun = text.pick(rng, text.NOUNS)
    place, town, river, other_town = text.distinct(rng, text.place_name, 4)
    title = f"{place} {noun.capitalize()}"
    founder = text.person_name(rng)
    renamer = _other_person(rng, founder)
    year = int(rng.integers(1650, 1900))
    later_year = year + int(rng.integers(5, 80))
    count = int(rng.integers(12, 900))
    other_count = count + int(rng.integers(3, 40))
    things = text.pick(rng, ("volumes", "bells", "windows", "rooms", "workers", "lamps"))
    adjective, other_adjective = text.distinct(rng, lambda r: text.pick(r, text.ADJECTIVES), 2)
    material, other_material = text.distinct(rng, lambda r: text.pick(r, _MATERIALS), 2)
    feature = text.pick(rng, ("roof", "doors", "stairway", "courtyard", "arches", "clock"))
    new_name = f"{text.place_name(rng)} {noun.capitalize()}"

    sentences = [
        f"The {title} was founded by {founder} in {year}.",
        f"It stands in {town}, close to the {river} River.",
        f"By {later_year} it held {count} {things}, most of them gathered by {renamer}.",
        f"The {noun} is known for its {adjective} {material} {feature}.",
        f"Later, {renamer} renamed it the {new_name}, and {other_count} visitors came that year.",
        text.filler_sentence(rng),
    ]
    founder_surname = founder.split()[1]
    renamer_surname = renamer.split()[1]

    answerable = [
        _Question(
            f"Who founded the {title}?",
            founder,
            _normalized((founder, founder, founder_surname)),
            partial=f"{founder.split()[0]} and friends",
            distractor=renamer,
        ),
        _Question(
            f"In what year was the {title} founded?",
            str(year),
            _normalized((str(year), str(year), f"year {year}")),
            partial=f"{year} or {later_year}",
            distractor=str(later_year),
        ),
        _Question(
            f"In which town does the {title} stand?",
            town,
            _normalized((town, town, f"town of {town}")),
            partial=f"{town} near {river} River",
            distractor=f"{river} River",
        ),
        _Question(
            f"How many {things} did the {noun} hold by {later_year}?",
            str(count),
            _normalized((str(count), str(count), f"{count} {things}")),
            partial=f"{count} or {other_count} {things}",
            distractor=str(other_count),
        ),
        _Question(
            f"What is the {noun} known for?",
            f"its {adjective} {material} {feature}",
            _normalized(
                (
                    f"its {adjective} {material} {feature}",
                    f"{adjective} {material} {feature}",
                    f"its {adjective} {material} {feature}",
                )
            ),
            partial=feature,
            distractor=f"{other_adjective} {other_material}",
        ),
        _Question(
            f"Who renamed the {title}?",
            renamer,
            _normalized((renamer, renamer, renamer_surname)),
            partial=f"{renamer.split()[0]} of {town}",
            distractor=founder,
        ),
    ]
    unanswerable = [
        _Question(f"Who designed the {title}?", NOT_IN_BACKGROUND, (), "", founder, False),
        _Question(
            f"In what year did the {title} close?",
            NOT_IN_BACKGROUND,
            (),
            "",
            str(later_year),
            False,
        ),
        _Question(
            f"How many {things} were lost in the fire of {later_year}?",
            NOT_IN_BACKGROUND,
            (),
            "",
            str(count),
            False,
        ),
        _Question(f"Which river flows past {other_town}?", NOT_IN_BACKGROUND, (), "", river, False),
        _Question(
            f"Who repaired the {noun} after the flood?", NOT_IN_BACKGROUND, (), "", renamer, False
        ),
    ]
    order = rng.permutation(len(answerable))
    return _Passage(
        title=title,
        background=" ".join(sentences),
        answerable=[answerable[index] for index in order],
        unanswerable=[unanswerable[index] for index in rng.permutation(len(unanswerable))],
    )


def _normalized(answers: Sequence[str]) -> tuple[str, ...]:
    return tuple(text.normalize_answer(answer) for answer in answers)


def _squad_block(passage: _Passage, question: _Question) -> str:
    lines = [f"Title: {passage.title}", f"Background: {passage.background}"]
    for earlier in passage.asked:
        lines += [f"Q: {earlier.question}", f"A: {earlier.answer}"]
    lines += [f"Q: {question.question}", "A:"]
    return "\n\n".join(lines)


def _unasked(passage: _Passage, unanswerable: bool) -> list[_Question]:
    return passage.unanswerable if unanswerable else passage.answerable


def _assign_questions(
    rng: np.random.Generator,
    flags: Sequence[bool],
    new_passage: Callable[[np.random.Generator], _Passage],
    turns: tuple[int, int],
) -> list[tuple[_Passage, _Question]]:
    """Return ``(passage, question)`` pairs, one per flag. True selects an unanswerable question.

    Passages are drawn one after another. Each gets a number of questions in the inclusive
    range ``turns``, or fewer when it runs out of questions of the kind the next flag needs.
    """
    pairs: list[tuple[_Passage, _Question]] = []
    passage = new_passage(rng)
    remaining = int(rng.integers(turns[0], turns[1] + 1))
    for unanswerable in flags:
        if remaining == 0 or not _unasked(passage, unanswerable):
            passage = new_passage(rng)
            remaining = int(rng.integers(turns[0], turns[1] + 1))
        pairs.append((passage, _unasked(passage, unanswerable).pop(0)))
        remaining -= 1
    return pairs


def _outcomes(
    rng: np.random.Generator, flags: Sequence[bool], shares: dict[str, dict[str, float]]
) -> list[str]:
    """Return one outcome per question, allocated separately among each kind of question."""
    outcomes = [""] * len(flags)
    for kind, want in (("unanswerable", True), ("answerable", False)):
        positions = [index for index, flag in enumerate(flags) if flag == want]
        for index, outcome in zip(
            positions, allocate_categories(rng, len(positions), shares[kind]), strict=True
        ):
            outcomes[index] = outcome
    return outcomes


def _squad_shot(rng: np.random.Generator) -> str:
    passage = _squad_passage(rng)
    question = passage.answerable[0]
    return _squad_block(passage, question) + f" {question.answer}\n\n"


def build_squad(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the SQuAD v2 details table: about a third of the questions are unanswerable.

    Each passage gets 3 to 6 questions, and each prompt repeats the earlier questions on the
    same passage with their answers, as Meta's template does.
    """
    benchmark = get_benchmark("squad")
    shots = shot_range(benchmark)[0]
    prefix = _SQUAD_INSTRUCTION + "\n\n" + "".join(_squad_shot(rng) for _ in range(shots))
    config = eval_config(
        max_gen_len=_MAX_GEN_LEN,
        max_prompt_len=_MAX_PROMPT_LEN,
        num_few_shot=shots,
        template=_SQUAD_TEMPLATE,
    )

    count = READING_ROWS["squad"][size]
    flags = allocate_flags(rng, count, _SQUAD_UNANSWERABLE_SHARE)
    outcomes = _outcomes(rng, flags, _SQUAD_OUTCOMES)
    rows = []
    for (passage, question), outcome in zip(
        _assign_questions(rng, flags, _squad_passage, (3, 6)), outcomes, strict=True
    ):
        prompt = prefix + _squad_block(passage, question)
        answer, metrics, correct = _scored(question, outcome, NOT_IN_BACKGROUND)
        continuation = f"Title: {text.place_name(rng)}\n\nBackground: {text.filler_sentence(rng)}"
        prediction = _generation(rng, answer, continuation)
        rows.append(
            generative_row(
                benchmark,
                subtask=None,
                prompt=prompt,
                golds=question.golds,
                prediction=prediction,
                parsed=text.normalize_answer(text.first_line(prediction)),
                metrics=metrics,
                is_correct=correct,
                config=config,
            )
        )
        passage.asked.append(question)
    return details_table(rows, letters=None, metric_names=METRIC_NAMES)


# QuAC.

_SECTIONS = ("Early life", "Career", "Later years", "Travels", "Work and influence")

_UNANSWERABLE_QUAC = (
    "Did {pronoun} have any children?",
    "What awards did {pronoun} win?",
    "Did {pronoun} ever travel abroad?",
    "How did {pronoun} die?",
    "Who were {possessive} parents?",
    "Did {pronoun} write a memoir?",
)


def _quac_dialogue(rng: np.random.Generator) -> _Passage:
    name = text.person_name(rng)
    pronoun, possessive = ("she", "her") if rng.random() < 0.5 else ("he", "his")
    year = int(rng.integers(1820, 1960))
    aside = text.filler_sentence(rng)
    events = []
    for _ in range(int(rng.integers(5, 8))):
        year += int(rng.integers(1, 9))
        events.append(
            (
                year,
                f"In {year}, {pronoun} {text.pick(rng, text.VERBS_PAST)} the "
                f"{text.pick(rng, text.ADJECTIVES)} {text.pick(rng, text.NOUNS)} of "
                f"{text.place_name(rng)} with {text.pick(rng, text.PEOPLE_NOUNS)} from "
                f"{text.place_name(rng)}",
            )
        )

    answerable = []
    for year, span in events:
        words = span.split(" ")
        answerable.append(
            _Question(
                text.pick(
                    rng,
                    (
                        f"What did {pronoun} do in {year}?",
                        f"What happened in {year}?",
                        f"What did {name.split()[1]} work on around {year}?",
                    ),
                ),
                span,
                (span,) * int(rng.integers(1, 4)),
                partial=" ".join(words[-int(rng.integers(2, 7)) :]),
                distractor=aside.removesuffix("."),
            )
        )

    unanswerable = [
        _Question(
            template.format(pronoun=pronoun, possessive=possessive),
            QUAC_CANNOT_ANSWER,
            (QUAC_CANNOT_ANSWER,) * int(rng.integers(1, 4)),
            "",
            events[0][1],
            False,
        )
        for template in text.distinct(rng, lambda r: text.pick(r, _UNANSWERABLE_QUAC), 3)
    ]
    background = ". ".join(span for _, span in events) + ". " + aside
    return _Passage(
        title=name,
        section=text.pick(rng, _SECTIONS),
        background=background,
        answerable=answerable,
        unanswerable=unanswerable,
    )


def _quac_block(passage: _Passage, question: _Question) -> str:
    lines = [
        f"Title: {passage.title}",
        f"Section: {passage.section}",
        f"Background: {passage.background}",
    ]
    for earlier in passage.asked:
        lines += [f"Q: {earlier.question}", f"A: {earlier.answer}"]
    lines += [f"Q: {question.question}", "A:"]
    return "\n\n".join(lines)


def _quac_shot(rng: np.random.Generator) -> str:
    passage = _quac_dialogue(rng)
    passage.asked = passage.answerable[:2]
    question = passage.answerable[2]
    return _quac_block(passage, question) + f" {question.answer}\n\n"


def build_quac(rng: np.random.Generator, *, size: Size) -> pa.Table:
    """Return the QuAC details table: dialogues of 3 to 8 turns about one section.

    Each prompt repeats the dialogue's earlier questions with their gold answers. About a
    fifth of the turns have the gold answer ``CANNOTANSWER``.
    """
    benchmark = get_benchmark("quac")
    shots = shot_range(benchmark)[0]
    prefix = _QUAC_INSTRUCTION + "\n\n" + "".join(_quac_shot(rng) for _ in range(shots))
    config = eval_config(
        max_gen_len=_MAX_GEN_LEN,
        max_prompt_len=_MAX_PROMPT_LEN,
        num_few_shot=shots,
        template=_QUAC_TEMPLATE,
    )

    count = READING_ROWS["quac"][size]
    flags = allocate_flags(rng, count, _QUAC_CANNOT_ANSWER_SHARE)
    outcomes = _outcomes(rng, flags, _QUAC_OUTCOMES)
    rows = []
    for (passage, question), outcome in zip(
        _assign_questions(rng, flags, _quac_dialogue, (3, 8)), outcomes, strict=True
    ):
        prompt = prefix + _quac_block(passage, question)
        answer, metrics, correct = _scored(
            question, outcome, QUAC_CANNOT_ANSWER, wrong_may_overlap=True
        )
        follow_up = text.pick(rng, _UNANSWERABLE_QUAC)
        continuation = "Q: " + follow_up.format(pronoun="they", possessive="their")
        prediction = _generation(rng, answer, continuation)
        rows.append(
            generative_row(
                benchmark,
                subtask=None,
                prompt=prompt,
                golds=question.golds,
                prediction=prediction,
                parsed=text.normalize_answer(text.first_line(prediction)),
                metrics=metrics,
                is_correct=correct,
                config=config,
            )
        )
        passage.asked.append(question)
    return details_table(rows, letters=None, metric_names=METRIC_NAMES)
