"""Text steps shared by the generative scorers: the first-line cut and SQuAD normalization."""

from __future__ import annotations

import logging
import re
import string

from evalbook.metrics._validation import check_text

logger = logging.getLogger(__name__)

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)

# Normalized forms of the answers that mean "no answer": the phrase that Meta's SQuAD prompt
# instructs the model to give, and QuAC's no-answer token. The empty string is one too.
ABSTENTIONS = frozenset({"", "not in background", "cannotanswer"})


def first_line(text: str | None) -> str:
    """Cut a generation at its first newline, after skipping leading whitespace.

    Meta's generations run on past the answer (``" John Paul II\\n\\nTitle: ..."``), and its
    ``output_parsed_answer`` keeps only the first line. Leading whitespace, blank lines
    included, is skipped first. So a generation that starts with ``"\\n"`` is scored on its
    first non-blank line instead of as an empty answer, which would count as an abstention.

    Parameters
    ----------
    text : str or None
        Raw generation. None (a missing prediction) is read as the empty string.

    Returns
    -------
    str
        The first non-blank line, without its leading whitespace and its newline.

    Examples
    --------
    >>> first_line(" John Paul II\\n\\nTitle: The Great Gatsby")
    'John Paul II'
    >>> first_line("\\n\\nWarsaw\\nQ: next question")
    'Warsaw'
    >>> first_line(None)
    ''
    """
    # NOTE: Meta's parser is not published. The real SQuAD row shows only a leading space, which
    # normalization removes either way. For a generation that starts with "\n", Meta may have
    # scored an empty answer where this function takes the next line.
    text = check_text(text, name="text")
    return text.lstrip().split("\n", 1)[0]


def normalize_answer(text: str) -> str:
    """Normalize an answer as the SQuAD evaluation script does.

    The steps are: lower case, remove ASCII punctuation (``string.punctuation``), remove the
    articles a, an and the, and collapse whitespace to single spaces.

    Examples
    --------
    >>> normalize_answer("  The  Eiffel-Tower, Paris! ")
    'eiffeltower paris'
    >>> normalize_answer("Not in background.")
    'not in background'
    """
    text = check_text(text, name="text").lower()
    text = "".join(character for character in text if character not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_abstention(text: str | None) -> bool:
    """Return whether an answer declines to answer.

    The first line of ``text`` (see :func:`first_line`) is an abstention when it normalizes to
    the empty string, to ``"not in background"`` (the phrase Meta's SQuAD prompt requests) or to
    ``"cannotanswer"`` (QuAC's no-answer token). None is an abstention.

    Examples
    --------
    >>> is_abstention("Not in background.\\n\\nTitle: ...")
    True
    >>> is_abstention("CANNOTANSWER")
    True
    >>> is_abstention("Warsaw")
    False
    """
    # NOTE: Only these exact phrases count. A rephrased refusal ("There is no answer") is
    # scored as an answer, as it would be by the official SQuAD v2 script.
    return normalize_answer(first_line(text)) in ABSTENTIONS


def is_empty_prediction(prediction: str | None) -> bool:
    """Return whether a prediction has no answer text at all (None, or blank after normalizing).

    Such predictions score 0 on answerable items and are counted in the denominator. Reports
    show their count beside the score.

    Examples
    --------
    >>> [is_empty_prediction(text) for text in ["Warsaw", "", None, " ...\\n"]]
    [False, True, True, True]
    """
    return normalize_answer(first_line(prediction)) == ""
