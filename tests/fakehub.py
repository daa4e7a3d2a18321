"""A local stand-in for the Hugging Face Hub, on 127.0.0.1, reached through HF_ENDPOINT.

It serves what Duet's Hub code uses: the model search and model info APIs, /resolve with a
redirect and the LFS headers (X-Repo-Commit, ETag = sha256, sizes), and file bytes with HTTP
Range, over http or https (a self-signed certificate from `tls_pair`). Fault modes: cut the
connection after N bytes, send wrong bytes, answer with a chosen status (401, 403 gated, 404,
429), go slow. Hostile modes, for the untrusted-input tests: a commit id that is a path, a CDN
on another origin or a redirect to one (plain http included), a 206 for the wrong range, a
malformed status line or Content-Length, a request accepted and never answered, a body that
stalls, Range ignored, API answers of any JSON, search pages that link to a next page forever.
It counts every request and every byte it sends.

`FakeProxy` is a forwarding HTTP proxy on 127.0.0.1 that records what went through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import shutil
import ssl
import subprocess
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
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
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
        # Hostile modes
        self.cdn_status: tuple[int, dict[str, str]] | None = None  # forced reply to /cdn/ GETs
        self.forced_body = b'{"error": "forced"}'  # the body of a forced reply
        self.forced_left: int | None = None  # forced replies still to send; None: all of them
        self.range_from_zero = 0  # ranged GETs answered 206 from byte 0 (and saying so)
        # /cdn/ answers are broken: "status" (not a number), else the Content-Length sent
        self.malformed: str | None = None
        self.hang: set[str] = set()  # "GET /cdn/", "HEAD /org/": read the request, never answer
        self.stall_after: int | None = None  # bytes of body, then silence until close()
        self.cdn_origin: str | None = None  # /resolve redirects to this origin's /cdn/
        self.cdn_redirect: str | None = None  # /cdn/ answers 302 to this origin, same path
        self.no_sha256 = False  # ETags that are not a sha256 (a file stored in git)
        # If set, the JSON of every search and model-info answer (bytes: the body as it is).
        self.api_json: object = None
        self.endless_pages = False  # search answers are empty pages, each linking to a next
        self.released = threading.Event()  # set by close(): hanging handlers return
        self.scheme = "https" if tls is not None else "http"
        hub = self

        class Handler(_Handler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            # The handshake happens in the handler's thread (see _Handler.setup), not in accept.
            self.server.socket = tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

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

    def cdn_requests(self) -> list[Request]:
        """The GETs of file bytes, from any repository."""
        return [r for r in self.requests if r.method == "GET" and r.path.startswith("/cdn/")]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True

    def handle(self) -> None:
        # A client that went away, or refused the certificate.
        with contextlib.suppress(OSError, ssl.SSLError):
            super().handle()

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
        if any(f"{self.command} {path}".startswith(prefix) for prefix in fake.hang):
            fake.released.wait(60)  # accepted, read, never answered
            self.close_connection = True
            return
        for prefix, (code, headers) in fake.status.items():
            if path.startswith(prefix):
                return self._reply(code, b'{"error": "forced"}', headers, head)
        forced = fake.cdn_status
        if forced is not None and not head and path.startswith("/cdn/") and self._take_forced():
            return self._reply(forced[0], fake.forced_body, forced[1], head)
        if fake.api_json is not None and path.startswith("/api/models"):
            raw = fake.api_json
            body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
            return self._reply(200, body, {"Content-Type": "application/json"}, head)
        if path == "/api/models" and fake.endless_pages:
            link = f'<{fake.url}/api/models?page={len(fake.requests)}>; rel="next"'
            return self._reply(200, b"[]", {"Content-Type": "application/json", "Link": link}, head)
        if path == "/api/models":
            return self._search(parse_qs(url.query), head)
        if match := re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/[^/]+)?", path):
            return self._model_info(match[1], head)
        if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            return self._resolve(match[1], match[3], head)
        if match := re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", path):
            return self._serve(match[1], match[2], head)
        return self._reply(404, b"{}", {"X-Error-Code": "RepoNotFound"}, head)

    def _take_forced(self) -> bool:
        with self.fake.lock:
            if self.fake.forced_left is None:
                return True
            if self.fake.forced_left <= 0:
                return False
            self.fake.forced_left -= 1
            return True

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
        # A file stored in git (not LFS) has its git blob id as ETag: 40 hex, not a sha256.
        etag = file.sha256[:40] if self.fake.no_sha256 else file.sha256
        return {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{etag}"',
            "X-Linked-Etag": f'"{etag}"',
            "X-Linked-Size": str(file.size),
            "Accept-Ranges": "bytes",
        }

    def _resolve(self, repo_id: str, name: str, head: bool) -> None:
        found = self._file(repo_id, name)
        if found is None:
            return
        repo, file = found
        cdn = f"{self.fake.cdn_origin or ''}/cdn/{repo_id}/{name}"
        headers = {**self._lfs_headers(repo, file), "Location": cdn}
        self._reply(302, b"", headers, head)

    def _serve(self, repo_id: str, name: str, head: bool) -> None:
        fake = self.fake
        if fake.cdn_redirect is not None and not head:
            return self._reply(302, b"", {"Location": fake.cdn_redirect + self.path}, head)
        found = self._file(repo_id, name)
        if found is None:
            return
        repo, file = found
        start, end, status = 0, file.size, 200
        wanted = self.headers.get("Range")
        if wanted and not fake.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
            if match:
                start = int(match[1])
                end = min(file.size, int(match[2]) + 1) if match[2] else file.size
                if start >= file.size:
                    return self._reply(416, b"", {"Content-Range": f"bytes */{file.size}"}, head)
                status = 206
                with fake.lock:
                    if start and fake.range_from_zero > 0:
                        fake.range_from_zero -= 1
                        start = 0  # the wrong part, and the Content-Range says so
        if fake.malformed is not None and not head:
            return self._malformed(fake.malformed, start, end, file)
        headers = {**self._lfs_headers(repo, file), "Content-Length": str(end - start)}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        with fake.lock:
            cut = fake.cut_after if fake.cuts_left > 0 else None
            if cut is not None:
                fake.cuts_left -= 1
        stall = fake.stall_after
        plain = (
            cut is None and stall is None and name not in fake.corrupt and not fake.delay_per_chunk
        )
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
            if stall is not None and sent + len(chunk) > stall:
                chunk = chunk[: stall - sent]
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
            if stall is not None and sent >= stall:
                fake.released.wait(60)  # the body stops and the connection stays open
                self.close_connection = True
                return
            if fake.delay_per_chunk:
                time.sleep(fake.delay_per_chunk)

    def _malformed(self, kind: str, start: int, end: int, file: FakeFile) -> None:
        """A reply no HTTP library should accept: a status that is not a number, or a
        Content-Length that is not one."""
        self.close_connection = True
        if kind == "status":
            head = "HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello"
        else:
            head = (
                f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{end - 1}/"
                f"{file.size}\r\nContent-Length: {kind}\r\n\r\n"
            )
        self.wfile.write(head.encode("latin-1") + file.read(start, min(end, start + 1000)))
        self.wfile.flush()

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


def tls_pair(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a fresh self-signed certificate, and the
    certificate file a client trusts it with (SSL_CERT_FILE). Made with the openssl tool."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover
        import pytest

        pytest.skip("the openssl tool is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


class FakeProxy:
    """A forwarding HTTP proxy on 127.0.0.1 (absolute-form GET and HEAD, plain http): what an
    OS proxy setting points at. It records every request it forwarded."""

    def __init__(self) -> None:
        self.seen: list[str] = []  # "GET http://127.0.0.1:1234/cdn/org/Repo/m.gguf"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def _forward(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                target = urlparse(self.path)
                upstream = http.client.HTTPConnection(
                    target.hostname or "", target.port or 80, timeout=30
                )
                skip = {"proxy-connection", "connection", "keep-alive", "host"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, headers=headers)
                answer = upstream.getresponse()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if self.command == "HEAD":
                    upstream.close()
                    return
                try:
                    while block := answer.read(CHUNK):
                        self.wfile.write(block)
                except OSError:
                    pass
                upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self) -> list[str]:
        """The URLs of the GETs it forwarded."""
        return [line[4:] for line in self.seen if line.startswith("GET ")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
