"""Download ``meta-llama/<Model>-evals`` from the Hugging Face Hub with ``huggingface_hub``.

The dataset is gated: the account behind the token must have accepted the Llama licence on the
dataset page. Written against huggingface_hub 2.4.0, whose HTTP layer is httpx2; older versions
use requests or httpx, and ``classify`` recognises the network errors of all three.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from pathlib import Path

from evalbook.sources.protocol import (
    FetchRequest,
    FetchResult,
    HubFailure,
    error_chain,
    redact_url,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_REVISION",
    "classify",
    "fetch",
    "repo_id_for",
    "resolve_endpoint",
    "resolve_token",
    "tidy",
]

logger = logging.getLogger(__name__)

LABEL = "the Hugging Face Hub"
DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
REPO_OWNER = "meta-llama"

_CLIENT_FOLDER = ".cache"
"""Folder that huggingface_hub writes its download metadata into, inside the local_dir."""

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_LOGIN_HINT = (
    "set HF_TOKEN to an access token of that account or run `hf auth login` "
    "(`huggingface-cli login` with older huggingface_hub versions)"
)


def repo_id_for(model: str) -> str:
    """Return the dataset id of a model's eval dump, e.g. ``meta-llama/Llama-3.2-1B-evals``."""
    return f"{REPO_OWNER}/{model}-evals"


def licence_url(repo_id: str) -> str:
    """Return the dataset page where the licence is accepted."""
    return f"{DEFAULT_ENDPOINT}/datasets/{repo_id}"


def resolve_endpoint(endpoint: str | None) -> str:
    """Return the Hub URL: ``endpoint``, else ``HF_ENDPOINT``, else the public Hub.

    The variable is read here on every call, because huggingface_hub reads it only once, when
    it is first imported.
    """
    chosen = endpoint or os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    return chosen.rstrip("/")


def resolve_token(token: str | None) -> tuple[str | None, str]:
    """Return the token to send and where it came from: argument, ``HF_TOKEN``, or the login."""
    if token:
        return token, "passed as an argument"

    environment = os.environ.get("HF_TOKEN", "").strip()
    if environment:
        return environment, "from HF_TOKEN"

    from huggingface_hub import get_token

    stored = get_token()
    if stored:
        return stored, "from the huggingface_hub login"
    return None, ""


def fetch(request: FetchRequest) -> FetchResult:
    """Download every file of the dataset into ``request.folder``.

    The revision is resolved to a commit first, so that every file comes from that commit,
    and the commit can be recorded.
    """
    from huggingface_hub import HfApi, snapshot_download

    token: str | bool = request.token or False
    revision = request.revision or DEFAULT_REVISION

    info = HfApi(endpoint=request.endpoint, token=token).dataset_info(
        request.repo_id, revision=revision
    )
    commit = info.sha
    logger.debug("%s: revision %s is commit %s", request.repo_id, revision, commit)

    snapshot_download(
        repo_id=request.repo_id,
        repo_type="dataset",
        revision=commit or revision,
        local_dir=request.folder,
        # Without cache_dir the client would also write refs into ~/.cache/huggingface.
        cache_dir=request.folder / _CLIENT_FOLDER / "hub",
        token=token,
        endpoint=request.endpoint,
        tqdm_class=None if request.progress else _silent_progress_class(),
    )
    return FetchResult(revision=revision, commit=commit)


def tidy(folder: Path) -> None:
    """Remove huggingface_hub's download metadata, leaving the repository files only."""
    shutil.rmtree(folder / _CLIENT_FOLDER, ignore_errors=True)


def classify(error: BaseException, request: FetchRequest) -> HubFailure | None:
    """Translate a huggingface_hub exception; return None for an exception it does not know."""
    from huggingface_hub import errors as hub_errors

    for cause in error_chain(error):
        if isinstance(cause, hub_errors.OfflineModeIsEnabled):
            return HubFailure(
                "fatal",
                "offline mode",
                f"Cannot download {request.repo_id}: HF_HUB_OFFLINE is set, so huggingface_hub "
                "sends no request. Unset HF_HUB_OFFLINE and run the command again.",
            )
        if isinstance(cause, hub_errors.HfHubHTTPError):
            return _classify_http(cause, request, hub_errors)
        if isinstance(cause, _transport_errors()):
            return _transport_failure(cause, request)
        if isinstance(cause, OSError) and str(cause).startswith("Consistency check failed"):
            return HubFailure(
                "transient",
                "file size mismatch",
                f"Download of {request.repo_id} from {_where(request)} failed: a file arrived "
                f"with the wrong size ({cause}).",
            )
    return None


