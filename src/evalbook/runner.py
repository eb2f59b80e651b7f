"""Build the book: execute each notebook with papermill, then render the site with Jupyter Book 1.

The runner resolves the data source once and hands the notebooks a local snapshot path, so no
download step ever runs in a notebook. Each notebook runs in a worker process of its own, whose
environment, and so its kernel's, contains no token (:func:`notebook_environment`). The notebooks
write their results (per-item scores and a summary per benchmark) into a staging folder, and the
runner joins the summaries into ``summary.csv``.

The site and the results are built inside ``_build/.staging-*`` and moved to ``_build/html`` and
``_build/results/<model>`` only when Jupyter Book has finished, so a failed or interrupted build
leaves the previous site and results as they were.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import yaml

from evalbook.registry import BENCHMARKS, DEFAULT_MODEL, Benchmark, select_benchmarks

__all__ = [
    "LOG_FORMAT",
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "NotebookFailure",
    "build",
    "find_project_root",
    "notebook_environment",
    "toc_data",
]

logger = logging.getLogger(__name__)

PAGES_DIR = Path("book") / "pages"
"""Folder of the executed notebooks, relative to the project root (ignored by git)."""
OVERVIEW = "overview"
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
"""Cells with these tags are removed from the site after execution."""
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
"""Format of the log lines of the ``evalbook`` command and of its notebook workers."""

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE
)
"""Pattern of the environment variable names that notebook workers never see, e.g. HF_TOKEN."""
_URL_WITH_USER = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s@]+@")
_OFFLINE_HUB_SETTINGS = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_TOKEN_PATH": os.devnull,
    "HF_STORED_TOKENS_PATH": os.devnull,
}
"""Settings that keep huggingface_hub in a kernel from sending a request or finding a login."""

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_WORKER_CODE = (
    "import sys; from evalbook.runner import _worker_main; sys.exit(_worker_main(sys.argv[1]))"
)
"""Program of a notebook worker process, run with ``python -c``; its argument is the job file."""
_WORKER_STOP_SECONDS = 30.0
"""Time a stopped worker gets to shut its kernel down before it is killed.

The workers shut kernels down immediately, which took under 2 s in the tests on a loaded
two-core machine. The margin is for slower machines.
"""


class BuildError(RuntimeError):
    """The build could not start or could not render the site. The message gives the reason."""


@dataclass(frozen=True)
class NotebookFailure:
    """A notebook that raised: which notebook, which cell and what error.

    ``cell`` is the index of the failed cell in the source notebook (``notebooks/<name>``),
    counted from 0 over all cells, Markdown cells included. ``cell_id`` is that cell's id. Both
    are None when the kernel failed outside a cell, e.g. when it could not start.
    """

    notebook: str
    cell: int | None
    error: str
    cell_id: str | None = None

    def __str__(self) -> str:
        if self.cell is None:
            where = "outside any cell"
        elif self.cell_id:
            where = f"cell index {self.cell} (id {self.cell_id})"
        else:
            where = f"cell index {self.cell}"
        return f"{self.notebook}: {where}: {self.error}"


@dataclass(frozen=True)
class BuildOptions:
    """Options of a build. The defaults build the bundled sample of Llama-3.2-1B.

    ``progress`` allows a progress bar, which is drawn only when stderr is a terminal.
    """

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
            {
                "caption": "Methods",
                "chapters": [{"file": "book/methods"}, {"file": "book/benchmarks"}],
            },
        ],
    }


def write_toc(path: Path, benchmarks: Sequence[Benchmark] = BENCHMARKS) -> None:
    """Write :func:`toc_data` as YAML to ``path``, with a header saying where it comes from."""
    header = "# Generated from evalbook.registry by `evalbook toc`; do not edit by hand.\n"
    body = yaml.safe_dump(toc_data(benchmarks), sort_keys=False)
    path.write_text(header + body, encoding="utf-8")


def notebook_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``environ`` (default ``os.environ``) without secrets, for notebook workers.

    The workers, their kernels and Jupyter Book get this environment. A variable is left out
    when its name contains, in any case, TOKEN, SECRET, PASSWORD, PASSWD, API_KEY, APIKEY,
    ACCESS_KEY, PRIVATE_KEY or CREDENTIAL. HF_TOKEN, HUGGING_FACE_HUB_TOKEN and
    MODELSCOPE_API_TOKEN are among them. A variable whose value contains a URL with a user name,
    such as ``https://user:password@mirror.example``, is left out too. huggingface_hub is set
    offline, and its login files point to the null device, because notebooks read a local
    snapshot and need no hub.

    Examples
    --------
    >>> environment = notebook_environment(
    ...     {"HF_TOKEN": "hf_x", "LANG": "C.UTF-8", "PIP_INDEX_URL": "https://u:p@example.org/"}
    ... )
    >>> sorted(name for name in environment if not name.startswith("HF_"))
    ['LANG']
    >>> "HF_TOKEN" in environment, environment["HF_HUB_OFFLINE"]
    (False, '1')
    """
    source = os.environ if environ is None else environ
    without_secrets = {
        name: value
        for name, value in source.items()
        if not _SECRET_NAME.search(name) and not _URL_WITH_USER.search(value)
    }
    return {**without_secrets, **_OFFLINE_HUB_SETTINGS}


