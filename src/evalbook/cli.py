"""The ``evalbook`` command: write the sample, download a dump, build the book."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from evalbook.registry import BENCHMARKS, DEFAULT_MODEL

__all__ = ["main"]

logger = logging.getLogger("evalbook")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalbook",
        description="Re-score Meta's per-example Llama eval dumps and build a book of them.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log evalbook's debug messages and papermill's progress messages",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    defaults = argparse.ArgumentDefaultsHelpFormatter
    sample = commands.add_parser(
        "sample", help="write the synthetic sample snapshot to a folder", formatter_class=defaults
    )
    sample.add_argument("--out", type=Path, required=True, help="folder to create")
    sample.add_argument("--model", default=DEFAULT_MODEL, help="model name in the file names")
    sample.add_argument("--seed", type=int, default=0, help="random seed of the generator")
    sample.add_argument(
        "--overwrite", action="store_true", help="replace the folder if it is not empty"
    )
    sample.add_argument(
        "--size",
        choices=("small", "full"),
        default="small",
        help="small: about 1,000 rows; full: the real row counts (48.6k rows)",
    )

    download = commands.add_parser(
        "download", help="download a dump into the cache", formatter_class=defaults
    )
    download.add_argument("--model", default=DEFAULT_MODEL, help="e.g. Llama-3.2-3B")
    download.add_argument(
        "--source", choices=("hf", "modelscope"), default="hf", help="hub to download from"
    )
    download.add_argument("--revision", default=None, help="git revision of the dataset repo")
    download.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="None means $EVALBOOK_CACHE or ~/.cache/evalbook",
    )

    build = commands.add_parser(
        "build", help="execute the notebooks and build the site", formatter_class=defaults
    )
    build.add_argument("--model", default=DEFAULT_MODEL, help="e.g. Llama-3.2-3B")
    build.add_argument(
        "--source",
        default="sample",
        help="sample, local:PATH, hf or modelscope (hf and modelscope download on first use)",
    )
    build.add_argument(
        "--tasks",
        default=None,
        help="comma-separated benchmark keys, any case; None builds all. Keys: "
        + ", ".join(benchmark.key for benchmark in BENCHMARKS),
    )
    build.add_argument(
        "--jobs",
        type=_positive_int,
        default=min(4, os.cpu_count() or 1),
        help="notebooks executed at once; the default is the CPU count, at most 4",
    )
    build.add_argument(
        "--root", type=Path, default=None, help="repository root; None searches up from here"
    )
    build.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="None means $EVALBOOK_CACHE or ~/.cache/evalbook",
    )

    toc = commands.add_parser("toc", help="write _toc.yml from the benchmark registry")
    toc.add_argument("--root", type=Path, default=None, help="repository root (default: found)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    _configure_logging(verbose=arguments.verbose)
    try:
        return _COMMANDS[arguments.command](arguments)
    except KeyboardInterrupt:
        logger.error(
            "interrupted; the previous site and results, if any, are unchanged. "
            "Run the same command again to build them."
        )
        return 130
    except (ValueError, RuntimeError, OSError, KeyError) as error:
        logger.error("%s", error)
        return 1


def _configure_logging(*, verbose: bool) -> None:
    """Log evalbook's messages at INFO (DEBUG when verbose) and other libraries' warnings only.

    Other libraries stay at WARNING even when verbose: HTTP clients log every request at INFO
    and DEBUG, and nothing of theirs is needed to follow a build.
    """
    from evalbook.runner import LOG_FORMAT

    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def _sample(arguments: argparse.Namespace) -> int:
    from evalbook.sample import write_snapshot

    path = write_snapshot(
        arguments.out,
        model=arguments.model,
        seed=arguments.seed,
        size=arguments.size,
        overwrite=arguments.overwrite,
    )
    print(path)
    return 0


def _download(arguments: argparse.Namespace) -> int:
    from evalbook.sources import download

    path = download(
        arguments.model,
        arguments.source,
        cache_dir=arguments.cache_dir,
        revision=arguments.revision,
    )
    print(path)
    return 0


def _build(arguments: argparse.Namespace) -> int:
    from evalbook.runner import BuildOptions, build, find_project_root

    root = arguments.root or find_project_root()
    snapshot_path = _snapshot_for_build(arguments.source, arguments.model, arguments.cache_dir)
    options = BuildOptions(
        model=arguments.model,
        snapshot_path=snapshot_path,
        source_label=arguments.source,
        tasks=arguments.tasks,
        jobs=arguments.jobs,
        root=root,
    )
    result = build(options, report=lambda message: logger.warning("%s", message))
    if result.summary_csv:
        print(f"summary: {result.summary_csv}")
    print(result.index_html)
    if result.failures:
        names = ", ".join(failure.notebook for failure in result.failures)
        logger.error(
            "%d notebook(s) failed: %s. The site was built without their pages; "
            "the errors are listed above.",
            len(result.failures),
            names,
        )
        return 1
    return 0


def _snapshot_for_build(text: str, model: str, cache_dir: Path | None) -> Path:
    """Return the snapshot folder of a source, downloading a hub dump on first use."""
    from evalbook.sources import (
        HUB_SOURCES,
        SnapshotNotFoundError,
        download,
        parse_source,
        resolve_snapshot,
    )

    source = parse_source(text)
    try:
        return resolve_snapshot(source, model, cache_dir=cache_dir)
    except SnapshotNotFoundError:
        if source.kind not in HUB_SOURCES:
            raise
        logger.info(
            "no complete %s download of %s in the cache; downloading it", source.kind, model
        )
        return download(model, source.kind, cache_dir=cache_dir)


def _toc(arguments: argparse.Namespace) -> int:
    from evalbook.runner import find_project_root, write_toc

    root = arguments.root or find_project_root()
    write_toc(root / "_toc.yml")
    print(root / "_toc.yml")
    return 0


_COMMANDS = {"sample": _sample, "download": _download, "build": _build, "toc": _toc}


if __name__ == "__main__":
    sys.exit(main())
