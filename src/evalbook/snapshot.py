"""Read a local folder laid out as a ``meta-llama/<Model>-evals`` repository on the Hub.

The repository's README.md carries YAML front matter whose ``configs:`` list maps each config
(``<Model>-evals__<task>__details`` and ``<Model>-evals__metrics``) to its data files for the
split ``latest``. When the README has no ``configs:``, the reader falls back to the file names,
``<Model>-evals/Details_<task>_<timestamp>.parquet.gzip``, which are plain Parquet files despite
the suffix.

Reading is column-projected: a page asks for the columns it needs, so the long needle prompts
(up to about 0.5 MB a row) are read only by the pages that use them, and then batch by batch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from evalbook.registry import BENCHMARKS, Benchmark
from evalbook.schema import (
    DETAILS_COLUMNS,
    METRICS_COLUMNS,
    ColumnSpec,
    SchemaProblem,
    check_schema,
    require_columns,
)

if TYPE_CHECKING:
    import datasets

__all__ = ["SPLIT", "Snapshot", "SnapshotError", "open_snapshot"]

logger = logging.getLogger(__name__)

SPLIT = "latest"
"""The only split of Meta's eval repositories."""

_DETAILS_FILE = re.compile(
    r"^Details_(?P<task>.+)_(?P<timestamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)"
    r"\.parquet(?:\.gzip)?$"
)
_METRICS_TASK = "metrics_details"
_CONFIG_NAME = re.compile(r"^(?P<model>.+)-evals__(?P<task>.+?)(?:__details)?$")


class SnapshotError(ValueError):
    """The snapshot folder or one of its files cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Snapshot:
    """A local Hub-shaped snapshot of one model's eval dump.

    Use :func:`open_snapshot` to create one. ``configs`` maps each config name to its data
    files, sorted by name.
    """

    root: Path
    model: str
    configs: dict[str, tuple[Path, ...]]
    front_matter: dict[str, Any] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        """Whether the README marks the data as synthetic (the bundled sample does)."""
        marker = self.front_matter.get("evalbook") or {}
        return bool(isinstance(marker, dict) and marker.get("synthetic"))

    @property
    def metrics_config(self) -> str:
        """Name of the metrics config, ``<Model>-evals__metrics``."""
        return f"{self.model}-evals__metrics"

    def details_config(self, benchmark: Benchmark | str) -> str:
        """Return a benchmark's details config name, e.g. ``Llama-3.2-1B-evals__mmlu__details``."""
        key = benchmark.key if isinstance(benchmark, Benchmark) else benchmark
        return f"{self.model}-evals__{key}__details"

    def tasks(self) -> list[str]:
        """Return the task keys that have a details config here, in the order of the configs."""
        tasks = []
        for name in self.configs:
            match = _CONFIG_NAME.match(name)
            if match and name.endswith("__details"):
                tasks.append(match.group("task"))
        return tasks

    def has_config(self, config: str) -> bool:
        """Return whether the snapshot lists ``config``."""
        return config in self.configs

    def files(self, config: str) -> tuple[Path, ...]:
        """Return the data files of ``config``; raise :class:`SnapshotError` if it is not listed."""
        try:
            return self.configs[config]
        except KeyError:
            known = ", ".join(sorted(self.configs)) or "none"
            raise SnapshotError(
                f"{self.root}: config {config!r} not found; the snapshot has: {known}. "
                "Check --model and --tasks, or re-download the dump."
            ) from None

    def schema(self, config: str) -> pa.Schema:
        """Return the Arrow schema of a config's first data file (all files must share it)."""
        schemas = [_parquet_file(path).schema_arrow for path in self.files(config)]
        for path, other in zip(self.files(config)[1:], schemas[1:], strict=True):
            if not other.equals(schemas[0]):
                raise SnapshotError(
                    f"{path}: schema differs from {self.files(config)[0].name} of the same "
                    f"config {config!r}; the files belong to different dumps."
                )
        return schemas[0]

    def num_rows(self, config: str) -> int:
        """Return the number of rows of a config, from the Parquet footers (no data is read)."""
        return sum(_parquet_file(path).metadata.num_rows for path in self.files(config))

    def validate(self, config: str) -> list[SchemaProblem]:
        """Return the schema problems of a config: missing columns and wrong types."""
        return check_schema(self.schema(config), _specs_for(config))

    def read(self, config: str, columns: Sequence[str]) -> pa.Table:
        """Read ``columns`` of every row of ``config`` into one Arrow table.

        Raises
        ------
        SnapshotError
            If a file is missing, corrupt or truncated.
        evalbook.schema.SchemaError
            If a requested column is missing or has a type the book cannot use.
        """
        return pa.Table.from_batches(
            list(self.iter_batches(config, columns)), schema=self._projected(config, columns)
        )

    def iter_batches(
        self, config: str, columns: Sequence[str], *, batch_size: int = 1024
    ) -> Iterator[pa.RecordBatch]:
        """Yield record batches of ``columns``, so long prompts need not sit in memory at once."""
        self._projected(config, columns)
        for path in self.files(config):
            parquet = _parquet_file(path)
            try:
                yield from parquet.iter_batches(batch_size=batch_size, columns=list(columns))
            except (OSError, pa.ArrowException) as error:
                raise SnapshotError(
                    f"{path}: cannot read the data ({error}). The file is corrupt or truncated; "
                    "delete it and download the dump again."
                ) from error

    def read_metrics(self) -> pa.Table:
        """Read every column of the metrics config (it is small)."""
        config = self.metrics_config
        schema = self.schema(config)
        require_columns(
            schema,
            [spec.name for spec in METRICS_COLUMNS],
            path=str(self.files(config)[0]),
            specs=METRICS_COLUMNS,
        )
        return self.read(config, schema.names)

    def to_dataset(self, config: str, columns: Sequence[str] | None = None) -> datasets.Dataset:
        """Return the rows of ``config`` as a :class:`datasets.Dataset` (in memory, no cache copy).

        ``columns`` defaults to every column; pass a few to keep long prompts out of memory.
        """
        import datasets

        names = list(columns) if columns is not None else self.schema(config).names
        return datasets.Dataset(self.read(config, names))

    def _projected(self, config: str, columns: Sequence[str]) -> pa.Schema:
        schema = self.schema(config)
        require_columns(schema, columns, path=str(self.files(config)[0]), specs=_specs_for(config))
        return pa.schema([schema.field(name) for name in columns])


