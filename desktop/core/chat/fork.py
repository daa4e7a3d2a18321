"""Fork at a token: a generated text cut before one of its tokens, that token replaced by
another choice (one the model weighed, or text the user types), for a model to go on from.

The prompt of a fork is the original prompt with the text so far after it, exactly as the
model saw it while generating (each token's streamed text, spaces and all), so an engine that
keeps its KV cache evaluates only the new tokens: the cost of a fork is what follows it. In
chat mode that text is the start of the assistant's reply (llama.cpp's assistant prefill).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine.base import Capabilities
from desktop.core.errors import InvalidPrompt, Unsupported

MAX_CHOICE_CHARS = 2_000  # typed text put in a token's place: a phrase, not a document
TYPED = -1  # the token id of text the user typed in a token's place: no token of the model's


@dataclass(frozen=True)
class Fork:
    index: int  # the token replaced, counted from the start of the generated text
    prefix: str  # the generated text before it
    choice: str  # what takes its place

    @property
    def text(self) -> str:
        """The generated text the fork continues from."""
        return self.prefix + self.choice

    def describe(self) -> str:
        return f"forked at token {self.index} with {self.choice!r}"


def fork_at(texts: Sequence[str], index: int, choice: str) -> Fork:
    """Token `index` of a text made of `texts` (what each token added), replaced by `choice`."""
    if not 0 <= index < len(texts):
        raise InvalidPrompt(f"There is no token {index} to fork at: the text has {len(texts)}.")
    check_choice(choice)
    return Fork(index, "".join(texts[:index]), choice)


def check_choice(choice: str) -> None:
    """Refuse what cannot take a token's place: nothing, or more than a phrase."""
    if not choice:
        raise InvalidPrompt("Pick an alternative or type some text to continue from.")
    if len(choice) > MAX_CHOICE_CHARS:
        raise InvalidPrompt(
            f"The text to fork with is {len(choice):,} characters; at most "
            f"{MAX_CHOICE_CHARS:,} take a token's place: shorten it."
        )


def choice_record(token: TokenRecord, choice: str) -> TokenRecord:
    """The record of what takes `token`'s place: the model's alternative with that text (its
    probability, among the same alternatives), else text the user typed (no id, no probability)."""
    for alt in token.top:
        if alt.text == choice:
            return TokenRecord(alt.token_id, alt.text, alt.logprob, token.top, token.entropy)
    return TokenRecord(TYPED, choice, None)


def can_fork(capabilities: Capabilities, prompt: RenderedPrompt) -> bool:
    """A fork continues a prompt's text: an engine that takes raw text can, one that is sent
    chat messages (a server rendering its own template) cannot."""
    return capabilities.can_raw and not prompt.messages and bool(prompt.text)


def forked_prompt(prompt: RenderedPrompt, fork: Fork, capabilities: Capabilities) -> RenderedPrompt:
    """The prompt that continues after `fork`: the same prompt, the fork's text after it."""
    if not can_fork(capabilities, prompt):
        raise Unsupported(
            "This model is sent chat messages, not text: it cannot go on from a chosen token.",
            capability="can_raw",
        )
    return replace(
        prompt,
        text=prompt.text + fork.text,
        notes=(*prompt.notes, f"Continues a reply {fork.describe()}."),
    )
