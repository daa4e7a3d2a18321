"""The two modes, as the exact text a model receives.

- Raw: the document is the prompt. Nothing is added but the model's BOS token, and only where
  its metadata asks for it.
- Chat: a system prompt and messages rendered with the model's own chat template (from its
  GGUF metadata) in a Jinja sandbox, ending in the generation prompt. A model with no template,
  a base model, gets a plain, labelled "User:/Assistant:" transcript with stop strings, so its
  chat behaviour is visible instead of an empty reply from a guessed template.

The rendered text includes BOS as text (for example `<bos>`), so what Duet shows is exactly what
the model gets; the engine turns a leading BOS text back into the BOS token when tokenizing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, NoReturn

import jinja2
import jinja2.sandbox

from desktop.core.errors import DuetError, TemplateError
from desktop.core.gguf_info import ModelInfo

Mode = Literal["raw", "chat"]
MODES: tuple[Mode, ...] = ("raw", "chat")
ROLES = ("system", "user", "assistant", "tool")

FALLBACK_TEMPLATE_NAME = "plain transcript (no chat template)"
FALLBACK_STOP = ("\nUser:", "\nAssistant:")
FALLBACK_NOTE = (
    "No chat template: using a plain transcript. A base model continues text rather than answering."
)
SYSTEM_FOLDED_NOTE = (
    "This template has no system role: the system prompt was put at the start of the first "
    "user message, as llama.cpp does."
)
_NEEDLE = "<duet system needle 7f3a>"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class TokenizerSpec:
    """What prompt rendering needs from a tokenizer: its BOS/EOS text and whether BOS is added."""

    bos_token: str | None
    eos_token: str | None
    add_bos: bool

    @classmethod
    def from_info(cls, info: ModelInfo) -> TokenizerSpec:
        return cls(bos_token=info.bos_token, eos_token=info.eos_token, add_bos=info.add_bos)


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    name: str  # where it came from, for messages: "chat template of X.gguf" or a file path


@dataclass(frozen=True)
class RenderedPrompt:
    text: str  # exactly what the model receives, special tokens as text
    mode: Mode
    template_name: str | None  # None in raw mode
    stop: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    uses_fallback: bool = False


def template_of(info: ModelInfo) -> ChatTemplate | None:
    if not info.has_chat_template or info.chat_template is None:
        return None
    return ChatTemplate(source=info.chat_template, name=f"chat template of {info.path.name}")


def with_bos(text: str, spec: TokenizerSpec) -> str:
    if spec.add_bos and spec.bos_token and not text.startswith(spec.bos_token):
        return spec.bos_token + text
    return text


def render_raw(document: str, spec: TokenizerSpec) -> RenderedPrompt:
    return RenderedPrompt(text=with_bos(document, spec), mode="raw", template_name=None)


def render_chat(
    messages: Sequence[Message],
    spec: TokenizerSpec,
    template: ChatTemplate | None,
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> RenderedPrompt:
    """Render a conversation for generation: the template's own format, or the fallback.
    Without the generation prompt it is the conversation as it stands (for "open as raw")."""
    turns = list(messages)
    for message in turns:
        if message.role not in ROLES:
            raise DuetError(
                f"Unknown message role '{message.role}': use one of {', '.join(ROLES)}."
            )
    if system:
        turns = [Message("system", system), *[m for m in turns if m.role != "system"]]
    if template is None:
        return RenderedPrompt(
            text=with_bos(_render_fallback(turns, add_generation_prompt), spec),
            mode="chat",
            template_name=FALLBACK_TEMPLATE_NAME,
            stop=FALLBACK_STOP,
            notes=(FALLBACK_NOTE,),
            uses_fallback=True,
        )
    notes: tuple[str, ...] = ()
    if turns and turns[0].role == "system" and not supports_system_role(template, spec):
        turns = _fold_system(turns)
        notes = (SYSTEM_FOLDED_NOTE,)
    text = _render_template(template, turns, spec, add_generation_prompt)
    return RenderedPrompt(
        text=with_bos(text, spec), mode="chat", template_name=template.name, notes=notes
    )


def supports_system_role(template: ChatTemplate, spec: TokenizerSpec) -> bool:
    """Whether a system message survives rendering: probed once per template, as llama.cpp does."""
    return _probe_system(template.source, spec.bos_token or "", spec.eos_token or "")


@lru_cache(maxsize=32)
def _probe_system(source: str, bos: str, eos: str) -> bool:
    probe = [Message("system", _NEEDLE), Message("user", "Hi")]
    try:
        rendered = _render(_compile(source, "probe"), probe, bos, eos, "probe")
    except TemplateError:
        return False
    return _NEEDLE in rendered


def _fold_system(turns: list[Message]) -> list[Message]:
    system, rest = turns[0].content, turns[1:]
    for i, message in enumerate(rest):
        if message.role == "user":
            rest[i] = Message("user", f"{system}\n\n{message.content}")
            return rest
    return [Message("user", system), *rest]


def _render_fallback(turns: Iterable[Message], add_generation_prompt: bool = True) -> str:
    parts: list[str] = []
    for message in turns:
        if message.role == "system":
            parts.append(message.content.strip() + "\n\n")
        else:
            speaker = "Assistant" if message.role == "assistant" else "User"
            parts.append(f"{speaker}: {message.content.strip()}\n")
    if add_generation_prompt:
        parts.append("Assistant:")
    return "".join(parts)


def _render_template(
    template: ChatTemplate, turns: list[Message], spec: TokenizerSpec, add_generation_prompt: bool
) -> str:
    compiled = _compile(template.source, template.name)
    bos, eos = spec.bos_token or "", spec.eos_token or ""
    return _render(compiled, turns, bos, eos, template.name, add_generation_prompt)


def _raise_exception(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _tojson(value: object, indent: int | None = None, ensure_ascii: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=1)
def _environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    # The same environment as transformers' apply_chat_template, so templates render as their
    # authors tested them: trim/lstrip blocks, loop controls, raise_exception, tojson.
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    return env


@lru_cache(maxsize=32)
def _compile(source: str, name: str) -> jinja2.Template:
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"The {name} does not parse: {exc.message} (template line {exc.lineno})."
        ) from None


def _render(
    compiled: jinja2.Template,
    turns: Sequence[Message],
    bos: str,
    eos: str,
    name: str,
    add_generation_prompt: bool = True,
) -> str:
    try:
        return compiled.render(
            messages=[{"role": m.role, "content": m.content} for m in turns],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos,
            eos_token=eos,
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"The {name} refused this conversation: {exc}") from None
    except Exception as exc:  # a template is foreign code: any failure is the template's
        raise TemplateError(f"The {name} failed: {type(exc).__name__}: {exc}") from None


def load_template_file(path: Path) -> ChatTemplate:
    try:
        return ChatTemplate(source=path.read_text(encoding="utf-8"), name=f"template {path}")
    except OSError as exc:
        raise DuetError(f"Cannot read the template {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise DuetError(f"The template {path} is not UTF-8 text.") from None


def messages_from_json(data: object, where: str) -> list[Message]:
    """An OpenAI-style message list: [{"role": ..., "content": str | [{"type": "text", ...}]}]."""
    if not isinstance(data, list):
        raise DuetError(
            f'{where}: expected a JSON list of messages, like [{{"role": "user", "content": "Hi"}}].'
        )
    messages: list[Message] = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping) or "role" not in item or "content" not in item:
            raise DuetError(f"{where}: message {i + 1} needs a 'role' and a 'content'.")
        content = item["content"]
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping)
            )
        if not isinstance(content, str) or not isinstance(item["role"], str):
            raise DuetError(f"{where}: message {i + 1} has a non-text role or content.")
        if item["role"] not in ROLES:
            raise DuetError(
                f"{where}: message {i + 1} has role '{item['role']}'; use one of {', '.join(ROLES)}."
            )
        messages.append(Message(item["role"], content))
    return messages
