"""Remote engines against a real OpenAI-compatible server on 127.0.0.1: llama-cpp-python's own
`llama_cpp.server`, serving the starter instruct model."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from desktop.core.chat.prompts import Message, exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.run import Column, Comparison, run_columns
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.factory import render_input, server_request
from desktop.core.engine.local.client import EngineClient
from desktop.core.engine.remote.openai import RemoteEngine
from desktop.core.engine.servers import RemoteServer
from desktop.core.errors import RemoteError
from desktop.core.models.library import Library
from tests.integration.test_cli import duet

pytestmark = pytest.mark.slow
GREEDY = SamplingParams(temperature=0.0, max_tokens=8, seed=0)
STORY = "Once upon a time, in a small village by the sea, there lived"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--n_threads",
            "1",
            "--flash_attn",
            "true",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (
                httpx2.get(
                    url + "/v1/models", timeout=1, headers={"Authorization": "Bearer sekrit"}
                ).status_code
                < 500
            ):
                return proc, url
        except httpx2.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


@pytest.fixture(scope="module")
def server(instruct_path: Path) -> Iterator[RemoteServer]:
    proc, url = start_server(instruct_path)
    yield RemoteServer("test", url)
    proc.kill()
    proc.wait()


@pytest.fixture
def engine(server: RemoteServer) -> RemoteEngine:
    remote = RemoteEngine(server, "")
    remote.model = remote.models()[0]
    return remote


def collect(events: Iterator[p.Event]) -> tuple[list[p.Token], p.Event]:
    tokens: list[p.Token] = []
    for event in events:
        if isinstance(event, p.Token):
            tokens.append(event)
        else:
            return tokens, event
    raise AssertionError("no final event")


def test_raw_mode_streams_the_prompt_unchanged(engine: RemoteEngine, instruct_path: Path) -> None:
    tokens, final = collect(engine.generate(exact(STORY), GREEDY, top_k_probs=3))
    assert isinstance(final, p.Done) and final.reason is p.StopReason.MAX_TOKENS
    assert len(tokens) == 8 and "".join(t.text for t in tokens) == final.text
    assert all(t.logprob is not None and t.top for t in tokens)
    # The same text through the local engine gives the same greedy start: nothing was added.
    with EngineClient(instruct_path, EngineConfig(n_ctx=1024)) as local:
        local_text = "".join(
            e.text for e in local.generate(exact(STORY), GREEDY) if isinstance(e, p.Token)
        )
    assert final.text[:12] == local_text[:12]


def test_chat_mode_streams_and_ends_its_turn(engine: RemoteEngine) -> None:
    tokens, final = collect(
        engine.generate(
            server_request([Message("user", "Say hello.")], "test"),
            GREEDY.with_changes(max_tokens=200),
        )
    )
    assert isinstance(final, p.Done) and final.reason is p.StopReason.EOS
    assert len(tokens) > 1 and final.text.strip()


def test_stop_reasons(engine: RemoteEngine) -> None:
    free = collect(engine.generate(exact(STORY), GREEDY.with_changes(max_tokens=30)))[1]
    assert isinstance(free, p.Done)
    word = free.text.split()[3]
    _, stopped = collect(engine.generate(exact(STORY, (word,)), GREEDY.with_changes(max_tokens=30)))
    assert isinstance(stopped, p.Done) and stopped.reason is p.StopReason.STOP_STRING
    assert word not in stopped.text


def test_cancel_closes_the_stream(engine: RemoteEngine) -> None:
    tokens: list[p.Token] = []
    for event in engine.generate(exact(STORY), SamplingParams(max_tokens=500, seed=1)):
        if isinstance(event, p.Token):
            tokens.append(event)
            if len(tokens) == 3:
                engine.cancel()
        else:
            final = event
            break
    assert isinstance(final, p.Done) and final.reason is p.StopReason.CANCELLED
    assert len(tokens) <= 4


def test_a_killed_server_mid_stream_is_a_plain_error(instruct_path: Path) -> None:
    proc, url = start_server(instruct_path)
    remote = RemoteEngine(RemoteServer("dying", url), "")
    remote.model = remote.models()[0]
    text: list[str] = []
    final = None
    for event in remote.generate(
        exact(STORY), SamplingParams(max_tokens=800, seed=2, repeat_penalty=1.3)
    ):
        if isinstance(event, p.Token):
            text.append(event.text)
            if len(text) == 5:
                proc.send_signal(signal.SIGKILL)
        else:
            final = event
            break
    proc.wait()
    assert isinstance(final, p.Failed) and "broke during the reply" in final.message
    assert len(text) >= 5  # what came before is kept by the caller


def test_a_wrong_key_gets_the_401_message(
    instruct_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, url = start_server(instruct_path, "--api_key", "sekrit")
    try:
        monkeypatch.setenv("TEST_DUET_KEY", "wrong")
        remote = RemoteEngine(RemoteServer("keyed", url, "TEST_DUET_KEY"), "x")
        _, final = collect(remote.generate(exact("Hi"), GREEDY))
        assert (
            isinstance(final, p.Failed)
            and "refused the API key (401): set TEST_DUET_KEY" in final.message
        )
        monkeypatch.setenv("TEST_DUET_KEY", "sekrit")
        assert remote.models()
    finally:
        proc.kill()
        proc.wait()


def test_server_down_is_a_plain_message() -> None:
    remote = RemoteEngine(RemoteServer("gone", f"http://127.0.0.1:{free_port()}"), "x")
    _, final = collect(remote.generate(exact("Hi"), GREEDY))
    assert isinstance(final, p.Failed) and "Cannot reach the server gone" in final.message


def test_compare_a_local_model_with_a_remote_one(
    engine: RemoteEngine, starter_paths: tuple[Path, Path]
) -> None:
    library = Library()
    local = library.resolve("gemma-3-270m")
    remote_model = library.resolve("smollm2-135m-instruct")  # what the server serves
    columns = [Column(m, "raw", render_input(m, "raw", STORY)) for m in (local, remote_model)]
    comparison = Comparison(STORY, None, GREEDY, columns)
    with EngineClient(local.path, EngineConfig(n_ctx=1024)) as local_engine:
        run_columns([local_engine, engine], comparison)
    assert all(c.done is not None and c.text for c in columns)
    assert comparison.divergence is not None


def test_cli_remote_add_list_generate_rm(server: RemoteServer) -> None:
    added = duet("remote", "add", "box", server.url)
    assert added.returncode == 0 and "1 model(s)" in added.stdout
    assert "box" in duet("remote", "list").stdout
    raw = duet("generate", "--model", "remote:box", "--mode", "raw", "-t", "0", "-n", "5", STORY)
    assert raw.returncode == 0 and raw.stdout.strip() and "[remote:box/" in raw.stderr
    chat = duet(
        "generate", "--model", "remote:box", "--mode", "chat", "-n", "10", "--show-prompt", "Hi"
    )
    assert chat.returncode == 0 and "chat · stopped" in chat.stderr
    # The same path as a local model's: the prompt shown is what the server is sent.
    assert "--- prompt (the chat template of the server box) ---" in chat.stderr
    assert '"content": "Hi"' in chat.stderr
    lacking = duet("generate", "--model", "remote:box/nope", "Hi")
    assert lacking.returncode == 1 and "The server box has no model nope" in lacking.stderr
    assert duet("remote", "rm", "box").returncode == 0
    gone = duet("generate", "--model", "remote:box", "Hi")
    assert gone.returncode == 1 and "no server named box" in gone.stderr


def test_a_model_the_server_lacks_is_named_in_the_message(server: RemoteServer) -> None:
    with pytest.raises(RemoteError, match="The server test has no model nope: it serves"):
        RemoteEngine(server, "nope").load()


def test_a_server_that_does_not_answer_times_out_with_a_message() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        port = silent.getsockname()[1]
        remote = RemoteEngine(RemoteServer("slow", f"http://127.0.0.1:{port}"), "x", timeout=0.5)
        _, final = collect(remote.generate(exact("Hi"), GREEDY))
        assert isinstance(final, p.Failed) and "did not answer in time" in final.message
    finally:
        silent.close()


def test_a_url_that_is_not_an_openai_server_is_a_plain_message(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "models").write_text("<html>a web page</html>")
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        remote = RemoteEngine(RemoteServer("web", f"http://127.0.0.1:{port}"), "x")
        deadline = time.monotonic() + 20
        while True:
            try:
                remote.models()
            except RemoteError as exc:
                if "Cannot reach" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)  # still starting
                    continue
                assert "is not a model list" in str(exc)
                break
            raise AssertionError("a web page was taken for a model list")
        (tmp_path / "v1" / "models").unlink()  # a wrong port: another web server, no API
        with pytest.raises(RemoteError, match="has no /v1/models: check the URL and port"):
            remote.models()
    finally:
        web.kill()
        web.wait()
