"""One prompt through two to four models, each in its own engine worker, and where
their outputs part ways: the first divergence, and how surprised one model is by the other's
text (teacher-forced log-probabilities). Saved by desktop.core.compare.export."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from desktop.core.chat.fork import Fork, forked_prompt
from desktop.core.chat.prompts import Mode, RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.tokens import TOP_K, TokenRecord
from desktop.core.compare.shift import TokenShift, token_shift
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.config import EngineConfig, physical_cores
from desktop.core.engine.factory import Runnable, capabilities_of
from desktop.core.engine.stream import follow
from desktop.core.errors import DuetError, UnexpectedError


def compare_config(n_columns: int, n_ctx: int = 4096, cores: int | None = None) -> EngineConfig:
    """Threads per worker when several models run at once: the physical cores shared out, one
    each at least. Spinning ggml threads must not outnumber cores: measured on 2 cores, two
    workers with one thread each run together as fast as one after the other (bench/compare.py),
    while two threads each collapse."""
    share = max(1, (cores or physical_cores()) // max(1, n_columns))
    return EngineConfig(n_ctx=n_ctx, n_threads=share, n_threads_batch=share)


@dataclass(frozen=True)
class Divergence:
    char: int  # offset in both texts where they first differ
    token_a: int  # index of the token holding that character in each column
    token_b: int


def first_divergence(a: Sequence[str], b: Sequence[str]) -> Divergence | None:
    """Where two token streams first differ, by text, so that models with different tokenizers
    compare too. None when the texts are equal."""
    text_a, text_b = "".join(a), "".join(b)
    if text_a == text_b:
        return None
    char = next(
        (i for i, (x, y) in enumerate(zip(text_a, text_b, strict=False)) if x != y),
        min(len(text_a), len(text_b)),
    )
    return Divergence(char, _token_at(a, char), _token_at(b, char))


def _token_at(pieces: Sequence[str], char: int) -> int:
    end = 0
    for index, piece in enumerate(pieces):
        end += len(piece)
        if char < end:
            return index
    return len(pieces)  # past the end: this column stopped first


@dataclass
class Column:
    """One side of a comparison: its model, mode and prompt, and what came back."""

    model: Runnable
    mode: Mode
    prompt: RenderedPrompt
    tokens: list[TokenRecord] = field(default_factory=list)
    text: str = ""
    done: p.Done | None = None
    error: str | None = None
    surprise: list[TokenRecord] | None = None  # this column's text scored by another model
    surprise_model: str | None = None
    # What each token added to `text` (its piece, but a character split across tokens comes
    # whole with the token that completes it, and text held for a stop string comes late):
    # a fork's prefix is made of these, so it is the text as written.
    texts: list[str] = field(default_factory=list)

    @property
    def shift(self) -> TokenShift | None:
        """This column's text labelled by the model that scored it: see compare.shift."""
        if self.surprise is None or self.surprise_model is None:
            return None
        return token_shift(self.surprise, self.model.id, self.surprise_model)

    @property
    def pieces(self) -> list[str]:
        return [t.piece for t in self.tokens]

    def add_token(self, token: p.Token) -> TokenRecord | None:
        """A streamed token: the output grows by its text. A token without an id only releases
        text held back for a stop string, and adds no record."""
        self.text += token.text
        if token.token_id < 0:  # held text released: it belongs to the tokens before
            self._give_back(token.text)
            return None
        record = TokenRecord.of(token)
        own = token.text
        if len(own) > len(token.piece) and own.endswith(token.piece):
            self._give_back(own[: len(own) - len(token.piece)])  # released with this token
            own = token.piece
        self.tokens.append(record)
        self.texts.append(own)
        return record

    def _give_back(self, released: str) -> None:
        """Text held for a stop string and released later: each token that wrote a piece of
        it, still empty, gets its piece back (from the last), and the last token what is left
        (a character split across tokens, which no single piece spells)."""
        j = len(self.texts) - 1
        while released and j >= 0 and not self.texts[j]:
            piece = self.tokens[j].piece
            if not piece or not released.endswith(piece):
                break
            self.texts[j], released = piece, released[: len(released) - len(piece)]
            j -= 1
        if released and j >= 0:
            self.texts[j] += released
        elif released and self.texts:
            self.texts[0] = released + self.texts[0]

    def finish(self, done: p.Done | None, error: str | None = None) -> None:
        self.done, self.error = done, error
        if done is not None:
            self.text = done.text


@dataclass
class Comparison:
    input: str
    system: str | None
    sampling: SamplingParams
    columns: list[Column]
    created: float = field(default_factory=time.time)
    fork: Fork | None = None  # every column went on from this text, chosen at one token

    @property
    def divergence(self) -> Divergence | None:
        if len(self.columns) < 2 or not all(c.done for c in self.columns[:2]):
            return None
        return first_divergence(self.columns[0].pieces, self.columns[1].pieces)


def forked(comparison: Comparison, fork: Fork) -> Comparison:
    """A comparison whose every column goes on from the same text, chosen at one token of
    one column: how each model continues from the point where they parted. Raises Unsupported
    when a column's engine is sent chat messages and cannot continue a text."""
    columns = [
        Column(c.model, c.mode, forked_prompt(c.prompt, fork, capabilities_of(c.model)))
        for c in comparison.columns
    ]
    return Comparison(comparison.input, comparison.system, comparison.sampling, columns, fork=fork)


def run_columns(
    engines: Sequence[Engine],
    comparison: Comparison,
    on_event: Callable[[int, p.Event], None] | None = None,
    one_at_a_time: bool = False,
) -> Comparison:
    """Generate every column at once, each on its own thread and engine; or, `one_at_a_time`,
    each column in turn, its engine closed before the next starts, so that only one model is in
    memory at a time (a closed engine loads again if it is asked for more, e.g. to score)."""

    def one(index: int) -> None:
        column, engine = comparison.columns[index], engines[index]

        def tell(event: p.Event) -> None:
            if on_event is not None:
                on_event(index, event)

        def token(event: p.Token) -> None:
            column.add_token(event)
            tell(event)

        try:
            events = engine.generate(column.prompt, comparison.sampling, TOP_K, logprobs=True)
            done = follow(events, on_token=token, on_progress=tell)
            column.finish(done)
            tell(done)
        except Exception as exc:  # a bug in one column must not leave the comparison waiting
            error = exc if isinstance(exc, DuetError) else UnexpectedError.wrapping(exc)
            column.finish(None, str(error))
            tell(p.Failed(error))

    if one_at_a_time:
        for engine in engines[1:]:  # loaded before (a score, an earlier run): freed first
            engine.close()
        for i, engine in enumerate(engines[: len(comparison.columns)]):
            one(i)
            engine.close()
        return comparison
    threads = [
        threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(comparison.columns))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return comparison


def score_with(engine: Engine, column: Column, scorer: Column) -> list[TokenRecord]:
    """`column`'s output as `scorer`'s model sees it: the log-probability and top choices it
    gives each token of its own tokenization of the text, after its own rendering of the same
    input. High surprise is where the models disagree; `Column.shift` labels each token.

    Batched: one pass over the text, after whatever of the prompt the scorer's cache still
    holds from generating its own column."""
    scored = engine.score(scorer.prompt.text, continuation=column.text, top_k=TOP_K, batched=True)
    column.surprise = [TokenRecord.of(t) for t in scored.tokens]
    column.surprise_model = scorer.model.id
    return column.surprise
