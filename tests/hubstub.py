"""Loopback stand-ins for the Hugging Face Hub and ModelScope, for the download tests.

Each stub serves the files of one local folder as one dataset repository, on 127.0.0.1 with an
ephemeral port, through the endpoints that the real clients call:

Hugging Face (what ``huggingface_hub.snapshot_download`` of a dataset calls in version 2.4.0):

- ``GET  /api/datasets/{repo_id}/revision/{revision}``: dataset info with the commit ``sha``.
- ``GET  /api/datasets/{repo_id}/tree/{revision}``: the file list (``recursive=True``).
- ``HEAD /datasets/{repo_id}/resolve/{revision}/{path}``: commit, ETag and size headers.
- ``GET  /datasets/{repo_id}/resolve/{revision}/{path}``: the file content.

ModelScope (what ``modelscope.hub.snapshot_download.dataset_snapshot_download`` calls in
modelscope 1.40.2):

- ``GET /api/v1/datasets/{repo_id}/repo/tree?Revision=..&PageNumber=..``: the file list.
- ``GET /api/v1/datasets/{repo_id}/repo?Revision=..&FilePath=..``: the file content.
- ``GET /api/v1/repos/internalAccelerationInfo``: an empty region address (no internal network).

Faults are set on the stub before the client runs. ``token`` gates the file downloads (401
without a token, 403 with another one). ``status_faults`` returns the given statuses to the
next GET requests of a route, and the key ``"file:HEAD"`` covers the HEAD requests of the route
``file``. ``cut_files`` ends every transfer of those files halfway through the body by closing
the connection. ``file_delay`` slows every file transfer down by that many seconds.
``missing_repo_status`` is the status of a request for another repository: 404, or 401 as the
Hugging Face Hub returns to a request without a token.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

COMMIT = "0123456789abcdef0123456789abcdef01234567"
"""Commit id that the Hugging Face stub reports for its only revision."""

TIMESTAMP = "2024-09-23T17-22-40.123456"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received."""

    method: str
    route: str
    path: str
    token: str | None
    """The token the client sent (Bearer header or ModelScope session cookie), if any."""


