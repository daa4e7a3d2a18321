"""A remote server is untrusted: scripted hostile servers on 127.0.0.1 against the real
RemoteEngine (no model loads). Every stream shape ends in a Done or a plain error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.engine import protocol as p
from desktop.core.prompts import Message
from desktop.core.remote import RemoteEngine, RemoteServer
from desktop.core.sampling import SamplingParams
from tests.remote.hostile import Hostile, MemoryKeyring, chat_chunk, memory_keyring, sse

GREEDY = SamplingParams(temperature=0.0, max_tokens=8, seed=0)
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))


@pytest.fixture
def keys() -> Iterator[MemoryKeyring]:
    yield from memory_keyring()


@pytest.fixture
def servers() -> Iterator[list[Hostile]]:
    started: list[Hostile] = []
    yield started
    for server in started:
        server.close()


def start(servers: list[Hostile], *args: object, **kwargs: object) -> Hostile:
    server = Hostile(*args, **kwargs)  # type: ignore[arg-type]
    servers.append(server)
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_within(
    events: Iterator[p.Event], seconds: float = 10.0
) -> tuple[list[p.Token], p.Event | None, BaseException | None]:
    """Consumes a generation in a thread: a hang fails the test instead of hanging it."""
    tokens: list[p.Token] = []
    result: list[p.Event | BaseException | None] = [None]

    def consume() -> None:
        try:
            for event in events:
                if isinstance(event, p.Token):
                    tokens.append(event)
                else:
                    result[0] = event
                    return
        except BaseException as exc:  # what the window's thread would die of
            result[0] = exc

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the generation did not end within {seconds} s"
    final = result[0]
    if isinstance(final, BaseException):
        return tokens, None, final
    return tokens, final, None


# 16: whatever the stream holds, the generation ends in a Done or a plain error ----------------------

MALFORMED = {
    "content is a number": sse(chat_chunk("Hi"), chat_chunk(5)),
    "content is a list": sse(chat_chunk(["x"])),
    "text is a number": sse({"choices": [{"text": 5}]}),
    "usage is a string": sse(chat_chunk("Hi"), {"usage": "x", "choices": []}),
    "usage counts are words": sse(
        chat_chunk("Hi"), {"usage": {"prompt_tokens": "many", "completion_tokens": [1]}}
    ),
    "usage counts are negative or huge": sse(
        chat_chunk("Hi"), {"usage": {"prompt_tokens": -3, "completion_tokens": 10**400}}
    ),
    "choices is a number": sse({"choices": 5}),
    "choices is a string": sse({"choices": "abc"}),
    "a choice is a number": sse({"choices": [5]}),
    "delta is a string": sse({"choices": [{"delta": "x"}]}),
    "delta is a list": sse({"choices": [{"delta": [1]}]}),
    "finish_reason is a number": sse(
        {"choices": [{"delta": {"content": "a"}, "finish_reason": 5}]}
    ),
    "timings is a string": sse(chat_chunk("Hi"), {"timings": "x"}),
    "logprobs is a number": sse({"choices": [{"delta": {"content": "a"}, "logprobs": 5}]}),
    "logprobs content is a string": sse(
        {"choices": [{"delta": {"content": "a"}, "logprobs": {"content": "zz"}}]}
    ),
    "logprob is a word": sse(
        {
            "choices": [
                {
                    "delta": {"content": "a"},
                    "logprobs": {"content": [{"logprob": "x", "top_logprobs": [5, {"x": 1}]}]},
                }
            ]
        }
    ),
    "logprob is NaN": b'data: {"choices": [{"delta": {"content": "a"}, "logprobs": {"content": [{"token": "a", "logprob": NaN, "top_logprobs": [{"token": 1, "logprob": Infinity}]}]}}]}\n\n',
    "legacy logprobs garbage": sse(
        {
            "choices": [
                {
                    "text": "a",
                    "logprobs": {"tokens": 5, "token_logprobs": "x", "top_logprobs": [[1]]},
                }
            ]
        },
        {
            "choices": [
                {
                    "text": "b",
                    "logprobs": {
                        "tokens": ["b"],
                        "token_logprobs": ["x"],
                        "top_logprobs": [{"b": "y"}],
                    },
                }
            ]
        },
    ),
    "a data line that is not JSON": sse(chat_chunk("Hi"), b"<html>oops</html>"),
    "a data line that is a number": sse(b"5"),
    "a data line that is a list": sse(b"[5]"),
    "a data line that is null": sse(b"null"),
    "invalid UTF-8": b"data: \xff\xfe{\n\n",
    "an error that is a number": sse({"error": 5}),
    "an error with a nested message": sse({"error": {"message": {"deep": [1, 2]}}}),
    "deeply nested JSON": b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n",
}


@pytest.mark.parametrize("shape", list(MALFORMED))
@pytest.mark.parametrize("mode", ["raw", "chat"])
def test_a_malformed_stream_ends_in_a_done_or_a_plain_error(
    servers: list[Hostile], shape: str, mode: str
) -> None:
    server = start(servers, MALFORMED[shape])
    engine = RemoteEngine(RemoteServer("odd", server.url), "hostile-instruct", timeout=5)
    events = (
        engine.generate("Hi", GREEDY, top_k_probs=3)
        if mode == "raw"
        else engine.generate_chat([Message("user", "Hi")], GREEDY, top_k_probs=3)
    )
    tokens, final, raised = run_within(events)
    assert raised is None, f"{type(raised).__name__}: {raised}"
    assert all(isinstance(t.text, str) and isinstance(t.piece, str) for t in tokens)
    for token in tokens:
        assert token.logprob is None or isinstance(token.logprob, float)
        assert all(isinstance(a.logprob, float) and isinstance(a.text, str) for a in token.top)
    if isinstance(final, p.Failed):
        assert final.error == "RemoteError" and "The server odd" in final.message
        assert len(final.message) < 600
    else:
        assert isinstance(final, p.Done) and isinstance(final.text, str)
        assert final.text == "".join(t.text for t in tokens)
        stats = final.stats
        for value in (stats.prompt_tokens, stats.generated_tokens):
            assert isinstance(value, int) and 0 <= value < 2**53


def test_a_line_without_an_end_is_refused_at_one_mib(servers: list[Hostile]) -> None:
    server = start(servers)
    server.script = server.endless_line(20.0, b"x" * 65536)
    engine = RemoteEngine(RemoteServer("flood", server.url), "m", timeout=5)
    started = time.monotonic()
    _, final, raised = run_within(engine.generate_chat([Message("user", "Hi")], GREEDY), 15)
    assert raised is None
    assert isinstance(final, p.Failed) and "longer than 1 MiB" in final.message
    assert time.monotonic() - started < 10
    # The client hung up: the server could not push much more than the limit and the buffers.
    assert server.sent < 16 * MiB


@pytest.mark.parametrize("piece", [b"x", b""], ids=["trickle", "silence"])
def test_cancel_takes_effect_within_a_second_while_a_line_is_received(
    servers: list[Hostile], piece: bytes
) -> None:
    server = start(servers)
    server.script = server.endless_line(15.0, piece, pause=0.05)
    engine = RemoteEngine(RemoteServer("slow", server.url), "m", timeout=30)
    result: list[p.Event] = []

    def consume() -> None:
        result.extend(e for e in engine.generate("Hi", GREEDY) if not isinstance(e, p.Token))

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.6)  # the request is sent and the line has begun
    cancelled = time.monotonic()
    engine.cancel()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - cancelled < 1.0
    assert isinstance(result[0], p.Done) and result[0].reason is p.StopReason.CANCELLED


def test_cancel_takes_effect_within_a_second_before_the_server_answers() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        port = silent.getsockname()[1]
        engine = RemoteEngine(RemoteServer("mute", f"http://127.0.0.1:{port}"), "m", timeout=30)
        result: list[p.Event] = []
        thread = threading.Thread(
            target=lambda: result.extend(engine.generate("Hi", GREEDY)), daemon=True
        )
        thread.start()
        time.sleep(0.5)
        cancelled = time.monotonic()
        engine.cancel()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - cancelled < 1.0
        assert isinstance(result[-1], p.Done) and result[-1].reason is p.StopReason.CANCELLED
    finally:
        silent.close()


def test_a_good_stream_still_streams_with_its_logprobs(servers: list[Hostile]) -> None:
    top = [{"token": "Hel", "logprob": -0.1}, {"token": "Hi", "logprob": -2.5}]
    chunks = [
        {
            "choices": [
                {
                    "delta": {"role": "assistant", "content": "Hel"},
                    "logprobs": {
                        "content": [{"token": "Hel", "logprob": -0.1, "top_logprobs": top}]
                    },
                }
            ]
        },
        chat_chunk("lo"),
        {"choices": [{"delta": {}, "finish_reason": "length"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    ]
    server = start(servers, sse(*chunks, b"[DONE]"))
    engine = RemoteEngine(RemoteServer("good", server.url), "m", timeout=5)
    tokens, final, _ = run_within(engine.generate_chat([Message("user", "Hi")], GREEDY, 2, True))
    assert [t.text for t in tokens] == ["Hel", "lo"]
    assert tokens[0].logprob == pytest.approx(-0.1)
    assert [(a.text, a.token_id) for a in tokens[0].top] == [("Hel", 0), ("Hi", -2)]
    assert isinstance(final, p.Done) and final.text == "Hello"
    assert final.reason is p.StopReason.MAX_TOKENS
    assert (final.stats.prompt_tokens, final.stats.generated_tokens) == (7, 2)


def test_an_html_error_body_becomes_short_plain_text(servers: list[Hostile]) -> None:
    page = (
        b'<html><body><a href="x">click</a><img src="http://192.0.2.7/i.png">' + b"<p>x</p>" * 500
    )
    server = start(servers, status=500, body=page, content_type="text/html")
    engine = RemoteEngine(RemoteServer("web", server.url), "m", timeout=5)
    _, final, _ = run_within(engine.generate("Hi", GREEDY))
    assert isinstance(final, p.Failed) and "HTTP 500" in final.message and "click" in final.message
    assert "<" not in final.message and len(final.message) < 400
