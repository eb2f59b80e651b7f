"""Build the tables of the synthetic snapshot: one per details config, plus the metrics config.

Each task draws from its own random stream, derived from the seed and the task name, so a
task's rows do not change when another task's generator changes.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from evalbook.registry import BENCHMARKS, DEFAULT_MODEL, get_benchmark
from evalbook.sample.choice import build_agieval_english, build_arc_challenge, build_mmlu
from evalbook.sample.drop import build_drop
from evalbook.sample.needles import build_multi_needle, build_needle_in_haystack
from evalbook.sample.reading import build_quac, build_squad
from evalbook.sample.rows import SIZES, Size
from evalbook.sample.summary import build_metrics_table

__all__ = [
    "GENERATOR_VERSION",
    "build_details",
    "build_tables",
    "details_config_name",
    "metrics_config_name",
    "validate_arguments",
]

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
"""Version of the generator's output. Bump it whenever the rows or files it writes change."""

_BUILDERS: dict[str, Callable[..., pa.Table]] = {
    "mmlu": build_mmlu,
    "arc_challenge": build_arc_challenge,
    "agieval_english": build_agieval_english,
    "squad": build_squad,
    "quac": build_quac,
    "drop": build_drop,
    "needle_in_haystack": build_needle_in_haystack,
    "multi_needle": build_multi_needle,
}

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def details_config_name(model: str, task: str) -> str:
    """Return the Hub config name of a task's details, e.g. ``<model>-evals__mmlu__details``."""
    return get_benchmark(task).config_name(model)


def metrics_config_name(model: str) -> str:
    """Return the Hub config name of the metrics, e.g. ``Llama-3.2-1B-evals__metrics``."""
    return f"{model}-evals__metrics"


def validate_arguments(model: str, seed: int, size: str) -> None:
    """Raise ValueError unless the model name, seed and size are valid.

    The message names the invalid value and the values allowed.
    """
    if not isinstance(model, str) or not _MODEL_NAME.match(model):
        raise ValueError(
            f"invalid model name {model!r}: use letters, digits, '.', '_' and '-' only, "
            f"e.g. {DEFAULT_MODEL!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"invalid seed {seed!r}: use an integer of 0 or more")
    if size not in SIZES:
        raise ValueError(f"invalid size {size!r}: use one of {', '.join(SIZES)}")


def _task_rng(seed: int, task: str) -> np.random.Generator:
    # NOTE: numpy.random's compatibility policy promises the same Generator stream only on
    # the same numpy build, so a numpy upgrade may change the rows without a version bump.
    return np.random.default_rng([int(seed), zlib.crc32(task.encode("utf-8"))])


def build_details(task: str, *, seed: int = 0, size: Size = "small") -> pa.Table:
    """Return the details table of one task, with the 17 columns of Meta's details files.

    Parameters
    ----------
    task
        A task key of :data:`evalbook.registry.BENCHMARKS`, e.g. ``"mmlu"``.
    seed
        Seed of the random streams. The same seed gives the same rows.
    size
        ``"small"`` for a quick build of the book, ``"full"`` for Meta's row counts.

    Examples
    --------
    >>> table = build_details("arc_challenge")
    >>> table.num_rows, table.column_names[0]
    (120, 'task_type')
    """
    validate_arguments(DEFAULT_MODEL, seed, size)
    get_benchmark(task)

    started = time.perf_counter()
    table = _BUILDERS[task](_task_rng(seed, task), size=size)
    logger.debug(
        "built %d %s rows (seed %d, size %s) in %.1f s",
        table.num_rows,
        task,
        seed,
        size,
        time.perf_counter() - started,
    )
    return table


def build_tables(
    *, model: str = DEFAULT_MODEL, seed: int = 0, size: Size = "small"
) -> dict[str, pa.Table]:
    """Return every table of the synthetic snapshot, keyed by Hub config name.

    The 8 details configs (``<model>-evals__<task>__details``) come first, in registry
    order, then the metrics config (``<model>-evals__metrics``).

    Parameters
    ----------
    model
        Model name used in the config names. The rows themselves do not depend on it.
    seed
        Seed of the random streams. The same seed gives the same rows.
    size
        ``"small"`` (about 1,000 rows, needle prompts up to about 40 KB) or ``"full"``
        (Meta's 48.6k rows, needle prompts up to about 0.5 MB).

    Raises
    ------
    ValueError
        If the model name, seed or size is invalid.
    """
    validate_arguments(model, seed, size)
    logger.info("building the synthetic %s snapshot of %s (seed %d)", size, model, seed)

    details = {
        benchmark.key: build_details(benchmark.key, seed=seed, size=size)
        for benchmark in BENCHMARKS
    }
    tables = {details_config_name(model, task): table for task, table in details.items()}
    tables[metrics_config_name(model)] = build_metrics_table(details)
    return tables
