"""A chat conversation and a raw document: the state each mode keeps, without any widget.

The window shows them; core renders them into prompts. Keeping them here means the mode
toggle switches views, never data: each mode keeps its own content, and nothing reloads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from desktop.core.chat.aligned import Preamble, render_aligned_chat
from desktop.core.chat.prompts import (
    Message,
    RenderedPrompt,
    TokenizerSpec,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.chat.store import MessageInfo
from desktop.core.errors import ContextOverflow
from desktop.core.models.gguf_info import ModelInfo

Overflow = Literal["stop", "drop_oldest"]


@dataclass
class Conversation:
    """The shown branch of a chat. `ids` are the stored messages' ids (None until saved);
    `infos` what each message's bubble says besides its text (see `info`); `dropped` is how
    many of the first messages the model did not see at the last render."""

    system: str = ""
    messages: list[Message] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    chat_id: int | None = None
    dropped: int = 0
    infos: list[MessageInfo] = field(default_factory=list)

    def add(
        self,
        role: str,
        content: str,
        message_id: int | None = None,
        info: MessageInfo | None = None,
    ) -> None:
        """A message at the end: written now, unless `info` says otherwise."""
        del self.infos[len(self.messages) :]  # kept in step with the messages
        self.infos.extend(MessageInfo() for _ in range(len(self.messages) - len(self.infos)))
        self.messages.append(Message(role, content))
        self.ids.append(message_id)
        self.infos.append(info or MessageInfo(created=time.time()))

    def info(self, index: int) -> MessageInfo:
        """Message `index`'s info; an empty one for a message built without (a copy)."""
        in_step = len(self.infos) == len(self.messages)
        return (
            self.infos[index]
            if in_step and -len(self.infos) <= index < len(self.infos)
            else MessageInfo()
        )

    def truncate(self, count: int) -> None:
        """Keep the first `count` messages (editing message `count` resends from there)."""
        del self.messages[count:]
        del self.ids[count:]
        del self.infos[count:]
        self.dropped = min(self.dropped, count)

    def drop_last_reply(self) -> None:
        if self.messages and self.messages[-1].role == "assistant":
            self.truncate(len(self.messages) - 1)

    @property
    def last_id(self) -> int | None:
        return self.ids[-1] if self.ids else None

    @property
    def awaiting_reply(self) -> bool:
        return bool(self.messages) and self.messages[-1].role == "user"

    def render(
        self,
        info: ModelInfo,
        add_generation_prompt: bool | None = None,
        start: int = 0,
        aligned: Preamble | None = None,
    ) -> RenderedPrompt:
        """The prompt for the next reply; or, with the last reply in place, the whole chat as
        the model would see it (what "open as raw" shows). `start` leaves out the first
        messages (the system prompt always stays). `aligned`: rendered after these examples
        instead of through the model's template (Aligned by examples)."""
        gen = self.awaiting_reply if add_generation_prompt is None else add_generation_prompt
        if aligned is not None:
            return render_aligned_chat(
                self.messages[start:],
                TokenizerSpec.from_info(info),
                aligned,
                self.system or None,
                add_generation_prompt=gen,
            )
        return render_chat(
            self.messages[start:],
            TokenizerSpec.from_info(info),
            template_of(info),
            self.system or None,
            add_generation_prompt=gen,
        )

    def fit(
        self,
        info: ModelInfo,
        count_tokens: Callable[[str], int],
        n_ctx: int,
        reserve: int,
        policy: Overflow,
        aligned: Preamble | None = None,
    ) -> RenderedPrompt:
        """The prompt for the next reply, made to fit the context with room for `reserve`
        tokens of reply: as it is, or (drop_oldest) without the oldest turns. Sets `dropped`."""
        if reserve >= n_ctx:
            # No chat fits and no turn is worth dropping: the fix is a setting, so name it
            # rather than a budget below zero.
            raise ContextOverflow(
                f"Max tokens ({reserve}) is {'more than' if reserve > n_ctx else 'as much as'} "
                f"the context holds ({n_ctx}): lower Max tokens or raise the context length "
                "(Sampling panel), so the context has room for the chat as well as the reply."
            )
        budget = n_ctx - reserve
        start = 0
        while True:
            prompt = self.render(info, start=start, aligned=aligned)
            used = count_tokens(prompt.text)
            if used <= budget:
                self.dropped = start
                return prompt
            later = [
                i for i in range(start + 1, len(self.messages)) if self.messages[i].role == "user"
            ]
            if policy == "stop" or not later:
                raise ContextOverflow(
                    f"This chat no longer fits the model's context: {used} tokens, and {n_ctx} "
                    f"hold {budget} plus {reserve} for the reply. Start a new chat, raise the "
                    "context length, shorten max tokens, or let Duet drop the oldest turns "
                    '(Sampling panel, "When the context is full").'
                    if policy == "stop"
                    else f"Even the last message alone is {used} tokens, more than the context "
                    f"holds ({budget} with room for the reply). Shorten it or raise the context length."
                )
            start = later[0]


@dataclass
class Document:
    """The raw notebook's text. Continuations are appended by the view; core only renders."""

    text: str = ""

    def render(self, info: ModelInfo) -> RenderedPrompt:
        return render_raw(self.text, TokenizerSpec.from_info(info))
