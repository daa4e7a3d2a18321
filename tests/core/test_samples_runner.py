"""The many-samples runner on FakeEngines: the same seeds s..s+N-1 in every column, columns at
once and each column's samples one after another, a cancel that stops everything, a failing
column that says why, the statistics and the JSON export."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat.prompts import Mode, RenderedPrompt
from desktop.core.chat.sampling import MAX_SEED, SamplingParams
from desktop.core.compare.export import samples_to_json, save_samples
from desktop.core.compare.samples import (
    DEFAULT_SAMPLES,
    MAX_SAMPLES,
    Sample,
    SamplesJob,
    column_stats,
    entropy_split,
    greedy_note,
    plan_samples,
    sparkline,
)
from desktop.core.compare.samples_stats import EntropyCurve, sample_stats
from desktop.core.engine import events as p
from desktop.core.errors import EngineError, InvalidSettings
from tests.core.comparisons import model
from tests.fakes import FakeEngine

WORDS = ["red", "green", "blue", "gold", "grey", "pink", "teal", "navy", "rose", "jade"]


class SeededEngine(FakeEngine):
    """A FakeEngine whose reply depends on the seed (as a sampler's does), whose tokens carry an
    entropy, and which notes when each generation starts and ends."""

    def __init__(self, name: str, words: int = 6, **kwargs: object) -> None:
        super().__init__(self._by_seed, label=name, **kwargs)  # type: ignore[arg-type]
        self.words = words
        self.seed = 0
        self.spans: list[tuple[float, float]] = []

    def _by_seed(self, prompt: RenderedPrompt) -> str:
        picks = random.Random(f"{self.label}:{self.seed}")
        return " ".join(picks.choice(WORDS) for _ in range(self.words))

    def generate(
        self,
        prompt: RenderedPrompt,
        sampling: SamplingParams | None = None,
        top_k_probs: int = 0,
        logprobs: bool = False,
    ) -> Iterator[p.Event]:
        self.seed = sampling.seed if sampling and sampling.seed is not None else -1
        started = time.perf_counter()
        position = 0
        try:
            for event in super().generate(prompt, sampling, top_k_probs, logprobs):
                if isinstance(event, p.Token) and event.token_id >= 0 and logprobs:
                    event = dataclasses.replace(event, entropy=1.0 + position / 10)
                    position += 1
                yield event
        finally:  # the caller closes the stream at Done
            self.spans.append((started, time.perf_counter()))


def columns(n: int = 2) -> list[tuple[object, Mode, RenderedPrompt]]:
    modes: list[Mode] = ["raw", "chat", "chat"]
    return [
        (
            model(f"m{i}", "base" if i == 0 else "instruct"),
            modes[i],
            RenderedPrompt("Q:", modes[i], None),
        )
        for i in range(n)
    ]


SAMPLING = SamplingParams(temperature=0.8, max_tokens=32, seed=40)


def run(engines: list[FakeEngine], count: int = 4, sampling: SamplingParams = SAMPLING, **kw):  # type: ignore[no-untyped-def]
    plan = plan_samples("Q", None, columns(len(engines)), sampling, count)  # type: ignore[arg-type]
    return SamplesJob(engines, **kw).run(plan)


# Seeds ---------------------------------------------------------------------------------------


def test_every_column_gets_the_same_seeds_one_after_another() -> None:
    engines = [SeededEngine("a"), SeededEngine("b")]
    result = run(engines, count=5)
    assert list(result.seeds) == [40, 41, 42, 43, 44]
    for column, engine in zip(result.columns, engines, strict=True):
        assert [s.seed for s in column.samples] == [40, 41, 42, 43, 44]
        # Each on its own engine, in seed order, with the same other settings.
        assert [c.sampling.seed for c in engine.calls] == [40, 41, 42, 43, 44]
        assert {dataclasses.replace(c.sampling, seed=None) for c in engine.calls} == {
            dataclasses.replace(SAMPLING, seed=None)
        }
        # The same seed gives the same sample, another seed another one.
        assert len({s.text for s in column.samples}) > 1
    again = run([SeededEngine("a"), SeededEngine("b")], count=5)
    assert [s.text for s in again.columns[0].samples] == [s.text for s in result.columns[0].samples]


def test_the_default_is_eight_samples_and_a_random_first_seed_is_recorded() -> None:
    plan = plan_samples("Q", None, columns(), SamplingParams(seed=None), rng=random.Random(3))  # type: ignore[arg-type]
    assert plan.count == DEFAULT_SAMPLES == 8
    assert plan.sampling.seed is not None and 0 <= plan.sampling.seed <= MAX_SEED - 7
    assert plan.seeds == range(plan.sampling.seed, plan.sampling.seed + 8)
    engines = [SeededEngine("a"), SeededEngine("b")]
    result = SamplesJob(engines).run(plan)
    assert [s.seed for s in result.columns[1].samples] == list(plan.seeds)
    assert all(c.sampling.seed in plan.seeds for e in engines for c in e.calls)


@pytest.mark.parametrize(
    ("count", "seed", "message"),
    [
        (0, 1, "between 1 and 64, not 0"),
        (MAX_SAMPLES + 1, 1, "between 1 and 64, not 65"),
        (8, MAX_SEED - 3, f"choose a seed of at most {MAX_SEED - 7}"),
    ],
)
def test_a_count_or_seed_out_of_range_is_refused_in_words(
    count: int, seed: int, message: str
) -> None:
    with pytest.raises(InvalidSettings, match=message):
        plan_samples("Q", None, columns(), SamplingParams(seed=seed), count)  # type: ignore[arg-type]


def test_the_last_seeds_still_fit() -> None:
    plan = plan_samples("Q", None, columns(), SamplingParams(seed=MAX_SEED - 7), 8)  # type: ignore[arg-type]
    assert plan.seeds[-1] == MAX_SEED


def test_greedy_settings_are_named_with_what_to_change() -> None:
    for greedy in (SamplingParams(temperature=0.0), SamplingParams(top_k=1)):
        note = greedy_note(greedy)
        assert note is not None and "every sample will be the same" in note
        assert "temperature above 0" in note
    assert greedy_note(SamplingParams(temperature=0.8)) is None


# Running -------------------------------------------------------------------------------------


def test_columns_run_at_once_and_each_columns_samples_in_turn() -> None:
    engines = [SeededEngine(n, words=4, token_delay=0.01) for n in ("a", "b")]
    run(engines, count=3)
    first, second = engines
    # Together: each column's streaming overlaps the other's.
    assert max(first.spans[0][0], second.spans[0][0]) < min(first.spans[-1][1], second.spans[-1][1])
    # In turn on one engine: a sample starts after the one before it ended.
    for engine in engines:
        for before, after in zip(engine.spans, engine.spans[1:], strict=False):
            assert after[0] >= before[1]


def test_a_sample_keeps_its_text_tokens_entropy_reason_and_seed() -> None:
    result = run([SeededEngine("a"), SeededEngine("b", words=40)], count=2)
    short, long = result.columns
    sample = short.samples[0]
    assert sample.seed == 40 and sample.reason is p.StopReason.EOS and sample.error is None
    assert "".join(t.piece for t in sample.tokens) == sample.text and len(sample.tokens) == 6
    assert sample.entropies == [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    assert all(isinstance(i, int) for i in sample.token_ids)
    assert sample.stats is not None and sample.stats.seed == 40
    assert long.samples[0].reason is p.StopReason.MAX_TOKENS and len(long.samples[0].tokens) == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.text = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.cancelled = True  # type: ignore[misc]


def test_each_columns_statistics_are_sample_stats_of_its_samples() -> None:
    result = run([SeededEngine("a"), SeededEngine("b", words=40)], count=4)
    for column in result.columns:
        samples = column.samples
        expected = sample_stats(
            [s.token_ids for s in samples],
            [s.reason for s in samples],
            [s.entropies for s in samples],
        )
        assert column.stats == expected
    base, instruct = (c.stats for c in result.columns)
    assert base.ended_by_itself == 1.0 and instruct.ended_by_itself == 0.0
    assert base.mean_tokens == 6 and instruct.mean_tokens == 32
    assert base.entropy.mean[:2] == (1.0, 1.1) and base.entropy.samples[0] == 4


def test_cancel_stops_every_column_at_once() -> None:
    engines = [SeededEngine(n, words=400, token_delay=0.02) for n in ("a", "b")]
    plan = plan_samples("Q", None, columns(), SAMPLING.with_changes(max_tokens=400), 8)  # type: ignore[arg-type]
    job = SamplesJob(engines)
    threading.Timer(0.3, job.cancel).start()
    started = time.perf_counter()
    result = job.run(plan)
    assert time.perf_counter() - started < 3.0  # eight samples of 400 tokens would take 2 min
    assert result.cancelled
    for column, engine in zip(result.columns, engines, strict=True):
        assert len(column.samples) == 1 and column.samples[0].reason is p.StopReason.CANCELLED
        assert len(engine.calls) == 1  # no sample started after the cancel
        # A stopped sample says nothing of where it would have ended: left out of the figures.
        assert column.stats.samples == 0


def test_a_cancel_between_two_samples_starts_no_other() -> None:
    """The engine ignores a cancel while it is idle: the job itself must not start the next."""
    engines = [SeededEngine("a"), SeededEngine("b")]
    job: SamplesJob

    def stop_after_first(column: int, number: int, sample: Sample) -> None:
        if column == 0 and number == 0:
            job.cancel()

    job = SamplesJob(engines, stop_after_first)
    plan = plan_samples("Q", None, columns(), SAMPLING, 8)  # type: ignore[arg-type]
    result = job.run(plan)
    assert result.cancelled and len(result.columns[0].samples) == 1
    for column, engine in zip(result.columns, engines, strict=True):
        assert len(engine.calls) == len(column.samples) < 8


def test_a_failing_column_stops_and_says_why_while_the_other_goes_on() -> None:
    failing, fine = SeededEngine("a"), SeededEngine("b")
    failing.fail_next(
        EngineError("The model file is gone: download it again."),
        after_tokens=2,
        in_generation=True,
    )
    heard: list[tuple[int, int]] = []
    result = run([failing, fine], count=4, on_sample=lambda c, n, s: heard.append((c, n)))
    broken, other = result.columns
    assert broken.error == "The model file is gone: download it again."
    assert len(broken.samples) == 1 and broken.samples[0].reason is None
    assert len(broken.samples[0].tokens) == 2  # the tokens it got are kept
    assert broken.stats.samples == 1 and broken.stats.ended_by_itself == 0.0
    assert other.error is None and len(other.samples) == 4
    assert sorted(heard) == [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)]


def test_a_listener_that_fails_loses_no_sample() -> None:
    def broken(column: int, number: int, sample: Sample) -> None:
        raise RuntimeError("the view is gone")

    result = run([SeededEngine("a"), SeededEngine("b")], count=3, on_sample=broken)
    assert [len(c.samples) for c in result.columns] == [3, 3]


# Summaries and export --------------------------------------------------------------------------


def test_entropy_summary_pools_every_known_value() -> None:
    curve = EntropyCurve((1.0, 3.0, None, 2.0), (2, 1, 0, 1))
    assert entropy_split(curve, head=2) == ((1.0 * 2 + 3.0) / 3, 2.0)
    assert entropy_split(EntropyCurve((), ())) == (None, None)
    assert sparkline(EntropyCurve((0.0, 4.0, None, 2.0), (1, 1, 0, 1))) == "▁█ ▅"
    assert len(sparkline(EntropyCurve(tuple(float(i) for i in range(100)), (1,) * 100))) == 32
    # A shared top puts two models' lines on one scale.
    assert sparkline(EntropyCurve((0.0, 4.0), (1, 1)), top=8.0) == "▁▅"


def test_column_stats_without_entropy_has_an_empty_curve() -> None:
    samples = [Sample(1, "a b", (), p.StopReason.EOS)]
    assert column_stats(samples).entropy == EntropyCurve((), ())


def test_the_json_export_has_seeds_statistics_and_every_token(tmp_path: Path) -> None:
    result = run([SeededEngine("a"), SeededEngine("b", words=40)], count=3)
    data = samples_to_json(result)
    assert data["seeds"] == [40, 41, 42] and data["samples_per_column"] == 3
    assert data["sampling"]["seed"] == 40 and data["sampling"]["temperature"] == 0.8
    first = data["columns"][0]
    assert first["model"]["id"] == "remote:lab/m0" and first["mode"] == "raw"
    assert first["stats"]["distinct_1"] == result.columns[0].stats.distinct_1
    assert first["stats"]["entropy_mean"][:2] == [1.0, 1.1]
    sample = first["samples"][0]
    assert sample["seed"] == 40 and sample["stop_reason"] == "eos"
    assert sample["tokens"][0]["entropy"] == 1.0
    assert [t["id"] for t in sample["tokens"]] == result.columns[0].samples[0].token_ids
    path = tmp_path / "samples.json"
    save_samples(result, path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(data))


def test_an_unreadable_entropy_is_null_in_the_export(tmp_path: Path) -> None:
    result = run([SeededEngine("a"), SeededEngine("b")], count=1)
    column = result.columns[0]
    token = dataclasses.replace(
        column.samples[0].tokens[0], entropy=float("nan"), logprob=float("-inf")
    )
    bad = dataclasses.replace(column.samples[0], tokens=(token, *column.samples[0].tokens[1:]))
    result = dataclasses.replace(
        result, columns=(dataclasses.replace(column, samples=(bad,)), result.columns[1])
    )
    path = tmp_path / "samples.json"
    save_samples(result, path)  # strict JSON: no NaN
    saved = json.loads(path.read_text(encoding="utf-8"))["columns"][0]["samples"][0]["tokens"][0]
    assert saved["entropy"] is None and saved["logprob"] is None
