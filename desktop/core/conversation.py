"""A chat conversation and a raw document: the state each mode keeps, without any widget.

The window shows them; core renders them into prompts. Keeping them here means the mode
toggle switches views, never data: each mode keeps its own content, and nothing reloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop.core.gguf_info import ModelInfo
from desktop.core.prompts import (
    Message,
    RenderedPrompt,
    TokenizerSpec,
    render_chat,
    render_raw,
    template_of,
)


@dataclass
class Conversation:
    system: str = ""
    messages: list[Message] = field(default_factory=list)

    def add(self, role: str, content: str) -> None:
        self.messages.append(Message(role, content))

    def truncate(self, count: int) -> None:
        """Keep the first `count` messages (editing message `count` resends from there)."""
        del self.messages[count:]

    def drop_last_reply(self) -> None:
        if self.messages and self.messages[-1].role == "assistant":
            self.messages.pop()

    @property
    def awaiting_reply(self) -> bool:
        return bool(self.messages) and self.messages[-1].role == "user"

    def render(self, info: ModelInfo, add_generation_prompt: bool | None = None) -> RenderedPrompt:
        """The prompt for the next reply; or, with the last reply in place, the whole chat as
        the model would see it (what "open as raw" shows)."""
        gen = self.awaiting_reply if add_generation_prompt is None else add_generation_prompt
        return render_chat(
            self.messages,
            TokenizerSpec.from_info(info),
            template_of(info),
            self.system or None,
            add_generation_prompt=gen,
        )


@dataclass
class Document:
    """The raw notebook's text. Continuations are appended by the view; core only renders."""

    text: str = ""

    def render(self, info: ModelInfo) -> RenderedPrompt:
        return render_raw(self.text, TokenizerSpec.from_info(info))
