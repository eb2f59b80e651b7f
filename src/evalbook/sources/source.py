"""Source names ("sample", "local:PATH", "hf", "modelscope"), model names and the cache root."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "HUB_SOURCES",
    "SOURCE_FORMS",
    "Source",
    "SourceKind",
    "check_model_name",
    "default_cache_dir",
    "parse_source",
]

logger = logging.getLogger(__name__)

SourceKind = Literal["sample", "local", "hf", "modelscope"]

HUB_SOURCES: tuple[str, ...] = ("hf", "modelscope")
"""Sources that `download` fetches into the cache."""

SOURCE_FORMS = (
    '"sample" (synthetic data generated on this machine), '
    '"local:PATH" (a folder laid out as the Hub repository), '
    '"hf" (the Hugging Face Hub download in the cache), '
    '"modelscope" (the ModelScope download in the cache)'
)
"""The valid source texts, as error messages list them."""

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Source:
    """Where the book reads an eval dump from.

    ``path`` is set for ``kind == "local"`` only.
    """

    kind: SourceKind
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("sample", "local", "hf", "modelscope"):
            raise ValueError(f"invalid source kind {self.kind!r}; valid sources: {SOURCE_FORMS}")
        if (self.kind == "local") != (self.path is not None):
            raise ValueError(
                f"invalid source {self.kind!r} with path {self.path!r}: "
                "a path is required for 'local' and allowed for no other source"
            )

    def __str__(self) -> str:
        return f"local:{self.path}" if self.kind == "local" else self.kind


def parse_source(text: str) -> Source:
    """Parse a source text such as ``"hf"`` or ``"local:/data/Llama-3.2-1B-evals"``.

    The kind is case-insensitive; a ``local:`` path keeps its spelling and ``~`` is expanded.

    Raises
    ------
    ValueError
        If the text matches no valid form. The message lists the valid forms.

    Examples
    --------
    >>> parse_source("hf")
    Source(kind='hf', path=None)
    >>> parse_source("local:/data/dump").path
    PosixPath('/data/dump')
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid source {text!r}: expected text; valid sources: {SOURCE_FORMS}")

    stripped = text.strip()
    kind, separator, path = stripped.partition(":")
    kind = kind.lower()

    if kind == "local" and separator:
        if not path.strip():
            raise ValueError(
                f"invalid source {text!r}: 'local:' needs a folder path, e.g. local:./my-dump"
            )
        return Source("local", Path(path.strip()).expanduser())

    if not separator and kind in ("sample", "hf", "modelscope"):
        return Source(kind)

    raise ValueError(f"invalid source {text!r}; valid sources: {SOURCE_FORMS}")


def default_cache_dir() -> Path:
    """Return the cache root: ``$EVALBOOK_CACHE`` if set, else ``~/.cache/evalbook``."""
    configured = os.environ.get("EVALBOOK_CACHE", "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "evalbook"


def check_model_name(model: str) -> str:
    """Return ``model`` if it is a bare model name such as ``Llama-3.2-1B``, else raise ValueError.

    The name becomes part of the repository id (``meta-llama/<model>-evals``) and of cache
    folder names, so it may not contain a slash, start with a dot or end in ``-evals``.

    Examples
    --------
    >>> check_model_name("Llama-3.2-1B")
    'Llama-3.2-1B'
    """
    if not isinstance(model, str) or not _MODEL_NAME.fullmatch(model):
        raise ValueError(
            f"invalid model name {model!r}: pass the model name alone, e.g. Llama-3.2-1B "
            "(letters, digits, '.', '_' and '-'; the repository is meta-llama/<model>-evals)"
        )
    if model.endswith("-evals"):
        raise ValueError(
            f"invalid model name {model!r}: drop the '-evals' suffix, "
            f"e.g. {model.removesuffix('-evals')}"
        )
    return model
