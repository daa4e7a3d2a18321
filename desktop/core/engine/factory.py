"""Which engine runs a model, and what the app may know of a model before it runs: the one place
outside the engines that tells a file on this machine from a model on a server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.chat.aligned import load_preamble, render_aligned_chat
from desktop.core.chat.prompts import (
    Message,
    Mode,
    RenderedPrompt,
    TokenizerSpec,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.engine.base import LOCAL, SERVER, Capabilities, Engine
from desktop.core.engine.config import EngineConfig
from desktop.core.errors import RemoteError, Unsupported
from desktop.core.models.checksums import known_sha256, sha256_of
from desktop.core.models.gguf_info import ModelInfo
from desktop.core.models.library import InstalledModel, Library, kind_from_name
from desktop.core.models.served import ServerModel

Runnable = InstalledModel | ServerModel


def capabilities_of(model: Runnable) -> Capabilities:
    """What the model's engine can do, known before it is opened."""
    return SERVER if isinstance(model, ServerModel) else LOCAL


def open_engine(model: Runnable, config: EngineConfig | None = None) -> Engine:
    """An engine for the model, not yet loaded (`load` starts it). `config` is for local ones."""
    if isinstance(model, ServerModel):
        from desktop.core.engine.remote.openai import RemoteEngine  # httpx: only when used
        from desktop.core.engine.servers import server

        return RemoteEngine(server(model.server), model.name)
    from desktop.core.engine.local.client import EngineClient

    return EngineClient(model.path, config or EngineConfig())


def served_models(timeout: float = 3.0) -> tuple[list[ServerModel], list[str]]:
    """Every configured server's models, and a note for each server that did not answer
    (network: off the UI thread)."""
    from desktop.core.engine.remote.openai import remote_models

    return remote_models(timeout)


def served_names(server_name: str, timeout: float = 5.0) -> list[str]:
    """The model ids a configured server lists (network: off the UI thread)."""
    from desktop.core.engine.remote.openai import RemoteEngine
    from desktop.core.engine.servers import server

    return RemoteEngine(server(server_name), "", timeout=timeout).models()


def server_model(spec: str) -> ServerModel:
    """A server's model by "SERVER" or "SERVER/MODEL"; without MODEL, the first one the server
    lists (network: off the UI thread). RemoteError when the spec names no server, no such
    server is configured, or it lists no models."""
    from desktop.core.engine.servers import server

    name, _, model = spec.partition("/")
    if not name:
        raise RemoteError(
            f"'remote:{spec}' names no server: give remote:SERVER or remote:SERVER/MODEL "
            "(duet remote list shows them)."
        )
    server(name)  # raises, naming the next step, when there is none
    if not model:
        listed = served_names(name)
        if not listed:
            raise RemoteError(f"The server {name} lists no models.", server=name)
        model = listed[0]
    kind, reason = kind_from_name(model.rsplit("/", 1)[-1])  # a server shows no template
    return ServerModel(f"remote:{name}/{model}", model, name, kind, reason)


def find_model(name: str, library: Library) -> Runnable:
    """The model a user names: "remote:SERVER[/MODEL]" (a server's model's id) for a server's,
    anything else an installed one (its id, a unique part of it, or a .gguf path)."""
    if name.startswith("remote:"):
        return server_model(name.removeprefix("remote:"))
    return library.resolve(name)


def local_config(
    n_ctx: int = 0, n_threads: int = 0, n_gpu_layers: int | None = None
) -> EngineConfig:
    """How a model file is loaded on this machine, from a user's numbers: 0 (None for the GPU
    layers) means the default. `check()` says what is out of range; a server's model ignores it."""
    return EngineConfig(
        n_ctx=n_ctx or EngineConfig().n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers
    )


def render_input(
    model: Runnable, mode: Mode, text: str, system: str | None = None, aligned: bool = False
) -> RenderedPrompt:
    """The prompt one user input becomes for this model in this mode. `aligned`: a base model
    in chat mode is aligned by examples (see `aligns_by_examples`); other models ignore it."""
    if mode == "raw":
        return render_raw(text, _spec(model))
    if aligned and aligns_by_examples(model):
        return render_aligned(model, text, system)
    return render_messages(model, [Message("user", text)], system)