# --------------------------------------------------------------------------------------------
# Notebook workers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    name: str
    notebook: Path
    output: Path
    parameters: dict
    cwd: Path

    def to_json(self, log_level: int) -> str:
        record = {key: str(value) for key, value in asdict(self).items() if key != "parameters"}
        return json.dumps({**record, "parameters": self.parameters, "log_level": log_level})

    @classmethod
    def from_json(cls, text: str) -> tuple[_Job, int]:
        record = json.loads(text)
        job = cls(
            name=record["name"],
            notebook=Path(record["notebook"]),
            output=Path(record["output"]),
            parameters=record["parameters"],
            cwd=Path(record["cwd"]),
        )
        return job, int(record["log_level"])


class _Workers:
    """Start one worker process per notebook, and stop them all when the build is interrupted.

    Workers run in a session of their own, so a Ctrl-C in the terminal reaches the ``evalbook``
    process only, which then stops each worker with SIGINT: the worker shuts its kernel down and
    exits. A worker that is still running after ``_WORKER_STOP_SECONDS`` is killed; its kernel
    notices that its parent is gone and exits too.
    """

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self.environment = notebook_environment()
        self.log_level = logging.getLogger("evalbook").getEffectiveLevel()
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopping = False

    def run(self, job: _Job) -> NotebookFailure | None:
        """Execute ``job`` in a new worker process and return its failure, if any."""
        job_file = self.jobs_dir / f"{job.name}.json"
        result_file = _result_path(job_file)
        job_file.write_text(job.to_json(self.log_level), encoding="utf-8")
        command = [sys.executable, "-c", _WORKER_CODE, str(job_file)]

        with self._lock:
            if self._stopping:
                return None
            process = subprocess.Popen(command, env=self.environment, start_new_session=True)
            self._running.add(process)
        try:
            status = process.wait()
        finally:
            with self._lock:
                self._running.discard(process)

        if result_file.is_file():
            failure = json.loads(result_file.read_text(encoding="utf-8"))["failure"]
            return NotebookFailure(**failure) if failure else None
        if self._stopping:
            return None
        return NotebookFailure(
            job.name, None, f"the worker process exited with status {status} and no result"
        )

    def stop(self) -> None:
        """Start no more workers; stop the running ones and wait until they have exited."""
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for process in running:
            _interrupt(process)
        deadline = time.monotonic() + _WORKER_STOP_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("notebook worker %d did not stop; killing it", process.pid)
                process.kill()
                process.wait()


def _interrupt(process: subprocess.Popen) -> None:
    if os.name == "posix":
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()


def _result_path(job_file: Path) -> Path:
    return job_file.with_name(job_file.stem + ".result.json")


