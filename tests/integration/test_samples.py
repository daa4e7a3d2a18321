"""Many samples on the real starter pair: the same seeds in both columns, entropies from the
worker, identical samples at temperature 0 (and the warning), a cancel that stops both workers,
and `duet compare --samples`."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat.prompts import Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.run import compare_config
from desktop.core.compare.samples import SamplesJob, greedy_note, plan_samples
from desktop.core.engine import events as p
from desktop.core.engine.factory import render_input
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.library import Library
from tests.integration.helpers import duet

pytestmark = pytest.mark.slow

PROMPT = "Write one sentence about the sea."


@pytest.fixture(scope="module")
def pair(starter_paths: tuple[Path, Path]) -> Iterator[tuple[list[EngineClient], list]]:  # type: ignore[type-arg]
    """The starter pair as compare runs it (compare_config(2)), loaded once for this module."""
    library = Library()
    starter = library.catalog.starter_pair()
    models = [library.resolve(starter.base.id), library.resolve(starter.instruct.id)]
    modes: list[Mode] = ["raw", "chat"]
    columns = [
        (m, mode, render_input(m, mode, PROMPT)) for m, mode in zip(models, modes, strict=True)
    ]
    engines = [EngineClient(m.path, compare_config(2)) for m in models]
    for engine in engines:
        engine.load()
    yield engines, columns
    for engine in engines:
        engine.close()


def test_both_models_sampled_with_the_same_seeds_and_their_entropy(pair) -> None:  # type: ignore[no-untyped-def]
    engines, columns = pair
    plan = plan_samples(
        PROMPT, None, columns, SamplingParams(temperature=0.8, max_tokens=12, seed=11), 4
    )
    result = SamplesJob(engines).run(plan)
    assert not result.cancelled
    for column in result.columns:
        assert column.error is None
        assert [s.seed for s in column.samples] == [11, 12, 13, 14]
        for sample in column.samples:
            assert sample.stats is not None and sample.stats.seed == sample.seed
            assert sample.reason in (p.StopReason.EOS, p.StopReason.MAX_TOKENS)
            assert 0 < len(sample.tokens) <= 12
            assert all(e is not None and math.isfinite(e) and e >= 0 for e in sample.entropies)
        # At temperature 0.8 the seeds give different samples.
        assert len({s.text for s in column.samples}) > 1
        stats = column.stats
        assert stats.samples == 4 and stats.distinct_1 is not None and 0 < stats.distinct_1 <= 1
        assert stats.entropy.samples[0] == 4 and stats.entropy.mean[0] is not None


def test_at_temperature_zero_every_sample_is_the_same_and_that_is_said(pair) -> None:  # type: ignore[no-untyped-def]
    engines, columns = pair
    greedy = SamplingParams(temperature=0.0, max_tokens=8, seed=5)
    assert greedy_note(greedy) is not None
    result = SamplesJob(engines).run(plan_samples(PROMPT, None, columns, greedy, 3))
    for column in result.columns:
        assert len({s.text for s in column.samples}) == 1
        assert column.stats.distinct_2 is not None and column.stats.distinct_2 <= 1 / 3 + 1e-9


def test_cancel_stops_both_workers(pair) -> None:  # type: ignore[no-untyped-def]
    engines, columns = pair
    sampling = SamplingParams(temperature=0.8, max_tokens=400, seed=1)
    job = SamplesJob(engines)
    timer = threading.Timer(1.0, job.cancel)
    timer.start()
    started = time.perf_counter()
    result = job.run(plan_samples(PROMPT, None, columns, sampling, 8))
    assert time.perf_counter() - started < 15  # 2 x 8 x 400 tokens would take minutes
    assert result.cancelled
    for column in result.columns:
        assert len(column.samples) < 8 and column.samples[-1].reason is p.StopReason.CANCELLED
    # The workers are free again afterwards.
    again = SamplesJob(engines).run(
        plan_samples(PROMPT, None, columns, sampling.with_changes(max_tokens=4), 1)
    )
    assert all(c.samples[0].reason is not p.StopReason.CANCELLED for c in again.columns)


def test_cli_compare_samples(starter_paths: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "samples.json"
    result = duet(
        "compare", "--samples", "3", "--mode", "raw,chat", "-n", "10", "--seed", "7",
        "--export", str(out), PROMPT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "=== gemma-3-270m (base, raw) · 3 samples, seeds 7..9 ===" in result.stdout
    assert "=== smollm2-135m-instruct (instruct, chat) · 3 samples, seeds 7..9 ===" in result.stdout
    for line in (
        "  #1 seed 7 · ",
        "  #3 seed 9 · ",
        "distinct-1 ",
        "ended by itself ",
        "mean entropy (nats): positions 1-",
    ):
        assert line in result.stdout
    assert "warning" not in result.stderr  # 0.8 by default with --samples
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["seeds"] == [7, 8, 9] and data["sampling"]["temperature"] == 0.8
    assert [len(c["samples"]) for c in data["columns"]] == [3, 3]
    assert all(t["entropy"] is not None for t in data["columns"][0]["samples"][0]["tokens"])


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--samples", "0"], 1, "between 1 and 64, not 0"),
        (["--samples", "65"], 1, "between 1 and 64, not 65"),
        (["--samples", "2", "--export", "x.md"], 1, "give a FILE.json to --export"),
        (["--samples", "2", "--shift"], 1, "--samples on many: drop one"),
        (["--samples", "2", "--fork-at", "3"], 1, "--samples on many: drop one"),
        (["--samples", "2", "--comparator", "x.json"], 1, "--samples on many: drop one"),
        (["--samples", "two"], 2, "invalid int value"),
    ],
)
def test_cli_samples_refuses_bad_input_in_one_line(
    starter_paths: tuple[Path, Path], args: list[str], code: int, says: str
) -> None:
    result = duet("compare", *args, PROMPT, timeout=60)
    assert result.returncode == code and says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_samples_at_temperature_zero_warns(starter_paths: tuple[Path, Path]) -> None:
    result = duet("compare", "--samples", "2", "-t", "0", "-n", "4", PROMPT)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: Temperature is 0" in result.stderr
        and "every sample will be the same" in result.stderr
    )
