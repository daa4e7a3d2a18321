"""Attacks on `duet compare` line-ups and one-at-a-time runs, on the real starter files: a
context out of range says so instead of a traceback, and scoring after a one-at-a-time run
loads one model at a time as the run did."""

from __future__ import annotations

import pytest

from desktop.cli import main
from tests.engine_watch import alone, watching_opener
from tests.integration.helpers import duet


@pytest.mark.parametrize("ctx", ["-5", "99999999"])
def test_a_context_out_of_range_is_refused_in_words(starter_paths: object, ctx: str) -> None:
    result = duet("compare", "--ctx", ctx, "-n", "2", "Hi", timeout=60)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert "context length must be between 16 and 1048576" in result.stderr, result.stderr


def test_scoring_one_at_a_time_loads_one_model_at_a_time(
    starter_paths: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opener, log, engines = watching_opener()
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
    assert alone(log), log
    assert not any(getattr(e, "alive", False) for e in engines)
