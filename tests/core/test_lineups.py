"""Line-ups: every catalog pair as it is and with its base aligned by examples, every ladder in
stage order, ready when installed and otherwise naming what to pull."""

from __future__ import annotations

from pathlib import Path

from desktop.core.compare.lineups import (
    EXAMPLES_SUFFIX,
    MAX_COLUMNS,
    Seat,
    ladder_columns,
    lineup_named,
    lineups,
)
from desktop.core.models.catalog import load_default_catalog, parse_catalog
from tests.core.test_catalog import LADDER


def test_every_pair_gives_two_line_ups_and_every_ladder_one() -> None:
    catalog = load_default_catalog()
    found = lineups(catalog, set())
    assert len(found) == 2 * len(catalog.pairs) + len(catalog.ladders)
    for pair in catalog.pairs:
        plain = lineup_named(catalog, set(), pair.id)
        aligned = lineup_named(catalog, set(), pair.id + EXAMPLES_SUFFIX)
        assert plain is not None and aligned is not None
        assert plain.seats == (Seat(pair.base.id), Seat(pair.instruct.id))
        # The base model aligned by examples, in chat mode, beside the instruct model.
        assert aligned.seats == (Seat(pair.base.id, "chat", aligned=True), Seat(pair.instruct.id))
        assert aligned.kind == "examples" and "examples" in aligned.title
    for ladder in catalog.ladders:
        lineup = lineup_named(catalog, set(), ladder.id)
        assert lineup is not None and lineup.kind == "ladder"
        assert 2 <= len(lineup.seats) <= MAX_COLUMNS
        assert lineup.model_ids == tuple(s.id for s in ladder.stages)  # in training order
        assert [seat.stage for seat in lineup.seats] == list(ladder.stage_names)


def test_a_line_up_is_ready_only_when_all_its_models_are_installed() -> None:
    catalog = parse_catalog(LADDER, Path("models.toml"))
    some = {"a-base", "a-instruct", "l-base", "l-sft"}
    found = {x.id: x for x in lineups(catalog, some)}
    assert found["a"].ready and found["a" + EXAMPLES_SUFFIX].ready
    ladder = found["l-ladder"]
    assert not ladder.ready and ladder.missing == ("l-dpo", "l-instruct")
    assert "l-dpo, l-instruct" in ladder.why_not()
    assert "duet pull l-ladder" in ladder.why_not()
    assert found["l-pair" + EXAMPLES_SUFFIX].missing == ("l-instruct",)
    assert "duet pull l-pair`" in found["l-pair" + EXAMPLES_SUFFIX].why_not()
    # Ready ones first, so the menu leads with what can run.
    order = [x.ready for x in lineups(catalog, some)]
    assert order == sorted(order, reverse=True)
    everything = {m.id for m in catalog.models}
    assert all(x.ready and not x.why_not() for x in lineups(catalog, everything))


def test_a_ladder_longer_than_the_columns_keeps_its_base_and_its_last_stages() -> None:
    stages = parse_catalog(LADDER, Path("models.toml")).ladders[0].stages
    assert ladder_columns(stages) == stages  # four: all of them
    longer = (*stages, *stages[1:3])  # six
    kept = ladder_columns(longer)
    assert len(kept) == MAX_COLUMNS
    assert kept[0] is longer[0] and kept[1:] == longer[-3:]
