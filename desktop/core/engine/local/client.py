"""EngineClient: the local Engine, the app's handle on one llama.cpp worker process.

It spawns the worker, loads a model, streams a generation's events, cancels, and turns a dead
worker into a `Crashed` event; the next request starts a new worker and reloads the model.
Switching to another model ends the old process, which is the only way to be sure llama.cpp
gave all of its memory back.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from desktop.core import errors
from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import LOCAL, Capabilities
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local import protocol as rq

_SPAWN = multiprocessing.get_context("spawn")  # fork would copy the window's threads and Qt state
# A worker answers a cancel within one token or one graph node of a prompt. One that has said
# nothing this long after it, or twice the longest gap between the request's events if its
# tokens have been slower (a big model on a weak machine), is stuck (in a llama.cpp call,
# stopped, swapped out): it is ended, as a crash would end it, so that Stop never waits on it.
STOP_GRACE_SECONDS = 3.0
# Closing gives up waiting for a stream that has held at an event, unread, this long.
PAUSED_SECONDS = 1.0


class EngineClient:
    def __init__(self, path: Path | None = None, config: EngineConfig | None = None) -> None:
        self.path = Path(path) if path else None
        self.config = config or EngineConfig()
        self.info: p.RuntimeInfo | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._cancel: Any = None
        self._next_id = 0
        self._active_id = 0
        self._cancel_asked = 0  # the request cancelled before its worker could be told
        self._cancelled: tuple[int, float] | None = None  # the request cancelled last, and when
        self._last_event_at: float | None = None  # the running request's pace: its last event
        self._longest_gap = 0.0  # and the longest wait between two of its events
        self._paused_since: float | None = None  # a stream held at an event by its reader
        self._closed_id = 0  # a stream given up by `close`: its reader gets EngineCrashed
        self._ended_stuck = False  # the worker was ended for not answering a cancel
        self._last_exitcode: int | None = None
        self._lock = threading.Lock()  # one request at a time per worker

    # Life cycle ---------------------------------------------------------------------------------

    def load(self, path: Path | None = None, config: EngineConfig | None = None) -> p.RuntimeInfo:
        """Load a model (another one ends the current worker first). Raises ModelLoadError."""
        with self._lock:
            changed = (path is not None and Path(path) != self.path) or (
                config is not None and config != self.config
            )
            if changed:
                self._stop_process()
                self.path = Path(path) if path is not None else self.path
                self.config = config or self.config
            return self._ensure_loaded()

    @property
    def capabilities(self) -> Capabilities:
        return LOCAL

    @property
    def label(self) -> str:
        return self.path.name if self.path else "no model"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def close(self) -> None:
        """End the worker. A request still running is cancelled; a worker that does not answer
        within STOP_GRACE_SECONDS is ended, so closing never waits on a stuck one. A stream
        held at an event and not read on (PAUSED_SECONDS) is not waited for either: its worker
        is ended, and the stream, if read on, raises EngineCrashed."""
        self.cancel()
        if not self._acquire_for_close(STOP_GRACE_SECONDS + 1):
            holder = self._active_id
            self.kill()  # a request reading the worker then ends, as at a crash
            if not self._acquire_for_close(STOP_GRACE_SECONDS):
                # Held by a stream nobody reads: it keeps the lock and the pipe, and cleans
                # them up itself when it is read on or dropped.
                self._closed_id = holder
                process = self._process
                if process is not None:
                    process.join(timeout=3)
                return
        try:
            self._stop_process()
        finally:
            self._lock.release()

    def _acquire_for_close(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self._lock.acquire(timeout=0.1):
            now, paused = time.monotonic(), self._paused_since
            if now > deadline or (paused is not None and now - paused > PAUSED_SECONDS):
                return False
        return True

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kill(self) -> None:
        """End the worker abruptly, as a crash would (for tests and a stuck engine)."""
        if self._process is not None:
            self._process.kill()

    # Requests -----------------------------------------------------------------------------------

    def generate(
        self,
        prompt: RenderedPrompt,
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        """Stream one generation's events: PromptProgress*, Token*, then Done, Failed or Crashed.
        The prompt's text goes in exactly, its stop strings end the reply.

        Breaking out of the loop early cancels the generation and waits for the worker to stop.
        A stream read on after `close` gave up on it raises EngineCrashed.
        """
        sampling = (sampling or SamplingParams()).validated()
        with self._lock:
            # The request has its id before the model loads, so that a cancel while it loads
            # (a compare column's turn begins so) is not lost: see `cancel`.
            self._next_id += 1
            self._active_id = self._next_id
            try:
                self._ensure_loaded()
            except errors.EngineCrashed as exc:
                self._active_id = 0
                yield p.Crashed(str(exc), exc.exitcode)
                return
            except BaseException:
                self._active_id = 0
                raise
            self._start_pace()
            if self._cancel_asked == self._active_id:  # cancelled while loading
                self._cancel.value = self._active_id
                self._cancelled = (self._active_id, time.monotonic())  # the worker is told now
            request = rq.Generate(
                self._active_id,
                prompt.text,
                sampling,
                sampling.stops_with(prompt.stop),
                top_k_probs,
                logprobs,
            )
            request_id, finished, given_up = request.request_id, False, False
            try:
                self._send(request)
                while True:
                    event = self._recv(request_id)
                    finished = isinstance(event, (p.Done, p.Failed, p.Crashed))
                    self._paused_since = time.monotonic()
                    yield event
                    self._paused_since = None
                    if finished or self._closed_id == request_id:
                        break
            except errors.EngineCrashed as exc:
                finished = True
                self._paused_since = time.monotonic()
                yield p.Crashed(str(exc), self._exitcode())
            finally:
                self._active_id = 0
                self._paused_since = None
                if self._closed_id == request_id:  # `close` gave up on it and ended its worker
                    self._closed_id, given_up = 0, True
                    self._stop_process()
                elif not finished:
                    self._drain(request_id)
            if given_up and not finished:
                name = self.path.name if self.path else "the model"
                raise errors.EngineCrashed(
                    f"Duet closed the engine running {name} while this reply waited to be read. "
                    "The reply so far is kept; the next request starts the engine again.",
                    exitcode=self._exitcode(),
                )

    def cancel(self) -> None:
        """Stop the running generation within one token (or one graph node of a prompt)."""
        active = self._active_id
        self._cancel_asked = active  # kept for a request still loading its model
        if active and self._cancel is not None:
            self._mark_cancelled(active)

    def _mark_cancelled(self, request_id: int) -> None:
        """Tell the worker, and note when. A cancel that comes late, for a request that has
        already ended, touches neither the next request nor a later cancel."""
        asked = self._cancelled
        if asked is None or asked[0] < request_id:
            self._cancelled = (request_id, time.monotonic())
        if self._cancel.value < request_id:
            self._cancel.value = request_id

    def score(
        self,
        prompt: str,
        continuation: str = "",
        token_ids: tuple[int, ...] = (),
        top_k: int = 0,
        batched: bool = False,
    ) -> p.Scored:
        """Per-token log-probabilities of a continuation under this model (teacher forcing)."""
        with self._lock:
            self._ensure_loaded()
            self._next_id += 1
            self._active_id = request_id = self._next_id
            self._start_pace()
            try:
                self._send(
                    rq.Score(request_id, prompt, continuation, tuple(token_ids), top_k, batched)
                )
                event = self._recv(request_id)
                while isinstance(event, p.PromptProgress):
                    event = self._recv(request_id)
            finally:
                self._active_id = 0
        if isinstance(event, p.Failed):
            raise event.error
        assert isinstance(event, p.Scored)
        return event

    def tokenize(self, text: str) -> p.Tokens:
        with self._lock:
            self._ensure_loaded()
            self._send(rq.Tokenize(text))
            event = self._recv()
        if isinstance(event, p.Failed):
            raise event.error
        assert isinstance(event, p.Tokens)
        return event

    # Internals ----------------------------------------------------------------------------------

    def _ensure_loaded(self) -> p.RuntimeInfo:
        if self.info is not None and self.alive:
            return self.info
        if self.path is None:
            raise errors.ModelLoadError("No model chosen to load.")
        self._stop_process()
        self._start_process()
        try:
            self._send(rq.LoadModel(self.path, self.config))
            event = self._recv()
        except errors.EngineCrashed:
            self._stop_process()
            raise errors.ModelLoadError(
                f"The engine crashed while loading {self.path.name} (exit code {self._exitcode()}). "
                "The file may be corrupt or not supported by this llama.cpp: try another quantization."
            ) from None
        if isinstance(event, p.Failed):
            self._stop_process()
            raise event.error
        assert isinstance(event, p.Loaded)
        self.info = event.info
        return self.info

    def _start_process(self) -> None:
        from desktop.core.engine.local import (
            worker,  # the module, not llama_cpp: that loads in the child
        )

        parent, child = _SPAWN.Pipe(duplex=True)
        self._cancel = _SPAWN.RawValue("q", 0)
        process = _SPAWN.Process(
            target=worker.main, args=(child, self._cancel), name="duet-engine", daemon=True
        )
        process.start()
        child.close()  # so that the worker's death reads as EOF here
        self._process, self._conn = process, parent
        self._last_exitcode = None
        self._ended_stuck = False

    def _stop_process(self) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn, self.info = None, None, None
        if process is None:
            return
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(rq.Shutdown())
        process.join(timeout=3)
        if process.is_alive():
            process.kill()
            process.join(timeout=3)
        self._last_exitcode = process.exitcode
        if conn is not None:
            conn.close()

    def _send(self, request: rq.Request) -> None:
        assert self._conn is not None
        try:
            self._conn.send(request)
        except (OSError, ValueError):
            raise self._crashed() from None

    def _start_pace(self) -> None:
        self._last_event_at, self._longest_gap = None, 0.0

    def _grace(self) -> float:
        """How long a cancelled request's worker may stay silent: STOP_GRACE_SECONDS, or twice
        the longest gap between the request's events so far if that is longer."""
        return max(STOP_GRACE_SECONDS, 2 * self._longest_gap)

    def _recv(self, request_id: int = 0) -> p.Event:
        """The worker's next event. For a stoppable request (a generation, a scoring: its
        `request_id`), a worker silent for its grace after that request was cancelled is
        ended: EngineCrashed."""
        conn = self._conn
        assert conn is not None
        try:
            while request_id and not conn.poll(0.1):
                asked = self._cancelled
                if (
                    asked is not None
                    and asked[0] == request_id
                    and time.monotonic() - asked[1] > self._grace()
                ):
                    self._ended_stuck = True
                    self.kill()  # its pipe then reads as closed
                    break
            event: p.Event = conn.recv()
        except (EOFError, OSError):
            raise self._crashed() from None
        if request_id:
            now = time.monotonic()
            if self._last_event_at is not None:
                self._longest_gap = max(self._longest_gap, now - self._last_event_at)
            self._last_event_at = now
        return event

    def _crashed(self) -> errors.EngineCrashed:
        process = self._process
        if process is not None:
            process.join(timeout=3)
            self._last_exitcode = process.exitcode
        self._process, self.info = None, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        name = self.path.name if self.path else "the model"
        if self._ended_stuck:
            return errors.EngineCrashed(
                f"The engine running {name} did not stop within {self._grace():.0f} s of "
                "being asked, so Duet ended it. The reply so far is kept; the next request "
                "starts the engine again.",
                exitcode=self._exitcode(),
            )
        return errors.EngineCrashed(
            f"The engine running {name} stopped unexpectedly (exit code {self._exitcode()}). "
            "Nothing you wrote is lost; the next request starts it again.",
            exitcode=self._exitcode(),
        )

    def _exitcode(self) -> int | None:
        return self._last_exitcode

    def _drain(self, request_id: int) -> None:
        """After an abandoned stream: cancel it and read up to its end, so the next request
        does not receive this one's tokens."""
        if self._cancel is None or self._conn is None:
            return
        self._mark_cancelled(request_id)
        try:
            while not isinstance(self._recv(request_id), (p.Done, p.Failed)):
                pass
        except errors.EngineCrashed:
            pass
