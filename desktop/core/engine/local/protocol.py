"""The requests the app sends to its local engine worker process, pickled over a pipe.

The worker answers with the events of `desktop.core.engine.events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.config import EngineConfig

# Requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadModel:
    path: Path
    config: EngineConfig


@dataclass(frozen=True)
class Generate:
    request_id: int
    prompt: str  # the rendered prompt text, BOS included as text when the model adds it
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    top_k_probs: int = 0  # alternatives per token, 0 for none
    logprobs: bool = False  # the chosen token's log-probability


@dataclass(frozen=True)
class Score:
    """The log-probability of each token of a continuation after a prompt (teacher forcing).
    `token_ids` scores exact tokens (this model's own output); else `continuation` is text,
    tokenized by this model (another model's output). `batched` trades exact reproduction of
    generation-time log-probabilities for speed (one pass instead of a decode per token)."""

    request_id: int
    prompt: str
    continuation: str = ""
    token_ids: tuple[int, ...] = ()
    top_k: int = 0
    batched: bool = False


@dataclass(frozen=True)
class Tokenize:
    text: str


@dataclass(frozen=True)
class Shutdown:
    pass


Request = LoadModel | Generate | Score | Tokenize | Shutdown
