"""FakeEngine: an Engine with canned replies, for tests of what sits around a model (the chat
session, the window, the CLI) that need its events but not llama.cpp.

Shaped like simonw/llm's MockModel: it is given its replies, as a list (taken in order, then
empty replies, as MockModel's queue) or as a function of the prompt, and it records the prompts
it was sent. It streams the same events as the local engine, in the same order and with the
same rules, which tests/core/test_fake_engine.py checks against the real one:

- Tokens are words: a reply is cut before each run of whitespace that precedes a word
  ("Hello big world" streams "Hello", " big", " world"), so the tokens always add up to the
  reply. `tokenize` and the counts in `Stats` use the same cut, and each distinct piece gets an
  id the first time this engine sees it.
- `max_tokens` counts those words: a reply of 10 words with max_tokens=4 ends after 4 with
  StopReason.MAX_TOKENS; a reply that ends sooner ends with EOS (at exactly max_tokens it is
  MAX_TOKENS, as the local engine's check after each token makes it).
- The prompt's stop strings end a reply with STOP_STRING, text held back exactly as the local
  engine's StopMatcher holds it (an engine that renders its own template, sent messages, leaves
  them to its server, as the remote engine does).
- Log-probabilities, when asked (logprobs, or top_k_probs > 0): the model is sure of its
  choice by half, and each alternative by half again. The chosen token comes first in `top`
  with log(1/2); the i-th alternative (" alt1", " alt2", ...) has log(1/2) * (i + 1).
- `cancel()` during a generation ends it before its next token with CANCELLED; `fail_next` and
  `crash_next` make the next request end with Failed or Crashed (after some tokens, if asked),
  and a crash unloads it, so the request after that loads it again (`loads` counts them).
  With `in_generation=True` they wait for the next generation, passing over the load and
  tokenize calls a chat turn makes first to fit the chat to the context.

Nothing runs in another process and nothing sleeps, except `token_delay` seconds before each
token (for tests of busy states), which a cancel cuts short.
"""

from __future__ import annotations

import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import MAX_SEED, SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import LOCAL, Capabilities
from desktop.core.engine.local.stopper import StopMatcher
from desktop.core.errors import (
    DuetError,
    EngineCrashed,
    InvalidPrompt,
    ModelLoadError,
    PromptTooLong,
    Unsupported,
)

Replies = Sequence[str] | Callable[[RenderedPrompt], str]

_WORD = re.compile(r"\s*\S+|\s+")
N_VOCAB = 50_000  # what it reports; its ids are given out as pieces are first seen
HALF = math.log(0.5)  # the chosen token's log-probability when one is asked for
CRASH_MESSAGE = (
    "The engine running {label} stopped unexpectedly (exit code {exitcode}). Nothing you "
    "wrote is lost; the next request starts it again."
)


