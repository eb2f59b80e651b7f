"""Text features derived from prompts: the shared passage of an item, and needle placement.

Items that share a passage (SQuAD, DROP), a dialogue (QuAC) or a haystack (needle tasks) are
correlated, so their standard error is clustered. The dumps have no passage column, so the
cluster is derived from the prompt text itself.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "PASSAGE_MARKERS",
    "haystack_key",
    "needle_depth",
    "passage_key",
    "prompt_preview",
    "text_key",
]

PASSAGE_MARKERS = ("Background:", "Passage:", "Context:")
"""Labels that open the passage block of a reading-comprehension prompt."""

_QUESTION_START = re.compile(r"\n\s*(?:Q|Question):", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def text_key(text: str) -> str:
    """Return a short stable hash of ``text``, used as a cluster id.

    Examples
    --------
    >>> text_key("a passage")
    '6221239270e78eed'
    """
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:16]


def passage_key(prompt: str) -> str | None:
    """Return the cluster id of the test item's passage: the last passage block of the prompt.

    Few-shot examples come first, so the last block is the item's own passage. The block runs
    from the marker to the first question line after it. Returns None when the prompt has no
    marker, and the caller then treats the item as its own cluster.

    Examples
    --------
    >>> prompt = "Background: shot.\\n\\nQ: a?\\n\\nA: b\\n\\nBackground: own.\\n\\nQ: c?\\n\\nA:"
    >>> passage_key(prompt) == text_key("own.")
    True
    """
    start = max(prompt.rfind(marker) for marker in PASSAGE_MARKERS)
    if start < 0:
        return None
    block = prompt[start:].split(":", 1)[1]
    end = _QUESTION_START.search(block)
    passage = block[: end.start()] if end else block
    return text_key(passage.strip())


def haystack_key(prompt: str, needles: list[str]) -> str:
    """Return the cluster id of a needle prompt: its text with the needle sentences removed.

    Prompts built from one haystack at different depths then share an id. A needle that does
    not occur in the prompt is ignored.

    Examples
    --------
    >>> a = haystack_key("Filler one. The number is 42. Filler two.", ["42"])
    >>> b = haystack_key("The number is 42. Filler one. Filler two.", ["42"])
    >>> a == b
    True
    """
    sentences = _SENTENCE_END.split(prompt)
    kept = [sentence for sentence in sentences if not any(n and n in sentence for n in needles)]
    return text_key(" ".join(kept))


def needle_depth(prompt: str, needle: str) -> float:
    """Return where ``needle`` first occurs in ``prompt``, in percent of the prompt length.

    Returns NaN when the needle does not occur.

    Examples
    --------
    >>> needle_depth("abcd" * 25, "a")
    0.0
    >>> needle_depth("x" * 50 + "needle" + "x" * 44, "needle")
    50.0
    """
    position = prompt.find(needle) if needle else -1
    if position < 0 or not prompt:
        return float("nan")
    return 100.0 * position / len(prompt)


def prompt_preview(prompt: str, *, max_chars: int = 300) -> str:
    """Return the end of ``prompt`` (the test question), cut to ``max_chars`` with a leading '…'.

    Examples
    --------
    >>> prompt_preview("0123456789", max_chars=4)
    '…6789'
    """
    text = prompt.strip()
    if len(text) <= max_chars:
        return text
    return "…" + text[-max_chars:]
