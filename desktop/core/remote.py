"""Remote engines: any OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama, LM
Studio, llama-cpp-python's own server), behind the same streaming events as the local engine.

Raw mode means what it means locally: the text goes to /v1/completions, which applies no
template. Chat mode goes to /v1/chat/completions, where the server applies its template.
Streams are read as server-sent events; closing the stream cancels the generation.
API keys come from an environment variable or the OS keyring, never from a file.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from desktop.core.engine import protocol as p
from desktop.core.engine.config import EngineConfig
from desktop.core.errors import DuetError
from desktop.core.gguf_info import ModelInfo
from desktop.core.library import InstalledModel, label_kind
from desktop.core.paths import app_dirs
from desktop.core.prompts import Message, RenderedPrompt
from desktop.core.sampling import SamplingParams

KEYRING_SERVICE = "duet"


class RemoteError(DuetError):
    """A remote server that is down, refuses the key, lacks the model or the endpoint."""


@dataclass(frozen=True)
class RemoteServer:
    name: str
    url: str  # base URL, e.g. http://127.0.0.1:8080 (with or without /v1)
    api_key_env: str = ""

    @property
    def base(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    def api_key(self) -> str:
        """From the named environment variable, else the OS keyring; never from a file."""
        if self.api_key_env and os.environ.get(self.api_key_env):
            return os.environ[self.api_key_env]
        try:
            import keyring

            return keyring.get_password(KEYRING_SERVICE, self.name) or ""
        except Exception:  # no keyring package or no backend: no key
            return ""


# The list of servers ------------------------------------------------------------------------------


def _registry() -> Any:
    return app_dirs().config / "remotes.json"


def servers() -> list[RemoteServer]:
    try:
        data = json.loads(_registry().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        RemoteServer(d["name"], d["url"], d.get("api_key_env", ""))
        for d in data
        if isinstance(d, dict) and "name" in d and "url" in d
    ]


def _save(items: list[RemoteServer]) -> None:
    path = _registry()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([s.__dict__ for s in items], indent=2), encoding="utf-8")
    os.replace(tmp, path)


def add_server(name: str, url: str, api_key_env: str = "") -> RemoteServer:
    if not name or "/" in name or ":" in name:
        raise RemoteError(f"'{name}' cannot name a server: use letters, digits, - and _.")
    if not url.startswith(("http://", "https://")):
        raise RemoteError(f"'{url}' is not an http(s) URL, like http://127.0.0.1:8080.")
    server = RemoteServer(name, url, api_key_env)
    _save([s for s in servers() if s.name != name] + [server])
    return server


def remove_server(name: str) -> None:
    remaining = [s for s in servers() if s.name != name]
    if len(remaining) == len(servers()):
        raise RemoteError(f"There is no server named {name}: `duet remote list` shows them.")
    _save(remaining)


def store_api_key(name: str, key: str) -> None:
    """Keep a server's key in the OS keyring (Keychain, Credential Locker, Secret Service)."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, name, key)
    except Exception as exc:  # no backend on this machine: say so, keep nothing on disk
        raise RemoteError(
            f"The OS keyring is not available ({exc}); put the key in an environment "
            "variable and name it instead."
        ) from exc


def server(name: str) -> RemoteServer:
    found = next((s for s in servers() if s.name == name), None)
    if found is None:
        raise RemoteError(
            f"There is no server named {name}: add it with `duet remote add {name} URL`."
        )
    return found


# Talking to a server ---------------------------------------------------------------------------------


