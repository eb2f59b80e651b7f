"""Measure how long `evalbook build` takes and how much memory it uses, and record it on a page.

Usage (from the repository root, with the virtual environment):

    .venv/bin/python benchmarks/build_speed.py --size full --jobs 2

The script writes the synthetic snapshot of the given size into a temporary folder. It builds the
whole book from it with the real command line, in a temporary copy of the book's sources, and
reads the time of every notebook from papermill's metadata. It then rewrites the results table
of ``book/benchmarks.md`` (between the marker comments) with the measured numbers, the machine
and the command. Nothing is timed inside the test suite: speed is recorded here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "benchmarks.md"
BEGIN = "<!-- results: begin (written by benchmarks/build_speed.py) -->"
END = "<!-- results: end -->"


def build_once(snapshot: Path, work: Path, jobs: int) -> tuple[float, int, dict[str, float]]:
    """Build the book from ``snapshot``; return wall seconds, peak RSS (MiB) and notebook times."""
    root = work / "root"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("book", "notebooks"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("pages", "exports"))

    env = {**os.environ, "EVALBOOK_CACHE": str(work / "cache"), "MPLCONFIGDIR": str(work / "mpl")}
    command = [
        sys.executable,
        "-m",
        "evalbook.cli",
        "build",
        "--root",
        str(root),
        "--source",
        f"local:{snapshot}",
        "--jobs",
        str(jobs),
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    # ru_maxrss of the children is the peak of the largest descendant process, in KiB on Linux.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024

    notebook_seconds = {}
    for path in sorted((root / "book" / "pages").glob("*.ipynb")):
        metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("papermill", {})
        notebook_seconds[path.stem] = float(metadata.get("duration") or 0.0)
    return seconds, peak_mib, notebook_seconds


def rows_of(snapshot: Path) -> int:
    from evalbook.snapshot import open_snapshot

    opened = open_snapshot(snapshot)
    return sum(opened.num_rows(opened.details_config(task)) for task in opened.tasks())


def write_page(results: dict) -> None:
    lines = [
        BEGIN,
        "",
        f"Measured on {results['date']} with `{results['command']}`.",
        f"Machine: {results['machine']}.",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| snapshot size | {results['size']} ({results['rows']:,} details rows) |",
        f"| writing the synthetic snapshot | {results['sample_seconds']:.1f} s |",
        f"| `evalbook build`, wall clock | {results['build_seconds']:.1f} s |",
        f"| peak memory of the largest process | {results['peak_mib']:,} MiB |",
        "",
        "| notebook | papermill time |",
        "|---|---|",
        *(f"| {name} | {seconds:.1f} s |" for name, seconds in results["notebooks"].items()),
        "",
        END,
    ]
    text = PAGE.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    PAGE.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once")
    parser.add_argument("--no-page", action="store_true", help="print only; leave the page")
    arguments = parser.parse_args()

    from evalbook.sample import write_snapshot

    with tempfile.TemporaryDirectory(prefix="evalbook-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        snapshot = write_snapshot(work / "snapshot", size=arguments.size)
        sample_seconds = time.perf_counter() - started
        build_seconds, peak_mib, notebooks = build_once(snapshot, work, arguments.jobs)
        rows = rows_of(snapshot)

    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": f"python benchmarks/build_speed.py --size {arguments.size} "
        f"--jobs {arguments.jobs}",
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}",
        "size": arguments.size,
        "rows": rows,
        "sample_seconds": sample_seconds,
        "build_seconds": build_seconds,
        "peak_mib": peak_mib,
        "notebooks": notebooks,
    }
    print(json.dumps(results, indent=2))
    if not arguments.no_page:
        write_page(results)


if __name__ == "__main__":
    main()
