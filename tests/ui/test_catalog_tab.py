"""The Models window's catalog tab: ladders with their stages in order, and what a pair or a
ladder needs in memory at once, in the real window (fake engines: the tab loads no model)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QTreeWidgetItem

from desktop.core.hub.pending import PullTarget
from desktop.core.models.catalog import load_default_catalog
from desktop.core.models.memory import needs_of, set_estimate
from desktop.ui.main_window import MainWindow
from desktop.ui.models.tree import child_items, top_items


@pytest.fixture
def catalog_tree(fake_window: MainWindow, qtbot):
    fake_window.open_models()
    dialog = fake_window.models_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog.catalog_tab.catalog_tree


def _row(tree, some_id: str) -> QTreeWidgetItem:
    return next(item for item in top_items(tree) if f"({some_id})" in item.text(0))


def test_a_ladder_shows_its_stages_in_order_with_size_and_fit(catalog_tree) -> None:
    catalog = load_default_catalog()
    for ladder in catalog.ladders:
        row = _row(catalog_tree, ladder.id)
        assert row.text(1) == f"ladder, {len(ladder.stages)} stages"
        children = child_items(row)
        assert [c.text(0) for c in children] == [
            f"{m.stage}. {m.stage_name}: {m.id}" for m in ladder.stages
        ]
        assert [c.text(1) for c in children] == [m.kind for m in ladder.stages]
        assert all(c.text(3).endswith("GB") for c in children)  # every stage has its size
        assert all(c.text(4).split()[0] in ("fits", "tight", "won't") for c in children)


def test_pair_and_ladder_rows_say_whether_they_fit_at_once(
    fake_window: MainWindow, catalog_tree
) -> None:
    catalog = load_default_catalog()
    n_ctx = fake_window.settings.n_ctx
    groups = [(p.id, p.members) for p in catalog.pairs if not p.is_starter]
    groups += [(ladder.id, ladder.stages) for ladder in catalog.ladders]
    for group_id, members in groups:
        row = _row(catalog_tree, group_id)
        estimate = set_estimate(needs_of(members), n_ctx=n_ctx)
        assert row.toolTip(4) == estimate.sentence, group_id
        short = row.text(4)
        if estimate.plan == "at once":
            assert "at once" in short and f"{estimate.total / 1e9:.1f} GB" in short
        elif estimate.plan == "smaller context":
            assert f"at {estimate.run_ctx} ctx" in short
        else:
            assert short == estimate.plan.replace("too big", "won't fit")
        assert row.text(3).endswith("GB") or row.text(3).endswith("MB")
    starter = top_items(catalog_tree)[0]
    assert "offline starter pair" in starter.text(0) and "at once" in starter.text(4)


def test_a_selected_ladder_downloads_every_stage(
    fake_window: MainWindow, catalog_tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = fake_window.models_dialog.catalog_tab
    queued: list[tuple[PullTarget, str]] = []
    monkeypatch.setattr(tab.queue, "enqueue", lambda target, label: queued.append((target, label)))
    ladder = load_default_catalog().ladders[0]
    catalog_tree.clearSelection()
    _row(catalog_tree, ladder.id).setSelected(True)
    tab.download_catalog_selection()
    assert [label for _, label in queued] == [m.id for m in ladder.stages]
    assert [target.filename for target, _ in queued] == [m.filename for m in ladder.stages]


def test_a_group_row_counts_what_is_installed(catalog_tree, qtbot) -> None:
    starter = top_items(catalog_tree)[0]
    # The installed models are listed in a worker thread.
    qtbot.waitUntil(lambda: starter.text(5) == "installed", timeout=20_000)
    ladder_row = _row(catalog_tree, load_default_catalog().ladders[0].id)
    assert ladder_row.text(5) == ""  # none of its stages is here
