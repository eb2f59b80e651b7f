"""What the downloader and each hub client module (``hf``, ``modelscope``) pass to each other.

A hub module provides ``DEFAULT_ENDPOINT``, ``repo_id_for(model)``, ``resolve_endpoint(endpoint)``,
``resolve_token(token)``, ``fetch(request)``, ``tidy(folder)`` and ``classify(error, request)``.
The downloader owns staging, retries, checks and landing, so no hub module repeats them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FailureKind", "FetchRequest", "FetchResult", "HubFailure", "error_chain", "redact_url"]

logger = logging.getLogger(__name__)

FailureKind = Literal["access", "not_found", "transient", "fatal"]


@dataclass(frozen=True)
class FetchRequest:
    """One download of a repository into an empty staging folder."""

    model: str
    repo_id: str
    folder: Path
    """Staging folder the client writes the repository files into."""
    token: str | None = None
    token_origin: str = ""
    """Where the token came from, e.g. ``from HF_TOKEN``. Empty when no token is set."""
    endpoint: str | None = None
    """Hub URL, or None for the client's own default."""
    revision: str | None = None
    progress: bool = False

    def __repr__(self) -> str:
        # The dataclass repr would include the token; tracebacks and logs may show a repr.
        token = "set" if self.token else "not set"
        return (
            f"FetchRequest(repo_id={self.repo_id!r}, folder={str(self.folder)!r}, "
            f"token={token}, endpoint={self.endpoint!r}, revision={self.revision!r})"
        )


@dataclass(frozen=True)
class FetchResult:
    """Revision of a finished fetch, as far as the hub reports it."""

    revision: str
    """Branch, tag or commit that was requested (the client default when none was)."""
    commit: str | None = None
    """Commit the revision resolved to, when the hub reports it."""


@dataclass(frozen=True)
class HubFailure:
    """A client exception translated for the user."""

    kind: FailureKind
    """``transient`` failures are retried; the others are raised at once."""
    summary: str
    """A few words for the retry log, e.g. ``HTTP 503``; never contains a secret."""
    message: str
    """The complete message of the exception raised for the user."""


def error_chain(error: BaseException) -> list[BaseException]:
    """Return ``error`` and the exceptions it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def redact_url(url: str) -> str:
    """Return ``url`` without a user name or password, so it can be logged and stored.

    Examples
    --------
    >>> redact_url("https://user:secret@hub.example.org/path")
    'https://hub.example.org/path'
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