def _classify_http(error, request: FetchRequest, hub_errors) -> HubFailure:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    summary = f"HTTP {status}"
    where = _where(request)

    if isinstance(error, hub_errors.GatedRepoError) or status in (401, 403):
        # Without a token the Hub also returns 401 for a repository that does not exist.
        maybe_missing = not isinstance(error, hub_errors.GatedRepoError) and not request.token
        return HubFailure("access", summary, _access_message(request, status, maybe_missing))

    if isinstance(error, hub_errors.RevisionNotFoundError):
        return HubFailure(
            "not_found",
            summary,
            f"Revision {request.revision!r} of dataset {request.repo_id} was not found on {where} "
            f"(HTTP {status}). Pass an existing branch, tag or commit, or no revision to use "
            f"{DEFAULT_REVISION}.",
        )

    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return HubFailure(
            "not_found",
            summary,
            f"Dataset {request.repo_id} was not found on {where} (HTTP {status}). Check the "
            f"model name, e.g. Llama-3.2-1B: the dataset id is {REPO_OWNER}/<model>-evals.",
        )

    if isinstance(error, hub_errors.RemoteEntryNotFoundError):
        # The tree listed the file but the file request found none: the repository changed
        # during the download, and the next attempt lists it again.
        return HubFailure(
            "transient",
            summary,
            f"Download of {request.repo_id} from {where} failed: a listed file was not found "
            f"(HTTP {status}); the repository probably changed during the download.",
        )

    if status in _RETRY_STATUSES:
        return HubFailure(
            "transient",
            summary,
            f"Download of {request.repo_id} from {where} failed: the server returned "
            f"HTTP {status}.",
        )

    return HubFailure(
        "fatal",
        summary,
        f"Download of {request.repo_id} from {where} failed with HTTP {status}.",
    )


def _access_message(request: FetchRequest, status: int | None, maybe_missing: bool) -> str:
    repo_id = request.repo_id
    if maybe_missing:
        reason = (
            "no Hugging Face token was sent, or the dataset does not exist (check the model name)"
        )
    elif request.token:
        reason = (
            f"the token {request.token_origin} was rejected, or its account has not been "
            "granted access"
        )
    else:
        reason = "no Hugging Face token was sent"
    return (
        f"Access to dataset {repo_id} on {_where(request)} was denied (HTTP {status}): {reason}. "
        f"The dataset is gated: accept the licence at {licence_url(repo_id)} with your "
        f"Hugging Face account, wait until access is granted, then {_LOGIN_HINT}."
    )


def _transport_failure(error: BaseException, request: FetchRequest) -> HubFailure:
    name = type(error).__name__
    if "Protocol" in name:
        description = "the connection closed before a file was complete"
    elif "Timeout" in name:
        description = "the server timed out"
    else:
        description = "the connection failed"
    return HubFailure(
        "transient",
        f"{description} ({name})",
        f"Download of {request.repo_id} from {_where(request)} failed: {description} "
        f"({name}: {error}).",
    )


def _where(request: FetchRequest) -> str:
    endpoint = request.endpoint or DEFAULT_ENDPOINT
    if endpoint == DEFAULT_ENDPOINT:
        return LABEL
    return redact_url(endpoint)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Return the network error classes of httpx2, httpx and requests that are installed."""
    classes = []
    for module_name, names in (
        ("httpx2", ("TransportError",)),
        ("httpx", ("TransportError",)),
        ("requests", ("ConnectionError", "Timeout")),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        classes.extend(getattr(module, name) for name in names if hasattr(module, name))
    return tuple(classes)


def _silent_progress_class():
    """Return a tqdm class that never draws, because the package does not write to the terminal."""
    from tqdm.auto import tqdm

    class SilentProgress(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentProgress
