"""Data sources: put a local folder laid out as the Hub repository on disk, and find it.

``resolve_snapshot(source, model)`` returns the folder the reader opens for the sources
``sample``, ``local:PATH``, ``hf`` and ``modelscope``; ``download(model, source)`` fills the
cache for the last two.
"""

import logging

from evalbook.sources.cache import MARKER_NAME, check_download
from evalbook.sources.downloader import download
from evalbook.sources.errors import (
    DownloadError,
    HubAccessError,
    HubNotFoundError,
    SnapshotNotFoundError,
)
from evalbook.sources.resolve import resolve_snapshot
from evalbook.sources.source import (
    HUB_SOURCES,
    Source,
    check_model_name,
    default_cache_dir,
    parse_source,
)

__all__ = [
    "HUB_SOURCES",
    "MARKER_NAME",
    "DownloadError",
    "HubAccessError",
    "HubNotFoundError",
    "SnapshotNotFoundError",
    "Source",
    "check_download",
    "check_model_name",
    "default_cache_dir",
    "download",
    "parse_source",
    "resolve_snapshot",
]

logger = logging.getLogger(__name__)
