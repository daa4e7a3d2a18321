"""The compare window's Samples…: the current input, columns, modes and sampling run N times in
the samples view, with each model's figures, the entropy chart and every sample to open; it
stays responsive, stops, exports, warns at temperature 0 and lets the compare window close.

The window runs on FakeEngines whose replies follow the seed and whose tokens carry an entropy
(tests/core/test_samples_runner.SeededEngine), with the starter pair's real files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QToolButton

from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.samples import column_stats
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.factory import Runnable
from desktop.core.models.library import Library
from desktop.core.models.starter import require_starter_paths
from desktop.core.settings import AppSettings
from desktop.ui import theme
from desktop.ui.compare.samples_view import FIGURES, SamplesView, figures
from desktop.ui.compare.window import CompareWindow
from desktop.ui.views.charts import EntropyChart, EntropyLine
from tests.core.test_samples_runner import SeededEngine

SAMPLING = SamplingParams(temperature=0.8, max_tokens=24, seed=4)


class Opener:
    """Makes a SeededEngine per column, `words` long, `delay` seconds a token."""

    def __init__(self, words: int = 6, delay: float = 0.0) -> None:
        self.words, self.delay = words, delay
        self.engines: list[SeededEngine] = []

    def __call__(self, model: Runnable, config: EngineConfig) -> SeededEngine:
        engine = SeededEngine(model.id, words=self.words, token_delay=self.delay)
        self.engines.append(engine)
        return engine


def make_window(qtbot, opener: Opener, sampling: SamplingParams = SAMPLING) -> CompareWindow:  # type: ignore[no-untyped-def]
    """The compare window on the starter pair's files (raw base, chat instruct), shown."""
    models = [Library().describe(path) for path in require_starter_paths()]
    window = CompareWindow(
        models, AppSettings(sampling=sampling), (models[0].id, models[1].id), open_engine=opener
    )
    qtbot.addWidget(window)
    window.columns[0].mode.set_mode("raw")
    window.show()
    qtbot.waitExposed(window, timeout=5_000)
    window.input.setPlainText("Name a colour.")
    return window


@pytest.fixture(autouse=True)
def _starter(starter_paths: tuple[Path, Path]) -> None:
    """The starter files in this run's DUET_HOME."""


@pytest.fixture
def opener() -> Opener:
    return Opener()


@pytest.fixture
def compare(qtbot, opener: Opener) -> Iterator[CompareWindow]:  # type: ignore[no-untyped-def]
    window = make_window(qtbot, opener, SAMPLING)
    yield window
    window.close()


def open_samples(compare: CompareWindow, qtbot) -> SamplesView:  # type: ignore[no-untyped-def]
    compare.samples_action.trigger()
    view = compare.samples_view
    assert view is not None
    qtbot.waitExposed(view, timeout=5_000)
    return view


def wait_done(view: SamplesView, qtbot, timeout: int = 10_000) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not view.busy, timeout=timeout)


def test_samples_sits_next_to_run_and_waits_for_a_run_to_end(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot, Opener(words=30, delay=0.02), SAMPLING)
    actions = [a.text() for a in window.toolbar.actions()]
    assert actions[actions.index("Run") + 1] == "Samples…"
    button = window.toolbar.widgetForAction(window.samples_action)
    assert isinstance(button, QToolButton) and "same seeds" in window.samples_action.toolTip()
    window.run()
    qtbot.waitUntil(lambda: window.busy, timeout=5_000)
    assert not window.samples_action.isEnabled()
    window.stop()
    qtbot.waitUntil(lambda: not window.busy, timeout=5_000)
    assert window.samples_action.isEnabled()
    window.close()


def test_an_empty_input_says_what_to_do(compare: CompareWindow) -> None:
    compare.input.setPlainText("  ")
    compare.samples_action.trigger()
    assert compare.samples_view is None
    assert "Write an input first" in compare.divergence.text()


