"""Downloads from ModelScope through the modelscope client, against a stub on loopback."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from hubstub import ModelScopeStub, write_hub_snapshot

from evalbook.sources import (
    MARKER_NAME,
    DownloadError,
    HubAccessError,
    HubNotFoundError,
    SnapshotNotFoundError,
    download,
    resolve_snapshot,
)

MODEL = "Llama-3.2-1B"
REPO_ID = f"LLM-Research/{MODEL}-evals"
SECRET = "ms-evalbookTESTtoken0123456789"


@pytest.fixture(autouse=True)
def isolated_client_settings(monkeypatch, tmp_path):
    """Keep the developer's ModelScope token, endpoint and cache out of the tests."""
    for name in ("MODELSCOPE_API_TOKEN", "MODELSCOPE_ENDPOINT", "MODELSCOPE_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope-cache"))
    monkeypatch.setenv("MODELSCOPE_HOME", str(tmp_path / "modelscope-home"))


@pytest.fixture(scope="module")
def served_snapshot(tmp_path_factory) -> Path:
    return write_hub_snapshot(tmp_path_factory.mktemp("served") / "repository", MODEL)


@pytest.fixture
def repository(served_snapshot, tmp_path) -> Path:
    """Return a copy of the served snapshot that a test may change."""
    return Path(shutil.copytree(served_snapshot, tmp_path / "repository"))


@pytest.fixture
def cache_root(tmp_path) -> Path:
    return tmp_path / "cache"


def cache_entries(cache_root: Path) -> list[str]:
    """Return the names in ``<cache>/modelscope`` other than the lock file."""
    folder = cache_root / "modelscope"
    if not folder.exists():
        return []
    return sorted(path.name for path in folder.iterdir() if not path.name.endswith(".lock"))


def assert_nothing_trusted(cache_root: Path) -> None:
    with pytest.raises(SnapshotNotFoundError):
        resolve_snapshot("modelscope", MODEL, cache_dir=cache_root)
    assert cache_entries(cache_root) == []


def retry_records(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "evalbook.sources.downloader" and record.levelno == logging.WARNING
    ]


def test_download_lands_complete_snapshot(repository, cache_root, monkeypatch):
    with ModelScopeStub(repository, REPO_ID) as stub:
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", stub.url)
        folder = download(MODEL, "modelscope", cache_dir=cache_root)

    assert folder == cache_root / "modelscope" / f"{MODEL}-evals"
    assert resolve_snapshot("modelscope", MODEL, cache_dir=cache_root) == folder
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]

    landed = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != MARKER_NAME
    )
    assert landed == sorted(stub.files)
    for name, content in stub.files.items():
        assert (folder / name).read_bytes() == content

    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["source"] == "modelscope"
    assert marker["repo_id"] == REPO_ID
    assert marker["revision"] == "master"
    assert marker["endpoint"] == stub.url
    assert len(stub.requests_to("list")) == 1
    assert len(stub.requests_to("file")) == len(stub.files)


def test_gated_without_token(repository, cache_root):
    with (
        ModelScopeStub(repository, REPO_ID, token=SECRET) as stub,
        pytest.raises(HubAccessError) as caught,
    ):
        download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "HTTP 401" in message
    assert "no ModelScope token was sent" in message
    assert f"https://modelscope.cn/datasets/{REPO_ID}" in message
    assert "MODELSCOPE_API_TOKEN" in message
    assert "modelscope login" in message
    assert_nothing_trusted(cache_root)


def test_gated_with_wrong_token(repository, cache_root, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-someOtherAccountToken")
    with (
        ModelScopeStub(repository, REPO_ID, token=SECRET) as stub,
        pytest.raises(HubAccessError) as caught,
    ):
        download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "HTTP 403" in message
    assert "the token from MODELSCOPE_API_TOKEN was rejected" in message
    assert stub.url in message
    assert retry_records(caplog) == []
    assert_nothing_trusted(cache_root)


def test_gated_with_token_argument(repository, cache_root):
    with ModelScopeStub(repository, REPO_ID, token=SECRET) as stub:
        download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url, token=SECRET)
    assert {request.token for request in stub.requests_to("file")} == {SECRET}
    assert resolve_snapshot("modelscope", MODEL, cache_dir=cache_root).is_dir()