def _run_jobs(
    jobs: Sequence[_Job],
    workers: _Workers,
    *,
    parallel: int,
    progress,
) -> list[NotebookFailure]:
    failures = []
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as threads:
        futures = {threads.submit(workers.run, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                failure = future.result()
                job = futures[future]
                if failure is not None:
                    failures.append(failure)
                    logger.error(
                        "notebook failed: %s. The executed notebook, with the traceback, is %s.",
                        failure,
                        job.output,
                    )
                else:
                    logger.info("executed %s", job.name)
                progress.update()
        except BaseException:
            for future in futures:
                future.cancel()
            workers.stop()
            raise
    return failures


def _worker_main(job_file: str) -> int:
    """Execute the notebook job described in ``job_file``; return the process exit status.

    The result, a JSON object whose ``failure`` is None or a :class:`NotebookFailure`, is
    written beside the job file. An interrupt returns 130 and writes no result.
    """
    # The runner stops a worker with SIGINT, so the worker must not inherit an ignored SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    job, log_level = _Job.from_json(Path(job_file).read_text(encoding="utf-8"))

    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("evalbook").setLevel(log_level)
    # papermill logs each notebook's paths at INFO; they are shown with --verbose only.
    logging.getLogger("papermill").setLevel(
        logging.INFO if log_level <= logging.DEBUG else logging.WARNING
    )

    try:
        failure = _execute(job)
    except KeyboardInterrupt:
        return 130
    result = {"failure": asdict(failure) if failure is not None else None}
    from evalbook.report.results import write_atomic

    write_atomic(_result_path(Path(job_file)), json.dumps(result).encode("utf-8"))
    return 0


def _execute(job: _Job) -> NotebookFailure | None:
    """Execute one notebook with papermill; return its failure, if any."""
    import papermill
    import zmq
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    # With CurveZMQ keys from the kernel manager, the kernel's sockets are encrypted and
    # ipykernel 7.4 does not warn that it runs over TCP without encryption. A pyzmq built
    # without libsodium has no CurveZMQ, and the kernel then runs unencrypted on loopback.
    encryption = "auto" if zmq.has("curve") else "disabled"
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(job.output),
            parameters=job.parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(job.cwd),
            # The runner needs nothing from a kernel after its last cell. A graceful shutdown
            # of a busy kernel, on an interrupt, makes ipykernel print a traceback.
            shutdown_kernel="immediate",
            config=Config({"KernelManager": {"transport_encryption": encryption}}),
        )
    except PapermillExecutionError as error:
        cell, cell_id = _failed_cell(job)
        return NotebookFailure(job.name, cell, f"{error.ename}: {error.evalue}", cell_id)
    except Exception as error:  # a kernel that dies or cannot start is a failure of this page
        cell, cell_id = _failed_cell(job)
        return NotebookFailure(job.name, cell, f"{type(error).__name__}: {error}", cell_id)
    _hide_parameter_cells(job.output)
    return None


def _failed_cell(job: _Job) -> tuple[int | None, str | None]:
    """Return the index and id, in the source notebook, of the cell that failed.

    papermill inserts cells into the executed notebook (the injected parameters and, after an
    error, two notices), so its own cell index is off. papermill marks a cell that raised as
    failed. When the kernel died instead, the failed cell is the last one that started. That
    cell is matched to the source notebook by cell id, else by its source.
    """
    try:
        executed = nbformat.read(job.output, as_version=4).cells
        source = nbformat.read(job.notebook, as_version=4).cells
    except (OSError, ValueError) as error:
        logger.debug("%s: cannot read the notebooks to find the failed cell: %s", job.name, error)
        return None, None

    states = [cell.get("metadata", {}).get("papermill", {}) for cell in executed]
    marked = [index for index, state in enumerate(states) if state.get("status") == "failed"]
    started = [
        (state["start_time"], index)
        for index, state in enumerate(states)
        if state.get("start_time")
    ]
    if marked:
        failed = executed[marked[0]]
    elif started:
        failed = executed[max(started)[1]]
    else:
        return None, None

    for index, cell in enumerate(source):
        if failed.get("id") is not None and cell.get("id") == failed.get("id"):
            return index, cell.get("id")
    for index, cell in enumerate(source):
        if cell.source == failed.source:
            return index, cell.get("id")
    return None, None


def _hide_parameter_cells(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(tag in tags for tag in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, path)


@contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator:
    """Yield a tqdm bar on stderr when it is a terminal, else one that draws nothing."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    drawn = enabled and sys.stderr.isatty()
    # While the bar is drawn, log lines go through tqdm so that they do not break the bar.
    redirect = logging_redirect_tqdm() if drawn else nullcontext()
    with redirect, tqdm(total=total, desc="notebooks", unit="nb", disable=not drawn) as bar:
        yield bar


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------


def build(options: BuildOptions, *, report: Callable[[str], None] = logger.info) -> BuildResult:
    """Execute the notebooks of ``options`` and render the site into ``_build/html``.

    Returns the result with the failed notebooks listed; the site is still built from the pages
    that succeeded. The site and ``_build/results/<model>`` are replaced only when Jupyter Book
    has finished. Raises :class:`BuildError` when nothing can be built at all, and lets
    KeyboardInterrupt through after the notebook workers have stopped.
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
    build_dir.mkdir(exist_ok=True)
    _remove_leftovers(build_dir)
    pages_dir = root / PAGES_DIR
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir(parents=True)

    # NOTE: two builds in the same root at once are not supported: each removes the other's
    # pages and staging folder.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
    try:
        results_dir = staging / "results"
        jobs_dir = staging / "jobs"
        results_dir.mkdir()
        jobs_dir.mkdir()
        jobs, overview = _notebook_jobs(
            root,
            snapshot,
            benchmarks,
            source=options.source_label,
            results_dir=results_dir,
            overview_tasks=options.tasks or "",
        )
        failures = _execute_notebooks(jobs, overview, jobs_dir, options)

        failed = {failure.notebook for failure in failures}
        built = [benchmark for benchmark in benchmarks if benchmark.notebook not in failed]
        _remove_results(results_dir, [b for b in benchmarks if b.notebook in failed])
        has_summary = _write_summary(results_dir, built)
        overview_ok = f"{OVERVIEW}.ipynb" not in failed
        html = _render_site(root, build_dir, staging, built, overview_ok=overview_ok)

        site = build_dir / "html"
        results = build_dir / "results" / snapshot.model
        _replace_folders([(html, site), (results_dir, results)], trash=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    summary_csv = results / "summary.csv" if has_summary else None
    return BuildResult(site / "index.html", summary_csv, failures, skipped)


def _notebook_jobs(
    root: Path,
    snapshot,
    benchmarks: Sequence[Benchmark],
    *,
    source: str,
    results_dir: Path,
    overview_tasks: str,
) -> tuple[list[_Job], _Job]:
    """Return the jobs of the benchmark notebooks and the job of the overview.

    ``overview_tasks`` is the user's ``--tasks`` ("" for all), so that the overview lists the
    benchmarks that the dump lacks, not only those that were built.
    """
    pages_dir = root / PAGES_DIR
    common = {
        "model": snapshot.model,
        "source": source,
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
    overview = _Job(
        name=f"{OVERVIEW}.ipynb",
        notebook=root / "notebooks" / f"{OVERVIEW}.ipynb",
        output=pages_dir / f"{OVERVIEW}.ipynb",
        parameters={**common, "tasks": overview_tasks},
        cwd=pages_dir,
    )
    return jobs, overview


def _execute_notebooks(
    jobs: Sequence[_Job],
    overview: _Job,
    jobs_dir: Path,
    options: BuildOptions,
) -> list[NotebookFailure]:
    """Execute the benchmark notebooks in parallel, then the overview that reads their results."""
    started = time.perf_counter()
    workers = _Workers(jobs_dir)
    with _progress_bar(len(jobs) + 1, options.progress) as bar:
        failures = _run_jobs(jobs, workers, parallel=options.jobs, progress=bar)
        failures += _run_jobs([overview], workers, parallel=1, progress=bar)
    logger.info("notebooks executed in %.1f s", time.perf_counter() - started)
    return failures


def _remove_results(results_dir: Path, benchmarks: Sequence[Benchmark]) -> None:
    """Remove the result files of benchmarks whose page failed, so results match the site."""
    from evalbook.report.results import items_path, summary_path

    for benchmark in benchmarks:
        items_path(results_dir, benchmark.key).unlink(missing_ok=True)
        summary_path(results_dir, benchmark.key).unlink(missing_ok=True)


def _write_summary(results_dir: Path, benchmarks: Sequence[Benchmark]) -> bool:
    """Join the benchmarks' summaries into ``summary.csv``; return False when there are none."""
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
        return False
    summary = pd.concat(frames, ignore_index=True)[list(SUMMARY_COLUMNS)]
    target = results_dir / "summary.csv"
    write_atomic(target, summary.to_csv(index=False, float_format="%.6f").encode("utf-8"))
    return True


def _render_site(
    root: Path,
    build_dir: Path,
    staging: Path,
    benchmarks: Sequence[Benchmark],
    *,
    overview_ok: bool,
) -> Path:
    """Run Jupyter Book with its output in ``staging``; return the new ``html`` folder."""
    toc = toc_data(benchmarks)
    if not overview_ok:
        toc["parts"][0]["chapters"] = toc["parts"][0]["chapters"][1:]
    toc_path = staging / "_toc.yml"
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")

    output = staging / "site"
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(root),
        "--path-output",
        str(output),
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
    completed = subprocess.run(
        command, capture_output=True, text=True, env=notebook_environment(), check=False
    )
    if completed.returncode != 0:
        # Sphinx colours its warnings even when its output is not a terminal.
        output = _ANSI_ESCAPE.sub("", completed.stdout + completed.stderr)
        log = build_dir / "jupyter-book.log"
        log.write_text(output, encoding="utf-8")
        raise BuildError(
            f"jupyter-book failed with exit status {completed.returncode}, so the previous site "
            f"was kept. Fix what it reported and build again; its whole output is in {log}.\n"
            + _jupyter_book_problems(output)
        )
    return output / "_build" / "html"


def _jupyter_book_problems(output: str, *, max_lines: int = 40) -> str:
    """Return the warning and error lines of Jupyter Book's output, or its last lines."""
    pattern = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE)\b|Error:|Traceback")
    problems = [line for line in output.splitlines() if pattern.search(line)]
    selected = problems or output.splitlines()[-max_lines:]
    lines = selected[:max_lines]
    if len(selected) > max_lines:
        lines.append(f"... and {len(selected) - max_lines} more lines")
    return "\n".join(lines)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT back while the block runs, so that an interrupt cannot split a swap.

    A SIGINT that arrives meanwhile is delivered, and raises KeyboardInterrupt, right after.
    Only the main thread of a POSIX process can do this; elsewhere the block runs as is.
    """
    holds = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    if holds:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if holds:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _replace_folders(replacements: Sequence[tuple[Path, Path]], *, trash: Path) -> None:
    """Move each new folder onto its target, the old targets into ``trash``, all or none.

    Each move is a rename on one file system. If a rename fails, the moves done so far are
    undone before the error is raised.
    """
    done: list[tuple[Path, Path, Path | None]] = []
    with _interrupts_held():
        try:
            for number, (new, target) in enumerate(replacements):
                old = trash / f"replaced-{number}" if target.exists() else None
                if old is not None:
                    os.replace(target, old)
                done.append((new, target, old))
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(new, target)
        except OSError:
            for new, target, old in reversed(done):
                if target.exists() and not new.exists():
                    os.replace(target, new)
                if old is not None and old.exists():
                    os.replace(old, target)
            raise


def _remove_leftovers(build_dir: Path) -> None:
    """Remove staging folders that a killed build left behind."""
    for pattern in (".staging-*", ".old-html-*"):
        for leftover in build_dir.glob(pattern):
            logger.info("removing %s, left by an earlier build that was killed", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