def test_every_column_sampled_eight_times_with_the_same_seeds(  # type: ignore[no-untyped-def]
    compare: CompareWindow, qtbot, opener: Opener
) -> None:
    view = open_samples(compare, qtbot)
    assert view.isWindow() and view.windowModality() == Qt.WindowModality.WindowModal
    assert view.count.value() == 8
    wait_done(view, qtbot)
    assert view.result is not None and list(view.result.seeds) == list(range(4, 12))
    for engine in opener.engines:
        assert [c.sampling.seed for c in engine.calls] == list(range(4, 12))
    # Each column's mode and prompt are the compare window's.
    assert [c.mode for c in view.result.columns] == ["raw", "chat"]
    assert [e.calls[0].prompt.mode for e in opener.engines] == ["raw", "chat"]
    assert "Done in" in view.status.text() and "seeds 4 to 11" in view.status.text()
    assert view.progress.value() == view.progress.maximum() == 16
    # The table: one row per model, its figures as core computes them.
    headers = [view.table.horizontalHeaderItem(i).text() for i in range(view.table.columnCount())]
    assert headers == [name for name, _ in FIGURES]
    for row, column in enumerate(view.result.columns):
        shown = [view.table.item(row, i).text() for i in range(len(FIGURES))]
        assert shown == figures(column.label, column_stats(column.samples))
        assert shown[1] == "8" and shown[5] == "8/8 (100%)"
    # The chart: one line per model, labelled, in its kind's colour.
    assert view.chart.labels == [c.label for c in view.result.columns]
    colours = theme.current()
    assert [line.colour.name() for line in view.chart.lines] == [colours.base, colours.instruct]
    assert view.chart.lines[0].mean == view.result.columns[0].stats.entropy.mean


def test_a_sample_opens_with_its_text_seed_and_stop_reason(  # type: ignore[no-untyped-def]
    compare: CompareWindow, qtbot
) -> None:
    view = open_samples(compare, qtbot)
    wait_done(view, qtbot)
    assert view.result is not None
    samples = view.lists[1]
    assert samples.count() == 8
    third = view.result.columns[1].samples[2]
    assert samples.item(2).text().startswith("#3 · seed 6 · 6 tokens · the model ended its turn")
    qtbot.mouseClick(
        samples.viewport(),
        Qt.MouseButton.LeftButton,
        pos=samples.visualItemRect(samples.item(2)).center(),
    )
    assert view.detail.toPlainText() == third.text
    label = view.detail_label.text()
    assert "seed 6" in label and "stopped: the model ended its turn" in label
    assert view.result.columns[1].model.id in label


def test_temperature_zero_warns_that_every_sample_is_the_same(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot, Opener(), SAMPLING.with_changes(temperature=0.0))
    view = open_samples(window, qtbot)
    assert view.warning.isVisible()
    assert "every sample will be the same" in view.warning.text()
    assert "temperature above 0" in view.warning.text()
    wait_done(view, qtbot)
    window.close()


