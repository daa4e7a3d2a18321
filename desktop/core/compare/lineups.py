"""Ready-made line-ups for a comparison: a catalog pair side by side, a base model aligned by
examples beside its instruct sibling, or the stages of a ladder in training order.

Qt-free: the compare window's Line-ups menu and `duet compare --models PAIR|LADDER` read the
same list. A line-up names catalog model ids; it is ready when every one is installed, and
otherwise says which are missing (and `duet pull ID` fetches them)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from desktop.core.chat.prompts import Mode
from desktop.core.models.catalog import Catalog, CatalogModel

# The compare view's columns at most: a whole ladder of four stages (OLMo 2: base, SFT, DPO,
# instruct) side by side, and still readable on a 1024-pixel-wide screen.
MAX_COLUMNS = 4
MIN_COLUMNS = 2

Kind = Literal["pair", "examples", "ladder"]
EXAMPLES_SUFFIX = "+examples"  # a pair's id with this: its base aligned by examples


@dataclass(frozen=True)
class Seat:
    """One column of a line-up: a model, its mode, and whether a base model in chat mode is
    aligned by examples. `stage` names a ladder's stage ("SFT") for the column's heading."""

    model_id: str
    mode: Mode = "chat"
    aligned: bool = False
    stage: str = ""


@dataclass(frozen=True)
class Lineup:
    id: str  # the pair's or ladder's id; a pair's id + "+examples" for its aligned line-up
    title: str  # the menu's text
    kind: Kind
    seats: tuple[Seat, ...]
    missing: tuple[str, ...] = ()  # catalog ids of its models that are not installed

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(seat.model_id for seat in self.seats)

    def why_not(self) -> str:
        """What to do before this line-up can run (empty when it can)."""
        if self.ready:
            return ""
        which = ", ".join(self.missing)
        return f"Not installed: {which}. `duet pull {self.id.removesuffix(EXAMPLES_SUFFIX)}`, or the Models window, downloads them."


def lineups(catalog: Catalog, installed: Collection[str]) -> tuple[Lineup, ...]:
    """Every pair (as it is, and with its base aligned by examples) and every ladder of the
    catalog, ready ones first, each group in catalog order."""
    found: list[Lineup] = []
    for pair in catalog.pairs:
        base, instruct = pair.base.id, pair.instruct.id
        missing = _missing((pair.base, pair.instruct), installed)
        found.append(
            Lineup(
                pair.id,
                f"{pair.family}: base and instruct",
                "pair",
                (Seat(base), Seat(instruct)),
                missing,
            )
        )
        found.append(
            Lineup(
                pair.id + EXAMPLES_SUFFIX,
                f"{pair.family}: base + examples and instruct",
                "examples",
                (Seat(base, aligned=True), Seat(instruct)),
                missing,
            )
        )
    for ladder in catalog.ladders:
        stages = ladder_columns(ladder.stages)
        found.append(
            Lineup(
                ladder.id,
                f"{ladder.family}: " + " → ".join(s.stage_name or s.id for s in stages),
                "ladder",
                tuple(Seat(s.id, stage=s.stage_name or "") for s in stages),
                _missing(stages, installed),
            )
        )
    return tuple(sorted(found, key=lambda lineup: not lineup.ready))


def lineup_named(catalog: Catalog, installed: Collection[str], lineup_id: str) -> Lineup | None:
    return next((x for x in lineups(catalog, installed) if x.id == lineup_id), None)


def ladder_columns(stages: Sequence[CatalogModel]) -> tuple[CatalogModel, ...]:
    """The stages a compare view shows: all of them up to MAX_COLUMNS; of a longer ladder, the
    base model and the last stages, so both ends of the training are there."""
    if len(stages) <= MAX_COLUMNS:
        return tuple(stages)
    return (stages[0], *stages[-(MAX_COLUMNS - 1) :])


def _missing(models: Sequence[CatalogModel], installed: Collection[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.id for m in models if m.id not in installed))
