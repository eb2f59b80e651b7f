"""Download a model's eval dump from a hub into the cache, completely or not at all."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from types import ModuleType

from evalbook import __version__
from evalbook.sources import cache, hf, modelscope
from evalbook.sources.errors import DownloadError, HubAccessError, HubNotFoundError
from evalbook.sources.protocol import FetchRequest, FetchResult, HubFailure, redact_url
from evalbook.sources.source import HUB_SOURCES, check_model_name, default_cache_dir

__all__ = ["download", "retry_hint"]

logger = logging.getLogger(__name__)

_HUBS: dict[str, ModuleType] = {"hf": hf, "modelscope": modelscope}

_MAX_BACKOFF_SECONDS = 60.0
"""Maximum wait between two attempts, whatever ``backoff_base`` and the attempt number."""

_EXCEPTIONS: dict[str, type[DownloadError]] = {
    "access": HubAccessError,
    "not_found": HubNotFoundError,
    "transient": DownloadError,
    "fatal": DownloadError,
}


def retry_hint(model: str, source: str) -> str:
    """Return the sentence with the command that downloads a snapshot (again)."""
    return f"Run `evalbook download --model {model} --source {source}` first."


def download(
    model: str,
    source: str,
    *,
    cache_dir: Path | str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    revision: str | None = None,
    max_retries: int = 4,
    backoff_base: float = 1.0,
    progress: bool = False,
) -> Path:
    """Download a model's eval dump from ``source`` into ``<cache>/<source>/<model>-evals``.

    The files land in a staging folder of the cache first. Only when every file arrived and
    every data file that the README's ``configs:`` lists opens as Parquet does the folder get
    its completion marker and replace the previous copy. A failed run leaves the cache as it
    was. Staging folders and partial files of killed runs are removed first.

    Parameters
    ----------
    model
        Model name such as ``Llama-3.2-1B``; the dataset is ``meta-llama/<model>-evals`` on
        the Hugging Face Hub and ``LLM-Research/<model>-evals`` on ModelScope.
    source
        ``"hf"`` or ``"modelscope"``.
    cache_dir
        Cache root; defaults to :func:`default_cache_dir`.
    token
        Access token. Defaults to ``HF_TOKEN`` or the ``hf auth login`` token for ``hf``, and
        to ``MODELSCOPE_API_TOKEN`` or the ``modelscope login`` token for ``modelscope``.
        It is never logged or stored.
    endpoint
        Hub URL. Defaults to ``HF_ENDPOINT`` or ``MODELSCOPE_ENDPOINT``, else the public hub.
    revision
        Branch, tag or commit; defaults to ``main`` (hf) or ``master`` (modelscope).
    max_retries
        Retries after a server error (HTTP 408, 429, 5xx) or a network error. Access errors
        (401, 403) and missing repositories (404) are not retried.
    backoff_base
        Seconds before the first retry; the wait doubles with each retry, up to 60 s.
    progress
        Whether the Hugging Face client draws progress bars on the terminal.

    Returns
    -------
    Path
        The complete snapshot folder.

    Raises
    ------
    HubAccessError
        If the hub denied access (HTTP 401 or 403). The message explains how to get access.
    HubNotFoundError
        If the repository or revision does not exist (HTTP 404).
    DownloadError
        If the download still failed after the retries, or the files are not a readable dump.
    """
    check_model_name(model)
    if source not in _HUBS:
        raise ValueError(
            f"invalid download source {source!r}; valid sources: {', '.join(HUB_SOURCES)}"
        )
    if max_retries < 0:
        raise ValueError(f"invalid max_retries {max_retries!r}: expected 0 or more")
    if backoff_base < 0:
        raise ValueError(f"invalid backoff_base {backoff_base!r}: expected 0 or more seconds")

    hub = _HUBS[source]
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache.snapshot_folder(root, source, model)
    final.parent.mkdir(parents=True, exist_ok=True)

    resolved_token, token_origin = hub.resolve_token(token)
    resolved_endpoint = hub.resolve_endpoint(endpoint)
    shown_endpoint = redact_url(resolved_endpoint) if resolved_endpoint else None
    logger.info(
        "Downloading %s from %s (revision %s, token %s) into %s",
        hub.repo_id_for(model),
        shown_endpoint or "the client's default endpoint",
        revision or hub.DEFAULT_REVISION,
        f"set ({token_origin})" if resolved_token else "not set",
        final,
    )

    with cache.download_lock(final):
        cache.remove_leftovers(final)
        staging = cache.new_staging_folder(final)
        request = FetchRequest(
            model=model,
            repo_id=hub.repo_id_for(model),
            folder=staging,
            token=resolved_token,
            token_origin=token_origin,
            endpoint=resolved_endpoint,
            revision=revision,
            progress=progress,
        )
        try:
            result = _fetch_with_retries(hub, request, max_retries, backoff_base)
            hub.tidy(staging)
            _check_content(staging, request)
            marker = cache.write_marker(
                staging,
                {
                    "source": source,
                    "repo_id": request.repo_id,
                    "endpoint": shown_endpoint,
                    "revision": result.revision,
                    "commit": result.commit,
                    "evalbook_version": __version__,
                },
            )
            cache.land(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    total = sum(entry["size"] for entry in marker["files"])
    logger.info(
        "Downloaded %s: %d files, %d bytes, in %s",
        request.repo_id,
        len(marker["files"]),
        total,
        final,
    )
    return final


def _fetch_with_retries(
    hub: ModuleType, request: FetchRequest, max_retries: int, backoff_base: float
) -> FetchResult:
    attempts = max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return hub.fetch(request)
        except Exception as error:
            failure: HubFailure | None = hub.classify(error, request)
            if failure is None:
                raise
            if failure.kind != "transient":
                raise _EXCEPTIONS[failure.kind](failure.message) from error
            if attempt == attempts:
                tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                raise DownloadError(
                    f"{failure.message} Gave up after {tries}. Check the network connection "
                    "and the status of the hub, then run the same command again."
                ) from error

            delay = min(backoff_base * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
            logger.warning(
                "Download of %s failed on attempt %d of %d (%s); retrying in %.2f s",
                request.repo_id,
                attempt,
                attempts,
                failure.summary,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _check_content(folder: Path, request: FetchRequest) -> None:
    """Raise DownloadError unless every data file of every config is present and opens."""
    from evalbook.snapshot import SnapshotError, open_snapshot

    try:
        snapshot = open_snapshot(folder, model=request.model)
        rows = {config: snapshot.num_rows(config) for config in snapshot.configs}
    except SnapshotError as error:
        raise DownloadError(
            f"The files downloaded from {request.repo_id} are not a readable eval dump, so the "
            f"cache was left unchanged. The check of the staging folder reported: {error}"
        ) from error
    logger.debug("%s: checked %d configs, %d rows", request.repo_id, len(rows), sum(rows.values()))
