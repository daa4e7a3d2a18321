"""The compare window's polish (issue 16): it fits a 1024x640 screen with every column usable,
its toolbar overflows rather than widening it, a column can be removed (freeing its engine), the
heat view has a legend, and the columns' statistics sit in the same rows.

The window runs on FakeEngines (tests/fakes/opener.py) and the starter pair's real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QToolButton, QWidget

from desktop.core.chat.sampling import SamplingParams
from desktop.core.errors import EngineError
from desktop.core.models.library import Library
from desktop.core.settings import AppSettings
from desktop.ui.compare.column import CompareColumn
from desktop.ui.compare.window import MAX_COLUMNS, CompareWindow
from desktop.ui.views.tokens import heat_colour
from tests.fakes import FakeOpener

SCREEN = (1024, 640)


@pytest.fixture
def opener() -> FakeOpener:
    return FakeOpener(replies=["Paris is the capital of France.", "It is Paris, of course."])


@pytest.fixture
def compare(qtbot, starter_paths: tuple[Path, Path], opener: FakeOpener) -> Iterator[CompareWindow]:
    """The compare window on the starter pair, every engine a FakeEngine, shown."""
    models = [Library().describe(path) for path in starter_paths]
    settings = AppSettings(sampling=SamplingParams(max_tokens=24, seed=4))
    window = CompareWindow(models, settings, (models[0].id, models[1].id), open_engine=opener)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window, timeout=5_000)
    yield window
    window.close()


def run(compare: CompareWindow, qtbot, text: str = "What is the capital of France?") -> None:
    compare.input.setPlainText(text)
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=10_000)


def rect_in(widget: QWidget, window: QWidget) -> QRect:
    """`widget`'s rectangle in `window`'s coordinates."""
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def column_controls(column: CompareColumn) -> list[QWidget]:
    """Everything a user works in a column with."""
    return [
        column.picker,
        *column.mode.buttons.values(),
        column.close_button,
        column.view,
        *column.stats.names.values(),
        *column.stats.values.values(),
        column.score_button,
    ]


def resize_to_screen(compare: CompareWindow, qtbot) -> None:
    compare.resize(*SCREEN)
    qtbot.waitUntil(lambda: compare.size().toTuple() == SCREEN, timeout=2_000)


# Fitting a laptop screen ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, MAX_COLUMNS])
def test_the_window_fits_1024x640_with_every_column_usable(
    compare: CompareWindow, qtbot, count: int
) -> None:
    while len(compare.columns) < count:
        compare.add_column()
    assert len(compare.columns) == count
    # Qt keeps a window at its minimum size: the size taking is the window fitting.
    assert compare.minimumSizeHint().width() <= SCREEN[0]
    assert compare.minimumSizeHint().height() <= SCREEN[1]
    resize_to_screen(compare, qtbot)
    window = compare.rect()
    for column in compare.columns:
        for widget in column_controls(column):
            assert widget.isVisibleTo(compare), widget.accessibleName()
            assert widget.width() > 0 and widget.height() > 0, widget.accessibleName()
            assert window.contains(rect_in(widget, compare)), widget.accessibleName()
    # The columns share the width: none is squeezed to nothing or pushed off the window.
    widths = [column.width() for column in compare.columns]
    assert min(widths) > 0.8 * max(widths)
    # The input and the toolbar are there too.
    for widget in (compare.input, compare.system, compare.toolbar, compare.divergence):
        assert window.contains(rect_in(widget, compare))


def test_a_toolbar_that_does_not_fit_overflows_into_its_menu(compare: CompareWindow, qtbot) -> None:
    toolbar = compare.toolbar
    # The toolbar asks only for its first action and the overflow button, not for them all.
    assert toolbar.minimumSizeHint().width() < toolbar.sizeHint().width()
    compare.resize(*SCREEN)
    width = toolbar.sizeHint().width() // 2
    toolbar.setFixedWidth(width)  # as a narrow window would leave it
    extension = toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert extension is not None
    qtbot.waitUntil(extension.isVisible, timeout=2_000)
    assert compare.width() == SCREEN[0]
    hidden = [a for a in toolbar.actions() if not toolbar.widgetForAction(a).isVisible()]
    assert hidden  # in the overflow menu, still reachable from there


# Removing a column ---------------------------------------------------------------------------


def test_a_column_can_be_removed_down_to_two_and_frees_its_engine(
    compare: CompareWindow, qtbot, opener: FakeOpener
) -> None:
    compare.add_column()
    assert len(compare.columns) == 3
    assert all(c.close_button.isEnabled() for c in compare.columns)
    opener.replies = ["One two three.", "Four five six.", "Seven eight nine."]
    run(compare, qtbot)
    engines = list(compare.engines)
    assert len(engines) == 3 and not any(e.closed for e in engines)
    middle = compare.columns[1]
    qtbot.mouseClick(middle.close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(compare.columns) == 2, timeout=2_000)
    assert middle not in compare.columns
    assert engines[1].closed  # its engine (its worker process, in the real app) is freed
    assert not engines[0].closed and not engines[2].closed
    assert compare.engines == [engines[0], engines[2]]
    # Two columns are the least a comparison has: they cannot be removed.
    assert not any(c.close_button.isEnabled() for c in compare.columns)
    assert all(c.close_button.toolTip() for c in compare.columns)
    compare.remove_column(0)
    assert len(compare.columns) == 2
    # Adding comes back; each column's score button scores that column (not the one that
    # was at its place before the removal) with the next column's model.
    assert compare.add_button.isEnabled()
    last = compare.columns[1]
    qtbot.waitUntil(last.score_button.isEnabled, timeout=2_000)
    last.score_button.click()
    qtbot.waitUntil(lambda: bool(last.chart.tokens), timeout=5_000)
    assert compare.columns[0].model.id in last.chart.title
    assert last.column is not None
    assert "".join(t.piece for t in last.chart.tokens) == last.column.text


def test_no_column_is_removed_while_running(
    compare: CompareWindow, qtbot, opener: FakeOpener
) -> None:
    compare.add_column()
    opener.token_delay = 0.05
    opener.reply = " ".join(["word"] * 200)
    compare.input.setPlainText("Go on")
    compare.run()
    qtbot.waitUntil(lambda: bool(compare.running), timeout=5_000)
    assert not any(c.close_button.isEnabled() for c in compare.columns)
    compare.remove_column(2)
    assert len(compare.columns) == 3
    compare.stop()
    qtbot.waitUntil(lambda: not compare.busy, timeout=10_000)
    assert all(c.close_button.isEnabled() for c in compare.columns)


# The heat view's legend ----------------------------------------------------------------------


def palette(window: str, text: str, base: str) -> QPalette:
    colours = QPalette()
    colours.setColor(QPalette.ColorRole.Window, QColor(window))
    colours.setColor(QPalette.ColorRole.WindowText, QColor(text))
    colours.setColor(QPalette.ColorRole.Base, QColor(base))
    colours.setColor(QPalette.ColorRole.Text, QColor(text))
    return colours


def luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_heat_view_has_a_legend_readable_in_both_themes(compare: CompareWindow, qtbot) -> None:
    legend = compare.heat_legend
    assert not legend.isVisible()
    compare.heat.setChecked(True)
    assert legend.isVisible() and all(c.view.heat for c in compare.columns)
    assert "probability" in legend.accessibleName().lower()
    assert "probab" in legend.toolTip().lower()
    labels = " ".join(legend.labels)
    assert "unlikely" in labels and "certain" in labels
    for theme in (
        palette("#f4f4f5", "#18181b", "#ffffff"),
        palette("#18181b", "#e4e4e7", "#27272a"),
    ):
        legend.setPalette(theme)
        image = legend.grab().toImage()
        # The swatches are the heat view's own colours, drawn on the text's background.
        for probability in legend.steps:
            x, y = legend.swatch_centre(probability)
            drawn = QColor(image.pixel(x, y))
            expected = legend.swatch(probability)
            assert abs(drawn.red() - expected.red()) <= 3, probability
            assert abs(drawn.green() - expected.green()) <= 3, probability
        # An unlikely token stands out from the background; the labels read against it.
        base = theme.color(QPalette.ColorRole.Base)
        assert contrast(legend.swatch(0.0), base) > 1.5
        assert contrast(legend.text_colour(), theme.color(QPalette.ColorRole.Window)) >= 4.5
    assert legend.swatch(1.0) == theme.color(QPalette.ColorRole.Base)  # a certain token: plain
    assert heat_colour(0.0).alpha() > 0  # the legend follows the view's scale
    compare.add_column()  # a column added meanwhile shows the heat view too
    assert compare.columns[-1].view.heat
    compare.heat.setChecked(False)
    assert not legend.isVisible()


# Statistics in rows --------------------------------------------------------------------------


def test_the_statistics_sit_in_the_same_rows_in_every_column(
    compare: CompareWindow, qtbot, opener: FakeOpener
) -> None:
    compare.add_column()
    opener.replies = [
        "Short.",
        "A much longer reply that wraps over several lines of its column " * 4,
        "Medium length reply here.",
    ]
    resize_to_screen(compare, qtbot)
    run(compare, qtbot)
    # One column fails on the next run with a long message, another is scored (its chart
    # shows): neither moves its statistics.
    opener.replies, opener.reply = [], "Paris."
    compare.engines[1].fail_next(
        EngineError("The engine stopped with a long explanation of what went wrong " * 3),
        after_tokens=2,
        in_generation=True,
    )
    run(compare, qtbot)
    assert compare.columns[1].stats.text().startswith("Failed:")
    compare.score(0)
    qtbot.waitUntil(lambda: bool(compare.columns[0].chart.tokens), timeout=5_000)
    qtbot.waitUntil(compare.columns[0].chart.isVisible, timeout=2_000)
    rows = compare.columns[0].stats.values.keys()
    assert {"stopped", "tokens", "speed", "prompt", "seed"} <= set(rows)
    for row in rows:
        tops = {rect_in(c.stats.values[row], compare).top() for c in compare.columns}
        heights = {c.stats.values[row].height() for c in compare.columns}
        assert len(tops) == 1 and len(heights) == 1, (row, tops, heights)
    # What the rows say, and the summary a screen reader and the tests read.
    left = compare.columns[0]
    assert left.stats.values["tokens"].text() == "1"
    assert left.stats.values["seed"].text() == "4"
    assert left.stats.text().startswith("Stopped:") and "seed 4" in left.stats.text()
    failed = compare.columns[1]
    assert failed.stats.values["stopped"].text() == "failed"
    assert "long explanation" in failed.stats.text()