def test_missing_repository_names_it(repository, cache_root):
    with (
        ModelScopeStub(repository, REPO_ID) as stub,
        pytest.raises(HubNotFoundError) as caught,
    ):
        download("Llama-9.9-9B", "modelscope", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "LLM-Research/Llama-9.9-9B-evals" in message
    assert "HTTP 404" in message
    assert stub.url in message
    assert cache_entries(cache_root) == []


def test_server_errors_retried(repository, cache_root, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    with ModelScopeStub(repository, REPO_ID) as stub:
        # The client itself tries a listing page 4 times, honouring Retry-After: 0.
        stub.status_faults["list"] = [503] * 4
        folder = download(
            MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url, backoff_base=0.01
        )

    assert resolve_snapshot("modelscope", MODEL, cache_dir=cache_root) == folder
    records = retry_records(caplog)
    assert len(records) == 1
    assert "attempt 1 of 5 (HTTP 503)" in records[0].getMessage()
    assert len(stub.requests_to("list")) == 5


def test_server_errors_give_up(repository, cache_root, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    with (
        ModelScopeStub(repository, REPO_ID) as stub,
        pytest.raises(DownloadError) as caught,
    ):
        stub.status_faults["list"] = [503] * 50
        download(
            MODEL,
            "modelscope",
            cache_dir=cache_root,
            endpoint=stub.url,
            max_retries=1,
            backoff_base=0,
        )

    assert "HTTP 503" in str(caught.value)
    assert "Gave up after 2 attempts" in str(caught.value)
    assert len(retry_records(caplog)) == 1
    assert_nothing_trusted(cache_root)


def test_failed_file_keeps_older_copy(repository, cache_root):
    with ModelScopeStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)
        marker = (folder / MARKER_NAME).read_bytes()

        stub.status_faults["file"] = [404]
        with pytest.raises(HubNotFoundError, match="or one of its files was not found"):
            download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)

    assert resolve_snapshot("modelscope", MODEL, cache_dir=cache_root) == folder
    assert (folder / MARKER_NAME).read_bytes() == marker
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]


def test_cut_transfer_fails_cleanly(repository, cache_root, monkeypatch):
    import modelscope_hub._download

    # The client retries a broken transfer 5 times, waiting up to 16 s; the variable
    # MODELSCOPE_DOWNLOAD_MAX_RETRIES=0 turns that off but is read only at import.
    monkeypatch.setattr(modelscope_hub._download, "DOWNLOAD_RETRY_TIMES", 0)
    details = sorted(
        path.relative_to(repository).as_posix() for path in repository.rglob("*mmlu*.parquet*")
    )[0]

    with ModelScopeStub(repository, REPO_ID) as stub:
        stub.cut_files.add(details)
        with pytest.raises(DownloadError) as caught:
            download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url, max_retries=0)

        assert "the connection failed or closed before a file was complete" in str(caught.value)
        assert_nothing_trusted(cache_root)

        stub.cut_files.clear()
        folder = download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)

    assert (folder / details).read_bytes() == (repository / details).read_bytes()


def test_token_never_leaks(repository, cache_root, caplog, monkeypatch):
    # Importing the client configures its logger's level, so import it before changing that.
    import modelscope.hub.snapshot_download  # noqa: F401

    monkeypatch.setenv("MODELSCOPE_API_TOKEN", SECRET)
    for name in ("", "evalbook", "urllib3", "filelock"):
        caplog.set_level(logging.DEBUG, logger=name)
    # The client's loggers have a handler of their own and do not propagate to the root.
    client_loggers = [logging.getLogger(name) for name in ("modelscope_hub", "modelscope")]
    levels = [client_logger.level for client_logger in client_loggers]
    for client_logger in client_loggers:
        client_logger.setLevel(logging.DEBUG)
        client_logger.addHandler(caplog.handler)

    try:
        with ModelScopeStub(repository, REPO_ID, token=SECRET) as stub:
            download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)
            stub.token = "ms-theTokenTheHubWantsNow"
            with pytest.raises(HubAccessError) as caught:
                download(MODEL, "modelscope", cache_dir=cache_root, endpoint=stub.url)
    finally:
        for client_logger, level in zip(client_loggers, levels, strict=True):
            client_logger.removeHandler(caplog.handler)
            client_logger.setLevel(level)

    assert {request.token for request in stub.requests_to("list")} == {SECRET}
    client_debug = [
        record
        for record in caplog.records
        if record.name.startswith("modelscope_hub") and record.levelno == logging.DEBUG
    ]
    assert client_debug
    assert SECRET not in caplog.text
    assert "token set (from MODELSCOPE_API_TOKEN)" in caplog.text

    current: BaseException | None = caught.value
    while current is not None:
        assert SECRET not in str(current)
        assert SECRET not in repr(current)
        current = current.__cause__ or current.__context__

    for path in cache_root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
