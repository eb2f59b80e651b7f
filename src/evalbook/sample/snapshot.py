"""Write the synthetic snapshot as a folder laid out like ``meta-llama/<Model>-evals`` on the Hub.

::

    <out_dir>/README.md                     YAML front matter (configs, licence, tags) and a body
    <out_dir>/<Model>-evals/Details_<task>_<timestamp>.parquet.gzip
    <out_dir>/<Model>-evals/Details_metrics_details_<timestamp>.parquet.gzip

The ``.parquet.gzip`` files are plain Parquet files with gzip-compressed columns, as on the
Hub. Writer options, row order and the timestamp in the file names are fixed, so the same
tables give byte-identical files with the same pyarrow version.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from evalbook.registry import DEFAULT_MODEL
from evalbook.sample.build import GENERATOR_VERSION, build_tables, validate_arguments
from evalbook.sample.drop import DROP_SPAN_SEPARATOR
from evalbook.sample.needles import CHARS_PER_TOKEN, CONTEXT_SCALE
from evalbook.sample.rows import Size
from evalbook.schema import SYNTHETIC_METADATA_KEY

__all__ = ["LICENSE", "SPLIT", "TIMESTAMP", "data_file_path", "write_snapshot"]

logger = logging.getLogger(__name__)

TIMESTAMP = "2024-09-23T17-21-06.543107"
"""Run timestamp in every data file name, in the Hub's form (``-`` in place of ``:``)."""

LICENSE = "llama3.2"
SPLIT = "latest"

_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "gzip",
    "compression_level": 6,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 10_000,
}
"""Every option that shapes the Parquet bytes, fixed so that the files are reproducible."""


def data_file_path(config: str, model: str) -> str:
    """Return the path of a config's data file, relative to the snapshot folder.

    Raises
    ------
    ValueError
        If ``config`` is not ``<model>-evals__<task>__details`` or ``<model>-evals__metrics``.

    Examples
    --------
    >>> data_file_path("Llama-3.2-1B-evals__mmlu__details", "Llama-3.2-1B")
    'Llama-3.2-1B-evals/Details_mmlu_2024-09-23T17-21-06.543107.parquet.gzip'
    """
    prefix = f"{model}-evals__"
    name = config.removeprefix(prefix)
    if config == f"{prefix}metrics":
        task = "metrics_details"
    elif config.startswith(prefix) and name.endswith("__details") and name != "__details":
        task = name.removesuffix("__details")
    else:
        raise ValueError(
            f"invalid config name {config!r} for model {model!r}: expected "
            f"'{prefix}<task>__details' or '{prefix}metrics'"
        )
    return f"{model}-evals/Details_{task}_{TIMESTAMP}.parquet.gzip"


def _front_matter(
    tables: Mapping[str, pa.Table], *, model: str, seed: int, size: str, readme_configs: bool
) -> dict[str, Any]:
    front: dict[str, Any] = {
        "license": LICENSE,
        "tags": ["synthetic"],
        "evalbook": {
            "synthetic": True,
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "size": size,
        },
    }
    if readme_configs:
        front["configs"] = [
            {
                "config_name": config,
                "data_files": [{"split": SPLIT, "path": [data_file_path(config, model)]}],
            }
            for config in tables
        ]
    return front


def _readme(
    tables: Mapping[str, pa.Table], *, model: str, seed: int, size: str, readme_configs: bool
) -> str:
    front = _front_matter(tables, model=model, seed=seed, size=size, readme_configs=readme_configs)
    rows = "\n".join(f"| {config} | {table.num_rows:,} |" for config, table in tables.items())
    scale = CONTEXT_SCALE[size]
    body = f"""\
This dataset is synthetic: evalbook generated it, and it is not Meta's data.
No model produced its predictions.

# Synthetic {model}-evals ({size})

evalbook's sample generator (version {GENERATOR_VERSION}, seed {seed}) wrote this folder in the
layout of Meta's `meta-llama/{model}-evals` repository, so that the book can be built and
tested without the Hub. Passages, questions, options and predictions are made of invented
words and names. Each row states the outcome the generator intended (`output_metrics`,
`is_correct`), and the metrics config averages those values.

| config | rows |
|---|---|
{rows}

Conventions of this sample:

- Choice tasks: `output_choice_negative_log_likelihoods` has `raw`, `char` (raw divided by the
  completion's characters) and `token` (raw divided by the completion's whitespace words + 1).
- DROP: an answer of several spans is written as the spans joined by `{DROP_SPAN_SEPARATOR}`.
- Needles: a prompt has about tokens x {CHARS_PER_TOKEN} x {scale} characters for Meta's context
  lengths of 2,000 to 131,072 tokens. No column states the length or the needle depth.
"""
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n{body}"


def _write_files(
    folder: Path,
    tables: Mapping[str, pa.Table],
    *,
    model: str,
    seed: int,
    size: str,
    readme_configs: bool,
) -> None:
    (folder / f"{model}-evals").mkdir()
    for config, table in tables.items():
        if not isinstance(table, pa.Table):
            raise TypeError(
                f"table of config {config!r} is a {type(table).__name__}, not a pyarrow.Table"
            )
        path = folder / data_file_path(config, model)
        # The marker travels with each file, so a copy without the README is still known
        # to be synthetic.
        metadata = {**(table.schema.metadata or {}), SYNTHETIC_METADATA_KEY: b"true"}
        pq.write_table(table.replace_schema_metadata(metadata), path, **_PARQUET_OPTIONS)
        logger.debug("wrote %s (%d rows)", path, table.num_rows)
    readme = _readme(tables, model=model, seed=seed, size=size, readme_configs=readme_configs)
    (folder / "README.md").write_text(readme, encoding="utf-8")


def write_snapshot(
    out_dir: str | os.PathLike[str],
    *,
    model: str = DEFAULT_MODEL,
    seed: int = 0,
    size: Size = "small",
    readme_configs: bool = True,
    tables: Mapping[str, pa.Table] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic snapshot into ``out_dir`` and return its path.

    The files are written into a temporary sibling folder that is renamed to ``out_dir``
    at the end, so an interrupted run leaves no half-written snapshot.

    Parameters
    ----------
    out_dir
        The snapshot folder. It must not exist or be empty, unless ``overwrite`` is True.
    model, seed, size
        Passed to :func:`build_tables`, and recorded in the README front matter.
    readme_configs
        Whether the README lists the ``configs:``. Without them a reader must find the
        configs by file name.
    tables
        Tables keyed by config name to write instead of those of :func:`build_tables`, for
        tests that alter a table first. They are written as given, without a schema check.
    overwrite
        Replace an existing non-empty ``out_dir``.

    Raises
    ------
    FileExistsError
        If ``out_dir`` exists, is not empty, and ``overwrite`` is False.
    NotADirectoryError
        If ``out_dir`` exists and is not a folder.
    ValueError
        If the model name, seed or size is invalid, or a config name of ``tables`` does not
        belong to ``model``.
    """
    validate_arguments(model, seed, size)
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target}: exists and is not a folder. Pass a folder path.")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{target}: folder is not empty. Pass overwrite=True (evalbook sample --overwrite) "
            "to replace it, or choose another folder."
        )

    if tables is None:
        tables = build_tables(model=model, seed=seed, size=size)
    for config in tables:
        data_file_path(config, model)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        _write_files(
            staging, tables, model=model, seed=seed, size=size, readme_configs=readme_configs
        )
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    logger.info("wrote the synthetic %s snapshot of %s to %s", size, model, target)
    return target


def _replace(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``, removing an old ``target`` only once the move is done."""
    if not target.exists():
        staging.rename(target)
        return

    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old)
