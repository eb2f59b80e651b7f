"""Build the book: execute each notebook with papermill, then render the site with Jupyter Book 1.

The runner resolves the data source once and hands the notebooks a local snapshot path, so no
token or download step ever reaches a notebook. Notebooks run in parallel worker processes and
write their results (per-item scores and a summary per benchmark) into
``_build/results/<model>/``; the runner then joins the summaries into ``summary.csv``.

The site is built into a staging folder and swapped into ``_build/html`` only when the build has
finished, so a failed or interrupted build leaves the previous site as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from evalbook.registry import BENCHMARKS, DEFAULT_MODEL, Benchmark, select_benchmarks

__all__ = [
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "NotebookFailure",
    "build",
    "find_project_root",
    "toc_data",
]

logger = logging.getLogger(__name__)

PAGES_DIR = Path("book") / "pages"
"""Where executed notebooks land, relative to the project root (ignored by git)."""
OVERVIEW = "overview"
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
"""Cells with these tags are removed from the site after execution."""


class BuildError(RuntimeError):
    """The build could not start or could not render the site; the message says why."""


@dataclass(frozen=True)
class NotebookFailure:
    """A notebook that raised: where and what."""

    notebook: str
    cell: int | None
    error: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "before the first cell"
        return f"{self.notebook}: {where}: {self.error}"


@dataclass(frozen=True)
class BuildOptions:
    """What to build and where; the defaults build the bundled sample of Llama-3.2-1B."""

    model: str = DEFAULT_MODEL
    snapshot_path: Path | None = None
    source_label: str = "sample"
    tasks: str | None = None
    jobs: int = 2
    root: Path = field(default_factory=Path.cwd)
    progress: bool = True


@dataclass
class BuildResult:
    """Paths of a finished build and the notebooks that failed."""

    index_html: Path | None
    summary_csv: Path | None
    failures: list[NotebookFailure]
    skipped: list[str]


def find_project_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` with ``_config.yml`` and ``notebooks/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise BuildError(
        f"{here}: not inside an evalbook checkout (no _config.yml with notebooks/ beside it). "
        "Run the command from the repository root or pass --root."
    )


def toc_data(benchmarks: Sequence[Benchmark] = BENCHMARKS) -> dict:
    """Return the Jupyter Book table of contents for the overview and ``benchmarks``."""
    pages = [{"file": (PAGES_DIR / OVERVIEW).as_posix()}]
    pages += [{"file": (PAGES_DIR / benchmark.key).as_posix()} for benchmark in benchmarks]
    return {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [
            {"caption": "Results", "chapters": pages},
            {"caption": "Methods", "chapters": [{"file": "book/methods"}]},
        ],
    }


def write_toc(path: Path, benchmarks: Sequence[Benchmark] = BENCHMARKS) -> None:
    """Write :func:`toc_data` as YAML to ``path``, with a header saying where it comes from."""
    header = "# Generated from evalbook.registry by `evalbook toc`; do not edit by hand.\n"
    body = yaml.safe_dump(toc_data(benchmarks), sort_keys=False)
    path.write_text(header + body, encoding="utf-8")


@dataclass(frozen=True)
class _Job:
    name: str
    notebook: Path
    output: Path
    parameters: dict
    cwd: Path


def _execute(job: _Job) -> NotebookFailure | None:
    """Execute one notebook with papermill in a worker process; return its failure, if any."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(job.output),
            parameters=job.parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(job.cwd),
        )
    except PapermillExecutionError as error:
        return NotebookFailure(job.name, error.exec_count, f"{error.ename}: {error.evalue}")
    except Exception as error:  # a kernel that dies or cannot start is a failure of this page
        return NotebookFailure(job.name, None, f"{type(error).__name__}: {error}")
    _hide_parameter_cells(job.output)
    return None


def _hide_parameter_cells(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(tag in tags for tag in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, path)


def _run_jobs(
    jobs: Sequence[_Job], workers: int, progress: bool, report: Callable[[str], None]
) -> list[NotebookFailure]:
    from tqdm import tqdm

    failures = []
    show_bar = progress and sys.stderr.isatty()
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_execute, job): job for job in jobs}
        try:
            with tqdm(total=len(futures), desc="notebooks", unit="nb", disable=not show_bar) as bar:
                for future in as_completed(futures):
                    failure = future.result()
                    job = futures[future]
                    if failure is not None:
                        failures.append(failure)
                        report(f"failed: {failure}")
                    else:
                        logger.info("executed %s", job.name)
                    bar.update()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return failures


