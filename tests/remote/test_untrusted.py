"""A remote server is untrusted: scripted hostile servers on 127.0.0.1 against the real
RemoteEngine (no model loads). A key goes only to the URL it was given for, never silently over
plain http to another machine; every stream shape ends in a Done or a plain error; a damaged
server list is said, not crashed on, and kept."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat.prompts import Message, exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine import servers as remote
from desktop.core.engine.factory import server_request
from desktop.core.engine.remote.openai import RemoteEngine, remote_models
from desktop.core.engine.servers import RemoteServer
from desktop.core.errors import InsecureKey, RemoteError
from desktop.core.paths import app_dirs
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


# 14: a key goes with its server's URL, and only there -----------------------------------------


def test_a_removed_servers_key_is_deleted_and_never_reaches_a_new_server_of_that_name(
    keys: MemoryKeyring, servers: list[Hostile]
) -> None:
    first, second = start(servers), start(servers)
    remote.add_server("lab", first.url, api_key="sekrit")
    RemoteEngine(remote.server("lab"), "").models()
    assert first.requests[-1][2] == "Bearer sekrit"
    remote.remove_server("lab")
    assert keys.saved == {}
    remote.add_server("lab", second.url)
    RemoteEngine(remote.server("lab"), "").models()
    assert second.requests[-1][2] is None


def test_a_key_is_bound_to_the_url_it_was_given_for(
    keys: MemoryKeyring, servers: list[Hostile]
) -> None:
    first, second = start(servers), start(servers)
    remote.add_server("lab", first.url, api_key="sekrit")
    # The server list edited by hand (or by another program) to point the name elsewhere.
    path = app_dirs().config / "remotes.json"
    path.write_text(path.read_text().replace(first.url, second.url))
    RemoteEngine(remote.server("lab"), "").models()
    assert second.requests[-1][2] is None
    # A key left in the keyring under the bare name (how earlier versions kept it) is not used.
    keys.saved[("duet", "lab")] = "old"
    RemoteEngine(remote.server("lab"), "").models()
    assert second.requests[-1][2] is None


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "x" * 200, "has space", "../up"])
def test_a_rejected_name_leaves_nothing_in_the_keyring(
    keys: MemoryKeyring, servers: list[Hostile], name: str
) -> None:
    with pytest.raises(RemoteError, match="cannot name a server"):
        remote.add_server(name, start(servers).url, api_key="sekrit")
    assert keys.saved == {} and remote.servers() == []


def test_a_duplicate_name_is_refused_and_keeps_the_first_key(
    keys: MemoryKeyring, servers: list[Hostile]
) -> None:
    first, second = start(servers), start(servers)
    remote.add_server("lab", first.url, api_key="first")
    saved = dict(keys.saved)
    with pytest.raises(RemoteError, match="already a server named lab"):
        remote.add_server("lab", second.url, api_key="second")
    assert keys.saved == saved
    assert [s.url for s in remote.servers()] == [first.url]


def test_a_url_that_is_not_http_leaves_nothing_in_the_keyring(keys: MemoryKeyring) -> None:
    with pytest.raises(RemoteError, match="is not an http"):
        remote.add_server("lab", "ftp://127.0.0.1/", api_key="sekrit")
    assert keys.saved == {}


# 15: a key over plain http to another machine needs a yes ----------------------------------------


@pytest.mark.parametrize(
    "url", ["http://192.0.2.7:8080", "http://lab.example:8080/v1", "http://[2001:db8::1]:80"]
)
def test_a_key_over_plain_http_to_another_machine_is_refused_without_a_yes(
    keys: MemoryKeyring, url: str
) -> None:
    for kwargs in ({"api_key": "sekrit"}, {"api_key_env": "LAB_KEY"}):
        with pytest.raises(InsecureKey, match="plain http"):
            remote.add_server("lab", url, **kwargs)  # type: ignore[arg-type]
        assert keys.saved == {} and remote.servers() == []
    added = remote.add_server("lab", url, api_key="sekrit", allow_insecure_key=True)
    assert added.insecure_key_ok and remote.server("lab").insecure_key_ok
    assert remote.server("lab").api_key() == "sekrit"
    remote.remove_server("lab")
    remote.add_server("lab", url)  # no key: nothing to protect, no question
    remote.add_server("tls", url.replace("http:", "https:"), api_key="k")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9:8080",
        "http://localhost:8080",
        "http://LocalHost:8080/v1",
        "http://[::1]:8080",
    ],
)
def test_a_key_over_http_to_this_machine_needs_no_yes(keys: MemoryKeyring, url: str) -> None:
    assert not remote.add_server("lab", url, api_key="sekrit").insecure_key_ok


def test_a_hand_edited_list_cannot_send_a_key_over_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = app_dirs().config / "remotes.json"
    path.parent.mkdir(parents=True)
    # 192.0.2.0/24 is reserved for documentation: nothing answers there, and nothing is sent.
    path.write_text(json.dumps([{"name": "lab", "url": "http://192.0.2.7", "api_key_env": "K"}]))
    monkeypatch.setenv("K", "sekrit")
    started = time.monotonic()
    with pytest.raises(RemoteError, match="plain http"):
        RemoteEngine(remote.server("lab"), "", timeout=1).models()
    assert time.monotonic() - started < 0.5  # refused before connecting


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
        engine.generate(exact("Hi"), GREEDY, top_k_probs=3)
        if mode == "raw"
        else engine.generate(server_request([Message("user", "Hi")], "test"), GREEDY, top_k_probs=3)
    )
    tokens, final, raised = run_within(events)
    assert raised is None, f"{type(raised).__name__}: {raised}"
    assert all(isinstance(t.text, str) and isinstance(t.piece, str) for t in tokens)
    for token in tokens:
        assert token.logprob is None or isinstance(token.logprob, float)
        assert all(isinstance(a.logprob, float) and isinstance(a.text, str) for a in token.top)
    if isinstance(final, p.Failed):
        assert isinstance(final.error, RemoteError) and "The server odd" in final.message
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
    _, final, raised = run_within(
        engine.generate(server_request([Message("user", "Hi")], "test"), GREEDY), 15
    )
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
        result.extend(e for e in engine.generate(exact("Hi"), GREEDY) if not isinstance(e, p.Token))

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
            target=lambda: result.extend(engine.generate(exact("Hi"), GREEDY)), daemon=True
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
    tokens, final, _ = run_within(
        engine.generate(server_request([Message("user", "Hi")], "test"), GREEDY, 2, True)
    )
    assert [t.text for t in tokens] == ["Hel", "lo"]
    assert tokens[0].logprob == pytest.approx(-0.1)
    assert [(a.text, a.token_id) for a in tokens[0].top] == [("Hel", 0), ("Hi", -2)]
    assert isinstance(final, p.Done) and final.text == "Hello"
    assert final.reason is p.StopReason.MAX_TOKENS
    assert (final.stats.prompt_tokens, final.stats.generated_tokens) == (7, 2)


# 17: a damaged server list is said, kept, and not crashed on -------------------------------------

DAMAGED = {
    "a number": b"5",
    "an object": b'{"a": 1}',
    "a list of numbers": b"[5]",
    "invalid UTF-8": b"\xff\xfe[]",
    "not JSON": b"[{",
    "a server without a URL": b'[{"name": "lab"}]',
    "a name that is a number": b'[{"name": 5, "url": "http://127.0.0.1:1"}]',
    "a URL that is a list": b'[{"name": "lab", "url": ["http://127.0.0.1:1"]}]',
}


@pytest.mark.parametrize("shape", list(DAMAGED))
def test_a_damaged_server_list_is_an_empty_list_and_a_warning(shape: str) -> None:
    path = app_dirs().config / "remotes.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(DAMAGED[shape])
    assert remote.servers() == []
    found, problems = remote_models()
    assert found == []
    assert any(str(path) in problem and "could not be read" in problem for problem in problems)


def test_a_damaged_server_list_is_kept_when_a_server_is_added(servers: list[Hostile]) -> None:
    path = app_dirs().config / "remotes.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'[{"name": "lab", "url": "http://127.0.0.1:1", "oops": }]')
    remote.add_server("new", start(servers).url)
    assert [s.name for s in remote.servers()] == ["new"]
    backups = list(path.parent.glob("remotes.json.bak*"))
    assert [b.read_bytes() for b in backups] == [
        b'[{"name": "lab", "url": "http://127.0.0.1:1", "oops": }]'
    ]
    found, problems = remote_models()
    assert [m.server for m in found] == ["new"] and problems == []


def test_a_damaged_server_list_is_said_by_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.test_cli import duet

    path = app_dirs().config / "remotes.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"5")
    listed = duet("remote", "list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert "could not be read" in listed.stderr


def test_an_html_error_body_becomes_short_plain_text(servers: list[Hostile]) -> None:
    page = (
        b'<html><body><a href="x">click</a><img src="http://192.0.2.7/i.png">' + b"<p>x</p>" * 500
    )
    server = start(servers, status=500, body=page, content_type="text/html")
    engine = RemoteEngine(RemoteServer("web", server.url), "m", timeout=5)
    _, final, _ = run_within(engine.generate(exact("Hi"), GREEDY))
    assert isinstance(final, p.Failed) and "HTTP 500" in final.message and "click" in final.message
    assert "<" not in final.message and len(final.message) < 400


# 15 in the CLI -------------------------------------------------------------------------------------


def test_the_cli_refuses_a_key_over_plain_http_without_the_flag() -> None:
    from tests.integration.test_cli import duet

    refused = duet("remote", "add", "lab", "http://192.0.2.7:8080", "--api-key-env", "LAB_KEY")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "plain http" in refused.stderr and "--allow-insecure-key" in refused.stderr
    assert remote.servers() == []


def test_the_cli_takes_a_key_over_plain_http_with_the_flag(servers: list[Hostile]) -> None:
    from tests.integration.test_cli import duet

    added = duet("remote", "add", "lab", start(servers).url, "--api-key-env", "LAB_KEY")
    assert added.returncode == 0 and "1 model(s)" in added.stdout  # loopback: no question
    # 0.0.0.0 is not loopback, and on Linux a closed port there is refused at once.
    far = f"http://0.0.0.0:{free_port()}"
    insecure = duet("remote", "add", "far", far, "--api-key-env", "K", "--allow-insecure-key")
    assert insecure.returncode == 0 and "Added far" in insecure.stdout, insecure.stderr
    assert "plain http" in insecure.stderr  # still said
    assert remote.server("far").insecure_key_ok
