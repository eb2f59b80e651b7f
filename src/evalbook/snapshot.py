"""Read a local folder laid out as a ``meta-llama/<Model>-evals`` repository on the Hub.

The repository's README.md carries YAML front matter whose ``configs:`` list maps each config
(``<Model>-evals__<task>__details`` and ``<Model>-evals__metrics``) to its data files for the
split ``latest``. When the README has no ``configs:``, the reader falls back to the file names,
``<Model>-evals/Details_<task>_<timestamp>.parquet.gzip``, which are plain Parquet files despite
the suffix.

Reading is column-projected: a page asks for the columns it needs, so the long needle prompts
(up to about 0.5 MB a row) are read only by the pages that use them, and then batch by batch,
with as many rows per batch as fit in about :data:`BATCH_BYTES`. Batches bound the Python
objects made from the rows; pyarrow itself holds one row group of the requested columns at a
time, and the writer of the file chose how many rows a row group has.

String values that are not valid UTF-8 are repaired while reading: each invalid byte becomes
U+FFFD, and a warning names the file, the column and the number of values changed.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
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
    SYNTHETIC_METADATA_KEY,
    ColumnSpec,
    SchemaProblem,
    check_schema,
    require_columns,
)

if TYPE_CHECKING:
    import datasets

__all__ = ["BATCH_BYTES", "SPLIT", "Snapshot", "SnapshotError", "open_snapshot"]

logger = logging.getLogger(__name__)

SPLIT = "latest"
"""The only split of Meta's eval repositories."""

BATCH_BYTES = 64 * 2**20
"""Target size in bytes of the requested columns in one record batch."""
MAX_BATCH_ROWS = 1024
"""Rows per record batch when the requested columns are small."""

_DETAILS_FILE = re.compile(
    r"^Details_(?P<task>.+)_(?P<timestamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)"
    r"\.parquet(?:\.gzip)?$"
)
_METRICS_TASK = "metrics_details"
_CONFIG_NAME = re.compile(r"^(?P<model>.+)-evals__(?P<task>.+?)(?:__details)?$")


class SnapshotError(ValueError):
    """The snapshot folder or one of its files cannot be read. The message names it and why."""


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
        """Whether the README or any data file marks the data as synthetic.

        The bundled sample marks both: the README's front matter and each Parquet file's
        schema metadata (key ``evalbook.synthetic``), so a copy without the README is still
        recognized.
        """
        marker = self.front_matter.get("evalbook") or {}
        if isinstance(marker, dict) and marker.get("synthetic"):
            return True
        return any(
            (_parquet_file(path).schema_arrow.metadata or {}).get(SYNTHETIC_METADATA_KEY) == b"true"
            for files in self.configs.values()
            for path in files
        )

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
        self,
        config: str,
        columns: Sequence[str],
        *,
        batch_size: int | None = None,
        max_batch_bytes: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Yield record batches of ``columns``, so long prompts need not sit in memory at once.

        Parameters
        ----------
        config, columns
            What to read.
        batch_size
            Rows per batch. None chooses, per file, as many rows as fit in ``max_batch_bytes``
            (at least 1, at most :data:`MAX_BATCH_ROWS`).
        max_batch_bytes
            Target size of a batch's requested columns, used when ``batch_size`` is None;
            None means :data:`BATCH_BYTES`.

        Raises
        ------
        SnapshotError
            If a file is missing, corrupt or truncated.
        evalbook.schema.SchemaError
            If a requested column is missing or has a type the book cannot use.
        """
        self._projected(config, columns)
        max_bytes = BATCH_BYTES if max_batch_bytes is None else max_batch_bytes
        for path in self.files(config):
            yield from _file_batches(
                path, list(columns), batch_size=batch_size, max_batch_bytes=max_bytes
            )

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


def _file_batches(
    path: Path, columns: list[str], *, batch_size: int | None, max_batch_bytes: int
) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of one file, with invalid UTF-8 replaced and counted."""
    parquet = _parquet_file(path)
    rows = batch_size or _rows_per_batch(parquet, columns, max_batch_bytes)
    batches = parquet.iter_batches(batch_size=rows, columns=columns)
    replaced: Counter[str] = Counter()
    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as error:
                raise SnapshotError(
                    f"{path}: cannot read the data ({error}). The file is corrupt or truncated; "
                    "delete it and download the dump again."
                ) from error
            yield _replace_invalid_utf8(batch, path=path, replaced=replaced)
    finally:
        # Logged once per file and column, also when the reader stops early.
        for column, count in replaced.items():
            logger.warning(
                "%s: column %s has %d values with bytes that are not valid UTF-8; each invalid "
                "byte was replaced with U+FFFD. Download the dump again if the file came from "
                "the Hub.",
                path,
                column,
                count,
            )