def build(options: BuildOptions, *, report: Callable[[str], None] = logger.info) -> BuildResult:
    """Execute the notebooks of ``options`` and render the site into ``_build/html``.

    Returns the result with the failed notebooks listed; the site is still built from the pages
    that succeeded. Raises :class:`BuildError` when nothing can be built at all.
    """
    from evalbook.snapshot import open_snapshot

    root = options.root.resolve()
    if options.snapshot_path is None:
        raise BuildError("no snapshot path given; resolve the source first")
    snapshot = open_snapshot(options.snapshot_path, model=options.model)

    wanted = select_benchmarks(options.tasks)
    present = set(snapshot.tasks())
    benchmarks = [benchmark for benchmark in wanted if benchmark.key in present]
    skipped = [benchmark.key for benchmark in wanted if benchmark.key not in present]
    if skipped and options.tasks:
        raise BuildError(
            f"{snapshot.root}: no details config for {', '.join(skipped)} of model "
            f"{snapshot.model}; the snapshot has: {', '.join(sorted(present))}."
        )
    for key in skipped:
        report(f"skipped {key}: the dump has no {snapshot.details_config(key)} config")

    build_dir = root / "_build"
    results_dir = build_dir / "results" / snapshot.model
    pages_dir = root / PAGES_DIR
    for folder in (results_dir, pages_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    common = {
        "model": snapshot.model,
        "source": options.source_label,
        "snapshot_path": str(snapshot.root),
        "output_dir": str(results_dir),
    }
    jobs = [
        _Job(
            name=benchmark.notebook,
            notebook=root / "notebooks" / benchmark.notebook,
            output=pages_dir / benchmark.notebook,
            parameters={**common, "task": benchmark.key},
            cwd=pages_dir,
        )
        for benchmark in benchmarks
    ]
    started = time.perf_counter()
    failures = _run_jobs(jobs, options.jobs, options.progress, report)

    overview = _Job(
        name=f"{OVERVIEW}.ipynb",
        notebook=root / "notebooks" / f"{OVERVIEW}.ipynb",
        output=pages_dir / f"{OVERVIEW}.ipynb",
        parameters={**common, "tasks": ",".join(benchmark.key for benchmark in benchmarks)},
        cwd=pages_dir,
    )
    failures += _run_jobs([overview], 1, False, report)
    logger.info("notebooks executed in %.1f s", time.perf_counter() - started)

    failed = {failure.notebook for failure in failures}
    built = [benchmark for benchmark in benchmarks if benchmark.notebook not in failed]
    summary_csv = _write_summary(results_dir, built)
    index_html = _render_site(root, build_dir, built, overview_ok=overview.name not in failed)
    return BuildResult(index_html, summary_csv, failures, skipped)


def _write_summary(results_dir: Path, benchmarks: Sequence[Benchmark]) -> Path | None:
    import pandas as pd

    from evalbook.report.results import summary_path, write_atomic
    from evalbook.summary import SUMMARY_COLUMNS

    frames = []
    for benchmark in benchmarks:
        path = summary_path(results_dir, benchmark.key)
        if path.is_file():
            frames.append(pd.read_csv(path))
        else:
            logger.error("%s: summary missing although the notebook ran", path)
    if not frames:
        return None
    summary = pd.concat(frames, ignore_index=True)[list(SUMMARY_COLUMNS)]
    target = results_dir / "summary.csv"
    write_atomic(target, summary.to_csv(index=False, float_format="%.6f").encode("utf-8"))
    return target


def _render_site(
    root: Path, build_dir: Path, benchmarks: Sequence[Benchmark], *, overview_ok: bool
) -> Path:
    """Run Jupyter Book into a staging folder, then swap it into ``_build/html``."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
    try:
        toc = toc_data(benchmarks)
        if not overview_ok:
            toc["parts"][0]["chapters"] = toc["parts"][0]["chapters"][1:]
        toc_path = staging / "_toc.yml"
        toc_path.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")

        command = [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            str(root),
            "--path-output",
            str(staging),
            "--toc",
            str(toc_path),
            "--config",
            str(root / "_config.yml"),
            "-n",
            "-W",
            "--keep-going",
            "--all",
        ]
        logger.info("running %s", " ".join(command))
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise BuildError(
                "jupyter-book failed; its output follows. The previous site was kept.\n"
                + completed.stdout[-4000:]
                + completed.stderr[-4000:]
            )

        site = build_dir / "html"
        old = build_dir / f".old-html-{os.getpid()}"
        if site.exists():
            os.replace(site, old)
        os.replace(staging / "_build" / "html", site)
        shutil.rmtree(old, ignore_errors=True)
        return site / "index.html"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
