"""Synthetic vocabulary for the sample snapshot, and the answer normalization it writes.

Every passage, question, option and name of the sample is built from the word lists here,
combined at random, so no sentence of a real benchmark appears in it. Filler sentences contain
no digits, so a number that a generator places in a text occurs there only where it was placed.
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

__all__ = [
    "MONTHS",
    "distinct",
    "filler_sentence",
    "first_line",
    "normalize_answer",
    "person_name",
    "pick",
    "place_name",
    "pseudo_word",
    "token_f1",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SYLLABLES = (
    "ka", "lo", "ven", "dar", "mi", "tor", "sel", "ri", "bel", "cu", "nor", "fa", "gim", "thal",
    "os", "pra", "lun", "zed", "qui", "mar", "dol", "ess", "bru", "cal", "fen", "hal", "jor",
    "kel", "mun", "pol", "ras", "sut", "tev", "vor", "wyn", "yl", "ber", "din", "gar", "lis",
)  # fmt: skip

FIRST_NAMES = (
    "Ada", "Bram", "Celia", "Dorian", "Elsa", "Felix", "Greta", "Hugo", "Iris", "Jonas", "Kira",
    "Leon", "Mira", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Soren", "Talia", "Ulric", "Vera",
    "Wendel", "Xenia", "Yara", "Zeno", "Marta", "Edwin", "Lotte", "Anselm", "Brigid", "Cyrus",
)  # fmt: skip

SURNAMES = (
    "Hollis", "Brandt", "Castell", "Dunmore", "Elwood", "Farrow", "Garnet", "Hartwig", "Ivers",
    "Jessop", "Kestrel", "Lindqvist", "Morrow", "Northam", "Oakes", "Penrose", "Quarles",
    "Ridley", "Stroud", "Thorne", "Upton", "Varga", "Whitlock", "Yardley", "Zeller", "Ashdown",
    "Blackwood", "Corrigan", "Delacroix", "Emberly",
)  # fmt: skip

NOUNS = (
    "river", "bridge", "harbor", "library", "market", "garden", "tower", "mill", "canal",
    "school", "chapel", "orchard", "railway", "quarry", "lighthouse", "museum", "factory",
    "theater", "observatory", "monastery", "fortress", "vineyard", "foundry", "archive",
    "academy", "hospital", "granary", "workshop", "station", "pavilion",
)  # fmt: skip

ABSTRACT_NOUNS = (
    "patience", "curiosity", "discipline", "friendship", "ambition", "memory", "habit",
    "attention", "craft", "trust", "solitude", "routine", "courage", "doubt", "practice",
    "humility", "generosity", "focus", "imagination", "restraint", "ambiguity", "progress",
    "tradition", "leisure", "ownership", "failure", "rest", "conversation", "taste", "judgment",
)  # fmt: skip

ADJECTIVES = (
    "quiet", "steady", "ancient", "narrow", "bright", "modest", "northern", "southern", "hidden",
    "crowded", "gentle", "distant", "wooden", "golden", "rugged", "formal", "careful", "sudden",
    "common", "unusual", "durable", "fragile", "coastal", "eastern", "western", "broad", "slow",
    "lively", "sparse", "central",
)  # fmt: skip

VERBS_PAST = (
    "built", "restored", "expanded", "closed", "visited", "described", "praised", "funded",
    "designed", "moved", "renamed", "rebuilt", "studied", "opened", "managed", "founded",
    "surveyed", "painted", "measured", "defended",
)  # fmt: skip

VERBS_PRESENT = (
    "shape", "reward", "protect", "reveal", "weaken", "sustain", "change", "outlast", "test",
    "limit", "strengthen", "quiet", "sharpen", "dull", "clarify", "complicate",
)  # fmt: skip

PEOPLE_NOUNS = (
    "writers", "teachers", "founders", "apprentices", "travelers", "gardeners", "students",
    "builders", "critics", "musicians", "engineers", "historians", "merchants", "farmers",
)  # fmt: skip

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

_FILLER_TEMPLATES = (
    "{Abstract} is rarely {adj} at first, and most {people} {notice} it only much later.",
    "Many {people} believe that {abstract} matters less than {abstract2}, but the record "
    "suggests otherwise.",
    "Over a long career, {abstract} tends to {verb} the work more than {abstract2} does.",
    "A {adj} {noun} can teach more about {abstract} than any {adj2} lecture.",
    "The {people} who last longest are usually those who treat {abstract} as a {adj} habit.",
    "It is easy to mistake {abstract} for {abstract2} when the days are {adj}.",
    "What looks like {abstract} from the outside is often {abstract2} seen up close.",
    "Nobody plans for {abstract}, yet it quietly decides what the {people} keep doing.",
    "Small decisions about {abstract} {verb} the course of a {adj} life.",
    "When {people} talk about the {noun}, they are often talking about {abstract}.",
    "Some {people} {notice} that {abstract} and {abstract2} grow together over the years.",
    "The {adj} {noun} near the edge of town was a lesson in {abstract} for everyone nearby.",
)

_NOTICE_VERBS = ("notice", "admit", "understand", "discover", "accept", "remember")

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    """Return one element of ``items``, drawn uniformly with ``rng``."""
    return items[int(rng.integers(len(items)))]


def distinct(
    rng: np.random.Generator, draw: Callable[[np.random.Generator], T], count: int
) -> list[T]:
    """Return ``count`` different values of ``draw(rng)``, in the order drawn.

    Raises
    ------
    RuntimeError
        If ``draw`` keeps repeating itself, which means its vocabulary is too small.
    """
    values: list[T] = []
    for _ in range(count * 50):
        value = draw(rng)
        if value not in values:
            values.append(value)
        if len(values) == count:
            return values
    raise RuntimeError(f"drew only {len(values)} different values of {count} requested")


def pseudo_word(rng: np.random.Generator, syllables: int | None = None) -> str:
    """Return an invented lower-case word of two or three syllables, e.g. ``"venthal"``."""
    count = syllables if syllables is not None else int(rng.integers(2, 4))
    return "".join(pick(rng, _SYLLABLES) for _ in range(count))


def person_name(rng: np.random.Generator) -> str:
    """Return a first name and a surname, e.g. ``"Marta Hollis"``."""
    return f"{pick(rng, FIRST_NAMES)} {pick(rng, SURNAMES)}"


def place_name(rng: np.random.Generator) -> str:
    """Return an invented capitalized place name, e.g. ``"Torvale"``."""
    return pseudo_word(rng).capitalize()


def filler_sentence(rng: np.random.Generator) -> str:
    """Return one sentence of essay-like filler text, which contains no digits."""
    template = pick(rng, _FILLER_TEMPLATES)
    abstract, abstract2 = distinct(rng, lambda r: pick(r, ABSTRACT_NOUNS), 2)
    adjective, adjective2 = distinct(rng, lambda r: pick(r, ADJECTIVES), 2)
    return template.format(
        Abstract=abstract.capitalize(),
        abstract=abstract,
        abstract2=abstract2,
        adj=adjective,
        adj2=adjective2,
        noun=pick(rng, NOUNS),
        people=pick(rng, PEOPLE_NOUNS),
        verb=pick(rng, VERBS_PRESENT),
        notice=pick(rng, _NOTICE_VERBS),
    )


def normalize_answer(text: str) -> str:
    """Normalize an answer as the SQuAD evaluation script does.

    Lower case, drop ASCII punctuation, drop the articles a/an/the, and collapse whitespace.

    Examples
    --------
    >>> normalize_answer(" The  Tarsin Bridge, in 1871.")
    'tarsin bridge in 1871'
    """
    lowered = text.lower()
    without_punctuation = "".join(char for char in lowered if char not in _PUNCTUATION)
    without_articles = _ARTICLES.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def token_f1(prediction: str, gold: str) -> float:
    """Return the SQuAD token-overlap F1 of two answers, after :func:`normalize_answer`.

    Tokens are counted as a bag. Two empty answers score 1.0, and one empty answer scores 0.0.

    Examples
    --------
    >>> token_f1("river bridge", "tarsin river bridge")
    0.8
    """
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)

    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0

    precision = overlap / len(predicted)
    recall = overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def first_line(text: str) -> str:
    """Return ``text`` up to its first newline, which is how Meta parses a generation."""
    return text.split("\n", 1)[0]