def _rows_per_batch(parquet: pq.ParquetFile, columns: Sequence[str], max_bytes: int) -> int:
    """Return how many rows of ``columns`` fit in ``max_bytes``, judged from the file's footer.

    The footer gives each column chunk's uncompressed size. A row group's average row size
    sets the batch size, and the row group with the largest rows decides.
    """
    # NOTE: an average per row group: a few very long rows among short ones can still make one
    # batch several times larger than max_bytes.
    metadata = parquet.metadata
    wanted = set(columns)
    largest_row = 0.0
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        if group.num_rows == 0:
            continue
        size = sum(
            group.column(index).total_uncompressed_size
            for index in range(group.num_columns)
            if group.column(index).path_in_schema.split(".")[0] in wanted
        )
        largest_row = max(largest_row, size / group.num_rows)
    if largest_row == 0:
        return MAX_BATCH_ROWS
    return int(min(MAX_BATCH_ROWS, max(1, max_bytes // largest_row)))


def _has_text(dtype: pa.DataType) -> bool:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return True
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _has_text(dtype.value_type)
    if pa.types.is_struct(dtype):
        return any(_has_text(dtype.field(i).type) for i in range(dtype.num_fields))
    return False


def _as_binary(dtype: pa.DataType) -> pa.DataType:
    """Return ``dtype`` with every string type swapped for binary, which pyarrow never decodes."""
    if pa.types.is_string(dtype):
        return pa.binary()
    if pa.types.is_large_string(dtype):
        return pa.large_binary()
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_as_binary(dtype.value_type)))
    if pa.types.is_large_list(dtype):
        return pa.large_list(dtype.value_field.with_type(_as_binary(dtype.value_type)))
    if pa.types.is_struct(dtype):
        return pa.struct([field.with_type(_as_binary(field.type)) for field in dtype])
    return dtype


def _decode(value: Any, counter: list[int]) -> Any:
    """Decode the bytes inside ``value`` as UTF-8, replacing invalid bytes and counting them."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            counter[0] += 1
            return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_decode(item, counter) for item in value]
    if isinstance(value, dict):
        return {key: _decode(item, counter) for key, item in value.items()}
    return value


def _replace_invalid_utf8(
    batch: pa.RecordBatch, *, path: Path, replaced: Counter[str]
) -> pa.RecordBatch:
    """Return ``batch`` with invalid UTF-8 in its string columns replaced by U+FFFD.

    Parquet readers do not check that strings are UTF-8, and converting an invalid value to
    Python raises UnicodeDecodeError far from the file. Valid columns are returned unchanged.
    """
    arrays = list(batch.columns)
    changed = False
    for index, (name, array) in enumerate(zip(batch.schema.names, arrays, strict=True)):
        if not _has_text(array.type):
            continue
        try:
            array.validate(full=True)
            continue
        except pa.ArrowInvalid as error:
            problem = error
        counter = [0]
        values = _decode(array.cast(_as_binary(array.type)).to_pylist(), counter)
        if counter[0] == 0:
            raise SnapshotError(
                f"{path}: column {name} is invalid ({problem}). The file is corrupt; delete it "
                "and download the dump again."
            ) from problem
        arrays[index] = pa.array(values, type=array.type)
        replaced[name] += counter[0]
        changed = True
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


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
        hint = ""
        if root.name.endswith("-evals") and any(root.glob("Details_*.parquet*")):
            hint = f" The data files are in this folder itself: pass its parent, {root.parent}."
        raise SnapshotError(
            f"{root}: no eval configs found: README.md has no `configs:` and no file matches "
            f"<Model>-evals/Details_<task>_<timestamp>.parquet.gzip.{hint}"
        )

    models = sorted({name for name in map(_model_of, configs) if name is not None})
    if not models:
        raise SnapshotError(
            f"{root}: no config name has the form <Model>-evals__<task>__details (found "
            f"{', '.join(sorted(configs))}). Pass the folder of a Meta eval dump."
        )
    if model is None:
        if len(models) != 1:
            raise SnapshotError(
                f"{root}: the folder contains the files of several models ({', '.join(models)}); "
                "pass the model to read (--model)."
            )
        model = models[0]
    elif model not in models:
        raise SnapshotError(
            f"{root}: no configs for model {model!r}; the folder has: {', '.join(models)}. "
            "Pass one of them with --model."
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
        raise SnapshotError(
            f"{readme}: the YAML front matter has no closing '---' line. Fix the README, or "
            "delete it to find the configs by file name."
        )
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as error:
        raise SnapshotError(
            f"{readme}: invalid YAML front matter ({error}). Fix the YAML, or delete README.md "
            "to find the configs by file name."
        ) from error
    if data is not None and not isinstance(data, dict):
        logger.warning(
            "%s: the YAML front matter is a %s, not a mapping; it is ignored",
            readme,
            type(data).__name__,
        )
        return {}
    return data or {}


def _configs_from_front_matter(
    root: Path, front_matter: dict[str, Any]
) -> dict[str, tuple[Path, ...]]:
    entries = front_matter.get("configs") or []
    if not isinstance(entries, list):
        raise SnapshotError(
            f"{root / 'README.md'}: `configs:` must be a list of entries with `config_name` and "
            f"`data_files`; found {type(entries).__name__} {entries!r:.200}."
        )
    configs = {}
    for entry in entries:
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