def _specs_for(config: str) -> tuple[ColumnSpec, ...]:
    return METRICS_COLUMNS if config.endswith("__metrics") else DETAILS_COLUMNS


def _parquet_file(path: Path) -> pq.ParquetFile:
    if not path.is_file():
        raise SnapshotError(f"{path}: data file not found; download the dump again.")
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise SnapshotError(
            f"{path}: not a readable Parquet file ({error}). It may be truncated or not a "
            "dump file at all; delete it and download the dump again."
        ) from error


def open_snapshot(path: str | Path, *, model: str | None = None) -> Snapshot:
    """Open a Hub-shaped snapshot folder, reading its configs from the README or the file names.

    Parameters
    ----------
    path
        The folder that holds README.md and ``<Model>-evals/``.
    model
        Model name such as ``Llama-3.2-1B``. Needed only when the folder holds the files of
        several models.

    Raises
    ------
    SnapshotError
        If the folder does not exist, lists no config, or holds several models and ``model`` is
        not given. The message names the folder and what to do.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SnapshotError(
            f"{root}: snapshot folder not found. Run `evalbook download` or pass the folder "
            "that holds README.md and <Model>-evals/."
        )

    front_matter = _read_front_matter(root / "README.md")
    configs = _configs_from_front_matter(root, front_matter)
    if configs:
        logger.debug("%s: %d configs listed in README.md", root, len(configs))
    else:
        configs = _configs_from_file_names(root)
        logger.info("%s: README.md lists no configs; found %d by file name", root, len(configs))
    if not configs:
        raise SnapshotError(
            f"{root}: no eval configs found: README.md has no `configs:` and no file matches "
            "<Model>-evals/Details_<task>_<timestamp>.parquet.gzip."
        )

    models = sorted({_model_of(name) for name in configs} - {None})
    if model is None:
        if len(models) != 1:
            raise SnapshotError(
                f"{root}: the folder holds the files of several models ({', '.join(models)}); "
                "pass the model to read (--model)."
            )
        model = models[0]
    elif model not in models:
        raise SnapshotError(
            f"{root}: no configs for model {model!r}; the folder has: {', '.join(models)}."
        )

    own = {name: files for name, files in configs.items() if _model_of(name) == model}
    _log_unknown_tasks(own)
    return Snapshot(root=root, model=model, configs=own, front_matter=front_matter)


def _model_of(config: str) -> str | None:
    match = _CONFIG_NAME.match(config)
    return match.group("model") if match else None


def _log_unknown_tasks(configs: Iterable[str]) -> None:
    known = {benchmark.key for benchmark in BENCHMARKS}
    for name in configs:
        match = _CONFIG_NAME.match(name)
        if match and name.endswith("__details") and match.group("task") not in known:
            logger.info("config %s has no page in this book yet; it is read but not shown", name)


def _read_front_matter(readme: Path) -> dict[str, Any]:
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        raise SnapshotError(f"{readme}: the YAML front matter has no closing '---' line.")
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as error:
        raise SnapshotError(f"{readme}: invalid YAML front matter ({error}).") from error
    return data if isinstance(data, dict) else {}


def _configs_from_front_matter(
    root: Path, front_matter: dict[str, Any]
) -> dict[str, tuple[Path, ...]]:
    configs = {}
    for entry in front_matter.get("configs") or []:
        if not isinstance(entry, dict) or "config_name" not in entry:
            raise SnapshotError(
                f"{root / 'README.md'}: each `configs:` entry needs a `config_name`; "
                f"found {entry!r}."
            )
        name = str(entry["config_name"])
        patterns = _split_patterns(entry.get("data_files"), readme=root / "README.md", config=name)
        files = sorted({match for pattern in patterns for match in root.glob(pattern)})
        if not files:
            raise SnapshotError(
                f"{root}: config {name!r} lists {', '.join(patterns)}, but no such file exists. "
                "The download is incomplete; run `evalbook download` again."
            )
        configs[name] = tuple(files)
    return configs


def _split_patterns(data_files: Any, *, readme: Path, config: str) -> list[str]:
    """Return the path patterns of split ``latest`` from a ``data_files`` entry in any Hub form."""
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, list) and all(isinstance(item, str) for item in data_files):
        return list(data_files)
    if isinstance(data_files, dict):
        data_files = [{"split": split, "path": path} for split, path in data_files.items()]
    if isinstance(data_files, list):
        splits = {
            item.get("split"): item.get("path") for item in data_files if isinstance(item, dict)
        }
        if SPLIT not in splits and len(splits) == 1:
            only = next(iter(splits))
            logger.warning(
                "%s: config %s has no split %r; reading its only split %r",
                readme,
                config,
                SPLIT,
                only,
            )
            splits[SPLIT] = splits[only]
        paths = splits.get(SPLIT)
        if isinstance(paths, str):
            return [paths]
        if isinstance(paths, list) and paths:
            return [str(path) for path in paths]
    raise SnapshotError(
        f"{readme}: config {config!r} has no data files for split {SPLIT!r} "
        f"(data_files: {data_files!r})."
    )


def _configs_from_file_names(root: Path) -> dict[str, tuple[Path, ...]]:
    """Return configs found by file name, keeping the newest timestamp of each task."""
    newest: dict[str, tuple[str, Path]] = {}
    for path in sorted(root.glob("*-evals/Details_*.parquet*")):
        match = _DETAILS_FILE.match(path.name)
        if not match:
            logger.warning("%s: file name does not match Details_<task>_<timestamp>; skipped", path)
            continue
        model = path.parent.name.removesuffix("-evals")
        task, timestamp = match.group("task"), match.group("timestamp")
        if task == _METRICS_TASK:
            config = f"{model}-evals__metrics"
        else:
            config = f"{model}-evals__{task}__details"
        if config in newest:
            older = min(newest[config], (timestamp, path))
            logger.warning(
                "%s: several runs of %s; reading the newest, ignoring %s",
                root,
                config,
                older[1].name,
            )
        newest[config] = max(newest.get(config, (timestamp, path)), (timestamp, path))
    return {config: (path,) for config, (_, path) in sorted(newest.items())}
