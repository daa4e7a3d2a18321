from __future__ import annotations

import os
import subprocess
import sys

from desktop.core.chat.prompts import exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.local.client import EngineClient

GREEDY = SamplingParams(temperature=0.0, max_tokens=32, seed=0)


def run(
    engine: EngineClient,
    prompt: str,
    sampling: SamplingParams = GREEDY,
    stop: tuple[str, ...] = (),
    top_k_probs: int = 0,
    logprobs: bool = False,
) -> tuple[list[p.Token], p.Event]:
    """All Token events and the final event of one generation of exactly `prompt`."""
    tokens: list[p.Token] = []
    for event in engine.generate(exact(prompt, stop), sampling, top_k_probs, logprobs):
        if isinstance(event, p.Token):
            tokens.append(event)
        elif not isinstance(event, p.PromptProgress):
            return tokens, event
    raise AssertionError("the stream ended without a final event")


def done(
    engine: EngineClient,
    prompt: str,
    sampling: SamplingParams = GREEDY,
    stop: tuple[str, ...] = (),
    top_k_probs: int = 0,
    logprobs: bool = False,
) -> p.Done:
    _, final = run(engine, prompt, sampling, stop, top_k_probs, logprobs)
    assert isinstance(final, p.Done), final
    return final


def next_token_top(engine: EngineClient, prompt: str, k: int = 5) -> p.Token:
    """The first generated token of a greedy run, with its top-k alternatives."""
    tokens, final = run(engine, prompt, GREEDY.with_changes(max_tokens=1), top_k_probs=k)
    assert isinstance(final, p.Done), final
    return tokens[0]


def assert_same_distribution(a: p.Token, b: p.Token) -> None:
    """Two next-token distributions equal up to rounding. After KV-cache reuse, new tokens sit
    in other cells than in a fresh context, and flash attention sums cells in that order in
    half precision; a real fault (a wrong position, a stale token) moves whole nats."""
    first = {alt.token_id: alt.logprob for alt in a.top}
    second = {alt.token_id: alt.logprob for alt in b.top}
    assert a.token_id == b.token_id
    shared = first.keys() & second.keys()
    assert len(shared) >= len(first) - 1
    for token_id in shared:
        assert abs(first[token_id] - second[token_id]) < 0.2, (first, second)


def duet(
    *args: str,
    stdin: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`duet ARGS...` as a user runs it: a new process, this test run's environment (and
    `env` on top of it)."""
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
