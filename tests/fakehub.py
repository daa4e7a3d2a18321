"""A local stand-in for the Hugging Face Hub, on 127.0.0.1, reached through HF_ENDPOINT.

It serves what Duet's Hub code uses: the model search and model info APIs, /resolve with a
redirect and the LFS headers (X-Repo-Commit, ETag = sha256, sizes), and file bytes with HTTP
Range. Fault modes: cut the connection after N bytes, send wrong bytes, answer with a chosen
status (401, 403 gated, 404, 429), go slow. It counts every request and every byte it sends.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

CHUNK = 64 * 1024


@dataclass
class FakeFile:
    name: str
    data: bytes | None = None
    path: Path | None = None
    sha256: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        if self.data is not None:
            self.size = len(self.data)
            self.sha256 = self.sha256 or hashlib.sha256(self.data).hexdigest()
        elif self.path is not None:
            self.size = self.path.stat().st_size
            if not self.sha256:
                digest = hashlib.sha256()
                with self.path.open("rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                self.sha256 = digest.hexdigest()

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.path is not None
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile]
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    downloads: int = 0
    gated: bool = False
    base_model: str | None = None
    commit: str = "c0ffee" * 6 + "abcd"


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Request] = []
        self.bytes_sent: dict[str, int] = {}
        self.lock = threading.Lock()
        # Fault modes
        self.cut_after: int | None = None  # bytes of body before the connection drops
        self.cuts_left = 0  # how many responses get cut
        self.corrupt: set[str] = set()  # file names served with wrong bytes
        self.status: dict[str, tuple[int, dict[str, str]]] = {}  # path prefix -> forced reply
        self.delay_per_chunk = 0.0
        self.ignore_range = False
        hub = self

        class Handler(_Handler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(self, repo_id: str, files: dict[str, bytes | Path], **kwargs: object) -> FakeRepo:
        fake_files = {
            name: FakeFile(name, data=content)
            if isinstance(content, bytes)
            else FakeFile(name, path=content)
            for name, content in files.items()
        }
        repo = FakeRepo(repo_id, fake_files, **kwargs)  # type: ignore[arg-type]
        self.repos[repo_id] = repo
        return repo

    def file_requests(self, name: str) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == "GET" and r.path.startswith("/cdn/") and r.path.endswith("/" + name)
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    # Routing ------------------------------------------------------------------------------------

    def _route(self, head: bool) -> None:
        fake = self.fake
        url = urlparse(self.path)
        path = unquote(url.path)
        with fake.lock:
            fake.requests.append(
                Request(
                    self.command, path, self.headers.get("Range"), self.headers.get("Authorization")
                )
            )
        for prefix, (code, headers) in fake.status.items():
            if path.startswith(prefix):
                return self._reply(code, b'{"error": "forced"}', headers, head)
        if path == "/api/models":
            return self._search(parse_qs(url.query), head)
        if match := re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/[^/]+)?", path):
            return self._model_info(match[1], head)
        if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            return self._resolve(match[1], match[3], head)
        if match := re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", path):
            return self._serve(match[1], match[2], head)
        return self._reply(404, b"{}", {"X-Error-Code": "RepoNotFound"}, head)

    def _search(self, query: dict[str, list[str]], head: bool) -> None:
        words = (query.get("search") or [""])[0].lower()
        wanted = query.get("filter") or []
        limit = int((query.get("limit") or ["100"])[0])
        repos = [
            r
            for r in self.fake.repos.values()
            if words in r.repo_id.lower() and all(tag in r.tags for tag in wanted)
        ]
        repos.sort(key=lambda r: r.downloads, reverse=True)
        body = [
            {
                "id": r.repo_id,
                "modelId": r.repo_id,
                "downloads": r.downloads,
                "likes": 0,
                "tags": r.tags,
                "gated": r.gated,
                "private": False,
            }
            for r in repos[:limit]
        ]
        self._reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _model_info(self, repo_id: str, head: bool) -> None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            return self._reply(404, b"{}", {"X-Error-Code": "RepoNotFound"}, head)
        if repo.gated and not self.headers.get("Authorization"):
            return self._reply(403, b"{}", {"X-Error-Code": "GatedRepo"}, head)
        body = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.commit,
            "tags": repo.tags,
            "downloads": repo.downloads,
            "likes": 0,
            "gated": repo.gated,
            "private": False,
            "cardData": {"base_model": repo.base_model} if repo.base_model else {},
            "siblings": [
                {
                    "rfilename": f.name,
                    "size": f.size,
                    "blobId": f.sha256[:40],
                    "lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": 134},
                }
                for f in repo.files.values()
            ],
        }
        self._reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _file(self, repo_id: str, name: str) -> tuple[FakeRepo, FakeFile] | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._reply(404, b"{}", {"X-Error-Code": "RepoNotFound"}, self.command == "HEAD")
            return None
        if repo.gated and not self.headers.get("Authorization"):
            self._reply(403, b"{}", {"X-Error-Code": "GatedRepo"}, self.command == "HEAD")
            return None
        file = repo.files.get(name)
        if file is None:
            self._reply(404, b"{}", {"X-Error-Code": "EntryNotFound"}, self.command == "HEAD")
            return None
        return repo, file

    def _lfs_headers(self, repo: FakeRepo, file: FakeFile) -> dict[str, str]:
        return {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{file.sha256}"',
            "X-Linked-Etag": f'"{file.sha256}"',
            "X-Linked-Size": str(file.size),
            "Accept-Ranges": "bytes",
        }

    def _resolve(self, repo_id: str, name: str, head: bool) -> None:
        found = self._file(repo_id, name)
        if found is None:
            return
        repo, file = found
        headers = {**self._lfs_headers(repo, file), "Location": f"/cdn/{repo_id}/{name}"}
        self._reply(302, b"", headers, head)

    def _serve(self, repo_id: str, name: str, head: bool) -> None:
        found = self._file(repo_id, name)
        if found is None:
            return
        repo, file = found
        start, end, status = 0, file.size, 200
        wanted = self.headers.get("Range")
        if wanted and not self.fake.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
            if match:
                start = int(match[1])
                end = min(file.size, int(match[2]) + 1) if match[2] else file.size
                if start >= file.size:
                    return self._reply(416, b"", {"Content-Range": f"bytes */{file.size}"}, head)
                status = 206
        headers = {**self._lfs_headers(repo, file), "Content-Length": str(end - start)}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        fake = self.fake
        with fake.lock:
            cut = fake.cut_after if fake.cuts_left > 0 else None
            if cut is not None:
                fake.cuts_left -= 1
        plain = cut is None and name not in fake.corrupt and not fake.delay_per_chunk
        if plain and file.path is not None:
            # No fault to inject: let the kernel send the file, so this server costs little CPU
            # and a benchmark measures the client, not the server.
            self.wfile.flush()
            with file.path.open("rb") as handle:
                sent = _sendfile(self.connection, handle, start, end - start)
            with fake.lock:
                fake.bytes_sent[name] = fake.bytes_sent.get(name, 0) + sent
            return
        sent, pos = 0, start
        while pos < end:
            chunk = file.read(pos, min(end, pos + CHUNK))
            if name in fake.corrupt:
                chunk = bytes(b ^ 0xFF for b in chunk)
            if cut is not None and sent + len(chunk) > cut:
                chunk = chunk[: cut - sent]
            try:
                self.wfile.write(chunk)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            pos += len(chunk)
            with fake.lock:
                fake.bytes_sent[name] = fake.bytes_sent.get(name, 0) + len(chunk)
            if cut is not None and sent >= cut:
                self.close_connection = True
                self.connection.shutdown(2)  # the connection drops mid-body
                return
            if fake.delay_per_chunk:
                time.sleep(fake.delay_per_chunk)

    def _reply(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def _sendfile(sock: object, handle: object, offset: int, count: int) -> int:
    import os

    out, src, sent = sock.fileno(), handle.fileno(), 0  # type: ignore[attr-defined]
    while sent < count:
        try:
            n = os.sendfile(out, src, offset + sent, count - sent)
        except (BrokenPipeError, ConnectionResetError):
            break
        if n == 0:
            break
        sent += n
    return sent
