"""The compare view and the token-probability hover, driven with qtbot on the starter pair."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.scaffolds import SCAFFOLDS
from desktop.core.models.library import Library
from desktop.ui.main_window import MainWindow
from desktop.ui.views.tokens import probability_chart

pytestmark = pytest.mark.slow


@pytest.fixture
def compare(window: MainWindow, qtbot):
    window._settings_changed(
        window.settings.__class__(sampling=SamplingParams(max_tokens=24, seed=4, temperature=0.0))
    )
    window.open_compare()
    view = window.compare_window
    qtbot.addWidget(view)
    return view


@pytest.fixture
def added_model(instruct_path: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of a starter file under a new name, registered in the Library of this test run
    (as a download or an added file is), and forgotten again afterwards."""
    copy = tmp_path / "duet-added-later.gguf"
    try:
        os.link(instruct_path, copy)  # the same bytes without copying 100 MB
    except OSError:
        shutil.copyfile(instruct_path, copy)
    library = Library()
    library.register(copy)
    try:
        yield copy
    finally:
        library.unregister(copy)


def picker_ids(column) -> list[str]:
    return [column.picker.itemData(i) for i in range(column.picker.count())]


def rescan(window: MainWindow, qtbot, has: bool) -> None:
    """The main window looks for models again, as after a download, and finds them."""
    before = window.models
    window.scan_models()
    qtbot.waitUntil(
        lambda: (
            window.models is not before
            and any(m.id == "duet-added-later" for m in window.models) == has
        ),
        timeout=20_000,
    )


def test_a_model_found_after_opening_compare_appears_in_its_pickers(
    compare, window: MainWindow, qtbot, added_model: Path
) -> None:
    left, right = compare.columns
    right.picker.setCurrentIndex(right.picker.findData("gemma-3-270m"))
    assert "duet-added-later" not in picker_ids(left)
    rescan(window, qtbot, has=True)
    for column in compare.columns:
        assert picker_ids(column) == [m.id for m in window.models]
    # Each column keeps the model it had chosen.
    assert [c.model.id for c in compare.columns] == ["gemma-3-270m", "gemma-3-270m"]
    # A column whose model disappears falls back to the first model.
    right.picker.setCurrentIndex(right.picker.findData("duet-added-later"))
    assert right.model.id == "duet-added-later"
    Library().unregister(added_model)
    rescan(window, qtbot, has=False)
    assert "duet-added-later" not in picker_ids(right)
    assert right.model.id == window.models[0].id and left.model.id == "gemma-3-270m"


def point_of(view, char: int):
    cursor = QTextCursor(view.document())
    cursor.setPosition(char)
    return view.cursorRect(cursor).center()


def test_compare_runs_both_models_and_marks_the_divergence(compare, qtbot, tmp_path: Path) -> None:
    assert [c.model.id for c in compare.columns] == ["gemma-3-270m", "smollm2-135m-instruct"]
    qtbot.keyClicks(compare.input, "What is the capital of France?")
    qtbot.keyClick(compare.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    left, right = compare.columns
    assert left.view.tokens and right.view.tokens
    assert left.stats.text().startswith("Stopped:") and right.stats.text().startswith("Stopped:")
    assert left.template.text() == "plain transcript (no chat template)"
    assert (
        "part ways at character" in compare.divergence.text()
        or "same text" in compare.divergence.text()
    )
    if left.view.marked is not None:
        assert left.view.marked <= len(left.view.tokens)
    # Hovering a token shows its alternatives as a chart.
    token = left.view.hover.token_at(point_of(left.view, 1))
    assert token is not None and len(token.top) == 5
    chart = probability_chart(token)
    assert "p = " in chart and "bgcolor" in chart
    # Score the base model's text with the instruct model.
    compare.score(0)
    qtbot.waitUntil(lambda: bool(left.chart.tokens), timeout=60_000)
    assert left.chart.isVisible() and "smollm2" in left.chart.title
    assert all(t.logprob is not None and t.logprob <= 0 for t in left.chart.tokens)
    # Heat view and export.
    compare.heat.setChecked(True)
    assert left.view.heat
    compare.export(tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert [c["model"]["id"] for c in data["columns"]] == ["gemma-3-270m", "smollm2-135m-instruct"]
    assert data["sampling"]["seed"] == 4


def test_compare_stop_stops_both(compare, window: MainWindow, qtbot) -> None:
    window._settings_changed(
        window.settings.__class__(
            sampling=SamplingParams(max_tokens=2000, seed=4, repeat_penalty=1.2)
        )
    )
    for column in compare.columns:
        column.mode.set_mode("raw")
    compare.input.setPlainText("Once upon a time, in a small village by the sea, there lived")
    compare.run()
    qtbot.waitUntil(lambda: all(len(c.view.tokens) > 3 for c in compare.columns), timeout=60_000)
    qtbot.keyClick(compare, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not compare.busy, timeout=10_000)
    for column in compare.columns:
        assert "stopped by you" in column.stats.text()


def test_token_hover_in_the_raw_notebook_and_chat(window: MainWindow, qtbot) -> None:
    window._settings_changed(
        window.settings.__class__(sampling=SamplingParams(max_tokens=12, seed=1))
    )
    window.set_mode("raw")
    window.raw_view.set_text("The capital of France is")
    window.continue_raw()
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    start = len("The capital of France is")
    token = window.raw_view.hover.token_at(point_of(window.raw_view.editor, start + 1))
    assert token is not None and token.logprob is not None and token.top
    assert window.raw_view.hover.token_at(point_of(window.raw_view.editor, 2)) is None  # typed text

    window.set_mode("chat")
    window.send_chat("Hi")
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    bubble = window.chat_view.bubbles[-1]
    assert not bubble.tokens_button.isHidden()
    bubble.tokens_button.setChecked(True)
    assert bubble.token_view is not None and bubble.token_view.tokens
    assert bubble.token_view.hover.token_at(point_of(bubble.token_view, 0)) is not None


def test_scaffolds_fill_the_notebook(window: MainWindow) -> None:
    window.set_mode("raw")
    window.raw_view.set_text("")
    text = SCAFFOLDS[0].text
    actions = window.raw_view.scaffolds.menu().actions()
    assert [a.text() for a in actions] == [s.name for s in SCAFFOLDS]
    assert all(a.toolTip() for a in actions)
    actions[0].trigger()
    assert window.raw_view.text == text and text.endswith("A:")
