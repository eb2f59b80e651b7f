"""Download ``LLM-Research/<Model>-evals`` from ModelScope with the ``modelscope`` client.

Written against modelscope 1.40.2, whose ``dataset_snapshot_download`` delegates to the
``modelscope_hub`` package and raises that package's exceptions. The client reads
``MODELSCOPE_ENDPOINT`` and ``MODELSCOPE_API_TOKEN`` itself. This module reads them as well,
so that messages and logs can name the endpoint and the token source.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from evalbook.sources.protocol import (
    FailureKind,
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

LABEL = "ModelScope"
DEFAULT_ENDPOINT = "https://modelscope.cn"
DEFAULT_REVISION = "master"
REPO_OWNER = "LLM-Research"

_CLIENT_FOLDER = ".cache"
"""Folder inside the staging folder that receives the client's lock files."""

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SEVERITY: dict[FailureKind, int] = {"access": 3, "not_found": 2, "fatal": 1, "transient": 0}


def repo_id_for(model: str) -> str:
    """Return the dataset id of a model's eval dump, e.g. ``LLM-Research/Llama-3.2-1B-evals``."""
    return f"{REPO_OWNER}/{model}-evals"


def licence_url(repo_id: str) -> str:
    """Return the dataset page where the licence is accepted."""
    return f"{DEFAULT_ENDPOINT}/datasets/{repo_id}"


def resolve_endpoint(endpoint: str | None) -> str | None:
    """Return ``endpoint``, else ``MODELSCOPE_ENDPOINT``, else None (the client picks its site)."""
    chosen = endpoint or os.environ.get("MODELSCOPE_ENDPOINT", "").strip()
    return chosen.rstrip("/") if chosen else None


def resolve_token(token: str | None) -> tuple[str | None, str]:
    """Return the token to send and where it came from, in the client's own order."""
    if token:
        return token, "passed as an argument"

    environment = os.environ.get("MODELSCOPE_API_TOKEN", "").strip()
    if environment:
        return environment, "from MODELSCOPE_API_TOKEN"

    from modelscope_hub.config import HubConfig

    stored = HubConfig().load_token()
    if stored:
        return stored, "from the modelscope login"
    return None, ""


def fetch(request: FetchRequest) -> FetchResult:
    """Download every file of the dataset into ``request.folder``."""
    from modelscope.hub.snapshot_download import dataset_snapshot_download

    revision = request.revision or DEFAULT_REVISION

    # NOTE: the client draws its own tqdm progress bars, and its logger writes to stderr
    # through a handler of its own. No argument of this call turns either off.
    dataset_snapshot_download(
        request.repo_id,
        revision=revision,
        local_dir=str(request.folder),
        # The client keeps its lock files under cache_dir, by default in ~/.cache/modelscope.
        cache_dir=str(request.folder / _CLIENT_FOLDER / "modelscope"),
        token=request.token,
        endpoint=request.endpoint,
    )
    return FetchResult(revision=revision, commit=None)


def tidy(folder: Path) -> None:
    """Remove the client's lock files, leaving the repository files only."""
    shutil.rmtree(folder / _CLIENT_FOLDER, ignore_errors=True)


def classify(error: BaseException, request: FetchRequest) -> HubFailure | None:
    """Translate a modelscope client exception; return None for an exception it does not know.

    The client wraps some errors: ``requests.HTTPError`` raised from a ``modelscope_hub`` error
    for the file listing, and ``FileDownloadError`` with one error per failed file. The most
    severe of those errors is reported, so one denied file makes the download an access error.
    """
    chain = error_chain(error)

    for cause in chain:
        failure = _classify_hub_error(cause, request)
        if failure is not None:
            return failure

    import requests

    for cause in chain:
        if isinstance(cause, (requests.ConnectionError, requests.Timeout)):
            return _failure_for_status(None, request, type(cause).__name__)
        if isinstance(cause, requests.HTTPError):
            status = getattr(cause.response, "status_code", None)
            return _failure_for_status(status, request, f"HTTP {status}")
    return None


def _classify_hub_error(error: BaseException, request: FetchRequest) -> HubFailure | None:
    from modelscope_hub import errors as hub_errors

    failed_files = getattr(error, "failed_files", None)
    if isinstance(error, hub_errors.FileDownloadError) and failed_files:
        failures = [_classify_hub_error(member, request) for member in failed_files.values()]
        known = [failure for failure in failures if failure is not None]
        if not known:
            return None
        return max(known, key=lambda failure: _SEVERITY[failure.kind])

    if isinstance(error, hub_errors.APIError):
        status = getattr(error, "status_code", None)
        if isinstance(error, hub_errors.AuthenticationError):
            status = status or 401
        elif isinstance(error, hub_errors.PermissionDeniedError):
            status = status or 403
        elif isinstance(error, hub_errors.NotExistError):
            status = status or 404
        elif isinstance(error, (hub_errors.ServerError, hub_errors.RateLimitError)):
            return _failure_for_status(status or 503, request, f"HTTP {status or 503}")
        return _failure_for_status(status, request, f"HTTP {status}")

    if isinstance(error, (hub_errors.NetworkError, hub_errors.FileIntegrityError)):
        return _failure_for_status(None, request, type(error).__name__)
    return None


def _failure_for_status(status: int | None, request: FetchRequest, summary: str) -> HubFailure:
    repo_id = request.repo_id
    where = _where(request)

    if status in (401, 403):
        return HubFailure("access", summary, _access_message(request, status))
    if status == 404:
        return HubFailure(
            "not_found",
            summary,
            f"Dataset {repo_id} (revision {request.revision or DEFAULT_REVISION}) or one of its "
            f"files was not found on {where} (HTTP 404). Check the model name, e.g. "
            f"Llama-3.2-1B: the dataset id is {REPO_OWNER}/<model>-evals.",
        )
    if status is None:
        return HubFailure(
            "transient",
            f"network error ({summary})",
            f"Download of {repo_id} from {where} failed: the connection failed or closed "
            f"before a file was complete ({summary}).",
        )
    if status in _RETRY_STATUSES:
        return HubFailure(
            "transient",
            summary,
            f"Download of {repo_id} from {where} failed: the server returned HTTP {status}.",
        )
    return HubFailure(
        "fatal", summary, f"Download of {repo_id} from {where} failed with HTTP {status}."
    )


def _access_message(request: FetchRequest, status: int) -> str:
    repo_id = request.repo_id
    if request.token:
        reason = (
            f"the token {request.token_origin} was rejected, or its account has not been "
            "granted access"
        )
    else:
        reason = "no ModelScope token was sent"
    return (
        f"Access to dataset {repo_id} on {_where(request)} was denied (HTTP {status}): {reason}. "
        f"The dataset is gated: accept the licence at {licence_url(repo_id)} with your "
        "ModelScope account, wait until access is granted, then set MODELSCOPE_API_TOKEN to "
        "an access token of that account or run `modelscope login`."
    )


def _where(request: FetchRequest) -> str:
    if request.endpoint is None or request.endpoint == DEFAULT_ENDPOINT:
        return LABEL
    return redact_url(request.endpoint)
