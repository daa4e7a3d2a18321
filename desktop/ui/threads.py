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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from PySide6.QtCore import QObject, QThread, Signal

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.session import Fitted
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.stream import follow
from desktop.core.errors import DuetError, EngineCrashed, UnexpectedError

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
    """Loads an engine. `wanted` is asked once the load is done: an engine closed or replaced
    before this thread took it has just been started again, so it is closed here."""

    loaded = Signal(object)  # RuntimeInfo
    failed = Signal(str)

    def __init__(
        self, engine: Engine, wanted: Callable[[], bool], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self._wanted = wanted

    def run(self) -> None:
        try:
            info = self.engine.load()
            if not self._wanted():
                self.engine.close()
            self.loaded.emit(info)
        except DuetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(unexpected(exc))


class GenerationThread(QThread):
    prepared = Signal(object)  # Fitted, when `prepare` made the prompt in this thread
    batch = Signal(object)  # TokenBatch
    progress = Signal(int, int)
    done = Signal(object)  # p.Done
    failed = Signal(str)
    crashed = Signal(str)

    def __init__(
        self,
        engine: Engine,
        prompt: RenderedPrompt,
        sampling: SamplingParams,
        top_k_probs: int = 0,
        parent: QObject | None = None,
        prepare: Callable[[], Fitted] | None = None,
    ) -> None:
        super().__init__(parent)
        self.prepare = prepare  # work that needs the engine (fitting a chat), done here
        self.engine = engine
        self.prompt = prompt
        self.sampling = sampling
        self.top_k_probs = top_k_probs
        self._pending: list[p.Token] = []
        self._last_emit = 0.0

    def run(self) -> None:
        try:
            if self.prepare is not None:
                fitted = self.prepare()
                self.prompt = fitted.prompt
                self.prepared.emit(fitted)
            events = self.engine.generate(
                self.prompt, self.sampling, self.top_k_probs, self.top_k_probs > 0
            )
            done = follow(events, on_token=self._token, on_progress=self._progress)
        except EngineCrashed as exc:
            self._flush()  # the reply so far is kept: it reaches the view before the error
            self.crashed.emit(str(exc))
        except DuetError as exc:
            self._flush()
            self.failed.emit(str(exc))
        except Exception as exc:
            self._flush()
            self.failed.emit(unexpected(exc))
        else:
            self._flush()
            self.done.emit(done)

    def stop(self) -> None:
        """Cancel the generation: now, or, if this thread has not handed the engine its
        request yet (the engine's cancel then has nothing to act on), at its first token or
        progress report. A cancel while the engine loads its model, the engine keeps itself."""
        self.requestInterruption()
        self.engine.cancel()

    def _token(self, token: p.Token) -> None:
        if self.isInterruptionRequested():
            self.engine.cancel()
        self._pending.append(token)
        now = time.perf_counter()
        if now - self._last_emit >= BATCH_INTERVAL:
            self._flush()
            self._last_emit = now

    def _progress(self, progress: p.PromptProgress) -> None:
        if self.isInterruptionRequested():
            self.engine.cancel()
        self._flush()
        self.progress.emit(progress.done, progress.total)

    def _flush(self) -> None:
        tokens, self._pending = self._pending, []
        if tokens:
            self.batch.emit(TokenBatch("".join(t.text for t in tokens), tuple(tokens)))


class CloseThread(QThread):
    """Ends a worker process without blocking the window (join can take a moment)."""

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine

    def run(self) -> None:
        self.engine.close()


class CallThread(QThread):
    """Runs one blocking core call off the UI thread: `done` with its result, or `failed`."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, call: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call = call

    def run(self) -> None:
        try:
            self.done.emit(self.call())
        except DuetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(unexpected(exc))


T = TypeVar("T")


class Threads(QObject):
    """The threads a window started, each kept referenced until it ends (a QThread collected
    while it runs crashes the process), so closing the window can wait for them."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[QThread] = set()

    def start(self, thread: QThread) -> None:
        self._running.add(thread)
        thread.finished.connect(lambda: self._running.discard(thread))
        thread.start()

    def call(
        self, call: Callable[[], T], done: Callable[[T], None], failed: Callable[[str], None]
    ) -> None:
        """Run one blocking core call off the UI thread: `done` gets its result on the UI
        thread, or `failed` the error's message."""
        thread = CallThread(call, self)
        thread.done.connect(done)
        thread.failed.connect(failed)
        self.start(thread)

    def wait(self, msecs: int) -> None:
        """Give each running thread up to `msecs` to end (the window is closing)."""
        for thread in list(self._running):
            thread.wait(msecs)
