"""Downloads from the Hugging Face Hub through huggingface_hub, against a stub Hub on loopback."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hubstub import COMMIT, HuggingFaceStub, write_hub_snapshot

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
REPO_ID = f"meta-llama/{MODEL}-evals"
SECRET = "hf_evalbookTESTtoken0123456789"
LOGGERS = (
    "",
    "evalbook",
    "huggingface_hub",
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "urllib3",
    "filelock",
)


@pytest.fixture(autouse=True)
def isolated_hub_settings(monkeypatch, tmp_path):
    """Keep the developer's Hugging Face token, endpoint and cache out of the tests."""
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_ENDPOINT",
        "HF_OIDC_RESOURCE",
        "EVALBOOK_CACHE",
    ):
        monkeypatch.delenv(name, raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


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
    """Return the names in ``<cache>/hf`` other than the lock file."""
    folder = cache_root / "hf"
    if not folder.exists():
        return []
    return sorted(path.name for path in folder.iterdir() if not path.name.endswith(".lock"))


def assert_nothing_trusted(cache_root: Path) -> None:
    with pytest.raises(SnapshotNotFoundError):
        resolve_snapshot("hf", MODEL, cache_dir=cache_root)
    assert cache_entries(cache_root) == []


def retry_records(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "evalbook.sources.downloader" and record.levelno == logging.WARNING
    ]


def test_download_lands_complete_snapshot(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert folder == cache_root / "hf" / f"{MODEL}-evals"
    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]

    served = sorted(stub.files)
    landed = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != MARKER_NAME
    )
    assert landed == served
    for name in served:
        assert (folder / name).read_bytes() == stub.files[name]

    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["source"] == "hf"
    assert marker["repo_id"] == REPO_ID
    assert marker["revision"] == "main"
    assert marker["commit"] == COMMIT
    assert marker["endpoint"] == stub.url
    assert sorted(entry["path"] for entry in marker["files"]) == served


