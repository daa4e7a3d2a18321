"""The remote engine: one model on an OpenAI-compatible server (llama.cpp's llama-server,
vLLM, Ollama, LM Studio, llama-cpp-python's own server) behind the same events as the local one.

Raw mode means what it means locally: the text goes to /v1/completions, which applies no
template. Chat mode goes to /v1/chat/completions, where the server applies its template.
Streams are read as server-sent events; closing the stream cancels the generation.
A server is untrusted: every field it sends is checked, every line bounded, and anything
unexpected ends the reply with a plain RemoteError. A key goes only to the URL it was given for.
"""

from __future__ import annotations

import json
import math
import queue
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import SERVER, Capabilities
from desktop.core.engine.servers import (
    RemoteServer,
    sends_key_in_clear,
    servers,
    servers_warning,
)
from desktop.core.errors import RemoteError, Unsupported
from desktop.core.models.library import kind_from_name
from desktop.core.models.served import ServerModel

# Servers are untrusted: what one sends is bounded and checked before Duet uses it.
MAX_LINE = 1024 * 1024  # one server-sent event; a longer one is refused, not buffered
MAX_BODY = 4 * 1024 * 1024  # a model list or an error page
MAX_ALTERNATIVES = 20  # per token: more than any request asks for
_POLL = 0.1  # how often a waiting stream looks at cancel: cancel takes effect within this


# Talking to a server ---------------------------------------------------------------------------------


