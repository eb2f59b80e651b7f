"""Source parsing, the cache root, snapshot resolution and the cache's marker and leftovers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from evalbook.sources import (
    MARKER_NAME,
    SnapshotNotFoundError,
    Source,
    cache,
    check_download,
    check_model_name,
    default_cache_dir,
    download,
    parse_source,
    resolve_snapshot,
)

MODEL = "Llama-3.2-1B"


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def complete_folder(cache_root: Path, source: str = "hf") -> Path:
    """Write a folder with a marker, as a finished download leaves it."""
    final = cache.snapshot_folder(cache_root, source, MODEL)
    write_files(final, {"README.md": b"# readme\n", f"{MODEL}-evals/a.parquet.gzip": b"x" * 100})
    cache.write_marker(final, {"source": source, "repo_id": f"meta-llama/{MODEL}-evals"})
    return final


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sample", Source("sample")),
        ("hf", Source("hf")),
        ("modelscope", Source("modelscope")),
        (" HF ", Source("hf")),
        ("local:/data/dump", Source("local", Path("/data/dump"))),
        ("local:relative/dump", Source("local", Path("relative/dump"))),
        ("LOCAL:/data/dump", Source("local", Path("/data/dump"))),
    ],
)
def test_parse_source_valid_forms(text, expected):
    assert parse_source(text) == expected


def test_parse_source_expands_home():
    assert parse_source("local:~/dump").path == Path.home() / "dump"


@pytest.mark.parametrize("text", ["", "huggingface", "local", "hf:main", "s3"])
def test_parse_source_invalid_lists_forms(text):
    with pytest.raises(ValueError, match="invalid source") as caught:
        parse_source(text)
    for form in ('"sample"', '"local:PATH"', '"hf"', '"modelscope"'):
        assert form in str(caught.value)


@pytest.mark.parametrize("text", ["local:", "local:  "])
def test_parse_source_local_needs_path(text):
    with pytest.raises(ValueError, match="'local:' needs a folder path"):
        parse_source(text)


def test_parse_source_rejects_non_text():
    with pytest.raises(ValueError, match="expected text"):
        parse_source(None)


def test_source_round_trips_as_text():
    assert str(parse_source("local:/data/dump")) == "local:/data/dump"
    assert str(parse_source("modelscope")) == "modelscope"


def test_source_requires_path_for_local_only():
    with pytest.raises(ValueError, match="path is required"):
        Source("local")
    with pytest.raises(ValueError, match="path is required"):
        Source("hf", Path("/x"))
    with pytest.raises(ValueError, match="invalid source kind"):
        Source("ftp")


def test_source_is_frozen():
    source = Source("hf")
    with pytest.raises(AttributeError):
        source.kind = "sample"


def test_default_cache_dir_reads_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALBOOK_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"


def test_default_cache_dir_falls_back_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("EVALBOOK_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "evalbook"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("meta-llama/Llama-3.2-1B", "pass the model name alone"),
        ("Llama-3.2-1B-evals", "drop the '-evals' suffix"),
        ("", "pass the model name alone"),
        ("../x", "pass the model name alone"),
        (".hidden", "pass the model name alone"),
    ],
)
def test_check_model_name_rejects(model, message):
    with pytest.raises(ValueError, match=message):
        check_model_name(model)


def test_resolve_local_returns_absolute_folder(tmp_path, monkeypatch):
    (tmp_path / "dump").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_snapshot("local:dump", MODEL) == tmp_path / "dump"


def test_resolve_local_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SnapshotNotFoundError, match="does not exist") as caught:
        resolve_snapshot(f"local:{missing}", MODEL)
    assert str(missing) in str(caught.value)
    assert "local:PATH" in str(caught.value)


def test_resolve_local_file_is_not_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SnapshotNotFoundError, match="is not a folder"):
        resolve_snapshot(Source("local", tmp_path / "file"), MODEL)


def test_resolve_sample_generates_once(tmp_path, caplog):
    from evalbook.sample import GENERATOR_VERSION
    from evalbook.snapshot import open_snapshot

    caplog.set_level(logging.INFO, logger="evalbook.sources.resolve")
    folder = resolve_snapshot("sample", MODEL, cache_dir=tmp_path)
    again = resolve_snapshot(Source("sample"), MODEL, cache_dir=tmp_path)

    assert folder == tmp_path / "sample" / f"{MODEL}-evals-{GENERATOR_VERSION}"
    assert again == folder
    assert "mmlu" in open_snapshot(folder, model=MODEL).tasks()
    generated = [record for record in caplog.records if "Generating" in record.getMessage()]
    assert len(generated) == 1


def test_resolve_sample_fills_empty_folder(tmp_path):
    from evalbook.sample import GENERATOR_VERSION

    empty = tmp_path / "sample" / f"{MODEL}-evals-{GENERATOR_VERSION}"
    empty.mkdir(parents=True)
    assert resolve_snapshot("sample", MODEL, cache_dir=tmp_path) == empty
    assert (empty / "README.md").is_file()


def test_resolve_hub_without_download(tmp_path):
    with pytest.raises(SnapshotNotFoundError) as caught:
        resolve_snapshot("hf", MODEL, cache_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "hf" / f"{MODEL}-evals") in message
    assert f"evalbook download --model {MODEL} --source hf" in message


def test_resolve_modelscope_hint_names_source(tmp_path):
    with pytest.raises(SnapshotNotFoundError, match="--source modelscope"):
        resolve_snapshot("modelscope", MODEL, cache_dir=tmp_path)


def test_resolve_hub_reads_cache_variable(tmp_path, monkeypatch):
    final = complete_folder(tmp_path)
    monkeypatch.setenv("EVALBOOK_CACHE", str(tmp_path))
    assert resolve_snapshot("hf", MODEL) == final


def test_resolve_hub_without_marker(tmp_path):
    final = complete_folder(tmp_path)
    (final / MARKER_NAME).unlink()
    with pytest.raises(SnapshotNotFoundError, match="no completion marker"):
        resolve_snapshot("hf", MODEL, cache_dir=tmp_path)


def test_resolve_hub_with_changed_size(tmp_path):
    final = complete_folder(tmp_path)
    data = final / f"{MODEL}-evals" / "a.parquet.gzip"
    data.write_bytes(b"x" * 50)
    with pytest.raises(
        SnapshotNotFoundError, match="50 bytes on disk, but the download recorded 100"
    ):
        resolve_snapshot("hf", MODEL, cache_dir=tmp_path)


def test_resolve_hub_with_missing_file(tmp_path):
    final = complete_folder(tmp_path)
    (final / "README.md").unlink()
    with pytest.raises(SnapshotNotFoundError, match="file missing"):
        resolve_snapshot("hf", MODEL, cache_dir=tmp_path)


def test_resolve_hub_with_unreadable_marker(tmp_path):
    final = complete_folder(tmp_path)
    (final / MARKER_NAME).write_text("{not json")
    with pytest.raises(SnapshotNotFoundError, match="unreadable completion marker"):
        resolve_snapshot("hf", MODEL, cache_dir=tmp_path)


def test_resolve_hub_complete_folder(tmp_path):
    final = complete_folder(tmp_path)
    assert resolve_snapshot("hf", MODEL, cache_dir=tmp_path) == final


def test_check_download_checksums_catch_same_size_change(tmp_path):
    final = complete_folder(tmp_path)
    (final / f"{MODEL}-evals" / "a.parquet.gzip").write_bytes(b"y" * 100)
    assert check_download(final)["files"]
    with pytest.raises(SnapshotNotFoundError, match="SHA-256 differs"):
        check_download(final, checksums=True)


def test_marker_lists_every_file(tmp_path):
    final = complete_folder(tmp_path)
    marker = json.loads((final / MARKER_NAME).read_text())
    assert [entry["path"] for entry in marker["files"]] == [
        f"{MODEL}-evals/a.parquet.gzip",
        "README.md",
    ]
    assert marker["files"][0]["size"] == 100
    assert marker["source"] == "hf"
    assert marker["format"] == 1


def test_marker_sha256_matches_hashlib(tmp_path):
    import hashlib

    final = complete_folder(tmp_path)
    marker = json.loads((final / MARKER_NAME).read_text())
    assert marker["files"][0]["sha256"] == hashlib.sha256(b"x" * 100).hexdigest()


def test_leftovers_removed_and_logged(tmp_path, caplog):
    final = cache.snapshot_folder(tmp_path, "hf", MODEL)
    final.parent.mkdir(parents=True)
    stale = final.parent / f".{final.name}.staging-deadbeef"
    write_files(
        stale,
        {
            "README.md": b"partial",
            ".cache/huggingface/download/README.md.0a1b2c.incomplete": b"",
        },
    )
    complete_folder(tmp_path)
    loose = final / f"{MODEL}-evals" / "b.parquet.gzip.incomplete"
    loose.write_bytes(b"")

    with caplog.at_level(logging.WARNING, logger="evalbook.sources.cache"):
        cache.remove_leftovers(final)

    assert not stale.exists()
    assert not loose.exists()
    messages = [record.getMessage() for record in caplog.records]
    assert any(str(stale) in message and "1 of them .incomplete" in message for message in messages)
    assert any(str(loose) in message and "(0 bytes)" in message for message in messages)
    assert resolve_snapshot("hf", MODEL, cache_dir=tmp_path) == final


def test_leftovers_restore_replaced_copy(tmp_path, caplog):
    final = complete_folder(tmp_path)
    replaced = final.parent / f".{final.name}.replaced-0badf00d"
    final.rename(replaced)

    with caplog.at_level(logging.WARNING, logger="evalbook.sources.cache"):
        cache.remove_leftovers(final)

    assert final.is_dir()
    assert not replaced.exists()
    assert any("Restored" in record.getMessage() for record in caplog.records)
    assert resolve_snapshot("hf", MODEL, cache_dir=tmp_path) == final


def test_leftovers_delete_replaced_when_final_exists(tmp_path):
    final = complete_folder(tmp_path)
    replaced = final.parent / f".{final.name}.replaced-0badf00d"
    write_files(replaced, {"README.md": b"old"})
    cache.remove_leftovers(final)
    assert not replaced.exists()
    assert final.is_dir()


def test_land_replaces_older_copy(tmp_path):
    final = complete_folder(tmp_path)
    staging = cache.new_staging_folder(final)
    write_files(staging, {"README.md": b"# new readme\n"})
    cache.write_marker(staging, {"source": "hf"})

    cache.land(staging, final)

    assert (final / "README.md").read_bytes() == b"# new readme\n"
    assert not staging.exists()
    assert sorted(path.name for path in final.parent.iterdir()) == [final.name]


def test_land_requires_marker(tmp_path):
    final = cache.snapshot_folder(tmp_path, "hf", MODEL)
    staging = cache.new_staging_folder(final)
    with pytest.raises(RuntimeError, match="cannot land"):
        cache.land(staging, final)
    assert not final.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"source": "sample"}, "invalid download source 'sample'"),
        ({"source": "hf", "max_retries": -1}, "invalid max_retries"),
        ({"source": "hf", "backoff_base": -0.5}, "invalid backoff_base"),
    ],
)
def test_download_rejects_invalid_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        download(MODEL, cache_dir=tmp_path, **arguments)
    assert not (tmp_path / "hf").exists()
