"""Failed and interrupted builds: the failure is named, and the previous site stays intact.

The builds here render the SQuAD page only, from a finished build that each test copies and
then breaks: a notebook cell that raises, a page with a broken reference, or a Ctrl-C while a
notebook runs.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import MODEL, copy_book_root, isolated_env, run_build

from evalbook.runner import NotebookFailure, _Job, _Workers

pytestmark = pytest.mark.slow

STARTED_TIMEOUT = 300
"""Seconds to wait for a planted cell to start; a loaded two-core machine needs about 30."""


def fingerprint(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under ``folder``, by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leftovers(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "_build").iterdir() if path.name.startswith("."))


def plant_cell(notebook: Path, source: str, *, index: int) -> str:
    """Insert a code cell into ``notebook`` at ``index``; return the new cell's id."""
    content = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    content.cells.insert(index, cell)
    nbformat.write(content, notebook)
    return cell.id


def small_notebook(path: Path, cells: list) -> Path:
    content = nbformat.v4.new_notebook()
    content.cells = [
        nbformat.v4.new_code_cell("# parameters", metadata={"tags": ["parameters"]}),
        *cells,
    ]
    content.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(content, path)
    return path


def run_small_notebook(tmp_path: Path, cells: list) -> NotebookFailure | None:
    notebook = small_notebook(tmp_path / "small.ipynb", cells)
    (tmp_path / "jobs").mkdir()
    job = _Job("small.ipynb", notebook, tmp_path / "executed.ipynb", {"task": "squad"}, tmp_path)
    return _Workers(tmp_path / "jobs").run(job)


