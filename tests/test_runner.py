"""The runner's output: identical results from identical inputs, quiet logs, a terminal-only bar."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import nbformat
import pytest
from conftest import BookBuild, copy_book_root, isolated_env, run_build

from evalbook import runner
from evalbook.runner import _Job, notebook_environment

NOISE = (
    "Kernel is running over TCP without encryption",
    "[IPKernelApp]",
    "Input Notebook:",
    "Output Notebook:",
    "Executing notebook with kernel",
    "Traceback",
)
"""Text that the kernels and papermill printed on every build before the runner was tidied."""


def result_files(build: BookBuild) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(build.results.iterdir())}


def open_terminal() -> tuple[int, int]:
    """Open a pseudo-terminal of 24 rows and 100 columns; return its two descriptors.

    A new pseudo-terminal has 0 columns, and tqdm draws nothing in 0 columns.
    """
    master, replica = os.openpty()
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    return master, replica


def read_terminal(descriptor: int) -> str:
    """Return what is waiting on a pseudo-terminal's master side, without blocking."""
    os.set_blocking(descriptor, False)
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_builds_give_identical_results(
    sample_book: BookBuild, sample_snapshot: Path, tmp_path: Path
) -> None:
    # One job at a time here against two in the sample build, so that the order in which the
    # notebooks finish differs too.
    root = copy_book_root(tmp_path / "root")
    again = run_build(
        root, "--source", f"local:{sample_snapshot}", "--jobs", "1", env=isolated_env(tmp_path)
    )
    assert again.process.returncode == 0, again.process.stderr[-6000:]

    first = result_files(sample_book)
    second = result_files(again)

    assert "summary.csv" in first
    assert sorted(name for name in first if name.endswith(".items.parquet"))
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name] == second[name], name


@pytest.mark.slow
def test_build_log_is_quiet(sample_book: BookBuild) -> None:
    stderr = sample_book.process.stderr

    for noise in NOISE:
        assert noise not in stderr, noise
    for line in stderr.splitlines():
        assert line.startswith(("INFO evalbook", "WARNING evalbook")), line
    assert "INFO evalbook.runner: executed squad.ipynb" in stderr


def write_job(tmp_path: Path, log_level: int) -> Path:
    """Write a job whose notebook prints to the kernel's stderr; return the job file."""
    notebook = tmp_path / "speaks.ipynb"
    content = nbformat.v4.new_notebook()
    content.cells = [
        nbformat.v4.new_code_cell("# parameters", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import os\nos.write(2, b'kernel stderr line\\n')"),
    ]
    content.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(content, notebook)
    job = _Job("speaks.ipynb", notebook, tmp_path / "executed.ipynb", {"task": "squad"}, tmp_path)
    job_file = tmp_path / "speaks.ipynb.json"
    job_file.write_text(job.to_json(log_level), encoding="utf-8")
    return job_file


@pytest.mark.slow
@pytest.mark.parametrize(
    ("log_level", "papermill_shown"), [(logging.INFO, False), (logging.DEBUG, True)]
)
def test_worker_logs(tmp_path: Path, log_level: int, papermill_shown: bool) -> None:
    job_file = write_job(tmp_path, log_level)

    worker = subprocess.run(
        [sys.executable, "-c", runner._WORKER_CODE, str(job_file)],
        env=notebook_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert worker.returncode == 0, worker.stderr
    assert (tmp_path / "speaks.ipynb.result.json").read_text() == '{"failure": null}'
    # What a kernel writes to its stderr is never hidden: it may be a real error.
    assert "kernel stderr line" in worker.stderr
    assert ("Input Notebook:" in worker.stderr) is papermill_shown
    assert "Kernel is running over TCP without encryption" not in worker.stderr


def test_progress_bar_draws_on_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    master, replica = open_terminal()
    with os.fdopen(replica, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        with runner._progress_bar(3, enabled=True) as bar:
            bar.update()
        terminal.flush()
    drawn = read_terminal(master)
    os.close(master)

    assert "notebooks" in drawn
    assert "1/3" in drawn


def test_progress_bar_off_without_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as log_file:
        monkeypatch.setattr(sys, "stderr", log_file)
        with runner._progress_bar(3, enabled=True) as bar:
            bar.update()

    assert (tmp_path / "stderr").read_text() == ""


def test_progress_bar_off_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    master, replica = open_terminal()
    with os.fdopen(replica, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        with runner._progress_bar(3, enabled=False) as bar:
            bar.update()
        terminal.flush()
    drawn = read_terminal(master)
    os.close(master)

    assert drawn == ""
