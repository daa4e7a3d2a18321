"""The token shift view of the compare window, on the real starter pair: the instruct model's
answer ranked by the base model, coloured by class, with its shares and its shifted tokens."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.core.compare.shift import ShiftLabel
from desktop.ui.compare.shift_panel import label_colour
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import open_compare
from tests.ui.test_compare_window import point_of

pytestmark = pytest.mark.slow


@pytest.fixture
def compare(window: MainWindow, qtbot):
    return open_compare(window, qtbot, max_tokens=40)


def test_the_instructs_answer_coloured_by_what_the_base_model_would_have_written(
    compare, qtbot
) -> None:
    left, right = compare.columns
    left.mode.set_mode("raw")
    compare.input.setPlainText("Give me three tips for sleeping well.")
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    own = list(right.view.tokens)
    assert not right.shift.isVisible()
    qtbot.waitUntil(right.score_button.isEnabled, timeout=2_000)
    right.score_button.click()
    qtbot.waitUntil(right.shift.isVisible, timeout=60_000)
    shift = right.column.shift
    assert shift is not None and shift.scorer == "gemma-3-270m"
    # The legend gives each class's share, and says whose tokens these are.
    legend = right.shift.legend.text()
    for label in ShiftLabel:
        assert f"{label.value} {shift.share(label):.0%}" in legend
    assert "as gemma-3-270m cuts this" in legend
    # The text now shows the base model's tokens, each on its class's colour.
    assert right.shift.colour.isChecked() and right.view.overlaid
    assert [t.token_id for t in right.view.tokens] == [t.token_id for t in shift.tokens]
    assert right.view.backgrounds == [label_colour(t.label) for t in shift.tokens]
    assert right.view.toPlainText() == right.column.text
    # Hovering a token shows the base model's top 5 there.
    second = len(shift.tokens[0].piece)  # the first character of the second token
    hovered = right.view.hover.token_at(point_of(right.view, second))
    assert hovered is not None and hovered.top == shift.tokens[1].top and len(hovered.top) == 5
    # The list names every shifted token and what the base model would have written instead.
    rows = [right.shift.shifted.item(i).text() for i in range(right.shift.shifted.count())]
    if shift.shifted:
        assert len(rows) == len(shift.shifted)
        index, token = shift.shifted[0]
        assert rows[0].startswith(f"#{index} {token.piece!r} → {token.top[0].text!r}")
        assert "bgcolor" in right.shift.shifted.item(0).toolTip()
    # Unticked, the column's own tokens and their own probabilities come back.
    right.shift.colour.setChecked(False)
    assert not right.view.overlaid and right.view.tokens == own
    # A new run clears the shift.
    compare.run()
    qtbot.waitUntil(lambda: not compare.busy, timeout=120_000)
    assert not right.shift.isVisible() and not right.view.overlaid
    assert right.shift.colour.checkState() == Qt.CheckState.Unchecked