class RemoteEngine:
    """One model on one server, with the local EngineClient's surface: load, generate (raw),
    generate_chat, cancel, close. generate() yields the local engine's events."""

    def __init__(self, remote: RemoteServer, model: str, timeout: float = 60.0) -> None:
        self.remote, self.model, self.timeout = remote, model, timeout
        self._cancel = threading.Event()
        self.info: p.RuntimeInfo | None = None
        self.path = Path(f"remote:{remote.name}/{model}")
        self.config = EngineConfig()
        self.pid: int | None = None
        self.raw_unsupported = False
        # llama-server's own measurement of the last request (its `timings`), for bench.remote.
        self.server_timings: dict[str, Any] | None = None

    def load(self) -> p.RuntimeInfo:
        """Checks that the server answers and serves the model (there is nothing to load)."""
        started = time.perf_counter()
        models = self.models()
        if self.model not in models:
            raise RemoteError(
                f"The server {self.remote.name} has no model {self.model}: it serves {', '.join(models) or 'none'}."
            )
        self.info = p.RuntimeInfo(
            self.path, 0, 0, 0, False, None, 0, 0, 0, time.perf_counter() - started, 0
        )
        return self.info

    def kill(self) -> None:
        self.cancel()

    def _headers(self) -> dict[str, str]:
        key = self.remote.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def models(self) -> list[str]:
        response = self._request("GET", "/models")
        try:
            return [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):  # a web page or another API at that URL
            raise RemoteError(
                f"{self.remote.url} answered /v1/models with something that is not a model list: "
                "is it an OpenAI-compatible server?"
            ) from None

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.cancel()

    def generate(
        self,
        prompt: str,
        sampling: SamplingParams | None = None,
        stop: tuple[str, ...] = (),
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        """Raw mode: the prompt text exactly, through /v1/completions (no template)."""
        body = {"prompt": prompt, **self._sampling(sampling or SamplingParams(), stop)}
        if logprobs or top_k_probs:
            body["logprobs"] = max(1, top_k_probs)
        yield from self._stream("/completions", body, chat=False)

    def generate_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        """Chat mode: the messages through /v1/chat/completions, rendered by the server."""
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            **self._sampling(sampling or SamplingParams(), ()),
        }
        if logprobs or top_k_probs:
            body["logprobs"] = True
            body["top_logprobs"] = max(1, top_k_probs)
        yield from self._stream("/chat/completions", body, chat=True)

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
        self._cancel.clear()
        self.server_timings = None
        started = time.perf_counter()
        first = 0.0
        text: list[str] = []
        count = 0
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            with (
                httpx2.Client(timeout=self.timeout) as client,
                client.stream(
                    "POST", self.remote.base + path, json=body, headers=self._headers()
                ) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 404 and path == "/completions":
                        self.raw_unsupported = True
                    raise self._http_error(response.status_code, response.text, path)
                for line in response.iter_lines():
                    if self._cancel.is_set():
                        break  # closing the stream stops the server's generation
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk or chunk.get("object") == "error":
                        # llama-server and vLLM report a failure mid-stream as an event.
                        raise RemoteError(
                            f"The server {self.remote.name} stopped with an error: "
                            f"{_error_text(chunk)}"
                        )
                    usage = chunk.get("usage") or usage
                    self.server_timings = chunk.get("timings") or self.server_timings
                    for choice in chunk.get("choices", []):
                        piece = (
                            (choice.get("delta") or {}).get("content")
                            if chat
                            else choice.get("text")
                        )
                        finish = choice.get("finish_reason") or finish
                        if piece:
                            first = first or time.perf_counter()
                            logprob, top = _logprobs(choice.get("logprobs"), chat, count)
                            yield p.Token(piece, count, piece, logprob, top)
                            text.append(piece)
                            count += 1
        except RemoteError as exc:
            yield p.Failed("RemoteError", str(exc))
            return
        except (httpx2.TransportError, httpx2.TimeoutException) as exc:
            yield p.Failed("RemoteError", self._network_message(exc, bool(text)))
            return
        except (ValueError, AttributeError, TypeError):  # not JSON, or JSON of another shape
            yield p.Failed(
                "RemoteError",
                f"The server {self.remote.name} sent something that is not a completion stream.",
            )
            return
        done = time.perf_counter()
        reason = (
            p.StopReason.CANCELLED
            if self._cancel.is_set()
            else p.StopReason.MAX_TOKENS
            if finish == "length"
            else p.StopReason.STOP_STRING
            if finish == "stop" and body.get("stop")
            else p.StopReason.EOS
        )
        stats = p.Stats(
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            cached_tokens=0,
            generated_tokens=int(usage.get("completion_tokens", count)),
            prompt_seconds=(first or done) - started,
            ttft_seconds=(first or done) - started,
            generation_seconds=done - (first or done),
            seed=self._seed,
            context_used=0,
            context_size=0,
        )
        yield p.Done(reason, "".join(text), stats)

    def _request(self, method: str, path: str) -> httpx2.Response:
        try:
            response = httpx2.request(
                method, self.remote.base + path, headers=self._headers(), timeout=self.timeout
            )
        except (httpx2.TransportError, httpx2.TimeoutException) as exc:
            raise RemoteError(self._network_message(exc, False)) from None
        if response.status_code >= 400:
            raise self._http_error(response.status_code, response.text, path)
        return response

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
            return RemoteError(f"The server {name} refused the API key (401): {where}.")
        if status == 404 and path == "/completions":
            return RemoteError(
                f"The server {name} has no /v1/completions, so raw mode is unavailable for its "
                "models: use chat mode."
            )
        if status in (400, 404) and "model" in body.lower():
            return RemoteError(
                f"The server {name} has no model {self.model}: `duet remote list` shows its models."
            )
        if status == 404 and path == "/models":
            return RemoteError(
                f"{self.remote.url} has no /v1/models: check the URL and port of the "
                "OpenAI-compatible server."
            )
        detail = f": {body.strip()[:200]}" if body.strip() else "."
        return RemoteError(f"The server {name} answered HTTP {status}{detail}")


def _error_text(chunk: dict[str, Any]) -> str:
    error = chunk.get("error", chunk)
    return str(error.get("message", error) if isinstance(error, dict) else error)


def _logprobs(data: Any, chat: bool, index: int) -> tuple[float | None, tuple[p.Alternative, ...]]:
    """The chosen token's log-probability and its alternatives, in either API's shape."""
    if not data:
        return None, ()
    # Chat's shape ({"content": [...]}) is also what llama-server sends for /v1/completions;
    # the legacy completions shape has parallel "tokens" / "token_logprobs" lists.
    if chat or "content" in data:
        content = (data.get("content") or [None])[0]
        if not content:
            return None, ()
        alternatives = tuple(
            p.Alternative(
                index if a.get("token") == content.get("token") else -2,
                str(a.get("token", "")),
                float(a.get("logprob", 0.0)),
            )
            for a in content.get("top_logprobs", [])
        )
        return float(content.get("logprob", 0.0)), alternatives
    tokens, logprobs, tops = (
        data.get("tokens") or [],
        data.get("token_logprobs") or [],
        data.get("top_logprobs") or [],
    )
    if not tokens:
        return None, ()
    chosen = tokens[0]
    top = tops[0] if tops and tops[0] else {}
    alternatives = tuple(
        p.Alternative(index if t == chosen else -2, str(t), float(lp))
        for t, lp in sorted(top.items(), key=lambda kv: -kv[1])
    )
    return (float(logprobs[0]) if logprobs and logprobs[0] is not None else None), alternatives


def remote_models(timeout: float = 3.0) -> tuple[list[InstalledModel], list[str]]:
    """The models every configured server serves, as installed models marked remote; and a
    note for each server that did not answer."""
    found: list[InstalledModel] = []
    problems: list[str] = []
    for remote in servers():
        try:
            names = RemoteEngine(remote, "", timeout=timeout).models()
        except RemoteError as exc:
            problems.append(str(exc))
            continue
        for name in names:
            short = name.rsplit("/", 1)[-1]
            info = ModelInfo(
                path=Path(name),
                file_size=0,
                architecture="remote",
                name=short,
                size_label="",
                quantization="remote",
                context_length=0,
                chat_template=None,
                bos_token_id=None,
                eos_token_id=None,
                bos_token=None,
                eos_token=None,
                add_bos=False,
                tokenizer_model="",
                vocab_size=0,
                parameter_count=0,
            )
            kind, reason = label_kind(info, short)  # from the name: a server shows no template
            found.append(
                InstalledModel(
                    id=f"remote:{remote.name}/{name}",
                    path=Path(f"remote:{remote.name}/{name}"),
                    kind=kind,
                    kind_reason=reason,
                    source="remote",
                    info=info,
                    server=remote.name,
                )
            )
    return found, problems


def chat_messages(system: str | None, messages: Sequence[Message]) -> list[Message]:
    """What a server's chat endpoint receives: the system prompt, if any, then the turns."""
    return ([Message("system", system)] if system else []) + list(messages)


def shown_chat(messages: Sequence[Message], server_name: str) -> RenderedPrompt:
    """The request as the inspector shows it: the server renders the template, not Duet."""
    text = json.dumps(
        [{"role": m.role, "content": m.content} for m in messages], indent=2, ensure_ascii=False
    )
    return RenderedPrompt(text, "chat", f"the chat template of the server {server_name}")


def engine_for(model: InstalledModel) -> RemoteEngine:
    """The remote engine serving an installed model marked remote."""
    assert model.server is not None
    return RemoteEngine(server(model.server), model.id.removeprefix(f"remote:{model.server}/"))
