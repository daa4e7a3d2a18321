"""The compare window's Line-up menu: each installed catalog pair as it is and with its base
aligned by examples, and every ladder of training stages, a ladder not yet installed saying
what to pull."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QMenu

from desktop.core.compare.lineups import Kind, Lineup

SECTIONS: tuple[tuple[Kind, str], ...] = (
    ("pair", "Base and instruct"),
    ("examples", "Base aligned by examples, beside instruct"),
    ("ladder", "Ladders of training stages"),
)
NOTHING_READY = "No catalog pair is installed: the Models window downloads one"


def fill_lineup_menu(
    menu: QMenu, lineups: Sequence[Lineup], choose: Callable[[Lineup], object]
) -> None:
    """The menu anew: installed pairs in both forms, and every ladder (one missing a stage is
    shown disabled, its tooltip saying which and how to get it)."""
    menu.clear()
    menu.setToolTipsVisible(True)
    for kind, heading in SECTIONS:
        shown = [x for x in lineups if x.kind == kind and (x.ready or kind == "ladder")]
        if not shown:
            continue
        menu.addSection(heading)
        for lineup in shown:
            action = menu.addAction(lineup.title)
            action.setEnabled(lineup.ready)
            action.setToolTip(lineup.why_not() or _tip(lineup))
            action.triggered.connect(lambda _checked=False, chosen=lineup: choose(chosen))
    if not any(x.ready for x in lineups):
        note = menu.addAction(NOTHING_READY)
        note.setEnabled(False)


def _tip(lineup: Lineup) -> str:
    if lineup.kind == "ladder":
        return (
            "Each stage of the training in its own column, in order: what each step added. "
            "Token shift vs the other model ranks a stage's text by the next stage (the last "
            "stage's, by the base model)."
        )
    if lineup.kind == "examples":
        return (
            "The base model in chat mode after a few example exchanges (no tuning at all), "
            "beside the instruct model: how much of the assistant is in the examples alone"
        )
    return "The base model and its instruct sibling, both in chat mode"
