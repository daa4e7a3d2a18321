"""How a comparison runs in memory: at once, at a smaller context, or one column at a time with
each model freed before the next loads; on the real starter files, and run for real."""

from __future__ import annotations

import pytest

from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.fit import plan_columns
from desktop.core.compare.run import Column, Comparison, compare_config, run_columns
from desktop.core.engine import events as p
from desktop.core.engine.factory import render_input
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.library import InstalledModel, Library
from desktop.core.models.memory import STANDARD_CONTEXTS, estimate_ram, needs_of_installed
from desktop.core.models.starter import starter_files

GIB = 1024**3


@pytest.fixture(scope="module")
def pair(starter_paths: object) -> list[InstalledModel]:
    """The starter base and instruct models as the library finds them."""
    ids = {s.model.id for s in starter_files()}
    found = [m for m in Library().models() if m.id in ids]
    assert len(found) == 2
    return sorted(found, key=lambda m: m.kind)  # base, instruct


def alone(model: InstalledModel, n_ctx: int) -> int:
    (need,) = needs_of_installed([model])
    return estimate_ram(need.file_size, n_ctx, need.kv_per_token, machine=64 * GIB).total


def test_a_pair_that_fits_runs_at_once_at_the_context_asked(pair: list[InstalledModel]) -> None:
    plan = plan_columns(pair, 4096, machine=64 * GIB)
    assert not plan.one_at_a_time and plan.n_ctx == 4096
    assert plan.estimate is not None and plan.estimate.total == sum(alone(m, 4096) for m in pair)
    assert plan.sentence.startswith("Both fit in memory at once at 4,096 tokens")
    # The same model twice is two workers: it counts twice.
    twice = plan_columns([pair[0], pair[0]], 4096, machine=64 * GIB)
    assert twice.estimate is not None and twice.estimate.total == 2 * alone(pair[0], 4096)


def test_a_pair_too_big_at_once_runs_one_column_at_a_time(pair: list[InstalledModel]) -> None:
    floor = min(STANDARD_CONTEXTS)
    biggest = max(alone(m, 4096) for m in pair)
    machine = int(biggest / 0.85) + 1  # each fits alone, just
    assert sum(alone(m, floor) for m in pair) > 0.85 * machine  # together they never do
    plan = plan_columns(pair, 4096, machine=machine)
    assert plan.one_at_a_time and plan.n_ctx == 4096
    assert "run them one after the other" in plan.sentence
    assert plan.sentence.endswith("The columns run one at a time.")


def test_a_pair_that_fits_only_at_a_smaller_context_runs_there(
    pair: list[InstalledModel],
) -> None:
    # KV cache grows with the context: pick a machine between the pair's needs at 32k and 2k.
    big, small = (sum(alone(m, n) for m in pair) for n in (32768, 2048))
    assert big > small
    machine = int(small / 0.85) + 1
    plan = plan_columns(pair, 32768, machine=machine)
    assert not plan.one_at_a_time
    assert plan.n_ctx in STANDARD_CONTEXTS and plan.n_ctx < 32768
    assert plan.sentence.endswith(f"The columns run at {plan.n_ctx:,} tokens.")


def test_one_at_a_time_can_be_chosen_and_servers_cost_nothing(
    pair: list[InstalledModel],
) -> None:
    chosen = plan_columns(pair, 4096, one_at_a_time=True, machine=64 * GIB)
    assert chosen.one_at_a_time and chosen.sentence.startswith("One column at a time, as chosen")
    total = sum(alone(m, 4096) for m in pair) / 1e9
    assert chosen.sentence.endswith(
        f"They would also fit at once: about {total:.1f} GB of this machine's {64 * GIB / 1e9:.1f} GB."
    )
    nothing = plan_columns([], 4096)
    assert nothing.estimate is None and "server" in nothing.sentence


def test_one_column_at_a_time_frees_each_model_before_the_next_loads(
    pair: list[InstalledModel],
) -> None:
    sampling = SamplingParams(temperature=0.0, max_tokens=6, seed=1)
    columns = [Column(m, "chat", render_input(m, "chat", "Name a colour.")) for m in pair]
    config = compare_config(1, n_ctx=1024)
    engines = [EngineClient(m.path, config) for m in pair]
    alive_at_start: dict[int, list[bool]] = {}

    def seen(index: int, event: p.Event) -> None:
        if isinstance(event, p.Token) and index not in alive_at_start:
            alive_at_start[index] = [e.alive for e in engines]

    try:
        run_columns(engines, Comparison("Name a colour.", None, sampling, columns), seen, True)
        assert all(c.done is not None and c.text for c in columns), [c.error for c in columns]
        # While a column wrote, only its own worker was alive; each is closed after its turn.
        assert alive_at_start == {0: [True, False], 1: [False, True]}
        assert not any(e.alive for e in engines)
        # A closed engine loads again when it is asked for more (scoring, a fork).
        assert engines[0].load().n_ctx == 1024
    finally:
        for engine in engines:
            engine.close()
