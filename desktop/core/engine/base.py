"""The Engine protocol: the narrow surface the app uses to run any model, local or remote, and
the capability flags it asks instead of the engine's class.

Shaped like simonw/llm's `Model` with its `can_stream`: one small interface, and what an engine
cannot do is a flag the caller reads before it offers the action, never a method that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do. A flag can turn off while it runs (a server without
    /v1/completions loses `can_raw` at its first raw request)."""

    can_raw: bool = True  # continues a raw prompt text exactly, with no template
    can_score: bool = True  # teacher-forces a given text: log-probabilities, top-k, tokens
    renders_template: bool = False  # takes chat messages and applies its own template
    reports_context: bool = True  # knows its context size and how much a prompt uses
    uses_this_machine: bool = True  # runs on this machine's cores and memory


# The two kinds of engine Duet has.
LOCAL = Capabilities()  # llama.cpp in a worker process on this machine
SERVER = Capabilities(  # an OpenAI-compatible server
    can_raw=True,  # until the server shows it has no /v1/completions
    can_score=False,  # its API cannot teacher-force a given text
    renders_template=True,
    reports_context=False,
    uses_this_machine=False,
)


class Engine(Protocol):
    """One model, ready to run. Every method but `cancel` blocks: call them off the UI thread."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def label(self) -> str:
        """What it runs, in words for messages: a file name, or a model on a server."""
        ...

    def load(self) -> p.RuntimeInfo:
        """Make it ready (start a worker, or check the server serves the model)."""
        ...

    def generate(
        self,
        prompt: RenderedPrompt,
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        """Stream one generation: PromptProgress*, Token*, then one of Done, Failed, Crashed.
        The prompt's `messages` go to an engine that `renders_template`; its `text` (and stop
        strings) to any other. Breaking out of the loop cancels."""
        ...

    def score(
        self,
        prompt: str,
        continuation: str = "",
        token_ids: tuple[int, ...] = (),
        top_k: int = 0,
        batched: bool = False,
    ) -> p.Scored:
        """Per-token log-probabilities of a continuation after a prompt (needs `can_score`)."""
        ...

    def tokenize(self, text: str) -> p.Tokens:
        """This model's tokens for a text (needs `can_score`)."""
        ...

    def cancel(self) -> None:
        """Stop the running generation soon; safe from any thread."""
        ...

    def close(self) -> None:
        """End it and free what it holds."""
        ...
