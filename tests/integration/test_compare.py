"""The compare engine on the real starter pair: both columns stream at once, stop, export and
reproduce; and `duet compare`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.export import save, to_json
from desktop.core.compare.run import (
    Column,
    Comparison,
    compare_config,
    run_columns,
    score_with,
)
from desktop.core.engine import events as p
from desktop.core.engine.factory import render_input
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.library import Library
from tests.integration.helpers import duet

pytestmark = pytest.mark.slow


def starter_columns(text: str, modes: tuple[str, str] = ("chat", "chat")) -> list[Column]:
    library = Library()
    pair = library.catalog.starter_pair()
    models = [library.resolve(pair.base.id), library.resolve(pair.instruct.id)]
    return [
        Column(m, mode, render_input(m, mode, text)) for m, mode in zip(models, modes, strict=True)
    ]  # type: ignore[arg-type]


def test_both_columns_stream_at_once_and_can_be_stopped(starter_paths: tuple[Path, Path]) -> None:
    columns = starter_columns(
        "Once upon a time, in a small village by the sea, there lived", ("raw", "raw")
    )
    comparison = Comparison(
        "x", None, SamplingParams(max_tokens=2000, seed=3, repeat_penalty=1.2), columns
    )
    engines = [EngineClient(c.model.path, compare_config(2)) for c in columns]
    for engine in engines:
        engine.load()
    stamps: dict[int, list[float]] = {0: [], 1: []}
    lock = threading.Lock()

    def on_event(index: int, event: p.Event) -> None:
        if isinstance(event, p.Token):
            with lock:
                stamps[index].append(time.perf_counter())
                # Once both columns have streamed a while, stop them both.
                if min(len(v) for v in stamps.values()) > 15:
                    for engine in engines:
                        engine.cancel()

    try:
        run_columns(engines, comparison, on_event)
    finally:
        for engine in engines:
            engine.close()
    # They ran at the same time: each column's streaming window overlaps the other's.
    assert max(stamps[0][0], stamps[1][0]) < min(stamps[0][-1], stamps[1][-1])
    for column in columns:
        assert column.done is not None and column.done.reason is p.StopReason.CANCELLED
        assert 0 < column.done.stats.generated_tokens < 2000
        assert all(t.logprob is not None and len(t.top) == 5 for t in column.tokens)


def test_export_has_what_it_takes_to_reproduce(
    starter_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    sampling = SamplingParams(temperature=0.7, max_tokens=24, seed=99)
    columns = starter_columns("Name a famous painter.")
    comparison = Comparison("Name a famous painter.", None, sampling, columns)
    engines = [EngineClient(c.model.path, compare_config(2)) for c in columns]
    try:
        run_columns(engines, comparison)
        score_with(engines[1], columns[0], columns[1])
    finally:
        for engine in engines:
            engine.close()
    save(comparison, tmp_path / "c.json")
    save(comparison, tmp_path / "c.md")
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["columns"][0]["model"]["sha256"] == Library().catalog.starter_pair().base.sha256
    assert data["columns"][1]["template"].startswith("chat template of")
    assert (
        data["columns"][0]["scored_by"] == "smollm2-135m-instruct"
        and data["columns"][0]["surprise"]
    )
    markdown = (tmp_path / "c.md").read_text()
    assert "## gemma-3-270m (base, chat mode)" in markdown and "First divergence" in markdown
    # Reproduce from the JSON alone: same prompts, same sampling, same seed -> same outputs.
    again = Comparison(
        data["input"],
        data["system"],
        SamplingParams(**data["sampling"]),
        starter_columns(data["input"]),
    )
    for column, saved in zip(again.columns, data["columns"], strict=True):
        assert column.prompt.text == saved["prompt"]
    engines = [EngineClient(c.model.path, compare_config(2)) for c in again.columns]
    try:
        run_columns(engines, again)
    finally:
        for engine in engines:
            engine.close()
    assert [c.text for c in again.columns] == [c["output"] for c in data["columns"]]
    assert to_json(again)["divergence"] == data["divergence"]


def test_cli_compare(starter_paths: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp.md"
    result = duet(
        "compare", "--mode", "raw", "-n", "12", "--export", str(out), "The capital of France is"
    )
    assert result.returncode == 0, result.stderr
    assert "=== gemma-3-270m (base, raw) ===" in result.stdout
    assert "=== smollm2-135m-instruct (instruct, raw) ===" in result.stdout
    assert "First divergence: character" in result.stdout or "identical" in result.stdout
    assert out.read_text().startswith("# Duet comparison")
    bad = duet("compare", "--models", "gemma-3-270m", "Hi", timeout=60)
    assert bad.returncode == 1 and "2 to 4 models" in bad.stderr
