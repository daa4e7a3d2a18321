"""A small scripted OpenAI-compatible server on 127.0.0.1 for the untrusted-server tests, and an
in-memory keyring: no model loads, nothing touches the machine's real keyring."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

import keyring
from keyring.backend import KeyringBackend

Script = Callable[[BinaryIO], None]


def sse(*chunks: object) -> bytes:
    """Server-sent events: one `data:` line per chunk (bytes are sent as they are)."""
    out = b""
    for chunk in chunks:
        data = chunk if isinstance(chunk, bytes) else json.dumps(chunk).encode()
        out += b"data: " + data + b"\n\n"
    return out


def chat_chunk(content: object) -> dict[str, object]:
    return {"choices": [{"delta": {"content": content}, "finish_reason": None}]}


class Hostile:
    """Answers GET /v1/models with one model and every POST with `script`, writing to the
    socket directly after a 200 text/event-stream header (or `status` and `body`, if given).
    Records each request's path and Authorization header, and how many bytes a script sent."""

    def __init__(
        self,
        script: Script | bytes = b"data: [DONE]\n\n",
        status: int = 200,
        body: bytes = b"",
        content_type: str = "text/event-stream",
        model: str = "hostile-instruct",
    ) -> None:
        self.script = script
        self.status, self.body, self.content_type = status, body, content_type
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self.sent = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(("GET", self.path, self.headers.get("Authorization")))
                data = json.dumps({"object": "list", "data": [{"id": model}]}).encode()
                self._answer(200, "application/json", data)

            def do_POST(self) -> None:
                owner.requests.append(("POST", self.path, self.headers.get("Authorization")))
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if owner.status != 200:
                    self._answer(owner.status, owner.content_type, owner.body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    if isinstance(owner.script, bytes):
                        self.wfile.write(owner.script)
                    else:
                        owner.script(self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up: what a cancel or a refused line does

            def _answer(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def endless_line(self, seconds: float, piece: bytes, pause: float = 0.0) -> Script:
        """A `data:` line that never ends: `piece` after `piece` for at most `seconds`."""

        def script(out: BinaryIO) -> None:
            out.write(b"data: ")
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                out.write(piece)
                out.flush()
                self.sent += len(piece)
                if pause:
                    time.sleep(pause)

        return script

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class MemoryKeyring(KeyringBackend):
    """The OS keyring's interface, in memory: the test must not write the machine's keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.saved.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.saved[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.saved.pop((service, username), None)


def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        yield memory
    finally:
        keyring.set_keyring(previous)
