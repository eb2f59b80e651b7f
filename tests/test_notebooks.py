"""The committed notebooks: clean, thin, parameterized, and runnable on their own defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml
from conftest import PROJECT_ROOT, isolated_env

from evalbook.registry import BENCHMARKS
from evalbook.runner import toc_data

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
PARAMETERS = {"model", "source", "snapshot_path", "output_dir"}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_one_notebook_per_benchmark_and_overview() -> None:
    names = {path.stem for path in NOTEBOOKS}

    assert names == {"overview", *(benchmark.key for benchmark in BENCHMARKS)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_outputs(path: Path) -> None:
    for cell in code_cells(read(path)):
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_tagged_parameters(path: Path) -> None:
    first = code_cells(read(path))[0]

    assert "parameters" in first.metadata.get("tags", [])
    assert not any(
        "parameters" in cell.metadata.get("tags", []) for cell in code_cells(read(path))[1:]
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_typed_and_explained(path: Path) -> None:
    inspected = papermill.inspect_notebook(str(path))

    assert set(inspected) >= PARAMETERS
    for name, parameter in inspected.items():
        assert parameter["inferred_type_name"] == "str", name
        assert parameter["help"], f"{path.name}: parameter {name} has no comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_only_call_the_package(path: Path) -> None:
    for cell in code_cells(read(path)):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda), path.name
            assert not isinstance(node, ast.For | ast.While), path.name
            if isinstance(node, ast.ImportFrom):
                assert node.module.startswith("evalbook"), node.module
            assert not isinstance(node, ast.Import), path.name
        assert len(cell.source.splitlines()) <= 12, cell.source


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.key)
def test_notebook_title_is_registry_label(benchmark) -> None:
    notebook = read(PROJECT_ROOT / "notebooks" / benchmark.notebook)

    assert notebook.cells[0].source.splitlines()[0] == f"# {benchmark.label}"
    assert f'task: str = "{benchmark.key}"' in code_cells(notebook)[0].source


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.key)
def test_benchmark_page_has_the_common_sections(benchmark) -> None:
    notebook = read(PROJECT_ROOT / "notebooks" / benchmark.notebook)
    headings = [
        line.removeprefix("## ")
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]

    for section in (
        "Overview",
        "Results",
        "Breakdown",
        "Examples",
        "Known limitations",
        "Provenance",
    ):
        assert section in headings, (benchmark.key, section)


def test_committed_toc_is_generated_from_registry() -> None:
    committed = yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text(encoding="utf-8"))

    assert committed == toc_data()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_its_defaults(
    path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opened in JupyterLab with no parameters, a notebook generates the bundled sample into
    # the cache on first use and reads it.
    tmp = tmp_path_factory.getbasetemp() / "defaults"
    tmp.mkdir(exist_ok=True)
    for name, value in isolated_env(tmp).items():
        monkeypatch.setenv(name, value)
    output = tmp_path_factory.mktemp(path.stem) / path.name

    papermill.execute_notebook(
        str(path), str(output), kernel_name="python3", progress_bar=False, cwd=str(output.parent)
    )

    executed = read(output)
    errors = [
        out for cell in code_cells(executed) for out in cell.outputs if out.output_type == "error"
    ]
    assert errors == []
    shown = "".join(
        str(out.get("data", {}).get("text/html", ""))
        for cell in code_cells(executed)
        for out in cell.outputs
    )
    assert "Synthetic data" in shown
