"""Untrusted text in the built site: headless Chromium runs every page and finds no payload ran.

The sample's prompts, predictions, gold answers, subtask names, eval_config strings and
metrics-config labels are rewritten to carry markup, script, event handlers, ``javascript:``
links, MyST roles and TeX. The book is built from them and served on 127.0.0.1; Chromium loads
each page, runs its scripts, and dumps the resulting DOM, which must show every payload as text
and hold no element, attribute or script that a payload created.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import MODEL, copy_book_root, isolated_env, run_build

from evalbook.registry import BENCHMARKS
from evalbook.report.text import _EXAMPLE_SEARCH_SCRIPT
from evalbook.sample import write_snapshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
    "--dump-dom",
)

SCRIPT = "<script>window.__pwned=1;document.title='PWNED'</script>"
IMAGE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
SVG = "<svg onload=\"document.body.setAttribute('data-pwned','svg')\"></svg>"
LINK = "<a href=\"javascript:document.body.setAttribute('data-pwned','1')\">pwned link</a>"
MARKDOWN_LINK = "[pwned markdown](javascript:document.title='PWNED')"
MYST_ROLE = "{raw}`html <script>document.title='PWNED'</script>`"
TEX = "$$\\href{javascript:document.title='PWNED'}{pwned tex}$$"
CLOSING = "</td></tr></table></pre><script>document.title='PWNED'</script>"
PAYLOADS = (SCRIPT, IMAGE, SVG, LINK, MARKDOWN_LINK, MYST_ROLE, TEX, CLOSING)
EVERY_PAYLOAD = " ".join(PAYLOADS)
"""All payloads on one line, so that a prediction cut at its first newline keeps them all."""
MARK = "pwned"
"""Text that every payload carries, so that an element or script it created can be found."""


def replace_column(table: pa.Table, name: str, values: list) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, name, pa.array(values, type=table.schema.field(name).type))


def poisoned_details(table: pa.Table) -> pa.Table:
    """Put the payloads into every text of a details table that a page may show."""
    rows = table.num_rows
    questions = table.column("input_question").to_pylist()
    table = replace_column(table, "input_question", [f"{q} {EVERY_PAYLOAD}" for q in questions])

    prompts = table.column("input_final_prompts").to_pylist()
    table = replace_column(
        table,
        "input_final_prompts",
        [[f"{prompt} {EVERY_PAYLOAD}" for prompt in row] for row in prompts],
    )

    predictions = table.column("output_prediction_text").to_pylist()
    if any(row is not None for row in predictions):
        table = replace_column(
            table,
            "output_prediction_text",
            [
                None if row is None else [f"{EVERY_PAYLOAD} {text}" for text in row]
                for row in predictions
            ],
        )
        golds = table.column("input_correct_responses").to_pylist()
        table = replace_column(
            table, "input_correct_responses", [[*row, EVERY_PAYLOAD] for row in golds]
        )

    subtasks = table.column("subtask_name").to_pylist()
    names = sorted({name for name in subtasks if name is not None})
    renamed = {name: f"{name} {PAYLOADS[i % len(PAYLOADS)]}" for i, name in enumerate(names)}
    table = replace_column(
        table, "subtask_name", [renamed.get(name) if name else name for name in subtasks]
    )

    labels = table.column("benchmark_label").to_pylist()
    table = replace_column(table, "benchmark_label", [f"{label} {SCRIPT}" for label in labels])

    template = f"Question: {{{{ question }}}} {EVERY_PAYLOAD}"
    configs = table.column("eval_config").to_pylist()
    for config in configs:
        config["prompt_fn"] = f"functools.partial(<function jinja_format at 0x7f>, {template!r})"
        config["temperature"] = IMAGE
    table = replace_column(table, "eval_config", configs)
    assert table.num_rows == rows
    return table


def poisoned_metrics(table: pa.Table) -> pa.Table:
    """Add a metrics-config row whose label, tag and subtask are payloads."""
    extra = {name: [None] for name in table.schema.names}
    extra.update(
        benchmark_label=[SCRIPT],
        metric_tag=[IMAGE],
        metric_value_computed=[50.0],
        subtask_name=[LINK],
    )
    return pa.concat_tables([table, pa.table(extra, schema=table.schema)])


def poisoned_tables(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return {
        config: poisoned_metrics(table) if config.endswith("__metrics") else poisoned_details(table)
        for config, table in tables.items()
    }


class Dom(HTMLParser):
    """Parser of a dumped DOM: title, body attributes, scripts, flagged elements and text."""

    VOID = frozenset(
        {
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "track",
            "wbr",
        }
    )
    """Elements without an end tag, which never enclose other elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.body: dict[str, str] = {}
        self.scripts: list[tuple[str, bool]] = []
        """Each script's text, and whether it sits in a notebook cell's output."""
        self.flagged: list[str] = []
        """Elements whose attributes carry the payload mark, or that only a payload makes."""
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self._script: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self._check(tag, attributes)
        in_output = "cell_output" in attributes.get("class", "").split()
        in_output = in_output or any(output for _, output in self._stack)
        if tag == "body":
            self.body = attributes
        elif tag == "title" and any(name == "head" for name, _ in self._stack):
            self._in_title = True
        elif tag == "script":
            self._script = []
        if tag not in self.VOID:
            self._stack.append((tag, in_output))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, {name: value or "" for name, value in attrs})

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            in_output = bool(self._stack) and self._stack[-1][1]
            self.scripts.append(("".join(self._script), in_output))
            self._script = None
        elif tag == "title":
            self._in_title = False
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._in_title:
            self.title += data
        elif not any(tag == "style" for tag, _ in self._stack):
            self.text.append(data)

    def _check(self, tag: str, attributes: dict[str, str]) -> None:
        for name, value in attributes.items():
            if value.startswith("data:image/png;base64,"):
                continue  # inline figures: long base64 text may contain the mark by chance
            lowered = value.lower()
            if MARK in lowered or (name == "href" and lowered.startswith("javascript:")):
                self.flagged.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and attributes.get("src") == "x":
            self.flagged.append("<img src=x>")
        if tag == "svg" and "onload" in attributes:
            self.flagged.append("<svg onload>")