def aligns_by_examples(model: Runnable) -> bool:
    """Whether "Aligned by examples" applies to this model in chat mode: a base model, or one
    without a chat template, whose prompt Duet renders (a server renders its own template)."""
    if isinstance(model, ServerModel):
        return False
    return model.kind == "base" or not model.info.has_chat_template


def render_aligned(model: Runnable, text: str, system: str | None = None) -> RenderedPrompt:
    """One user input as a chat aligned by examples: after the user's preamble (the default
    if the user's file cannot be used, said in the prompt's notes), with its stop strings.
    Reads the preamble file (at most 64 KB)."""
    return render_aligned_chat([Message("user", text)], _spec(model), load_preamble(), system)


def render_messages(
    model: Runnable,
    messages: Sequence[Message],
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> RenderedPrompt:
    """A chat as this model receives it: through its own template (or the labelled fallback);
    for a server, the messages it is sent, shown as JSON (it applies its template itself)."""
    if isinstance(model, ServerModel):
        sent = ([Message("system", system)] if system else []) + list(messages)
        return server_request(sent, model.server)
    return render_chat(
        messages,
        TokenizerSpec.from_info(model.info),
        template_of(model.info),
        system,
        add_generation_prompt=add_generation_prompt,
    )


def server_request(messages: Sequence[Message], server_name: str) -> RenderedPrompt:
    """Messages for a server's chat endpoint, with the text the inspector shows for them."""
    import json

    text = json.dumps(
        [{"role": m.role, "content": m.content} for m in messages], indent=2, ensure_ascii=False
    )
    return RenderedPrompt(
        text,
        "chat",
        f"the chat template of the server {server_name}",
        messages=tuple(messages),
    )


def _spec(model: Runnable) -> TokenizerSpec:
    if isinstance(model, ServerModel):
        return TokenizerSpec(bos_token=None, eos_token=None, add_bos=False)
    return TokenizerSpec.from_info(model.info)


def location(model: Runnable) -> str:
    """Where the model runs, in words: "this machine" or "the server NAME"."""
    return f"the server {model.server}" if isinstance(model, ServerModel) else "this machine"


def file_info(model: Runnable) -> ModelInfo:
    """The model file's metadata (template, tokens, size). Only a model Duet renders prompts
    for has one: ask `renders_template` first."""
    if isinstance(model, ServerModel):
        raise Unsupported(
            f"{model.id} is served by {model.server}: Duet has no file to read.",
            capability="renders_template",
        )
    return model.info


def weights_bytes(model: Runnable) -> int:
    """The weights' size in this machine's memory: 0 for a server's model."""
    return 0 if isinstance(model, ServerModel) else model.info.file_size


def describe(model: Runnable) -> str:
    """One line for a tooltip: what the model is and where it runs."""
    if isinstance(model, ServerModel):
        return f"{model.kind} ({model.kind_reason}) · on the server {model.server}"
    return (
        f"{model.kind} ({model.kind_reason}) · {model.info.quantization} · "
        f"{model.info.file_size / 1e6:,.0f} MB · {model.path}"
    )


@dataclass(frozen=True)
class ModelIdentity:
    """What names a model's weights in a saved reply or an export, to find or fetch them again."""

    id: str
    kind: str
    repo_id: str | None
    file: str
    sha256: str | None  # None for a server's model: its weights are not ours to hash
    quantization: str
    server: str | None


def identity(model: Runnable, hash_file: bool = False) -> ModelIdentity:
    """The model's names and its weights' sha256: from the catalog or the Hub cache, else
    remembered; with `hash_file`, a file not hashed yet is hashed now (slow: off the UI thread).
    """
    if isinstance(model, ServerModel):
        return ModelIdentity(model.id, model.kind, None, model.name, None, "", model.server)
    sha = model.catalog.sha256 if model.catalog and model.catalog.sha256 else None
    if sha is None:
        try:
            sha = sha256_of(model.path) if hash_file else known_sha256(model.path)
        except OSError:
            sha = None  # the file went away: the reply is still saved, without it
    return ModelIdentity(
        model.id, model.kind, model.repo_id, model.path.name, sha, model.info.quantization, None
    )
