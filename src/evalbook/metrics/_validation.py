"""Input checks shared by every metric, so that each bad input gets the same clear error.

Each check converts its input to the type the metrics compute with and raises ``ValueError``
(or ``TypeError`` for a wrong kind of object) with a message that names the argument, the
position and the value, and states the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from numbers import Integral, Real

import numpy as np

logger = logging.getLogger(__name__)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_scores(values: object, *, name: str = "scores") -> np.ndarray:
    """Return ``values`` as a non-empty 1-D float array of finite numbers."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a 1-D sequence of numbers; converting it to float failed: {error}"
        ) from None

    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, found shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: at least one item is needed")

    bad = ~np.isfinite(array)
    if bad.any():
        index = _first_bad(bad)
        raise ValueError(
            f"{name}[{index}] is {array[index]}: every item needs a finite score. Score an "
            "empty or unparseable prediction as 0 instead of leaving it out or NaN."
        )
    return array


def check_binary(values: object, *, name: str) -> np.ndarray:
    """Return ``values`` as a non-empty 1-D float array of 0.0 and 1.0 (booleans are accepted)."""
    array = check_scores(values, name=name)
    bad = (array != 0.0) & (array != 1.0)
    if bad.any():
        index = _first_bad(bad)
        raise ValueError(f"{name}[{index}] is {array[index]}: expected 0 or 1 (or a boolean)")
    return array


def is_binary(array: np.ndarray) -> bool:
    """Return whether every value of ``array`` is 0 or 1."""
    return bool(np.all((array == 0.0) | (array == 1.0)))


def check_indices(values: object, *, name: str, allow: int | None = None) -> np.ndarray:
    """Return ``values`` as a non-empty 1-D int array of non-negative indices.

    ``allow`` is one negative value that is accepted as a marker (``NO_PREDICTION``).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, found shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: at least one item is needed")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"{name} must contain integer indices, found dtype {array.dtype}; convert letters "
            "with parse_gold_letter and the item's list of letters first"
        )

    array = array.astype(np.int64)
    bad = array < 0
    if allow is not None:
        bad &= array != allow
    if bad.any():
        index = _first_bad(bad)
        raise ValueError(f"{name}[{index}] is {array[index]}: indices must be >= 0")
    return array


def check_same_length(**arrays: object) -> int:
    """Return the common length of the named arrays, or raise naming each length."""
    lengths = {name: len(array) for name, array in arrays.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"inputs must have one value per item, but {described}")
    return next(iter(lengths.values()))


def check_labels(values: Iterable[object], *, name: str) -> list[Hashable]:
    """Return ``values`` as a list of hashable, non-missing labels (groups, clusters, ids)."""
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence with one label per item, not a single string")

    labels = list(values.tolist() if isinstance(values, np.ndarray) else values)
    for index, label in enumerate(labels):
        if label is None or (isinstance(label, float) and np.isnan(label)):
            raise ValueError(
                f"{name}[{index}] is missing ({label!r}): give every item a label, for example "
                "the hash of its passage"
            )
        if not isinstance(label, Hashable):
            raise TypeError(f"{name}[{index}] is a {type(label).__name__}, which is not hashable")
    return labels


def check_confidence(confidence: float) -> float:
    """Return the confidence level of an interval, which must lie strictly between 0 and 1."""
    if not isinstance(confidence, Real) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    return float(confidence)


def check_positive_int(value: object, *, name: str) -> int:
    """Return ``value`` as an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_count(value: object, *, name: str) -> int:
    """Return ``value`` as an int of at least 0."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_text(value: object, *, name: str) -> str:
    """Return ``value`` as a string, with None read as the empty string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, found {type(value).__name__}")
    return value


def check_text_list(values: object, *, name: str) -> list[str]:
    """Return ``values`` as a list of strings; a single string is rejected, not split."""
    if isinstance(values, str):
        raise TypeError(
            f"{name} must be a list of strings, not the single string {values!r}; wrap it in a list"
        )
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of strings, found {type(values).__name__}")

    texts = list(values)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a string, found {type(text).__name__}")
    return texts


def check_nll_matrix(nll: object, *, name: str = "nll") -> tuple[np.ndarray, np.ndarray]:
    """Return a choice NLL matrix and the number of options of each row.

    Rows are items and columns are options. An item with fewer options than the widest item is
    padded with NaN on the right. Each row needs at least two options and one finite NLL.
    ``+inf`` (probability 0) is allowed, while ``-inf`` and NaN between options are rejected.
    """
    try:
        array = np.asarray(nll, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a 2-D array of floats (items x options); converting it failed: {error}"
        ) from None

    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (items x options), found shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no rows: at least one item is needed")

    present = ~np.isnan(array)
    n_options = present.sum(axis=1)

    # The present options must form a prefix of the row: NaN is only padding on the right.
    prefix = np.arange(array.shape[1])[None, :] < n_options[:, None]
    checks = [
        (np.isneginf(array).any(axis=1), "contains -inf, which is not a valid NLL"),
        ((present != prefix).any(axis=1), "has NaN between NLLs; NaN may only pad the right end"),
        (n_options < 2, "has fewer than two options"),
        (~np.isfinite(array).any(axis=1), "has no finite NLL"),
    ]
    for bad, problem in checks:
        if bad.any():
            row = _first_bad(bad)
            raise ValueError(
                f"{name} row {row} {problem}: {array[row].tolist()}. Check how the item's "
                "NLLs were read from output_choice_negative_log_likelihoods."
            )
    return array, n_options