def parse_dom(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    dom.close()
    return dom


def dump_dom(url: str, profile_root: Path) -> str:
    """Return the DOM of ``url`` after Chromium ran its scripts for 5 s of virtual time."""
    profile = tempfile.mkdtemp(dir=profile_root)
    completed = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "</html>" in completed.stdout, completed.stderr[-3000:]
    return completed.stdout


PAGES = (
    "book/intro.html",
    "book/methods.html",
    "book/pages/overview.html",
    *(f"book/pages/{benchmark.key}.html" for benchmark in BENCHMARKS),
)
SEARCH = "search.html?q=pwned"
HIGHLIGHTED = "book/pages/squad.html?highlight=pwned"
"""A page opened from a search result: Sphinx's script marks the search terms in its text."""
URLS = (*PAGES, SEARCH, HIGHLIGHTED)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the default handler writes every request to stderr


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1; yield the base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dump_name(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", url) + ".dom.html"


def build_and_dump(folder: Path, tables: dict[str, pa.Table]) -> None:
    """Build the poisoned book in ``folder``, dump the DOM of every URL, record the outcome."""
    snapshot = write_snapshot(
        folder / f"{MODEL}-evals", model=MODEL, tables=poisoned_tables(tables)
    )
    root = copy_book_root(folder / "root")
    build = run_build(
        root, "--source", f"local:{snapshot}", "--jobs", "2", env=isolated_env(folder)
    )
    outcome = {"returncode": build.process.returncode, "stderr": build.process.stderr[-6000:]}
    if build.process.returncode == 0:
        dumps = folder / "dumps"
        dumps.mkdir()
        with serve(build.html) as base, ThreadPoolExecutor(max_workers=2) as pool:
            pages = pool.map(lambda url: dump_dom(f"{base}/{url}", folder), URLS)
            for url, dom in zip(URLS, pages, strict=True):
                (dumps / dump_name(url)).write_text(dom, encoding="utf-8")
    (folder / "outcome.json").write_text(json.dumps(outcome), encoding="utf-8")


@pytest.fixture(scope="session")
def poisoned_site(tmp_path_factory: pytest.TempPathFactory, sample_tables) -> Path:
    """The book built from the poisoned sample, with Chromium's DOM of every page in ``dumps/``.

    pytest-xdist workers share one build: the first worker builds under a file lock in the
    session's common temporary folder, and the others read what it left.
    """
    base = tmp_path_factory.getbasetemp()
    common = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = common / "poisoned-site"
    with locked(common / "poisoned-site.lock"):
        if not (folder / "outcome.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build_and_dump(folder, sample_tables)
    outcome = json.loads((folder / "outcome.json").read_text(encoding="utf-8"))
    assert outcome["returncode"] == 0, outcome["stderr"]
    return folder


def dom_of(site: Path, url: str) -> Dom:
    return parse_dom((site / "dumps" / dump_name(url)).read_text(encoding="utf-8"))


def static_title(site: Path, page: str) -> str:
    return parse_dom((site / "root" / "_build" / "html" / page).read_text(encoding="utf-8")).title


def search_script_body() -> str:
    return _EXAMPLE_SEARCH_SCRIPT.strip().removeprefix("<script>").removesuffix("</script>").strip()


def test_detector_flags_raw_payloads(tmp_path: Path) -> None:
    # A page with the payloads unescaped: the checks below must see each of them run.
    page = tmp_path / "raw.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>raw</title></head><body>{EVERY_PAYLOAD}</body></html>",
        encoding="utf-8",
    )

    dom = parse_dom(dump_dom(page.as_uri(), tmp_path))

    assert dom.title == "PWNED"
    assert dom.body.get("data-pwned") in ("1", "svg")
    assert "<img src=x>" in dom.flagged
    assert any(MARK in text.lower() for text, _ in dom.scripts)
    assert any(entry.startswith("<a href=") for entry in dom.flagged)


def test_no_payload_runs(poisoned_site: Path) -> None:
    for url in URLS:
        dom = dom_of(poisoned_site, url)
        page = url.split("?")[0]

        assert dom.title == static_title(poisoned_site, page), url
        assert "PWNED" not in dom.title, url
        assert "data-pwned" not in dom.body, url
        assert dom.flagged == [], url
        assert [text for text, _ in dom.scripts if MARK in text.lower()] == [], url


def test_payloads_shown_as_text(poisoned_site: Path) -> None:
    for benchmark in BENCHMARKS:
        url = f"book/pages/{benchmark.key}.html"
        text = "".join(dom_of(poisoned_site, url).text)

        for payload in PAYLOADS:
            assert payload in text, (url, payload)


def test_outputs_hold_only_search_script(poisoned_site: Path) -> None:
    expected = search_script_body()

    for url in URLS:
        in_outputs = [
            text.strip() for text, in_output in dom_of(poisoned_site, url).scripts if in_output
        ]

        if url.startswith("book/pages/") and "overview" not in url:
            assert in_outputs == [expected], url
        else:
            assert in_outputs == [], url


def test_search_shows_payloads_as_text(poisoned_site: Path) -> None:
    dom = dom_of(poisoned_site, SEARCH)
    text = "".join(dom.text)

    assert "found 8 page(s)" in text
    assert SCRIPT in text
    assert IMAGE in text


def test_site_loads_no_remote_script(poisoned_site: Path) -> None:
    # The browser here has no network, so a script from another host would run untested.
    html = poisoned_site / "root" / "_build" / "html"
    pages = sorted(html.rglob("*.html"))
    assert len(pages) >= len(PAGES)
    for page in pages:
        sources = re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", page.read_text(encoding="utf-8"))
        remote = [source for source in sources if re.match(r"(?i)([a-z]+:)?//", source)]
        assert remote == [], page
