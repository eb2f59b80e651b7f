"""Tokens stay out of notebooks, kernels, the site, the results and the logs.

A planted token sits in every variable and file a hub client reads (HF_TOKEN,
HUGGING_FACE_HUB_TOKEN, MODELSCOPE_API_TOKEN, the huggingface_hub login file). The whole-book
test downloads the sample from a stub Hub on loopback with that token, builds the book, and then
searches every file and the captured output for the token, raw and encoded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote, quote_plus

import nbformat
import pyarrow.parquet as pq
import pytest
from conftest import MODEL, copy_book_root, isolated_env, run_build
from hubstub import HuggingFaceStub, write_hub_snapshot

from evalbook.runner import _Job, _Workers, notebook_environment

SECRET = "hf_evalbookSECRET0123456789abcdef"
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MODELSCOPE_API_TOKEN")
MARKER = "EVALBOOK_VISIBLE_MARKER"
"""A harmless variable that the kernel must see, so that a printed environment is not empty."""

ENVIRONMENT_CELL = """\
import os

import huggingface_hub

print(sorted(os.environ.items()))
print("login token:", huggingface_hub.get_token())
"""
"""A cell planted into a notebook: it prints what a kernel can read."""


def secret_forms(secret: str) -> dict[str, bytes]:
    """Return the token as bytes in every form a leak could take: raw, base64, URL, hex.

    Base64 of a token inside longer data depends on the token's offset modulo 3, so each
    offset contributes the characters that depend on token bytes only.
    """
    raw = secret.encode()
    forms = {
        "raw": raw,
        "url-encoded": quote(secret, safe="").encode(),
        "form-encoded": quote_plus(secret).encode(),
        "hex": raw.hex().encode(),
        "core": secret[3:25].encode(),
    }
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0")
        start = -(-8 * offset // 6)
        end = 8 * (offset + len(raw)) // 6
        core = encoded[start:end]
        forms[f"base64+{offset}"] = core
        forms[f"urlsafe-base64+{offset}"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return forms


def leaks_in(data: bytes, forms: dict[str, bytes]) -> list[str]:
    return [name for name, form in forms.items() if form in data]


def parquet_text(path: Path) -> bytes:
    """Return a Parquet file's values as JSON, because its columns are compressed."""
    return json.dumps(pq.read_table(path).to_pylist(), default=str).encode()


def find_leaks(folder: Path, forms: dict[str, bytes], *, skip: set[Path]) -> list[str]:
    """Return ``path: form`` for every file under ``folder`` that contains a form of the token."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path in skip:
            continue
        data = path.read_bytes()
        if path.name.endswith((".parquet", ".parquet.gzip")):
            data += parquet_text(path)
        found += [f"{path}: {name}" for name in leaks_in(data, forms)]
    return found


def plant_cell(notebook: Path, source: str, *, index: int) -> str:
    """Insert a code cell into ``notebook`` at ``index``; return the new cell's id."""
    content = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    content.cells.insert(index, cell)
    nbformat.write(content, notebook)
    return cell.id


