"""A worker that stops answering (llama.cpp stuck in a call, the process stopped or swapped
out) never holds the app: Stop ends the reply within a few seconds, keeping what came, closing
ends the worker, and the next request starts a new one. Before, Stop did nothing and closing
the window waited for the worker forever."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from desktop.core import errors
from desktop.core.chat.prompts import exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local.client import STOP_GRACE_SECONDS, EngineClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="stops the worker with SIGSTOP"),
]


def hung_mid_reply(engine: EngineClient) -> tuple[threading.Thread, list[p.Event]]:
    """A generation running in a thread, its worker stopped after the first token."""
    events: list[p.Event] = []
    sampling = SamplingParams(max_tokens=100_000, temperature=1.0, seed=1)

    def run() -> None:
        events.extend(engine.generate(exact("Once upon a time"), sampling))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(isinstance(e, p.Token) for e in list(events)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGSTOP)
    return thread, events


def test_stop_ends_a_reply_whose_worker_hangs_and_the_next_one_works(instruct_path: Path) -> None:
    engine = EngineClient(instruct_path, EngineConfig(n_ctx=512))
    try:
        engine.load()
        thread, events = hung_mid_reply(engine)
        hung = engine.pid
        started = time.monotonic()
        engine.cancel()
        thread.join(timeout=STOP_GRACE_SECONDS + 5)
        assert not thread.is_alive()
        assert time.monotonic() - started < STOP_GRACE_SECONDS + 5
        assert any(isinstance(e, p.Token) for e in events)  # what came is kept
        end = events[-1]
        assert isinstance(end, p.Crashed)
        assert "did not stop" in end.message
        reply = list(engine.generate(exact("Hello"), SamplingParams(max_tokens=3, seed=1)))
        assert isinstance(reply[-1], p.Done)
        assert engine.pid != hung
    finally:
        engine.close()


def test_closing_while_the_worker_hangs_ends_it(instruct_path: Path) -> None:
    engine = EngineClient(instruct_path, EngineConfig(n_ctx=512))
    engine.load()
    thread, _events = hung_mid_reply(engine)
    hung = engine.pid
    assert hung is not None
    closing = threading.Thread(target=engine.close, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(timeout=STOP_GRACE_SECONDS + 8)
    try:
        assert not closing.is_alive()
        assert time.monotonic() - started < STOP_GRACE_SECONDS + 8
        thread.join(timeout=5)
        assert not thread.is_alive()
    finally:
        if closing.is_alive():
            os.kill(hung, signal.SIGKILL)


def paused(pid: int, seconds: float) -> None:
    """The worker stopped for `seconds`, as a token that takes that long would look."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_for_more_tokens(events: list[p.Event], than: int) -> None:
    deadline = time.monotonic() + 30
    while sum(isinstance(e, p.Token) for e in list(events)) <= than:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_stop_waits_for_a_worker_as_slow_as_it_has_been(instruct_path: Path) -> None:
    """Tokens slower than the 3 s grace are not a hang: a worker that has taken 4 s over a
    token gets twice that to answer a Stop, ends its reply as cancelled and is kept."""
    engine = EngineClient(instruct_path, EngineConfig(n_ctx=512))
    try:
        engine.load()
        thread, events = hung_mid_reply(engine)  # stopped after its first token
        worker = engine.pid
        assert worker is not None
        time.sleep(4)
        os.kill(worker, signal.SIGCONT)  # one 4 s token
        wait_for_more_tokens(events, sum(isinstance(e, p.Token) for e in list(events)))
        os.kill(worker, signal.SIGSTOP)  # a second slow token, and Stop during it
        engine.cancel()
        time.sleep(4)
        with contextlib.suppress(ProcessLookupError):  # before, it was ended at 3 s
            os.kill(worker, signal.SIGCONT)
        thread.join(timeout=15)
        assert not thread.is_alive()
        end = events[-1]
        assert isinstance(end, p.Done), end
        assert end.reason is p.StopReason.CANCELLED
        reply = list(engine.generate(exact("Hello"), SamplingParams(max_tokens=3, seed=1)))
        assert isinstance(reply[-1], p.Done)
        assert engine.pid == worker  # not reloaded
    finally:
        engine.close()


def test_a_late_cancel_of_the_last_reply_does_not_end_the_next(instruct_path: Path) -> None:
    """Stop pressed as a reply ends: its cancel read the ending request's id, the next request
    began before it was recorded. The next request is not the one stopped, so a slow token of
    it is waited for, not taken for a stuck worker."""
    engine = EngineClient(instruct_path, EngineConfig(n_ctx=512))
    try:
        engine.load()
        first = engine.generate(exact("Hello"), SamplingParams(max_tokens=4, seed=1))
        assert isinstance(next(first), p.Token)  # the first request is the active one

        read_active, go_on = threading.Event(), threading.Event()
        cancel_code = EngineClient.cancel.__code__

        def hold_after_reading(frame: Any, event: str, arg: object) -> Any:
            if frame.f_code is not cancel_code:
                return None

            def local(frame: Any, event: str, arg: object) -> Any:
                if event == "line" and "active" in frame.f_locals and not read_active.is_set():
                    read_active.set()  # the active id is read: hold here
                    go_on.wait(30)
                return local

            return local

        def late_cancel() -> None:
            sys.settrace(hold_after_reading)
            try:
                engine.cancel()
            finally:
                sys.settrace(None)

        canceller = threading.Thread(target=late_cancel, daemon=True)
        canceller.start()
        assert read_active.wait(10)
        assert isinstance(list(first)[-1], p.Done)  # the first request ends
        thread, events = hung_mid_reply(engine)  # the next one is under way, then slow
        worker = engine.pid
        assert worker is not None
        go_on.set()  # the late cancel goes on now
        canceller.join(timeout=5)
        assert not canceller.is_alive()
        time.sleep(4)
        with contextlib.suppress(ProcessLookupError):  # before, it was ended at 3 s
            os.kill(worker, signal.SIGCONT)
        assert not any(isinstance(e, p.Crashed) for e in list(events)), events[-1]
        wait_for_more_tokens(events, sum(isinstance(e, p.Token) for e in list(events)))
        assert engine.pid == worker
        engine.cancel()
        thread.join(timeout=10)
        assert not thread.is_alive()
        end = events[-1]
        assert isinstance(end, p.Done), end
    finally:
        go_on.set()
        engine.close()


def test_closing_with_a_stream_paused_and_unread_returns(instruct_path: Path) -> None:
    """A stream held at a token and never read again (a comparison interrupted one column at a
    time keeps it) does not hold closing: the worker is ended and closing returns; the stream,
    if read on, ends with a DuetError, not an error of its dead pipe."""
    engine = EngineClient(instruct_path, EngineConfig(n_ctx=512))
    engine.load()
    worker = engine.pid
    assert worker is not None
    stream = engine.generate(exact("Once upon a time"), SamplingParams(max_tokens=200, seed=1))
    assert isinstance(next(stream), p.Token)
    closing = threading.Thread(target=engine.close, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(timeout=15)
    try:
        assert not closing.is_alive()
        assert time.monotonic() - started < 5
        with pytest.raises(errors.DuetError) as raised:
            for _event in stream:
                pass
        assert isinstance(raised.value, errors.EngineCrashed)
        assert "closed" in str(raised.value)
        reply = list(engine.generate(exact("Hello"), SamplingParams(max_tokens=3, seed=1)))
        assert isinstance(reply[-1], p.Done)  # a closed engine starts again when asked
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        stream.close()
        engine.close()