def test_download_calls_hub_endpoints(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert [request.route for request in stub.requests_to("info")] == ["info"]
    assert len(stub.requests_to("tree")) == 1
    file_gets = [request for request in stub.requests_to("file") if request.method == "GET"]
    assert len(file_gets) == len(stub.files)
    assert [request for request in stub.requests if request.route == "unknown"] == []


def test_download_reads_endpoint_variable(repository, cache_root, monkeypatch):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        folder = download(MODEL, "hf", cache_dir=cache_root)
    assert json.loads((folder / MARKER_NAME).read_text())["endpoint"] == stub.url


def test_download_into_default_cache(repository, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALBOOK_CACHE", str(tmp_path / "env-cache"))
    with HuggingFaceStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "hf", endpoint=stub.url)
    assert folder == tmp_path / "env-cache" / "hf" / f"{MODEL}-evals"
    assert resolve_snapshot("hf", MODEL) == folder


def test_gated_without_token(repository, cache_root):
    with (
        HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub,
        pytest.raises(HubAccessError) as caught,
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, max_retries=0)

    message = str(caught.value)
    assert "HTTP 401" in message
    assert "no Hugging Face token was sent" in message
    assert f"https://huggingface.co/datasets/{REPO_ID}" in message
    assert "HF_TOKEN" in message
    assert "hf auth login" in message
    assert isinstance(caught.value, RuntimeError)
    assert all(request.token is None for request in stub.requests)
    assert_nothing_trusted(cache_root)


def test_gated_with_wrong_token(repository, cache_root, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    monkeypatch.setenv("HF_TOKEN", "hf_someOtherAccountToken")
    with (
        HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub,
        pytest.raises(HubAccessError) as caught,
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "HTTP 403" in message
    assert "the token from HF_TOKEN was rejected" in message
    assert f"https://huggingface.co/datasets/{REPO_ID}" in message
    assert stub.url in message
    assert retry_records(caplog) == []
    assert_nothing_trusted(cache_root)


def test_gated_with_token_argument(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, token=SECRET)
    assert {request.token for request in stub.requests_to("file")} == {SECRET}
    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root).is_dir()


def test_gated_with_token_variable(repository, cache_root, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
    assert {request.token for request in stub.requests_to("file")} == {SECRET}


def test_gated_with_login_token(repository, cache_root, tmp_path):
    from huggingface_hub import constants

    token_file = Path(constants.HF_TOKEN_PATH)
    token_file.parent.mkdir(parents=True)
    token_file.write_text(SECRET)
    with HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
    assert {request.token for request in stub.requests_to("file")} == {SECRET}


def test_missing_repository_names_it(repository, cache_root):
    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(HubNotFoundError) as caught,
    ):
        download("Llama-9.9-9B", "hf", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "meta-llama/Llama-9.9-9B-evals" in message
    assert "HTTP 404" in message
    assert stub.url in message
    assert len(stub.requests) == 1
    assert cache_entries(cache_root) == []


def test_missing_repository_without_token(repository, cache_root):
    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(HubAccessError) as caught,
    ):
        stub.missing_repo_status = 401
        download("Llama-9.9-9B", "hf", cache_dir=cache_root, endpoint=stub.url)

    message = str(caught.value)
    assert "meta-llama/Llama-9.9-9B-evals" in message
    assert "HTTP 401" in message
    assert "or the dataset does not exist (check the model name)" in message
    assert cache_entries(cache_root) == []


def test_missing_revision_names_it(repository, cache_root):
    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(HubNotFoundError, match="Revision 'v9' of dataset meta-llama"),
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, revision="v9")
    assert cache_entries(cache_root) == []


def test_server_errors_retried_with_backoff(repository, cache_root, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    with HuggingFaceStub(repository, REPO_ID) as stub:
        stub.status_faults["info"] = [503, 502, 500]
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, backoff_base=0.05)

    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    records = retry_records(caplog)
    assert len(records) == 3
    assert "attempt 1 of 5 (HTTP 503)" in records[0].getMessage()
    assert "attempt 2 of 5 (HTTP 502)" in records[1].getMessage()
    assert "attempt 3 of 5 (HTTP 500)" in records[2].getMessage()
    assert [record.args[-1] for record in records] == [0.05, 0.1, 0.2]
    assert len(stub.requests_to("info")) == 4


def test_server_error_on_file_retried(repository, cache_root, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    with HuggingFaceStub(repository, REPO_ID) as stub:
        stub.status_faults["file"] = [503]
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, backoff_base=0)

    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    records = retry_records(caplog)
    assert len(records) == 1
    assert "attempt 1 of 5 (HTTP 503)" in records[0].getMessage()
    assert len(stub.requests_to("info")) == 2


def test_server_errors_give_up(repository, cache_root, caplog):
    caplog.set_level(logging.WARNING, logger="evalbook.sources.downloader")
    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(DownloadError) as caught,
    ):
        stub.status_faults["file"] = [503] * 50
        download(
            MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, max_retries=2, backoff_base=0
        )

    message = str(caught.value)
    assert "HTTP 503" in message
    assert "Gave up after 3 attempts" in message
    assert type(caught.value) is DownloadError
    assert len(retry_records(caplog)) == 2
    assert_nothing_trusted(cache_root)


def test_cut_transfer_fails_cleanly(repository, cache_root):
    details = next(name for name in sorted(_data_files(repository)) if "mmlu" in name)
    with HuggingFaceStub(repository, REPO_ID) as stub:
        stub.cut_files.add(details)
        with pytest.raises(DownloadError) as caught:
            download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, max_retries=0)

        message = str(caught.value)
        assert "the connection closed before a file was complete" in message
        assert "Gave up after 1 attempt." in message
        assert_nothing_trusted(cache_root)

        stub.cut_files.clear()
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    assert (folder / details).read_bytes() == (repository / details).read_bytes()


def _data_files(repository: Path) -> list[str]:
    return [
        path.relative_to(repository).as_posix()
        for path in repository.rglob("*.parquet*")
        if path.is_file()
    ]


def test_stale_leftovers_removed(repository, cache_root, caplog):
    final = cache_root / "hf" / f"{MODEL}-evals"
    stale = cache_root / "hf" / f".{MODEL}-evals.staging-1234abcd"
    partial = stale / ".cache" / "huggingface" / "download" / "README.md.5f3c.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"")
    (stale / "README.md").write_text("partial")

    caplog.set_level(logging.WARNING, logger="evalbook.sources.cache")
    with HuggingFaceStub(repository, REPO_ID) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
        loose = final / f"{MODEL}-evals" / "Details_x.parquet.gzip.3b2a.incomplete"
        loose.write_bytes(b"")
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert not stale.exists()
    assert not loose.exists()
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"Removed stale staging folder {stale}" in message for message in messages)
    assert any(f"Removed {loose} (0 bytes)" in message for message in messages)


