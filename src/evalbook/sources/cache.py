"""Cache layout shared by every hub: locks, staging folders, the completion marker and landing.

A download lands complete or not at all. It is written into a staging folder next to its final
place (so on the same file system), checked, given a completion marker, and only then renamed
into place. Readers trust only folders with the marker, and check the file sizes it records.

Layout under the cache root::

    <source>/<model>-evals/                 complete copy, with .evalbook-complete.json
    <source>/.<model>-evals.lock            held while a download of that model runs
    <source>/.<model>-evals.staging-<hex>/  download in progress, stale if no one holds the lock
    <source>/.<model>-evals.replaced-<hex>/ older copy, deleted once the new one is in place
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalbook.sources.errors import SnapshotNotFoundError

__all__ = [
    "MARKER_NAME",
    "check_download",
    "download_lock",
    "land",
    "new_staging_folder",
    "remove_leftovers",
    "snapshot_folder",
    "write_marker",
]

logger = logging.getLogger(__name__)

MARKER_NAME = ".evalbook-complete.json"
"""File whose presence marks a snapshot folder as completely downloaded and checked."""

MARKER_FORMAT = 1
"""Version of the marker's JSON layout."""

_STAGING_INFIX = ".staging-"
_REPLACED_INFIX = ".replaced-"
_INCOMPLETE_SUFFIX = ".incomplete"
_HASH_CHUNK_BYTES = 1 << 20


def snapshot_folder(cache_dir: Path, source: str, model: str) -> Path:
    """Return the folder a complete download of ``model`` from ``source`` lives in."""
    return Path(cache_dir) / source / f"{model}-evals"


@contextmanager
def download_lock(final: Path) -> Iterator[None]:
    """Hold the lock of one snapshot folder, so one process at a time downloads into it.

    While the lock is held, every staging folder of ``final`` belongs to a killed run.
    """
    # filelock is a dependency of both hub clients, so a download can always import it.
    from filelock import FileLock, Timeout

    lock = FileLock(str(final.parent / f".{final.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("Waiting for another download into %s to finish", final)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def remove_leftovers(final: Path) -> None:
    """Remove what killed runs left beside ``final``; call it only while holding its lock.

    Stale staging folders are deleted with the partial files in them. An older copy set aside
    during a replacement is put back if the run died before the new copy landed, and deleted
    otherwise. Loose ``.incomplete`` files inside ``final`` are deleted. Every removal is logged.
    """
    parent = final.parent
    if not parent.is_dir():
        return

    for staging in sorted(parent.glob(f".{final.name}{_STAGING_INFIX}*")):
        incomplete = sum(1 for _ in staging.rglob(f"*{_INCOMPLETE_SUFFIX}"))
        files, size = _count_files(staging)
        shutil.rmtree(staging)
        logger.warning(
            "Removed stale staging folder %s left by an interrupted download "
            "(%d files, %d bytes, %d of them .incomplete files)",
            staging,
            files,
            size,
            incomplete,
        )

    for replaced in sorted(parent.glob(f".{final.name}{_REPLACED_INFIX}*")):
        if not final.exists() and (replaced / MARKER_NAME).is_file():
            os.rename(replaced, final)
            logger.warning(
                "Restored %s from %s: a download died while replacing it", final, replaced.name
            )
            continue
        shutil.rmtree(replaced)
        logger.warning("Removed %s, an older copy left by an interrupted replacement", replaced)

    if final.is_dir():
        for path in sorted(final.rglob(f"*{_INCOMPLETE_SUFFIX}")):
            size = path.stat().st_size
            path.unlink()
            logger.warning(
                "Removed %s (%d bytes), a partial file left by an interrupted download", path, size
            )


def new_staging_folder(final: Path) -> Path:
    """Create and return an empty staging folder beside ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}{_STAGING_INFIX}{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def write_marker(folder: Path, details: dict[str, Any]) -> dict[str, Any]:
    """Write the completion marker of ``folder`` and return its content.

    The marker lists every file in ``folder`` with its size and SHA-256, after the keys of
    ``details`` (source, repository id, revision and so on). It must contain no secret, because
    it is stored in plain text.
    """
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path == folder / MARKER_NAME:
            continue
        files.append(
            {
                "path": path.relative_to(folder).as_posix(),
                "size": path.stat().st_size,
                "sha256": _sha256(path),
            }
        )

    marker = {
        "format": MARKER_FORMAT,
        **details,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    temporary = folder / f"{MARKER_NAME}.tmp"
    temporary.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, folder / MARKER_NAME)
    return marker


def land(staging: Path, final: Path) -> None:
    """Rename a complete ``staging`` folder to ``final``, replacing an older copy.

    The older copy is renamed aside first and deleted only after the new one is in place. A
    reader that looks between the two renames finds no folder, never a partial one.
    """
    if not (staging / MARKER_NAME).is_file():
        raise RuntimeError(f"{staging}: cannot land a folder without {MARKER_NAME}")

    if not final.exists():
        os.rename(staging, final)
        return

    replaced = final.parent / f".{final.name}{_REPLACED_INFIX}{secrets.token_hex(4)}"
    os.rename(final, replaced)
    os.rename(staging, final)
    shutil.rmtree(replaced)
    logger.info("Replaced the older copy in %s", final)


def check_download(folder: Path, *, checksums: bool = False, retry_hint: str = "") -> dict:
    """Return the completion marker of ``folder`` after checking the files it lists.

    Every listed file must exist with the recorded size, and with ``checksums=True`` also with
    the recorded SHA-256 (this reads every byte).

    Raises
    ------
    SnapshotNotFoundError
        If the folder or its marker is missing, the marker is unreadable, or a file differs.
        The message ends with ``retry_hint``.
    """
    folder = Path(folder)
    marker_path = folder / MARKER_NAME
    suffix = f" {retry_hint}" if retry_hint else ""

    if not folder.is_dir():
        raise SnapshotNotFoundError(f"{folder}: no downloaded snapshot found.{suffix}")
    if not marker_path.is_file():
        raise SnapshotNotFoundError(
            f"{folder}: the folder has no completion marker ({MARKER_NAME}), so its download "
            f"did not finish or it was not made by evalbook.{suffix}"
        )

    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        listed = [(entry["path"], int(entry["size"]), entry["sha256"]) for entry in marker["files"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SnapshotNotFoundError(
            f"{marker_path}: unreadable completion marker ({error}).{suffix}"
        ) from error

    for relative, size, digest in listed:
        path = folder / relative
        if not path.is_file():
            raise SnapshotNotFoundError(
                f"{path}: file missing from the downloaded snapshot.{suffix}"
            )
        actual = path.stat().st_size
        if actual != size:
            raise SnapshotNotFoundError(
                f"{path}: {actual} bytes on disk, but the download recorded {size} bytes; "
                f"the file changed after the download.{suffix}"
            )
        if checksums and _sha256(path) != digest:
            raise SnapshotNotFoundError(
                f"{path}: SHA-256 differs from the one recorded at download; "
                f"the file changed after the download.{suffix}"
            )
    return marker


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _count_files(folder: Path) -> tuple[int, int]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)