def words(text: str) -> list[str]:
    """The fake's tokens: each word with the whitespace before it; they add up to the text."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class GenerateCall:
    """One generate request as the fake received it."""

    prompt: RenderedPrompt
    sampling: SamplingParams
    top_k_probs: int = 0
    logprobs: bool = False


@dataclass(frozen=True)
class _Trouble:
    """What the next request meets: an error (Failed) or a crash (Crashed)."""

    error: DuetError | None
    exitcode: int | None
    after_tokens: int
    in_generation: bool = False  # met by the next generation only


class FakeEngine:
    """An Engine (desktop/core/engine/base.py) with canned replies and no model.

    `replies`: strings given out in order (then empty replies), one string, or a function of
    the prompt.
    `capabilities`: what it says it can do; `score` and `tokenize` refuse without `can_score`.
    `n_ctx`: its context, in words. `token_delay`: seconds before each token.
    """

    def __init__(
        self,
        replies: Replies = (),
        *,
        capabilities: Capabilities = LOCAL,
        label: str = "fake-model.gguf",
        n_ctx: int = 2048,
        n_batch: int = 512,
        token_delay: float = 0.0,
    ) -> None:
        self.replies = replies
        self.capabilities = capabilities
        self.label = label
        self.n_ctx = n_ctx
        self.n_batch = n_batch  # a longer prompt reports PromptProgress, a batch at a time
        self.token_delay = token_delay
        self.calls: list[GenerateCall] = []  # every generate request, in order
        self.loads = 0  # times it was loaded: a crash makes the next request load it again
        self.closed = False
        self.info: p.RuntimeInfo | None = None
        # A lone string is one reply, not a list of its characters.
        queued = [] if callable(replies) else [replies] if isinstance(replies, str) else replies
        self._queue: deque[str] = deque(queued)
        self._vocab: dict[str, int] = {}
        self._kv: list[int] = []  # what a real engine's cache would hold after the last request
        self._trouble: _Trouble | None = None
        self._lock = threading.Lock()  # one request at a time, as the local engine
        self._active = False
        self._cancelled = threading.Event()
        self._seeds = random.Random(0)

    # Set-up -------------------------------------------------------------------------------------

    @property
    def prompts(self) -> list[RenderedPrompt]:
        """Every prompt it was asked to continue, in order."""
        return [call.prompt for call in self.calls]

    def enqueue(self, *replies: str) -> None:
        """More replies, after those already waiting (when it was given a list)."""
        if callable(self.replies):
            raise TypeError("This FakeEngine answers with a function, not a list of replies.")
        self._queue.extend(replies)

    def fail_next(
        self, error: DuetError, after_tokens: int = 0, *, in_generation: bool = False
    ) -> None:
        """The next request fails with `error`: a generation streams up to `after_tokens`
        tokens, then Failed; load, score and tokenize raise it. `in_generation`: the next
        generation, whatever load, score or tokenize calls come first."""
        self._trouble = _Trouble(error, None, after_tokens, in_generation)

    def crash_next(
        self, exitcode: int | None = -9, after_tokens: int = 0, *, in_generation: bool = False
    ) -> None:
        """The next request meets a dead worker: a generation streams up to `after_tokens`
        tokens, then Crashed; load raises ModelLoadError, score and tokenize EngineCrashed.
        The request after it loads the model again. `in_generation`: the next generation,
        whatever load, score or tokenize calls come first."""
        self._trouble = _Trouble(None, exitcode, after_tokens, in_generation)

    # The Engine protocol ------------------------------------------------------------------------

    def load(self) -> p.RuntimeInfo:
        with self._lock:
            trouble = self._take_trouble(generating=False)
            if trouble is not None and trouble.error is not None:
                raise trouble.error
            if trouble is not None:
                crashed = self._crash(trouble)
                raise ModelLoadError(
                    f"The engine crashed while loading {self.label} (exit code "
                    f"{crashed.exitcode}). The file may be corrupt or not supported by this "
                    "llama.cpp: try another quantization."
                )
            return self._ensure_loaded()

    def generate(
        self,
        prompt: RenderedPrompt,
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        params = (sampling or SamplingParams()).validated()
        with self._lock:
            self.calls.append(GenerateCall(prompt, params, top_k_probs, logprobs))
            trouble = self._take_trouble(generating=True)
            self._ensure_loaded()
            self._cancelled.clear()
            self._active = True
            try:
                yield from self._generate(prompt, params, top_k_probs, logprobs, trouble)
            finally:
                self._active = False

    def score(
        self,
        prompt: str,
        continuation: str = "",
        token_ids: tuple[int, ...] = (),
        top_k: int = 0,
        batched: bool = False,
    ) -> p.Scored:
        self._needs_score()
        with self._lock:
            self._raise_trouble()
            self._ensure_loaded()
            pieces = [self._piece(i) for i in token_ids] if token_ids else words(continuation)
            prompt_tokens = words(prompt)
            if not prompt_tokens or not pieces:
                raise InvalidPrompt("Scoring needs a prompt and a text to score.")
            total = len(prompt_tokens) + len(pieces)
            if total > self.n_ctx:
                raise PromptTooLong(
                    f"Prompt and text are {total} tokens but the context holds {self.n_ctx}.",
                    tokens=total,
                    n_ctx=self.n_ctx,
                )
            scored = []
            for piece in pieces:
                logprob, top = self._probabilities(piece, top_k)
                scored.append(p.ScoredToken(self._id(piece), piece, logprob, top))
            return p.Scored(tuple(scored))

    def tokenize(self, text: str) -> p.Tokens:
        self._needs_score()
        with self._lock:
            self._raise_trouble()
            self._ensure_loaded()
            pieces = words(text)
            return p.Tokens(tuple(self._id(piece) for piece in pieces), tuple(pieces))

    def cancel(self) -> None:
        if self._active:  # as the local engine: a cancel between requests is not kept
            self._cancelled.set()

    def close(self) -> None:
        self.cancel()
        self.closed = True
        self.info = None

    # Internals ----------------------------------------------------------------------------------

    def _generate(
        self,
        prompt: RenderedPrompt,
        params: SamplingParams,
        top_k_probs: int,
        logprobs: bool,
        trouble: _Trouble | None,
    ) -> Iterator[p.Event]:
        received = time.perf_counter()
        seed = params.seed if params.seed is not None else self._seeds.randrange(MAX_SEED + 1)
        prompt_ids = [self._id(piece) for piece in words(prompt.text)]
        if not prompt_ids:
            yield p.Failed(
                InvalidPrompt("The prompt is empty: write something for the model to continue.")
            )
            return
        if len(prompt_ids) >= self.n_ctx:
            yield p.Failed(
                PromptTooLong(
                    f"The prompt is {len(prompt_ids)} tokens but the context holds {self.n_ctx}: "
                    "shorten it, or raise the context length.",
                    tokens=len(prompt_ids),
                    n_ctx=self.n_ctx,
                )
            )
            return
        # As a real engine's cache: the start it shares with the last request is not evaluated
        # again (one token always is), and a longer rest reports its progress batch by batch.
        cached = _common_prefix(self._kv, prompt_ids, len(prompt_ids) - 1)
        evaluated = len(prompt_ids) - cached
        if evaluated > self.n_batch:
            for done in range(self.n_batch, evaluated + self.n_batch, self.n_batch):
                yield p.PromptProgress(min(done, evaluated), evaluated)
        self._kv = list(prompt_ids)
        prompt_done = time.perf_counter()

        reply = self._reply(prompt)
        server_stops = self.capabilities.renders_template and bool(prompt.messages)
        stopper = StopMatcher(params.stop if server_stops else params.stops_with(prompt.stop))
        want_probs = logprobs or top_k_probs > 0
        out: list[str] = []
        generated = 0
        first_token_at = 0.0
        reason = p.StopReason.EOS
        for piece in words(reply):
            if trouble is not None and generated >= trouble.after_tokens:
                break
            if self.token_delay:
                self._cancelled.wait(self.token_delay)
            if self._cancelled.is_set():
                reason = p.StopReason.CANCELLED
                break
            text, stopped = stopper.feed(piece)
            logprob, top = self._probabilities(piece, top_k_probs) if want_probs else (None, ())
            yield p.Token(text, self._id(piece), piece, logprob, top)
            first_token_at = first_token_at or time.perf_counter()
            out.append(text)
            generated += 1
            if stopped:
                reason = p.StopReason.STOP_STRING
                break
            self._kv.append(self._id(piece))
            if len(self._kv) >= self.n_ctx:
                reason = p.StopReason.CONTEXT_FULL
                break
            if generated >= params.max_tokens:
                reason = p.StopReason.MAX_TOKENS
                break
        if trouble is not None:  # it ends the request, after at most `after_tokens` tokens
            yield p.Failed(trouble.error) if trouble.error is not None else self._crash(trouble)
            return
        if reason is not p.StopReason.STOP_STRING and (tail := stopper.flush()):
            out.append(tail)
            yield p.Token(tail, -1, "", None, ())
        finished = time.perf_counter()
        yield p.Done(
            reason=reason,
            text="".join(out),
            stats=p.Stats(
                prompt_tokens=len(prompt_ids),
                cached_tokens=cached,
                generated_tokens=generated,
                prompt_seconds=prompt_done - received,
                ttft_seconds=(first_token_at or finished) - received,
                generation_seconds=finished - prompt_done,
                seed=seed,
                context_used=len(self._kv),
                context_size=self.n_ctx,
            ),
        )

    def _reply(self, prompt: RenderedPrompt) -> str:
        if callable(self.replies):
            return self.replies(prompt)
        return self._queue.popleft() if self._queue else ""

    def _ensure_loaded(self) -> p.RuntimeInfo:
        if self.info is not None:
            return self.info
        self.loads += 1
        self.closed = False
        self._kv = []
        self.info = p.RuntimeInfo(
            path=Path(self.label),
            n_ctx=self.n_ctx,
            n_ctx_train=self.n_ctx,
            n_vocab=N_VOCAB,
            add_bos=False,
            bos_token=None,
            n_threads=1,
            n_threads_batch=1,
            n_gpu_layers=0,
            load_seconds=0.0,
            pid=os.getpid(),
        )
        return self.info

    def _take_trouble(self, generating: bool) -> _Trouble | None:
        """The trouble this request meets, if any (one kept for a generation waits for it)."""
        trouble = self._trouble
        if trouble is None or (trouble.in_generation and not generating):
            return None
        self._trouble = None
        return trouble

    def _raise_trouble(self) -> None:
        trouble = self._take_trouble(generating=False)
        if trouble is None:
            return
        if trouble.error is not None:
            raise trouble.error
        crashed = self._crash(trouble)
        raise EngineCrashed(crashed.message, exitcode=crashed.exitcode)

    def _crash(self, trouble: _Trouble) -> p.Crashed:
        self.info = None  # the worker is gone: the next request loads the model again
        self._kv = []
        return p.Crashed(
            CRASH_MESSAGE.format(label=self.label, exitcode=trouble.exitcode), trouble.exitcode
        )

    def _needs_score(self) -> None:
        if not self.capabilities.can_score:
            raise Unsupported(
                f"{self.label} cannot score a given text: pick a local model.",
                capability="can_score",
            )

    def _id(self, piece: str) -> int:
        return self._vocab.setdefault(piece, len(self._vocab) + 1)

    def _piece(self, token_id: int) -> str:
        for piece, known in self._vocab.items():
            if known == token_id:
                return piece
        raise InvalidPrompt(f"Token {token_id} is not in this model's vocabulary.")

    def _probabilities(self, piece: str, k: int) -> tuple[float, tuple[p.Alternative, ...]]:
        alternatives = [piece, *(f" alt{i}" for i in range(1, k))][:k]
        return HALF, tuple(
            p.Alternative(self._id(alt), alt, HALF * (rank + 1))
            for rank, alt in enumerate(alternatives)
        )


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y or common >= limit:
            break
        common += 1
    return common