class StubHub:
    """A threaded HTTP server on 127.0.0.1 serving ``folder`` as the repository ``repo_id``."""

    def __init__(self, folder: Path, repo_id: str, *, token: str | None = None) -> None:
        self.folder = Path(folder)
        self.repo_id = repo_id
        self.token = token
        self.status_faults: dict[str, list[int]] = {}
        self.cut_files: set[str] = set()
        self.file_delay = 0.0
        self.missing_repo_status = 404
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the running stub, e.g. ``http://127.0.0.1:41234``."""
        assert self._server is not None, "the stub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StubHub:
        self.files = {
            path.relative_to(self.folder).as_posix(): path.read_bytes()
            for path in sorted(self.folder.rglob("*"))
            if path.is_file()
        }
        handler = type("Handler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Return the recorded requests of one route, e.g. ``"file"``."""
        with self._lock:
            return [request for request in self.requests if request.route == route]

    def take_fault(self, route: str) -> int | None:
        """Pop and return the next queued fault status of ``route``, or None if none is queued."""
        with self._lock:
            queued = self.status_faults.get(route)
            return queued.pop(0) if queued else None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def route(self, handler: _Handler, method: str) -> None:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub: StubHub

    def do_GET(self) -> None:
        self.stub.route(self, "GET")

    def do_HEAD(self) -> None:
        self.stub.route(self, "HEAD")

    def log_message(self, format: str, *args: object) -> None:
        # The stub records requests itself; the default handler would write to stderr.
        pass

    def bearer_token(self) -> str | None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return token or None

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(
        self, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> None:
        self.send(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def send_cut(self, body: bytes, headers: dict[str, str]) -> None:
        """Announce the whole body, send half of it, then close the connection."""
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class HuggingFaceStub(StubHub):
    """The Hub endpoints of a dataset download, with routes ``info``, ``tree`` and ``file``."""

    _INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/revision/(?P<revision>[^/]+)$")
    _TREE = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<revision>[^/]+)(/.*)?$")
    _FILE = re.compile(
        r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$"
    )

    def route(self, handler: _Handler, method: str) -> None:
        path = urlsplit(handler.path).path
        found = _match_route({"info": self._INFO, "tree": self._TREE, "file": self._FILE}, path)
        if found is None:
            self.record(RecordedRequest(method, "unknown", path, handler.bearer_token()))
            handler.send_json(404, {"error": "not found"})
            return
        route, match = found

        self.record(RecordedRequest(method, route, path, handler.bearer_token()))
        if unquote(match["repo"]) != self.repo_id:
            headers = {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
            handler.send_json(self.missing_repo_status, {"error": "Repository not found"}, headers)
            return
        if unquote(match["revision"]) not in ("main", COMMIT):
            headers = {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"}
            handler.send_json(404, {"error": "Invalid rev id"}, headers)
            return

        status = self.take_fault(route if method == "GET" else f"{route}:{method}")
        if status is not None:
            handler.send_json(status, {"error": f"stub fault {status}"}, {"Retry-After": "0"})
            return

        if route == "info":
            siblings = [{"rfilename": name} for name in self.files]
            handler.send_json(
                200, {"id": self.repo_id, "sha": COMMIT, "private": False, "siblings": siblings}
            )
        elif route == "tree":
            handler.send_json(200, self._tree())
        else:
            self._send_file(handler, unquote(match["path"]))

    def _tree(self) -> list[dict]:
        entries = []
        folders = sorted({str(Path(name).parent) for name in self.files} - {"."})
        for folder in folders:
            entries.append({"type": "directory", "oid": _git_oid(folder.encode()), "path": folder})
        for name, content in self.files.items():
            entries.append(
                {"type": "file", "oid": _git_oid(content), "size": len(content), "path": name}
            )
        return entries

    def _send_file(self, handler: _Handler, name: str) -> None:
        if self.token is not None:
            sent = handler.bearer_token()
            if sent is None:
                message = (
                    f"Access to dataset {self.repo_id} is restricted. You must have access to "
                    "it and be authenticated to access it. Please log in."
                )
                headers = {"X-Error-Code": "GatedRepo", "X-Error-Message": message}
                handler.send_json(401, {"error": message}, headers)
                return
            if sent != self.token:
                message = (
                    f"Access to dataset {self.repo_id} is restricted and you are not in the "
                    "authorized list."
                )
                headers = {"X-Error-Code": "GatedRepo", "X-Error-Message": message}
                handler.send_json(403, {"error": message}, headers)
                return

        content = self.files.get(name)
        if content is None:
            headers = {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"}
            handler.send_json(404, {"error": "Entry not found"}, headers)
            return

        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{_git_oid(content)}"',
        }
        if handler.command == "GET" and name in self.cut_files:
            handler.send_cut(content, headers)
            return
        if handler.command == "GET":
            time.sleep(self.file_delay)
        handler.send(200, content, headers)


class ModelScopeStub(StubHub):
    """The ModelScope endpoints of a dataset download, with routes ``list`` and ``file``."""

    _LIST = re.compile(r"^/api/v1/datasets/(?P<repo>[^/]+/[^/]+)/repo/tree$")
    _FILE = re.compile(r"^/api/v1/datasets/(?P<repo>[^/]+/[^/]+)/repo$")

    def route(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        token = _cookie_token(handler) or handler.bearer_token()

        if parts.path == "/api/v1/repos/internalAccelerationInfo":
            self.record(RecordedRequest(method, "acceleration", parts.path, token))
            handler.send_json(200, _ok({"InternalRegionQueryAddress": ""}))
            return

        found = _match_route({"list": self._LIST, "file": self._FILE}, parts.path)
        if found is None:
            self.record(RecordedRequest(method, "unknown", parts.path, token))
            handler.send_json(404, _error(404, "not found"))
            return
        route, match = found

        self.record(RecordedRequest(method, route, handler.path, token))
        if unquote(match["repo"]) != self.repo_id:
            handler.send_json(404, _error(404, f"dataset {match['repo']} not found"))
            return

        status = self.take_fault(route)
        if status is not None:
            handler.send_json(status, _error(status, f"stub fault {status}"), {"Retry-After": "0"})
            return

        if route == "list":
            page = int(query.get("PageNumber", ["1"])[0])
            files = self._listing() if page == 1 else []
            handler.send_json(200, _ok({"Files": files}))
            return

        if self.token is not None and token != self.token:
            status = 401 if token is None else 403
            handler.send_json(status, _error(status, "access to this dataset is restricted"))
            return
        name = query.get("FilePath", [""])[0]
        content = self.files.get(name)
        if content is None:
            handler.send_json(404, _error(404, f"file {name} not found"))
            return
        headers = {"Content-Type": "application/octet-stream"}
        if name in self.cut_files:
            handler.send_cut(content, headers)
            return
        handler.send(200, content, headers)

    def _listing(self) -> list[dict]:
        return [
            {
                "Path": name,
                "Name": name.rsplit("/", 1)[-1],
                "Type": "blob",
                "Size": len(content),
                "Sha256": hashlib.sha256(content).hexdigest(),
            }
            for name, content in self.files.items()
        ]


def _match_route(routes: dict[str, re.Pattern[str]], path: str) -> tuple[str, re.Match[str]] | None:
    for route, pattern in routes.items():
        match = pattern.match(path)
        if match:
            return route, match
    return None


def _cookie_token(handler: _Handler) -> str | None:
    for part in handler.headers.get("Cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "m_session_id" and value:
            return value
    return None


def _ok(data: object) -> dict:
    return {"Code": 200, "Data": data, "Message": "success", "Success": True}


def _error(status: int, message: str) -> dict:
    return {"Code": status, "Message": message, "Success": False}


def _git_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def write_hub_snapshot(folder: Path, model: str) -> Path:
    """Write a small Hub-shaped dump of ``model`` into ``folder`` and return it.

    The sample generator writes it when it is importable. Without it, this function writes a
    README with ``configs:`` and two small Parquet files, MMLU details and the metrics.
    """
    try:
        from evalbook.sample import write_snapshot
    except ImportError:
        write_snapshot = None
    if write_snapshot is not None:
        return Path(write_snapshot(folder, model=model))

    data = Path(folder) / f"{model}-evals"
    data.mkdir(parents=True)
    details = f"{model}-evals/Details_mmlu_{TIMESTAMP}.parquet.gzip"
    metrics = f"{model}-evals/Details_metrics_details_{TIMESTAMP}.parquet.gzip"

    rows = 400
    details_table = pa.table(
        {
            "task_type": ["Choice"] * rows,
            "task_name": ["mmlu"] * rows,
            "subtask_name": [f"mmlu_chosen_subject_{i % 7}" for i in range(rows)],
            "input_question": [f"Question number {i} about a stub subject?" for i in range(rows)],
            "input_correct_responses": [["Answer: C"]] * rows,
            "is_correct": [i % 3 == 0 for i in range(rows)],
            "benchmark_label": ["MMLU"] * rows,
        }
    )
    pq.write_table(details_table, Path(folder) / details, compression="gzip")
    metrics_table = pa.table(
        {
            "benchmark_label": ["MMLU"],
            "metric_tag": ["macro_avg/acc_char"],
            "metric_value_computed": [33.3],
        }
    )
    pq.write_table(metrics_table, Path(folder) / metrics, compression="gzip")

    readme = (
        "---\n"
        "configs:\n"
        f"- config_name: {model}-evals__mmlu__details\n"
        "  data_files:\n"
        "  - split: latest\n"
        f"    path: ['{details}']\n"
        f"- config_name: {model}-evals__metrics\n"
        "  data_files:\n"
        "  - split: latest\n"
        f"    path: ['{metrics}']\n"
        "---\n"
        f"# {model}-evals (stub)\n"
    )
    (Path(folder) / "README.md").write_text(readme, encoding="utf-8")
    return Path(folder)
