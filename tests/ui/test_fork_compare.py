"""Fork at a token in the compare window, on the real starter pair: click a token, pick an
alternative, and every column goes on from the same text, each engine reusing its cache."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from desktop.ui.main_window import MainWindow
from tests.ui.conftest import open_compare
from tests.ui.test_compare_window import point_of

pytestmark = pytest.mark.slow


@pytest.fixture
def compare(window: MainWindow, qtbot):
    return open_compare(window, qtbot, max_tokens=24)


def test_every_column_goes_on_from_the_chosen_token(compare, qtbot) -> None:
    left = compare.columns[0]
    left.mode.set_mode("raw")
    compare.input.setPlainText("The three best things about living by the sea are")
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    first = [c.column for c in compare.columns]
    assert len(left.view.tokens) > 8
    # Click the ninth token of the base model's text: its alternatives are offered.
    index = 8
    char = len("".join(left.view.texts[:index]))
    qtbot.mouseClick(left.view.viewport(), Qt.MouseButton.LeftButton, pos=point_of(left.view, char))
    panel = compare.alternatives
    assert panel.isVisible() and panel.index == index
    assert len(panel.buttons) == 5 and not panel.buttons[0].icon().isNull()
    assert all(b.icon().isNull() for b in panel.buttons[1:])
    second = left.view.tokens[index].top[1].text
    prefix = "".join(left.view.texts[:index])
    panel.buttons[1].click()
    assert not panel.isVisible()
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    comparison = compare.comparison
    assert comparison.fork is not None and comparison.fork.text == prefix + second
    for before, view in zip(first, compare.columns, strict=True):
        after = view.column
        assert after.prompt.text == before.prompt.text + prefix + second
        assert after.done is not None and after.text
        assert "forked at token 8" in after.prompt.notes[-1]
    # The KV cache was reused: the base model evaluated little beyond its fork, the other
    # model its prompt at least.
    left_stats, right_stats = (v.column.done.stats for v in compare.columns)
    assert left_stats.cached_tokens >= first[0].done.stats.prompt_tokens + index - 3
    assert right_stats.cached_tokens >= first[1].done.stats.prompt_tokens - 1
    assert compare.divergence.text().startswith("After the fork (forked at token 8 with")


def test_typed_text_and_refusals(compare, qtbot) -> None:
    left, right = compare.columns
    compare.input.setPlainText("Name a colour.")
    compare.run()
    qtbot.waitUntil(lambda: not compare.busy and left.column is not None, timeout=120_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    compare.offer_fork(right, 0)
    compare.alternatives.own.setText(" Definitely purple")
    compare.alternatives.go.click()
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    assert compare.comparison.fork.choice == " Definitely purple"
    assert right.column.prompt.text.endswith(" Definitely purple")
    # Not offered while the token shift shows another model's tokens, nor during a run.
    compare.score(1)
    qtbot.waitUntil(right.shift.isVisible, timeout=60_000)
    compare.alternatives.hide()
    compare.offer_fork(right, 0)
    assert not compare.alternatives.isVisible()
    # A column whose model changed since the run is not forked silently.
    right.shift.colour.setChecked(False)
    right.picker.setCurrentIndex(right.picker.findData("gemma-3-270m"))
    compare.offer_fork(right, 0)
    compare.alternatives.buttons[0].click()
    assert "model changed since the run" in compare.divergence.text() and not compare.busy


def test_export_for_llm_comparator_and_a_failed_save(compare, qtbot, tmp_path) -> None:
    compare.input.setPlainText("Name a colour.")
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    compare.export(tmp_path / "pair.json", comparator=True)
    data = json.loads((tmp_path / "pair.json").read_text())
    assert [m["name"] for m in data["models"]] == ["gemma-3-270m", "smollm2-135m-instruct"]
    assert data["examples"][0]["input_text"] == "Name a colour."
    assert compare.divergence.text() == f"Saved {tmp_path / 'pair.json'}."
    compare.export(tmp_path / "missing" / "c.md")
    assert "Could not save" in compare.divergence.text()


def test_scoring_holds_the_window_and_a_fork_keeps_the_columns_own_tokens(compare, qtbot) -> None:
    right = compare.columns[1]
    compare.input.setPlainText("Name a colour.")
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    own = list(right.view.texts)
    compare.score(1)
    # No run, fork or removal while a model scores: its engine is in use.
    assert compare.busy and not compare.run_action.isEnabled()
    qtbot.waitUntil(right.shift.isVisible, timeout=60_000)
    assert not compare.busy and compare.run_action.isEnabled()
    # A token clicked on the column's own text, then the shift's tokens shown: the fork is of
    # the text that was clicked.
    right.shift.colour.setChecked(False)
    compare.offer_fork(right, 1)
    right.shift.colour.setChecked(True)
    compare.alternatives.buttons[1].click()
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    assert compare.comparison.fork.prefix == own[0]
