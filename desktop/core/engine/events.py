"""What every engine reports, local or remote, as frozen dataclasses of plain data.

A generation is a stream: PromptProgress*, Token*, then exactly one of Done, Failed or Crashed
(Crashed is made on the app side when a worker's pipe closes). A local worker sends them
pickled over its pipe; a remote engine makes them from a server's stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from desktop.core.errors import DuetError

# Events -------------------------------------------------------------------------------------


class StopReason(str, Enum):
    EOS = "eos"  # the model ended its turn (an end-of-generation token)
    STOP_STRING = "stop"  # a stop string appeared
    MAX_TOKENS = "length"  # the max-tokens limit
    CONTEXT_FULL = "context"  # the context window is full
    CANCELLED = "cancelled"  # the user stopped it

    def describe(self) -> str:
        return {
            "eos": "the model ended its turn",
            "stop": "a stop string appeared",
            "length": "max tokens reached",
            "context": "the context window is full",
            "cancelled": "stopped by you",
        }[self.value]


@dataclass(frozen=True)
class RuntimeInfo:
    """What the worker learned by loading the model."""

    path: Path
    n_ctx: int
    n_ctx_train: int
    n_vocab: int
    add_bos: bool
    bos_token: str | None
    n_threads: int
    n_threads_batch: int
    n_gpu_layers: int
    load_seconds: float
    pid: int


@dataclass(frozen=True)
class Loaded:
    info: RuntimeInfo


@dataclass(frozen=True)
class Alternative:
    token_id: int
    text: str
    logprob: float


@dataclass(frozen=True)
class Token:
    """One generated token.

    `text` is what the output grows by now. It can differ from `piece` (this token's own text):
    text that might begin a stop string is held back until it is known not to, and a multi-byte
    character split across tokens appears with the token that completes it.
    """

    text: str
    token_id: int
    piece: str
    logprob: float | None = None
    top: tuple[Alternative, ...] = ()
    entropy: float | None = None  # of the model's distribution at this step, in nats


@dataclass(frozen=True)
class PromptProgress:
    done: int
    total: int


@dataclass(frozen=True)
class Stats:
    prompt_tokens: int
    cached_tokens: int  # of prompt_tokens, reused from the previous request's KV cache
    generated_tokens: int
    prompt_seconds: float
    ttft_seconds: float  # request received -> first token sent
    generation_seconds: float  # prompt evaluated -> done: every sample and decode of the reply
    seed: int
    context_used: int
    context_size: int

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second, sampling and decoding included, after the prompt."""
        return (
            self.generated_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0
        )

    @property
    def prompt_tokens_per_second(self) -> float:
        evaluated = self.prompt_tokens - self.cached_tokens
        return evaluated / self.prompt_seconds if self.prompt_seconds > 0 else 0.0


@dataclass(frozen=True)
class Done:
    reason: StopReason
    text: str  # the whole output, stop string excluded
    stats: Stats


@dataclass(frozen=True)
class Failed:
    error: DuetError  # the error itself, with its data: it pickles across a worker's pipe

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass(frozen=True)
class ScoredToken:
    token_id: int
    piece: str
    logprob: float
    top: tuple[Alternative, ...] = ()
    entropy: float | None = None


@dataclass(frozen=True)
class Scored:
    tokens: tuple[ScoredToken, ...]


@dataclass(frozen=True)
class Tokens:
    ids: tuple[int, ...]
    pieces: tuple[str, ...]


@dataclass(frozen=True)
class Crashed:
    message: str
    exitcode: int | None


Event = Loaded | PromptProgress | Token | Done | Failed | Scored | Tokens | Crashed