class RemoteEngine:
    """One model on one server, as an Engine. generate() yields the local engine's events, and
    only those: whatever the server sends ends in a Done or a Failed, never in an exception."""

    def __init__(self, remote: RemoteServer, model: str, timeout: float = 60.0) -> None:
        self.remote, self.model, self.timeout = remote, model, timeout
        self._cancel = threading.Event()
        self._raw_missing = False  # the server answered 404 to /v1/completions
        # llama-server's own measurement of the last request (its `timings`), for bench.remote.
        self.server_timings: dict[str, Any] | None = None

    @property
    def capabilities(self) -> Capabilities:
        return replace(SERVER, can_raw=not self._raw_missing)

    @property
    def label(self) -> str:
        return f"{self.model} on the server {self.remote.name}"

    def load(self) -> p.RuntimeInfo:
        """Checks that the server answers and serves the model (there is nothing to load)."""
        started = time.perf_counter()
        models = self.models()
        if self.model not in models:
            raise RemoteError(
                f"The server {self.remote.name} has no model {self.model}: it serves {', '.join(models) or 'none'}.",
                server=self.remote.name,
            )
        return p.RuntimeInfo(
            Path(self.model), 0, 0, 0, False, None, 0, 0, 0, time.perf_counter() - started, 0
        )

    def _headers(self) -> dict[str, str]:
        # A compressed reply could expand far past the line limit before it is checked.
        headers = {"Accept-Encoding": "identity"}
        key = self.remote.api_key()
        if not key:
            return headers
        if sends_key_in_clear(self.remote.url) and not self.remote.insecure_key_ok:
            raise RemoteError(
                f"Duet does not send the API key of {self.remote.name} over plain http to "
                f"{self.remote.url}: it would cross the network unencrypted. Use https, or "
                "remove the server and add it again, accepting that."
            )
        return {**headers, "Authorization": f"Bearer {key}"}

    def models(self) -> list[str]:
        data = self._get_json("/models")
        listed = data.get("data") if isinstance(data, dict) else None
        if not isinstance(listed, list):  # a web page or another API at that URL
            raise RemoteError(
                f"{self.remote.url} answered /v1/models with something that is not a model list: "
                "is it an OpenAI-compatible server?"
            )
        ids = [m.get("id") for m in listed if isinstance(m, dict)]
        return [i for i in ids if isinstance(i, str) and 0 < len(i) <= 512]

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.cancel()

    def score(
        self,
        prompt: str,
        continuation: str = "",
        token_ids: tuple[int, ...] = (),
        top_k: int = 0,
        batched: bool = False,
    ) -> p.Scored:
        raise Unsupported(
            f"The server {self.remote.name} cannot score a given text: pick a local model.",
            capability="can_score",
        )

    def tokenize(self, text: str) -> p.Tokens:
        raise Unsupported(
            f"The server {self.remote.name} does not share its tokenizer.", capability="can_score"
        )

    def generate(
        self,
        prompt: RenderedPrompt,
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        """Chat (the prompt has messages): through /v1/chat/completions, where the server
        renders its template. Raw: the text exactly, through /v1/completions (no template)."""
        s = sampling or SamplingParams()
        if prompt.messages:
            body: dict[str, Any] = {
                "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
                **self._sampling(s, s.stop),  # the server adds its template's own
            }
            if logprobs or top_k_probs:
                body["logprobs"] = True
                body["top_logprobs"] = max(1, top_k_probs)
            yield from self._stream("/chat/completions", body, chat=True)
            return
        body = {"prompt": prompt.text, **self._sampling(s, s.stops_with(prompt.stop))}
        if logprobs or top_k_probs:
            body["logprobs"] = max(1, top_k_probs)
        yield from self._stream("/completions", body, chat=False)

    def _sampling(self, s: SamplingParams, stop: tuple[str, ...]) -> dict[str, Any]:
        self._seed = s.seed if s.seed is not None else random.randrange(2**31)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k,
            "min_p": s.min_p,
            "repeat_penalty": s.repeat_penalty,
            "seed": self._seed,
            "stream": True,
            # Token counts in the last chunk (vLLM, llama-server); servers that ignore it are fine.
            "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = list(stop)
        return body

    def _stream(self, path: str, body: dict[str, Any], chat: bool) -> Iterator[p.Event]:
        # The exchange runs in a reader thread and this generator waits on its queue, so a
        # cancel takes effect within _POLL seconds whatever the server does (connecting,
        # thinking, trickling a line); the reader hangs up at its next read.
        stop = self._cancel = threading.Event()
        events: queue.Queue[str | _End] = queue.Queue(maxsize=64)
        threading.Thread(
            target=self._read, args=(path, body, events, stop), daemon=True, name="duet-remote"
        ).start()
        self.server_timings = None
        started = time.perf_counter()
        first = 0.0
        text: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            while not stop.is_set():
                try:
                    item = events.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    break
                chunk = self._chunk(item)
                if chunk is None or stop.is_set():
                    break  # [DONE], or cancelled while this event arrived
                usage = _dict(chunk.get("usage")) or usage
                self.server_timings = _dict(chunk.get("timings")) or self.server_timings
                for choice in self._choices(chunk):
                    piece = self._piece(choice, chat)
                    reason = choice.get("finish_reason")
                    finish = reason if isinstance(reason, str) else finish
                    if piece:
                        first = first or time.perf_counter()
                        logprob, top = _logprobs(choice.get("logprobs"), chat, len(text))
                        yield p.Token(piece, len(text), piece, logprob, top)
                        text.append(piece)
            cancelled = stop.is_set()
        except RemoteError as exc:
            yield p.Failed(exc)
            return
        except Exception as exc:  # what the reader met: the network, or a reply Duet cannot read
            yield p.Failed(RemoteError(self._failure(exc, bool(text)), server=self.remote.name))
            return
        finally:
            stop.set()  # the reader hangs up, whether this ended, failed or was abandoned
        done = time.perf_counter()
        reason = (
            p.StopReason.CANCELLED
            if cancelled
            else p.StopReason.MAX_TOKENS
            if finish == "length"
            else p.StopReason.STOP_STRING
            if finish == "stop" and body.get("stop")
            else p.StopReason.EOS
        )
        stats = p.Stats(
            prompt_tokens=_count(usage.get("prompt_tokens")) or 0,
            cached_tokens=0,
            generated_tokens=_count(usage.get("completion_tokens")) or len(text),
            prompt_seconds=(first or done) - started,
            ttft_seconds=(first or done) - started,
            generation_seconds=done - (first or done),
            seed=self._seed,
            context_used=0,
            context_size=0,
        )
        yield p.Done(reason, "".join(text), stats)

    def _read(
        self, path: str, body: dict[str, Any], out: queue.Queue[str | _End], stop: threading.Event
    ) -> None:
        """The reader thread: sends the request, puts each event's data in `out`, then an _End
        with what went wrong, if anything. Stops reading as soon as `stop` is set."""
        end = _End(None)
        try:
            with (
                httpx2.Client(timeout=self.timeout) as client,
                client.stream(
                    "POST", self.remote.base + path, json=body, headers=self._headers()
                ) as response,
            ):
                if response.status_code >= 400:
                    if response.status_code == 404 and path == "/completions":
                        self._raw_missing = True
                    raise self._http_error(response.status_code, _body_text(response), path)
                kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
                if kind != "text/event-stream":
                    raise self._unreadable(f"a reply of type {_plain(kind, 60) or 'unknown'}")
                response.stream = _Stoppable(response.stream, stop)
                # httpx2's server-sent-event parser, bounded: a longer event raises SSEError.
                for event in httpx2.EventSource(response, max_event_size=MAX_LINE):
                    if event.data.strip() and not _put(out, event.data, stop):
                        return
        except _Stopped:
            return
        except Exception as exc:
            end = _End(exc)
        finally:
            _put(out, end, stop)

    def _chunk(self, data: str) -> dict[str, Any] | None:
        """One event's JSON object; None for the end marker; a RemoteError for anything else."""
        if data.strip() == "[DONE]":
            return None
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            raise self._unreadable("a line that is not JSON") from None
        if not isinstance(chunk, dict):
            raise self._unreadable("JSON that is not an object")
        if "error" in chunk or chunk.get("object") == "error":
            # llama-server and vLLM report a failure mid-stream as an event.
            raise RemoteError(
                f"The server {self.remote.name} stopped with an error: {_error_text(chunk)}"
            )
        return chunk

    def _choices(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        choices = chunk.get("choices")
        if choices is None:
            return []  # a usage-only chunk
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise self._unreadable("choices that are not a list of objects")
        return choices

    def _piece(self, choice: dict[str, Any], chat: bool) -> str | None:
        """The text a choice adds. Text of another type is an error, not dropped: a reply
        with silent holes would look complete."""
        if chat:
            delta = choice.get("delta")
            if delta is None:
                return None
            if not isinstance(delta, dict):
                raise self._unreadable("a delta that is not an object")
            piece = delta.get("content")
        else:
            piece = choice.get("text")
        if piece is not None and not isinstance(piece, str):
            raise self._unreadable(f"text that is not a string but {type(piece).__name__}")
        return piece

    def _unreadable(self, what: str) -> RemoteError:
        return RemoteError(
            f"The server {self.remote.name} sent something that is not a completion stream "
            f"({what}). The text so far is kept."
        )

    def _failure(self, exc: Exception, midway: bool) -> str:
        """The message for what ended a stream that was not a RemoteError."""
        if isinstance(exc, httpx2.SSEError):
            return (
                f"The server {self.remote.name} sent a line longer than {MAX_LINE // 1024 // 1024} "
                "MiB: Duet stopped reading. The text so far is kept."
            )
        if isinstance(exc, httpx2.TransportError | httpx2.TimeoutException):
            return self._network_message(exc, midway)
        return str(self._unreadable(type(exc).__name__))

    def _get_json(self, path: str) -> object:
        """A GET's JSON reply, None if it is not JSON; bounded in size and time. The timeout
        bounds each read, so a server that sends its headers a line at a time would hold the
        caller for as long as it likes: the exchange runs on a helper thread, the caller waits
        for it twice the timeout at most, headers included, and then closes the connection,
        which ends the helper thread too."""
        answers: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=1)
        deadline = time.monotonic() + 2 * self.timeout
        client = httpx2.Client(timeout=self.timeout)

        def exchange() -> None:
            try:
                answers.put(self._get_body(client, path, deadline))
            except BaseException as exc:
                answers.put(exc)
            finally:
                client.close()

        threading.Thread(target=exchange, daemon=True, name="duet-remote-get").start()
        try:
            answer = answers.get(timeout=2 * self.timeout + _POLL)
        except queue.Empty:
            client.close()  # the blocked read fails at once, and the helper thread ends
            raise RemoteError(
                self._network_message(httpx2.ReadTimeout("headers"), False), server=self.remote.name
            ) from None
        if isinstance(answer, BaseException):
            raise answer
        try:
            return json.loads(answer)
        except (ValueError, RecursionError):
            return None

    def _get_body(self, client: httpx2.Client, path: str, deadline: float) -> bytes:
        """The body of a GET, at most MAX_BODY bytes, read until `deadline`."""
        try:
            with client.stream("GET", self.remote.base + path, headers=self._headers()) as response:
                if response.status_code >= 400:
                    raise self._http_error(response.status_code, _body_text(response), path)
                data = bytearray()
                for piece in response.iter_bytes():
                    data += piece
                    if len(data) > MAX_BODY or time.monotonic() > deadline:
                        raise RemoteError(
                            f"{self.remote.url} answered {path} with more than Duet reads "
                            "(4 MiB, or for longer than its timeout): is it an OpenAI-compatible "
                            "server?"
                        )
        except (httpx2.TransportError, httpx2.TimeoutException) as exc:
            raise RemoteError(self._network_message(exc, False)) from None
        return bytes(data)

    def _network_message(self, exc: Exception, midway: bool) -> str:
        name, url = self.remote.name, self.remote.url
        if isinstance(exc, httpx2.TimeoutException):
            return f"The server {name} ({url}) did not answer in time: it may be overloaded; try again."
        if midway:
            return f"The connection to {name} ({url}) broke during the reply: the server may have stopped. The text so far is kept."
        return f"Cannot reach the server {name} at {url}: is it running? ({type(exc).__name__})"

    def _http_error(self, status: int, body: str, path: str) -> RemoteError:
        name = self.remote.name
        if status == 401:
            where = (
                f"set {self.remote.api_key_env} to the right key"
                if self.remote.api_key_env
                else (f"add the key with `duet remote add {name} URL --api-key-env VAR`")
            )
            message = f"The server {name} refused the API key (401): {where}."
        elif status == 404 and path == "/completions":
            message = (
                f"The server {name} has no /v1/completions, so raw mode is unavailable for its "
                "models: use chat mode."
            )
        elif status in (400, 404) and "model" in body.lower():
            message = (
                f"The server {name} has no model {self.model}: `duet remote list` shows its models."
            )
        elif status == 404 and path == "/models":
            message = (
                f"{self.remote.url} has no /v1/models: check the URL and port of the "
                "OpenAI-compatible server."
            )
        else:
            detail = _plain(body, 200)
            message = f"The server {name} answered HTTP {status}" + (
                f": {detail}" if detail else "."
            )
        return RemoteError(message, server=name, status=status)


@dataclass(frozen=True)
class _End:
    """The reader thread's last word: None when the stream ended, else what ended it."""

    error: Exception | None


class _Stopped(Exception):
    """Raised inside the reader thread when the stream is cancelled or abandoned."""


class _Stoppable(httpx2.SyncByteStream):
    """A response body that stops at the next chunk once `stop` is set: a cancelled reader hangs
    up even in the middle of a line."""

    def __init__(self, stream: Any, stop: threading.Event) -> None:
        self.stream, self.stop = stream, stop

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            if self.stop.is_set():
                raise _Stopped
            yield chunk

    def close(self) -> None:
        self.stream.close()


def _put(out: queue.Queue[str | _End], item: str | _End, stop: threading.Event) -> bool:
    """Hands an item to the generator; False once nobody will take it."""
    while not stop.is_set():
        try:
            out.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _body_text(response: httpx2.Response, limit: int = 65536) -> str:
    """The start of an error reply's body: enough to explain, never the whole of a big one."""
    data = bytearray()
    for piece in response.iter_bytes():
        data += piece
        if len(data) >= limit:
            break
    return bytes(data[:limit]).decode("utf-8", "replace")


def _plain(text: str, limit: int) -> str:
    """A server's words as one short line of plain text: no markup, no control characters."""
    text = re.sub(r"<[^>]*>", " ", text[: 64 * limit])
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    """A token count, if it is one."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return value
    return None


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _error_text(chunk: dict[str, Any]) -> str:
    error = chunk.get("error", chunk)
    message = error.get("message", error) if isinstance(error, dict) else error
    return _plain(message if isinstance(message, str) else json.dumps(message), 300)


def _logprobs(data: Any, chat: bool, index: int) -> tuple[float | None, tuple[p.Alternative, ...]]:
    """The chosen token's log-probability and its alternatives, in either API's shape. Any
    field of another shape counts as absent."""
    if not isinstance(data, dict):
        return None, ()
    # Chat's shape ({"content": [...]}) is also what llama-server sends for /v1/completions;
    # the legacy completions shape has parallel "tokens" / "token_logprobs" lists.
    if chat or "content" in data:
        content = _first(data.get("content"))
        if not isinstance(content, dict):
            return None, ()
        tops = content.get("top_logprobs")
        pairs = [
            (a["token"], _finite(a.get("logprob")))
            for a in (tops if isinstance(tops, list) else [])[:MAX_ALTERNATIVES]
            if isinstance(a, dict) and isinstance(a.get("token"), str)
        ]
        chosen, logprob = content.get("token"), _finite(content.get("logprob"))
    else:
        chosen = _first(data.get("tokens"))
        if not isinstance(chosen, str):
            return None, ()
        top = _first(data.get("top_logprobs"))
        items = list(top.items())[:MAX_ALTERNATIVES] if isinstance(top, dict) else []
        pairs = sorted(((t, _finite(v)) for t, v in items), key=lambda kv: -(kv[1] or 0.0))
        logprob = _finite(_first(data.get("token_logprobs")))
    alternatives = tuple(
        p.Alternative(index if token == chosen else -2, token, value)
        for token, value in pairs
        if value is not None
    )
    return logprob, alternatives


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) and value else None


def remote_models(timeout: float = 3.0) -> tuple[list[ServerModel], list[str]]:
    """The models every configured server serves; and a note for each server that did not
    answer (or a damaged server list)."""
    found: list[ServerModel] = []
    warning = servers_warning()
    problems = [warning] if warning else []
    for remote in servers():
        try:
            names = RemoteEngine(remote, "", timeout=timeout).models()
        except RemoteError as exc:
            problems.append(str(exc))
            continue
        for name in names:
            kind, reason = kind_from_name(name.rsplit("/", 1)[-1])  # a server shows no template
            found.append(
                ServerModel(f"remote:{remote.name}/{name}", name, remote.name, kind, reason)
            )
    return found, problems
