"""A worker that stops answering (llama.cpp stuck in a call, the process stopped or swapped
out) never holds the app: Stop ends the reply within a few seconds, keeping what came, closing
ends the worker, and the next request starts a new one. Before, Stop did nothing and closing
the window waited for the worker forever."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

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