def processes_with(variable: str) -> list[int]:
    """Return the ids of this user's processes whose environment has ``variable`` (NAME=value)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if variable.encode() in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def squad_root(tmp_path_factory: pytest.TempPathFactory, sample_snapshot: Path) -> Path:
    """A root with a finished build of the SQuAD page, for tests to copy."""
    tmp = tmp_path_factory.mktemp("squad-book")
    root = copy_book_root(tmp / "root")
    build = run_build(
        root, "--source", f"local:{sample_snapshot}", "--tasks", "squad", env=isolated_env(tmp)
    )
    assert build.process.returncode == 0, build.process.stderr[-6000:]
    return root


@pytest.fixture
def built_root(squad_root: Path, tmp_path: Path) -> Path:
    """A copy of the finished SQuAD build that the test may break."""
    return Path(shutil.copytree(squad_root, tmp_path / "root", symlinks=True))


def test_failure_names_source_cell(tmp_path: Path) -> None:
    cells = [
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell("total = 1 + 1"),
        nbformat.v4.new_markdown_cell("The next cell raises."),
        nbformat.v4.new_code_cell("raise ValueError('planted failure')"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ]

    failure = run_small_notebook(tmp_path, cells)

    assert failure is not None
    assert failure.notebook == "small.ipynb"
    source = nbformat.read(tmp_path / "small.ipynb", as_version=4)
    assert failure.cell == 4
    assert source.cells[failure.cell].source == "raise ValueError('planted failure')"
    assert failure.cell_id == source.cells[4].id
    assert failure.error == "ValueError: planted failure"
    assert str(failure) == (
        f"small.ipynb: cell index 4 (id {failure.cell_id}): ValueError: planted failure"
    )


def test_failure_names_cell_where_kernel_died(tmp_path: Path) -> None:
    cells = [
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell("import os\nos._exit(3)"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ]

    failure = run_small_notebook(tmp_path, cells)

    assert failure is not None
    assert failure.cell == 2
    assert failure.error.startswith("DeadKernelError: ")


def test_build_names_failed_notebook(built_root: Path, sample_snapshot: Path) -> None:
    notebook = built_root / "notebooks" / "squad.ipynb"
    cell_id = plant_cell(notebook, "raise ValueError('planted failure')", index=5)
    (built_root / "_build" / ".staging-leftover").mkdir()

    build = run_build(
        built_root,
        "--source",
        f"local:{sample_snapshot}",
        "--tasks",
        "squad",
        env=isolated_env(built_root.parent),
    )

    stderr = build.process.stderr
    assert build.process.returncode == 1
    assert f"squad.ipynb: cell index 5 (id {cell_id}): ValueError: planted failure" in stderr
    assert str(built_root / "book" / "pages" / "squad.ipynb") in stderr
    assert "1 notebook(s) failed: squad.ipynb" in stderr
    source = nbformat.read(notebook, as_version=4)
    assert source.cells[5].source == "raise ValueError('planted failure')"
    # The site was rebuilt without the failed page, and its results were left out.
    assert (build.html / "book" / "pages" / "overview.html").is_file()
    assert not (build.html / "book" / "pages" / "squad.html").exists()
    assert not (build.results / "squad.items.parquet").exists()
    assert leftovers(built_root) == []


def test_jupyter_book_failure_keeps_site(built_root: Path, sample_snapshot: Path) -> None:
    site_before = fingerprint(built_root / "_build" / "html")
    results_before = fingerprint(built_root / "_build" / "results")
    with (built_root / "book" / "intro.md").open("a", encoding="utf-8") as intro:
        intro.write("\nSee {ref}`no-such-label`.\n")

    build = run_build(
        built_root,
        "--source",
        f"local:{sample_snapshot}",
        "--tasks",
        "squad",
        env=isolated_env(built_root.parent),
    )

    stderr = build.process.stderr
    assert build.process.returncode == 1
    assert "jupyter-book failed with exit status 1, so the previous site was kept" in stderr
    assert "intro.md:" in stderr
    assert "WARNING: undefined label: 'no-such-label'" in stderr
    assert "\x1b[" not in stderr
    assert "undefined label" in (built_root / "_build" / "jupyter-book.log").read_text()
    assert site_before
    assert fingerprint(built_root / "_build" / "html") == site_before
    assert fingerprint(built_root / "_build" / "results") == results_before
    assert leftovers(built_root) == []


def test_interrupt_keeps_site(built_root: Path, sample_snapshot: Path, tmp_path: Path) -> None:
    site_before = fingerprint(built_root / "_build" / "html")
    results_before = fingerprint(built_root / "_build" / "results")
    started = tmp_path / "started"
    plant_cell(
        built_root / "notebooks" / "squad.ipynb",
        f"import os, pathlib, time\npathlib.Path({str(started)!r}).write_text(str(os.getpid()))"
        "\ntime.sleep(600)",
        index=3,
    )
    marker = f"EVALBOOK_TEST_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = isolated_env(tmp_path, **{name: value})
    command = [sys.executable, "-m", "evalbook.cli", "build", "--root", str(built_root)]
    command += ["--source", f"local:{sample_snapshot}", "--tasks", "squad"]

    process = subprocess.Popen(
        command, env=env, cwd=built_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + STARTED_TIMEOUT
        while not started.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), "the planted cell did not start"
        kernel = int(started.read_text())
        running = processes_with(marker)
        assert kernel in running
        assert len(running) >= 3  # the evalbook command, the notebook worker and its kernel

        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, stderr[-6000:]
    assert "interrupted; the previous site and results, if any, are unchanged" in stderr
    assert "Traceback" not in stderr
    assert processes_with(marker) == []
    assert fingerprint(built_root / "_build" / "html") == site_before
    assert fingerprint(built_root / "_build" / "results") == results_before
    assert leftovers(built_root) == []


def test_results_of_squad_root_exist(squad_root: Path) -> None:
    # The tests above compare against this build, so it must contain a site and results.
    assert (squad_root / "_build" / "html" / "book" / "pages" / "squad.html").is_file()
    assert (squad_root / "_build" / "results" / MODEL / "summary.csv").is_file()
