"""A server's model by name (`server_model`, `find_model`): what `--model remote:NAME[/MODEL]`
becomes, against scripted servers on 127.0.0.1 (no model loads)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from desktop.core.engine import servers as remote
from desktop.core.engine.factory import find_model, server_model
from desktop.core.errors import RemoteError
from desktop.core.models.library import Library
from desktop.core.models.served import ServerModel
from tests.remote.hostile import Hostile


@pytest.fixture(autouse=True)
def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile(model="org/Tiny-Instruct")
    yield server
    server.close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def listing(tmp_path: Path, ids: list[str]) -> Iterator[str]:
    """A server whose /v1/models lists exactly these ids (a static file: no model, no script)."""
    (tmp_path / "v1").mkdir(exist_ok=True)
    data = {"object": "list", "data": [{"id": i} for i in ids]}
    (tmp_path / "v1" / "models").write_text(json.dumps(data))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path)))
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("spec", ["", "/model"])
def test_a_spec_without_a_server_name_says_how_to_write_one(spec: str) -> None:
    with pytest.raises(
        RemoteError, match="names no server: give remote:SERVER or remote:SERVER/MODEL"
    ):
        server_model(spec)


@pytest.mark.parametrize("spec", ["nobody", "nobody/some-model"])
def test_a_server_not_configured_is_named_with_the_next_step(spec: str) -> None:
    with pytest.raises(RemoteError, match="no server named nobody: add it with `duet remote add"):
        server_model(spec)


def test_without_a_model_the_servers_first_listed_one(hostile: Hostile) -> None:
    remote.add_server("lab", hostile.url)
    model = server_model("lab")
    assert model == ServerModel(
        "remote:lab/org/Tiny-Instruct", "org/Tiny-Instruct", "lab", "instruct", "name"
    )
    assert [r[:2] for r in hostile.requests] == [("GET", "/v1/models")]
    assert find_model("remote:lab", Library()) == model  # the id form the CLI takes


def test_the_first_of_several_and_a_named_one_without_asking(tmp_path: Path) -> None:
    with listing(tmp_path, ["base-7b", "chat-7b"]) as url:
        remote.add_server("lab", url)
        assert server_model("lab").name == "base-7b"
        named = server_model("lab/chat-7b")
        assert (named.id, named.server, named.kind) == ("remote:lab/chat-7b", "lab", "instruct")


def test_a_server_that_lists_no_models_is_a_plain_message(tmp_path: Path) -> None:
    with listing(tmp_path, []) as url:
        remote.add_server("empty", url)
        with pytest.raises(RemoteError, match="The server empty lists no models"):
            server_model("empty")


def test_a_server_that_does_not_answer_is_a_plain_message() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    remote.add_server("gone", f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteError, match="Cannot reach the server gone"):
        server_model("gone")
