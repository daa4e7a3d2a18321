"""The memory of a set of models run at once: per-model figures summed, and the plan (at once,
a smaller context, one after the other, too big) with its sentence."""

from __future__ import annotations

import pytest

from desktop.core.hub import api as hub
from desktop.core.models.catalog import load_default_catalog
from desktop.core.models.memory import (
    OVERHEAD_BYTES,
    STANDARD_CONTEXTS,
    ModelNeed,
    estimate_ram,
    needs_of,
    set_estimate,
)

GB = 10**9
GIB = 1024**3
MACHINE = 16 * GIB


def test_the_hub_module_still_offers_the_estimate() -> None:
    assert hub.estimate_ram is estimate_ram
    assert hub.estimate_ram(GIB, machine=MACHINE).overhead == OVERHEAD_BYTES


def test_a_set_total_is_exactly_the_per_model_figures_summed() -> None:
    models = [
        ModelNeed("base", 1_107_409_472, kv_per_token=114_688),
        ModelNeed("instruct", 1_110_000_000),  # no header: KV estimated
        ModelNeed("sft", 396_705_472, kv_per_token=28_672),
    ]
    for n_ctx in (512, 4096, 8192):
        estimate = set_estimate(models, n_ctx=n_ctx, machine=MACHINE)
        each = [estimate_ram(m.file_size, n_ctx, m.kv_per_token, MACHINE) for m in models]
        assert estimate.models == tuple(each)
        assert estimate.total == sum(e.weights + e.kv_cache + e.overhead for e in each)
        assert estimate.total == sum(e.total for e in each)
        assert not estimate.exact_kv  # one of the three was a guess
    assert set_estimate(models[:1], machine=MACHINE).exact_kv


def test_a_set_that_fits_runs_at_once_and_says_so() -> None:
    estimate = set_estimate(
        [ModelNeed("a", 1 * GB), ModelNeed("b", 1 * GB)], n_ctx=4096, machine=MACHINE
    )
    assert (estimate.plan, estimate.run_ctx, estimate.at_once) == ("at once", 4096, True)
    assert estimate.run_total == estimate.total
    assert estimate.sentence.startswith("Both fit in memory at once at 4,096 tokens of context")
    four = set_estimate([ModelNeed(str(i), GB) for i in range(4)], machine=MACHINE)
    assert four.sentence.startswith("All 4 fit in memory at once")


def test_a_tight_set_still_runs_at_once_with_a_warning() -> None:
    # 2 x (5 GB + 0.625 GB KV + 0.42 GB) = 12.1 GB: between 60 % and 85 % of 16 GiB.
    estimate = set_estimate([ModelNeed("a", 5 * GB), ModelNeed("b", 5 * GB)], machine=MACHINE)
    assert estimate.fit == "tight" and estimate.plan == "at once"
    assert "but tightly" in estimate.sentence and "Close other programs" in estimate.sentence


def test_a_set_that_fits_only_at_a_smaller_context_names_the_largest_one() -> None:
    # KV of 1 MB a token: 4096 tokens cost 4.3 GB a model, 2048 cost 2.1 GB.
    models = [ModelNeed("a", 2 * GB, kv_per_token=10**6), ModelNeed("b", 2 * GB, 10**6)]
    machine = 12 * GB
    estimate = set_estimate(models, n_ctx=4096, machine=machine)
    assert estimate.fit == "won't fit"
    assert (estimate.plan, estimate.run_ctx, estimate.at_once) == ("smaller context", 2048, True)
    at_2048 = sum(estimate_ram(m.file_size, 2048, m.kv_per_token, machine).total for m in models)
    assert estimate.run_total == at_2048
    assert "at 2,048 tokens they fit at once" in estimate.sentence
    assert estimate.sentence.startswith("Together they need about 13.0 GB at 4,096 tokens")


def test_a_set_too_big_at_every_context_runs_one_after_the_other() -> None:
    ladder = [ModelNeed(f"stage-{i}", 4_470_000_000) for i in range(1, 5)]
    estimate = set_estimate(ladder, n_ctx=4096, machine=MACHINE)
    assert estimate.plan == "one after the other" and not estimate.at_once
    assert estimate.run_total == max(e.total for e in estimate.models)
    assert "even at 512 tokens of context" in estimate.sentence
    assert "one after the other" in estimate.sentence


def test_a_model_too_big_alone_is_named() -> None:
    estimate = set_estimate(
        [ModelNeed("small", GB), ModelNeed("huge", 30 * GB)], n_ctx=2048, machine=MACHINE
    )
    assert estimate.plan == "too big"
    assert estimate.sentence.startswith("huge alone needs about")
    assert "pick a smaller model or quantization" in estimate.sentence


def test_one_model_reads_in_the_singular() -> None:
    alone = set_estimate([ModelNeed("a", GB)], machine=MACHINE)
    assert alone.sentence.startswith("It fits in memory at 4,096 tokens")
    squeezed = set_estimate([ModelNeed("a", 2 * GB, kv_per_token=2 * 10**6)], machine=10 * GB)
    assert squeezed.plan == "smaller context"
    assert "It needs about" in squeezed.sentence and "it fits" in squeezed.sentence


def test_a_context_below_the_standard_ones_has_no_smaller_fallback() -> None:
    estimate = set_estimate([ModelNeed("a", 7 * GB), ModelNeed("b", 7 * GB)], 256, MACHINE)
    assert estimate.plan == "one after the other"
    assert "even at 256 tokens" in estimate.sentence
    assert STANDARD_CONTEXTS == (4096, 2048, 1024, 512)


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one model"):
        set_estimate([], machine=MACHINE)
    with pytest.raises(ValueError, match="positive number of tokens"):
        set_estimate([ModelNeed("a", GB)], n_ctx=0, machine=MACHINE)


def test_every_real_pair_and_ladder_has_a_plan() -> None:
    catalog = load_default_catalog()
    sets = [(p.id, (p.base, p.instruct)) for p in catalog.pairs]
    sets += [(ladder.id, ladder.stages) for ladder in catalog.ladders]
    assert any(len(members) > 2 for _, members in sets)  # at least one real ladder
    for set_id, members in sets:
        estimate = set_estimate(needs_of(members), n_ctx=4096, machine=MACHINE)
        assert estimate.names == tuple(m.id for m in members), set_id
        assert estimate.total == sum(
            estimate_ram(m.size, 4096, None, MACHINE).total for m in members
        )
        assert estimate.sentence and estimate.plan != "too big", set_id
    starter = catalog.starter_pair()
    assert set_estimate(needs_of((starter.base, starter.instruct)), machine=MACHINE).at_once


def test_installed_models_bring_their_exact_kv_cache(starter_paths: object) -> None:
    from desktop.core.models.library import Library
    from desktop.core.models.memory import needs_of_installed

    installed = sorted(Library().models(), key=lambda m: m.id)[:2]
    needs = needs_of_installed(installed)
    assert [n.name for n in needs] == [m.id for m in installed]
    assert [n.file_size for n in needs] == [m.info.file_size for m in installed]
    assert all(n.kv_per_token and n.kv_per_token > 0 for n in needs)
    estimate = set_estimate(needs, n_ctx=2048, machine=MACHINE)
    assert estimate.exact_kv and estimate.plan == "at once"
