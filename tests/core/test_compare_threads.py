"""run_columns' threads: a bug in one column's stream ends that column with its text and the
tokens so far, and never leaves the comparison waiting or kills the thread silently."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.run import Column, Comparison, run_columns
from desktop.core.engine import events as p


class Trips:
    """An engine that streams one token, then raises what nobody expects."""

    def generate(self, *_: object, **__: object) -> Iterator[p.Event]:
        yield p.Token("Hel", 1, "Hel", -0.1)
        raise RuntimeError("the parser tripped")


def test_a_bug_in_a_column_is_its_error_not_a_dead_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    uncaught: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))
    prompt = SimpleNamespace(text="Hi", stop=())
    comparison = Comparison(
        "Hi",
        None,
        SamplingParams(),
        [Column(SimpleNamespace(id="m"), "raw", prompt)],  # type: ignore[arg-type]
    )
    events: list[tuple[int, Any]] = []
    run_columns([Trips()], comparison, lambda i, e: events.append((i, e)))  # type: ignore[list-item]
    column = comparison.columns[0]
    assert column.error is not None and "RuntimeError: the parser tripped" in column.error
    assert [t.piece for t in column.tokens] == ["Hel"] and column.text == "Hel"
    assert isinstance(events[-1][1], p.Failed) and events[-1][1].message == column.error
    assert uncaught == []
