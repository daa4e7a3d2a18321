"""Attacks on `duet compare` line-ups and one-at-a-time runs, on the real starter files: a
context out of range says so instead of a traceback, and scoring after a one-at-a-time run
loads one model at a time as the run did."""

from __future__ import annotations

import pytest

from desktop.cli import main
from desktop.core.engine.factory import open_engine
from tests.integration.helpers import duet


@pytest.mark.parametrize("ctx", ["-5", "99999999"])
def test_a_context_out_of_range_is_refused_in_words(starter_paths: object, ctx: str) -> None:
    result = duet("compare", "--ctx", ctx, "-n", "2", "Hi", timeout=60)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert "context length must be between 16 and 1048576" in result.stderr, result.stderr


class _Watched:
    """A real engine that notes, each time it is asked to generate or score, which engines
    are loaded at that moment and which one it is."""

    def __init__(self, engine: object, log: list[tuple[int, list[bool]]], every: list[object]):
        self._engine, self._log, self._every = engine, log, every

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def _note(self) -> None:
        alive = [bool(getattr(e, "alive", False)) for e in self._every]
        self._log.append((self._every.index(self._engine), alive))

    def generate(self, *args: object, **kwargs: object) -> object:
        self._note()
        return self._engine.generate(*args, **kwargs)  # type: ignore[attr-defined]

    def score(self, *args: object, **kwargs: object) -> object:
        self._note()
        return self._engine.score(*args, **kwargs)  # type: ignore[attr-defined]


def test_scoring_one_at_a_time_loads_one_model_at_a_time(
    starter_paths: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log: list[tuple[int, list[bool]]] = []
    engines: list[object] = []

    def opener(model, config):  # type: ignore[no-untyped-def]
        engine = open_engine(model, config)
        engines.append(engine)
        return _Watched(engine, log, engines)

    monkeypatch.setattr("desktop.cli.compare.open_engine", opener)
    code = main(
        [
            *("compare", "--one-at-a-time", "--mode", "raw", "--score", "--fork-at", "1"),
            *("-n", "4", "Once upon a time"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("[scored by ") == 2
    # Two generations, two scores, two forked generations: each with no other model loaded.
    assert len(log) == 6, log
    for me, alive in log:
        assert not any(a for i, a in enumerate(alive) if i != me), log
    assert not any(getattr(e, "alive", False) for e in engines)
