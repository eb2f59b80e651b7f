"""Shared fixtures: generated snapshots, real rows, and whole-book builds in a temporary root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from evalbook.sample import build_tables, write_snapshot

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Meta's real rows are licensed data and are never copied into the repository. The tests read
# them from the shared folder beside the checkout, or from $EVALBOOK_REAL_ROWS.
REAL_ROWS_CANDIDATES = [
    Path(os.environ["EVALBOOK_REAL_ROWS"]) if os.environ.get("EVALBOOK_REAL_ROWS") else None,
    PROJECT_ROOT.parent / "shared" / "data" / "real_rows",
    Path("/work/shared/data/real_rows"),
]
REAL_ROWS = next(
    (path for path in REAL_ROWS_CANDIDATES if path is not None and path.is_dir()), None
)
MODEL = "Llama-3.2-1B"

# Files a book build needs, copied into a temporary root so tests never touch the checkout's
# _build/ or book/pages/.
BOOK_FILES = ("_config.yml", "_toc.yml", "book", "notebooks")


@pytest.fixture(scope="session")
def sample_tables() -> dict[str, pa.Table]:
    """Every table of the small synthetic snapshot (build once, alter copies in tests)."""
    return build_tables(model=MODEL)


@pytest.fixture(scope="session")
def sample_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic snapshot written as the Hub lays it out."""
    return write_snapshot(tmp_path_factory.mktemp("sample") / f"{MODEL}-evals", model=MODEL)


def real_row(name: str) -> dict:
    """Return one of Meta's real rows, read from the shared folder (never copied here).

    The calling test is skipped, with the reason, on a machine that has no copy of the rows.
    """
    if REAL_ROWS is None:
        searched = ", ".join(str(path) for path in REAL_ROWS_CANDIDATES if path is not None)
        pytest.skip(
            f"Meta's real rows are not on this machine (searched {searched}); "
            "set EVALBOOK_REAL_ROWS to their folder"
        )
    return json.loads((REAL_ROWS / name).read_text(encoding="utf-8"))


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Return an environment whose caches (evalbook, Hugging Face, matplotlib) live in ``tmp``."""
    env = dict(os.environ)
    env.update(
        EVALBOOK_CACHE=str(tmp / "cache"),
        HF_HOME=str(tmp / "hf-home"),
        MPLCONFIGDIR=str(tmp / "mpl"),
        PYTHONWARNINGS="default",
    )
    env.pop("HF_TOKEN", None)
    env.update(extra)
    return env


@dataclass
class BookBuild:
    """A finished ``evalbook build`` run in a temporary root."""

    root: Path
    process: subprocess.CompletedProcess

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    @property
    def results(self) -> Path:
        return self.root / "_build" / "results" / MODEL

    def page(self, name: str) -> str:
        return (self.html / "book" / "pages" / f"{name}.html").read_text(encoding="utf-8")


def copy_book_root(target: Path) -> Path:
    """Copy the files a build reads into ``target`` and return it."""
    target.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("pages", "exports", ".*")
            )
        else:
            shutil.copy2(source, target / name)
    return target


def run_build(root: Path, *arguments: str, env: dict[str, str]) -> BookBuild:
    """Run the real command line, ``evalbook build``, in ``root``."""
    command = [sys.executable, "-m", "evalbook.cli", "build", "--root", str(root), *arguments]
    process = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=root, timeout=900, check=False
    )
    return BookBuild(root, process)


@pytest.fixture(scope="session")
def sample_book(tmp_path_factory: pytest.TempPathFactory, sample_snapshot: Path) -> BookBuild:
    """The whole book built from the sample snapshot, as `make book` builds it."""
    tmp = tmp_path_factory.mktemp("book")
    root = copy_book_root(tmp / "root")
    build = run_build(
        root, "--source", f"local:{sample_snapshot}", "--jobs", "2", env=isolated_env(tmp)
    )
    assert build.process.returncode == 0, build.process.stderr[-6000:]
    return build