def test_concurrent_download_waits_for_lock(repository, cache_root, caplog):
    caplog.set_level(logging.INFO, logger="evalbook.sources.cache")
    outcomes: dict[str, object] = {}

    def run(name: str, endpoint: str) -> None:
        try:
            outcomes[name] = download(MODEL, "hf", cache_dir=cache_root, endpoint=endpoint)
        except Exception as error:
            outcomes[name] = error

    with HuggingFaceStub(repository, REPO_ID) as stub:
        stub.file_delay = 0.2
        first = threading.Thread(target=run, args=("first", stub.url))
        first.start()
        deadline = time.monotonic() + 30
        while not stub.requests_to("file") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stub.requests_to("file"), "the first download never reached the file requests"

        second = threading.Thread(target=run, args=("second", stub.url))
        second.start()
        first.join(timeout=120)
        second.join(timeout=120)

    final = cache_root / "hf" / f"{MODEL}-evals"
    assert outcomes == {"first": final, "second": final}
    assert "Waiting for another download" in caplog.text
    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == final
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]


def test_new_download_replaces_older_copy(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    (repository / "README.md").write_text(
        (repository / "README.md").read_text() + "\nA newer revision.\n"
    )
    with HuggingFaceStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert (folder / "README.md").read_text().endswith("A newer revision.\n")
    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]


def test_failed_download_keeps_older_copy(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
        marker = (folder / MARKER_NAME).read_bytes()

        stub.status_faults["file"] = [503] * 50
        with pytest.raises(DownloadError):
            download(
                MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, max_retries=1, backoff_base=0
            )

    assert resolve_snapshot("hf", MODEL, cache_dir=cache_root) == folder
    assert (folder / MARKER_NAME).read_bytes() == marker
    assert cache_entries(cache_root) == [f"{MODEL}-evals"]


def test_unreadable_parquet_not_landed(repository, cache_root):
    details = next(name for name in sorted(_data_files(repository)) if "mmlu" in name)
    content = (repository / details).read_bytes()
    (repository / details).write_bytes(content[: len(content) // 2])

    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(DownloadError, match="not a readable eval dump") as caught,
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

    assert Path(details).name in str(caught.value)
    assert_nothing_trusted(cache_root)


def test_missing_data_file_not_landed(repository, cache_root):
    details = next(name for name in sorted(_data_files(repository)) if "mmlu" in name)
    (repository / details).unlink()

    with (
        HuggingFaceStub(repository, REPO_ID) as stub,
        pytest.raises(DownloadError, match="no such file exists"),
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
    assert_nothing_trusted(cache_root)


def test_downloaded_parquet_matches_served(repository, cache_root):
    with HuggingFaceStub(repository, REPO_ID) as stub:
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
    for name in _data_files(repository):
        assert pq.read_table(folder / name).equals(pq.read_table(repository / name))


def test_token_never_leaks(repository, cache_root, caplog, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    errors: list[BaseException] = []
    with HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub:
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)

        stub.token = "hf_theTokenTheHubWantsNow"
        with pytest.raises(HubAccessError) as caught:
            download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
        errors.append(caught.value)

        stub.token = SECRET
        stub.status_faults["file"] = [503] * 50
        with pytest.raises(DownloadError) as caught:
            download(
                MODEL, "hf", cache_dir=cache_root, endpoint=stub.url, max_retries=1, backoff_base=0
            )
        errors.append(caught.value)

    assert {request.token for request in stub.requests_to("file")} == {SECRET}
    assert any(record.name.startswith("httpx2") for record in caplog.records)
    assert any(record.name.startswith("huggingface_hub") for record in caplog.records)
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
        assert SECRET not in caplog.text
    assert "token set (from HF_TOKEN)" in caplog.text

    for error in errors:
        current: BaseException | None = error
        while current is not None:
            assert SECRET not in str(current)
            assert SECRET not in repr(current)
            current = current.__cause__ or current.__context__

    for path in cache_root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_endpoint_credentials_not_stored(repository, cache_root, caplog):
    caplog.set_level(logging.INFO, logger="evalbook")
    with HuggingFaceStub(repository, REPO_ID) as stub:
        endpoint = stub.url.replace("http://", f"http://user:{SECRET}@")
        folder = download(MODEL, "hf", cache_dir=cache_root, endpoint=endpoint)
    assert json.loads((folder / MARKER_NAME).read_text())["endpoint"] == stub.url
    assert SECRET not in caplog.text


def test_staging_removed_after_failure(repository, cache_root):
    with (
        HuggingFaceStub(repository, REPO_ID, token=SECRET) as stub,
        pytest.raises(HubAccessError),
    ):
        download(MODEL, "hf", cache_dir=cache_root, endpoint=stub.url)
    leftovers = [path for path in (cache_root / "hf").iterdir() if "staging" in path.name]
    assert leftovers == []
