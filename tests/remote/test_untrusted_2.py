"""More of a hostile server against the real RemoteEngine: an answer whose headers never end.
Scripted servers on 127.0.0.1, each bounded in time; no model loads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.engine import servers as remote
from desktop.core.engine.remote.openai import RemoteEngine, remote_models
from desktop.core.engine.servers import RemoteServer
from desktop.core.errors import RemoteError


@pytest.fixture(autouse=True)
def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))


class Trickler:
    """Accepts connections and sends a status line, then one header line every `pause`
    seconds, for at most `seconds`: headers that never end, each line well within a timeout."""

    def __init__(self, seconds: float = 30.0, pause: float = 0.3) -> None:
        self.seconds, self.pause = seconds, pause
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.seconds
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                while time.monotonic() < deadline and not self.stop.wait(self.pause):
                    conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass  # the client hung up

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    server = Trickler()
    yield server
    server.close()


def test_a_model_list_whose_headers_never_end_is_given_up_in_time(trickler: Trickler) -> None:
    engine = RemoteEngine(RemoteServer("slow", trickler.url), "", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="did not answer in time"):
        engine.models()
    assert time.monotonic() - started < 2 * 1.0 + 1.5


def test_one_such_server_does_not_hold_up_the_model_list(trickler: Trickler) -> None:
    remote.add_server("slow", trickler.url)
    started = time.monotonic()
    found, problems = remote_models(timeout=1.0)
    assert time.monotonic() - started < 2 * 1.0 + 1.5
    assert found == []
    assert len(problems) == 1 and "slow" in problems[0] and "in time" in problems[0]


def test_a_model_list_given_up_leaves_no_thread_or_connection_behind(trickler: Trickler) -> None:
    engine = RemoteEngine(RemoteServer("slow", trickler.url), "", timeout=0.5)
    for _ in range(3):
        with pytest.raises(RemoteError, match="did not answer in time"):
            engine.models()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and _helpers_alive():
        time.sleep(0.05)
    assert _helpers_alive() == 0  # the trickler would hold each one for 30 s


def _helpers_alive() -> int:
    return sum(t.name == "duet-remote-get" and t.is_alive() for t in threading.enumerate())