def test_no_warning_when_samples_can_differ(compare: CompareWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = open_samples(compare, qtbot)
    assert not view.warning.isVisible()
    wait_done(view, qtbot)


def test_samples_arrive_while_it_runs_and_stop_ends_every_column(qtbot) -> None:  # type: ignore[no-untyped-def]
    opener = Opener(words=12, delay=0.03)  # a sample takes about 0.4 s, eight of them 3 s
    window = make_window(qtbot, opener, SAMPLING)
    view = open_samples(window, qtbot)
    assert view.busy and view.stop_button.isEnabled() and not view.run_button.isEnabled()
    # The window stays live: finished samples show up while the others run.
    qtbot.waitUntil(lambda: all(lst.count() >= 1 for lst in view.lists), timeout=5_000)
    assert view.busy and view.table.item(0, 1).text() != "0"
    view.stop_button.click()
    wait_done(view, qtbot, timeout=3_000)
    assert view.result is not None and view.result.cancelled
    assert "Stopped" in view.status.text()
    for engine in opener.engines:
        assert len(engine.calls) < 8
    assert view.run_button.isEnabled() and view.export_button.isEnabled()
    # Run again, with another count.
    view.count.setValue(2)
    view.run_button.click()
    wait_done(view, qtbot, timeout=5_000)
    assert view.result is not None and not view.result.cancelled
    assert [lst.count() for lst in view.lists] == [2, 2]
    window.close()


def test_escape_stops_the_samples(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot, Opener(words=40, delay=0.03), SAMPLING)
    view = open_samples(window, qtbot)
    view.activateWindow()  # keyboard shortcuts need an active window, offscreen too
    qtbot.waitUntil(view.isActiveWindow, timeout=5_000)
    qtbot.keyClick(QApplication.focusWidget() or view, Qt.Key.Key_Escape)
    wait_done(view, qtbot, timeout=3_000)
    assert view.result is not None and view.result.cancelled
    window.close()


def test_export_writes_every_sample_as_json(  # type: ignore[no-untyped-def]
    compare: CompareWindow, qtbot, tmp_path: Path
) -> None:
    view = open_samples(compare, qtbot)
    assert not view.export_button.isEnabled()
    wait_done(view, qtbot)
    path = tmp_path / "samples.json"
    view.export(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["seeds"] == list(range(4, 12)) and len(data["columns"]) == 2
    assert f"Saved {path}" in view.status.text()
    view.export(tmp_path / "no-such-folder" / "x.json")
    assert "Could not save" in view.status.text()


def test_closing_the_compare_window_mid_run_stops_the_samples(qtbot) -> None:  # type: ignore[no-untyped-def]
    opener = Opener(words=200, delay=0.03)
    window = make_window(qtbot, opener, SAMPLING)
    view = open_samples(window, qtbot)
    qtbot.waitUntil(lambda: all(e.calls for e in opener.engines), timeout=5_000)
    window.close()  # as the main window does when it closes
    # The run ended before the engines were freed.
    assert all(thread.isFinished() for thread in view.threads._running)
    assert all(e.closed for e in opener.engines)
    assert all(len(e.calls) == 1 for e in opener.engines)


def test_a_failing_column_is_named_in_the_status(
    compare: CompareWindow, qtbot, opener: Opener
) -> None:  # type: ignore[no-untyped-def]
    from desktop.core.errors import EngineError

    compare._engines()[0].fail_next(  # type: ignore[attr-defined]
        EngineError("The model file is gone: download it again."), in_generation=True
    )
    view = open_samples(compare, qtbot)
    wait_done(view, qtbot)
    assert "The model file is gone" in view.status.text()
    assert view.lists[0].count() == 1 and view.lists[1].count() == 8


# The entropy chart ---------------------------------------------------------------------------


def test_the_entropy_chart_labels_each_line_and_tells_each_position(qtbot) -> None:  # type: ignore[no-untyped-def]
    chart = EntropyChart()
    qtbot.addWidget(chart)
    chart.resize(400, 200)
    amber = theme.current().colour("base")
    chart.set_lines(
        [
            EntropyLine("base (raw)", amber, (2.0, 1.0, None), (4, 2, 0)),
            EntropyLine("other base (raw)", amber, (0.5, 3.2), (4, 1)),
        ]
    )
    chart.show()
    qtbot.waitExposed(chart)
    assert chart.labels == ["base (raw)", "other base (raw)"]
    assert chart.ceiling == 3.5 and chart.length == 3
    assert chart.pen_style(0) != chart.pen_style(1)  # same colour: told apart by dashes
    text = chart.describe(1)
    assert "position 2" in text and "base (raw): 1.00 nats (2 samples)" in text
    assert "other base (raw): 3.20 nats (1 sample)" in text
    assert "no sample reaches it" in chart.describe(2)
    # Higher entropy is drawn higher.
    low, high = chart.point(0, 1), chart.point(0, 0)
    assert low is not None and high is not None and high.y() < low.y()
    assert chart.point(0, 2) is None
    x = int(chart.point(0, 1).x())  # type: ignore[union-attr]
    assert chart.position_at(x) == 1
    assert chart.grab().size().width() == 400  # paints without error
    assert chart.position_at(QPoint(0, 0).x()) is None
