"""Per-item scorers for generated answers: SQuAD v2, QuAC, DROP and the needle tasks.

Every scorer takes the raw generation and cuts it at its first line itself (see
:func:`first_line`), so no caller can forget the cut. None and empty generations are scored,
never dropped: they score 0 on answerable items and count as abstentions on unanswerable ones.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from evalbook.metrics._text import (
    ABSTENTIONS,
    first_line,
    is_abstention,
    is_empty_prediction,
    normalize_answer,
)
from evalbook.metrics._validation import check_text, check_text_list
from evalbook.metrics.drop import (
    drop_answer_type,
    drop_exact_match,
    drop_f1,
    drop_scores,
    normalize_drop_span,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ABSTENTIONS",
    "drop_answer_type",
    "drop_exact_match",
    "drop_f1",
    "drop_scores",
    "first_line",
    "is_abstention",
    "is_empty_prediction",
    "multi_needle_recall",
    "needle_exact_match",
    "normalize_answer",
    "normalize_drop_span",
    "quac_exact_match",
    "quac_f1",
    "squad_exact_match",
    "squad_f1",
]


def _answer(prediction: str | None) -> str:
    """Return the normalized first line of a prediction, or "" when it abstains."""
    text = normalize_answer(first_line(check_text(prediction, name="prediction")))
    return "" if text in ABSTENTIONS else text


def _token_f1(predicted: str, gold: str) -> float:
    # Token-overlap F1 of two normalized, non-empty answers, counting repeated tokens.
    predicted_tokens = predicted.split()
    gold_tokens = gold.split()
    common = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _squad_scores(prediction: str | None, golds: Sequence[str]) -> tuple[float, float]:
    answer = _answer(prediction)
    gold_answers = [normalize_answer(gold) for gold in check_text_list(golds, name="golds")]

    # As in the official SQuAD v2 script, gold answers that are abstentions are dropped, and an
    # item left without any is unanswerable: only an abstaining prediction scores there.
    gold_answers = [gold for gold in gold_answers if gold not in ABSTENTIONS]
    if not gold_answers:
        score = 1.0 if answer == "" else 0.0
        return score, score
    if answer == "":
        return 0.0, 0.0

    exact_match = max(float(answer == gold) for gold in gold_answers)
    f1 = max(_token_f1(answer, gold) for gold in gold_answers)
    return exact_match, f1


def squad_exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """Compute the SQuAD v2 exact match of one prediction.

    The prediction is cut at its first line and normalized (:func:`normalize_answer`). On an
    answerable item, EM is 1 when it equals any normalized gold answer. An item is unanswerable
    when ``golds`` is empty or every gold is an abstention (:func:`is_abstention`). Gold
    abstentions on an item with real answers are ignored, as the official script ignores empty
    gold answers. On an unanswerable item, EM is 1 when the prediction abstains.

    Range: 0 or 1. Best value: 1.

    Examples
    --------
    >>> squad_exact_match(" John Paul II\\n\\nTitle: ...", ["john paul ii"])
    1.0
    >>> [squad_exact_match(p, []) for p in ["Not in background", "", "Warsaw"]]
    [1.0, 1.0, 0.0]
    """
    return _squad_scores(prediction, golds)[0]


def squad_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """Compute the SQuAD v2 token F1 of one prediction.

    F1 is the maximum over gold answers of the harmonic mean of token precision and recall,
    counting repeated tokens, between the normalized first line and the normalized gold.
    Unanswerable items score as in :func:`squad_exact_match`.

    Range: [0, 1]. Best value: 1.

    Examples
    --------
    >>> squad_f1("Pope John Paul\\nQ: ...", ["John Paul II"])  # precision 2/3, recall 2/3
    0.667
    """
    return _squad_scores(prediction, golds)[1]


def _quac_scores(prediction: str | None, golds: Sequence[str]) -> tuple[float, float]:
    answer = _answer(prediction)
    gold_answers = [normalize_answer(gold) for gold in check_text_list(golds, name="golds")]
    if not gold_answers:
        gold_answers = [""]

    exact_matches, f1s = [], []
    for gold in gold_answers:
        if gold in ABSTENTIONS or answer == "":
            # A CANNOTANSWER gold is matched only by an abstention, and the other way round.
            score = float(gold in ABSTENTIONS and answer == "")
            exact_matches.append(score)
            f1s.append(score)
        else:
            exact_matches.append(float(answer == gold))
            f1s.append(_token_f1(answer, gold))
    return max(exact_matches), max(f1s)


def quac_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """Compute the QuAC F1 of one prediction: SQuAD token F1, maximized over the gold answers.

    A gold of ``CANNOTANSWER`` (or another abstention, see :func:`is_abstention`) scores 1 when
    the prediction abstains and 0 otherwise, and an abstaining prediction scores 0 against a
    real gold answer. Empty ``golds`` is read as one ``CANNOTANSWER`` gold.

    Range: [0, 1]. Best value: 1.

    Examples
    --------
    >>> quac_f1("in 1990 he left\\n", ["He left in 1990", "CANNOTANSWER"])
    1.0
    >>> quac_f1("CANNOTANSWER", ["He left in 1990", "CANNOTANSWER"])
    1.0
    >>> quac_f1("CANNOTANSWER", ["He left in 1990"])
    0.0
    """
    # NOTE: The official QuAC scorer also averages over leave-one-out subsets of the references
    # and turns the references into CANNOTANSWER when most annotators gave it. Meta's rule is
    # not published, so this is the plain maximum over gold answers.
    return _quac_scores(prediction, golds)[1]


def quac_exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """Compute the QuAC exact match of one prediction, with the gold rules of :func:`quac_f1`.

    Range: 0 or 1. Best value: 1.

    Examples
    --------
    >>> quac_exact_match("in 1990 he left", ["He left in 1990"])
    0.0
    """
    return _quac_scores(prediction, golds)[0]


def needle_exact_match(prediction: str | None, needle: str) -> float:
    """Return 1.0 when the normalized first line of the prediction equals the normalized needle.

    Range: 0 or 1. Best value: 1.

    Raises
    ------
    ValueError
        If the needle is blank after normalization.

    Examples
    --------
    >>> needle_exact_match(" The Eiffel Tower.\\nIt was built in 1889.", "eiffel tower")
    1.0
    """
    target = normalize_answer(check_text(needle, name="needle"))
    if not target:
        raise ValueError(f"needle {needle!r} is blank after normalization: nothing to find")
    return float(normalize_answer(first_line(prediction)) == target)


def multi_needle_recall(prediction: str | None, needles: Sequence[str]) -> float:
    """Return the fraction of needles found in the whole prediction.

    A needle counts as found when its normalized tokens occur as a contiguous run in the
    normalized prediction. All lines of the prediction are searched, because a model may list
    the needles on several lines.

    Range: [0, 1]. Best value: 1.

    Raises
    ------
    ValueError
        If ``needles`` is empty or a needle is blank after normalization.

    Examples
    --------
    >>> multi_needle_recall("Paris\\nRome\\n", ["Paris", "Rome", "Oslo", "Lima"])
    0.5
    """
    texts = check_text_list(needles, name="needles")
    if not texts:
        raise ValueError("needles is empty: give every hidden needle, at least one")

    targets = [normalize_answer(text) for text in texts]
    for text, target in zip(texts, targets, strict=True):
        if not target:
            raise ValueError(f"needle {text!r} is blank after normalization: nothing to find")

    # Padding with spaces makes the substring test match whole tokens only ("12" not in "123").
    haystack = f" {normalize_answer(check_text(prediction, name='prediction'))} "
    found = sum(f" {target} " in haystack for target in targets)
    return found / len(targets)
