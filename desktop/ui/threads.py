"""From core's blocking iterators to Qt signals: each long call runs on a QThread.

Tokens are coalesced: the thread emits at most one batch every 25 ms, so the window repaints at
most 40 times a second however fast the model is. Repainting per token would make the UI
thread the bottleneck for small fast models.

Every thread ends with exactly one of its result signals, whatever happens: a DuetError gives
its message, and an exception nobody expected (a bug) gives its text too, so a view that waits
for the end is never left "busy".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QThread, Signal

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.local.client import EngineClient
from desktop.core.errors import DuetError, UnexpectedError

BATCH_INTERVAL = 0.025
_log = logging.getLogger(__name__)


def unexpected(exc: Exception) -> str:
    """The message for an exception nobody expected; its traceback goes to the log."""
    _log.error("Unexpected failure off the UI thread", exc_info=exc)
    return str(UnexpectedError.wrapping(exc))


@dataclass(frozen=True)
class TokenBatch:
    text: str
    tokens: tuple[p.Token, ...]


class LoadThread(QThread):
    loaded = Signal(object)  # RuntimeInfo
    failed = Signal(str)

    def __init__(self, engine: EngineClient, parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.engine = engine

    def run(self) -> None:
        try:
            self.loaded.emit(self.engine.load())
        except DuetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(unexpected(exc))


class GenerationThread(QThread):
    prepared = Signal(object)  # RenderedPrompt, when `prepare` made it in this thread
    batch = Signal(object)  # TokenBatch
    progress = Signal(int, int)
    done = Signal(object)  # p.Done
    failed = Signal(str)
    crashed = Signal(str)

    def __init__(
        self,
        engine: EngineClient,
        prompt: str,
        sampling: SamplingParams,
        stop: tuple[str, ...] = (),
        top_k_probs: int = 0,
        parent: object = None,
        prepare: Callable[[], RenderedPrompt] | None = None,
        events: Callable[[], Iterator[p.Event]] | None = None,
    ) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.prepare = prepare
        self.events = events  # another request than a raw prompt (a remote chat's messages)
        self.engine = engine
        self.prompt = prompt
        self.sampling = sampling
        self.stop_strings = stop
        self.top_k_probs = top_k_probs

    def run(self) -> None:
        pending: list[p.Token] = []
        last_emit = 0.0
        ended = False  # Done, Failed or Crashed went out: the window finished this stream
        try:
            if self.prepare is not None:  # work that needs the engine, off the UI thread
                prompt = self.prepare()
                self.prompt, self.stop_strings = prompt.text, prompt.stop
                self.prepared.emit(prompt)
            events = (
                self.events()
                if self.events is not None
                else self.engine.generate(
                    self.prompt,
                    self.sampling,
                    self.stop_strings,
                    self.top_k_probs,
                    self.top_k_probs > 0,
                )
            )
            for event in events:
                if isinstance(event, p.Token):
                    pending.append(event)
                    now = time.perf_counter()
                    if now - last_emit >= BATCH_INTERVAL:
                        self._flush(pending)
                        pending, last_emit = [], now
                    continue
                if pending:
                    self._flush(pending)
                    pending = []
                if isinstance(event, p.PromptProgress):
                    self.progress.emit(event.done, event.total)
                elif isinstance(event, p.Done):
                    ended = True
                    self.done.emit(event)
                elif isinstance(event, p.Failed):
                    ended = True
                    self.failed.emit(event.message)
                elif isinstance(event, p.Crashed):
                    ended = True
                    self.crashed.emit(event.message)
        except Exception as exc:
            message = str(exc) if isinstance(exc, DuetError) else unexpected(exc)
            if not ended:
                if pending:  # the reply so far is kept: it reaches the view before the error
                    self._flush(pending)
                self.failed.emit(message)

    def _flush(self, tokens: list[p.Token]) -> None:
        self.batch.emit(TokenBatch("".join(t.text for t in tokens), tuple(tokens)))


class CloseThread(QThread):
    """Ends a worker process without blocking the window (join can take a moment)."""

    def __init__(self, engine: EngineClient, parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.engine = engine

    def run(self) -> None:
        self.engine.close()


class CallThread(QThread):
    """Runs one blocking core call off the UI thread: `done` with its result, or `failed`."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, call: Callable[[], object], parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.call = call

    def run(self) -> None:
        try:
            self.done.emit(self.call())
        except DuetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(unexpected(exc))