def environment_notebook(path: Path) -> Path:
    content = nbformat.v4.new_notebook()
    content.cells = [
        nbformat.v4.new_code_cell("# parameters", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(ENVIRONMENT_CELL),
    ]
    content.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(content, path)
    return path


def test_secret_forms_find_encoded_token() -> None:
    forms = secret_forms(SECRET)

    for prefix in (b"", b"a", b"ab"):
        blob = base64.b64encode(prefix + SECRET.encode() + b" trailing bytes")
        assert leaks_in(blob, forms), prefix
    assert leaks_in(f"url={quote(SECRET + '/')}".encode(), forms)
    assert leaks_in(b"no token here", forms) == []


def test_environment_drops_token_variables() -> None:
    environment = notebook_environment(
        {
            **dict.fromkeys(TOKEN_VARIABLES, SECRET),
            "GITHUB_TOKEN": SECRET,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "OPENAI_API_KEY": SECRET,
            "hf_token": SECRET,
            "PIP_INDEX_URL": f"https://user:{SECRET}@mirror.example.org/simple",
            "PATH": "/usr/bin",
            "LANG": "C.UTF-8",
        }
    )

    assert SECRET not in json.dumps(environment)
    assert environment["PATH"] == "/usr/bin"
    assert environment["LANG"] == "C.UTF-8"


def test_environment_keeps_huggingface_offline() -> None:
    environment = notebook_environment({"HF_HUB_OFFLINE": "0"})

    assert environment["HF_HUB_OFFLINE"] == "1"
    assert environment["HF_HUB_DISABLE_IMPLICIT_TOKEN"] == "1"
    assert environment["HF_TOKEN_PATH"] == os.devnull


def test_environment_defaults_to_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv(MARKER, "visible")

    environment = notebook_environment()

    assert "HF_TOKEN" not in environment
    assert environment[MARKER] == "visible"


@pytest.mark.slow
def test_kernel_cannot_see_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    (hf_home / "token").write_text(SECRET, encoding="utf-8")
    for name in TOKEN_VARIABLES:
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv(MARKER, "visible")
    notebook = environment_notebook(tmp_path / "environment.ipynb")
    output = tmp_path / "executed.ipynb"
    (tmp_path / "jobs").mkdir()

    failure = _Workers(tmp_path / "jobs").run(
        _Job("environment.ipynb", notebook, output, {"task": "squad"}, tmp_path)
    )

    assert failure is None
    printed = "".join(
        item.get("text", "")
        for cell in nbformat.read(output, as_version=4).cells
        for item in cell.get("outputs", [])
    )
    assert f"('{MARKER}', 'visible')" in printed
    assert "login token: None" in printed
    assert leaks_in(output.read_bytes(), secret_forms(SECRET)) == []


@pytest.mark.slow
def test_hub_build_leaks_no_token(tmp_path: Path) -> None:
    served = write_hub_snapshot(tmp_path / "served" / "repository", MODEL)
    root = copy_book_root(tmp_path / "root")
    planted = plant_cell(root / "notebooks" / "squad.ipynb", ENVIRONMENT_CELL, index=3)
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    login_file = hf_home / "token"
    login_file.write_text(SECRET, encoding="utf-8")

    with HuggingFaceStub(served, f"meta-llama/{MODEL}-evals", token=SECRET) as stub:
        env = isolated_env(
            tmp_path,
            HF_ENDPOINT=stub.url,
            HF_HOME=str(hf_home),
            **dict.fromkeys(TOKEN_VARIABLES, SECRET),
            **{MARKER: "visible"},
        )
        env.pop("HF_HUB_OFFLINE", None)
        build = run_build(root, "--source", "hf", "--jobs", "2", env=env)

    assert build.process.returncode == 0, build.process.stderr[-6000:]
    # The token was really used, for the download only.
    file_requests = stub.requests_to("file")
    assert file_requests
    assert {request.token for request in file_requests} == {SECRET}

    # The planted cell ran in the kernel and printed what it could read.
    executed = nbformat.read(root / "book" / "pages" / "squad.ipynb", as_version=4)
    (cell,) = [cell for cell in executed.cells if cell.get("id") == planted]
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert f"('{MARKER}', 'visible')" in printed
    assert "login token: None" in printed
    assert MARKER in build.page("squad")

    forms = secret_forms(SECRET)
    assert leaks_in(build.process.stdout.encode(), forms) == []
    assert leaks_in(build.process.stderr.encode(), forms) == []
    assert find_leaks(tmp_path, forms, skip={login_file}) == []
    assert (build.results / "summary.csv").is_file()
    assert (tmp_path / "cache" / "hf" / f"{MODEL}-evals").is_dir()


def test_find_leaks_reads_parquet_values(tmp_path: Path, sample_snapshot: Path) -> None:
    # The search must see a token inside compressed Parquet columns, or the whole-book test
    # could miss one in the results. Gzip codes even the first copy of the token, and without
    # statistics the footer contains no copy either.
    import pyarrow as pa

    items = tmp_path / "items.parquet"
    table = pa.table({"prediction": [f"row {row}: the token is {SECRET}" for row in range(500)]})
    pq.write_table(table, items, compression="gzip", use_dictionary=False, write_statistics=False)
    shutil.copytree(sample_snapshot, tmp_path / "snapshot")

    found = find_leaks(tmp_path, secret_forms(SECRET), skip=set())

    assert leaks_in(items.read_bytes(), secret_forms(SECRET)) == []
    assert f"{items}: raw" in found
    assert all(entry.startswith(f"{items}: ") for entry in found)
