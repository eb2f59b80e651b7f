"""Exceptions of the data sources: failed downloads and missing or changed snapshots."""

from __future__ import annotations

import logging

__all__ = [
    "DownloadError",
    "HubAccessError",
    "HubNotFoundError",
    "SnapshotNotFoundError",
]

logger = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download from a hub failed; the cache keeps what it had before the run."""


class HubAccessError(DownloadError):
    """The hub denied access (HTTP 401 or 403), usually a missing token or an unaccepted licence."""


class HubNotFoundError(DownloadError):
    """The hub has no such repository or revision (HTTP 404)."""


class SnapshotNotFoundError(FileNotFoundError):
    """No trusted snapshot is on disk.

    The folder is missing, has no completion marker, or its files differ from the sizes or
    checksums the marker records.
    """
