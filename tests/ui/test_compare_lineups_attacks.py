"""Attacks on line-ups and one-at-a-time runs in the real compare window, on the real starter
files: a fork or a score after a one-at-a-time run loads one model at a time again, the window
closed or stopped while a model is freed between columns, a line-up with four stage labels on
a 1024x640 screen, and the Line-up menu from the keyboard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QWidget

import desktop.ui.compare.window as window_module
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.models.catalog import Catalog
from desktop.core.models.library import InstalledModel
from desktop.core.settings import AppSettings
from tests.engine_watch import alone, watching_opener
from tests.ui import test_compare_lineups as lineups_tests

RUN_MS = lineups_tests.RUN_MS
ladder = lineups_tests.ladder  # the four-stage ladder fixture, the starter files as its stages
_compare, _run = lineups_tests._compare, lineups_tests._run


def _watched_window(qtbot, ladder: tuple[Catalog, list[InstalledModel]]):  # type: ignore[no-untyped-def]
    """The compare window set to run one column at a time, with a log of its engines' loads."""
    catalog, models = ladder
    opener, log, engines = watching_opener()
    compare = _compare(qtbot, catalog, models, opener)
    compare.one_at_a_time.setChecked(True)
    return compare, log, engines


def test_a_fork_after_a_one_at_a_time_run_loads_one_model_at_a_time(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    compare, log, engines = _watched_window(qtbot, ladder)
    _run(compare, qtbot, "Once upon a time")
    assert len(log) == 2 and alone(log), log
    left = compare.columns[0]
    assert len(left.view.tokens) > 2
    compare.offer_fork(left, 1)
    assert compare.alternatives.isVisible()
    compare.alternatives.buttons[1].click()
    qtbot.waitUntil(lambda: not compare.busy, timeout=RUN_MS)
    assert compare.comparison is not None and compare.comparison.fork is not None
    assert all(v.column is not None and v.column.done is not None for v in compare.columns)
    # The fork's columns ran in turn as well: none started beside another loaded model.
    assert len(log) == 4 and alone(log), log
    compare.close()
    assert not any(getattr(e, "alive", False) for e in engines)


def test_scoring_after_a_one_at_a_time_run_keeps_one_model_loaded(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    compare, log, engines = _watched_window(qtbot, ladder)
    _run(compare, qtbot, "Name a colour.")
    for index in (0, 1):
        compare.score(index)
        qtbot.waitUntil(lambda: not compare.busy, timeout=RUN_MS)
        assert compare.columns[index].column.surprise  # type: ignore[union-attr]
    # Each score found no other model loaded than its scorer's.
    assert len(log) == 4 and alone(log), log
    compare.close()
    assert not any(getattr(e, "alive", False) for e in engines)


def _between_columns(compare) -> bool:  # type: ignore[no-untyped-def]
    """The first column is done and its model is being freed before the second loads."""
    first = compare.columns[0].column
    return bool(compare._freeing and first is not None and first.done is not None)


@pytest.fixture
def slow_freeing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeing a model between columns takes a second (it takes milliseconds), so a test can
    act in that moment instead of polling for it."""
    real = window_module._close
    calls: list[int] = []

    def slow(engines: list[object]) -> None:
        calls.append(len(engines))
        if len(calls) > 1:  # not the freeing before the first column
            time.sleep(1.0)
        real(engines)  # type: ignore[arg-type]

    monkeypatch.setattr(window_module, "_close", slow)


@pytest.mark.parametrize("when", ["freeing", "second column"])
def test_closing_the_window_mid_run_one_at_a_time_ends_every_worker(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]], when: str, slow_freeing: None
) -> None:
    compare, _log, engines = _watched_window(qtbot, ladder)
    compare.input.setPlainText("Once upon a time")
    compare.run()
    if when == "freeing":
        qtbot.waitUntil(lambda: _between_columns(compare), timeout=RUN_MS)
    else:
        qtbot.waitUntil(lambda: bool(compare.columns[1].view.tokens), timeout=RUN_MS)
    compare.close()
    qtbot.waitUntil(lambda: not compare.busy, timeout=30_000)
    assert not any(getattr(e, "alive", False) for e in engines)
    assert compare.columns[0].column is not None and compare.columns[0].column.done is not None


def test_stop_while_a_model_is_freed_keeps_the_first_output_and_frees_the_window(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]], slow_freeing: None
) -> None:
    compare, _log, _engines = _watched_window(qtbot, ladder)
    compare.input.setPlainText("Once upon a time")
    compare.run()
    qtbot.waitUntil(lambda: _between_columns(compare), timeout=RUN_MS)
    text = compare.columns[0].column.text  # type: ignore[union-attr]
    compare.stop()
    qtbot.waitUntil(lambda: not compare.busy, timeout=30_000)
    assert compare.columns[0].column.text == text and text  # type: ignore[union-attr]
    assert compare.columns[1].column.error == "Stopped before this column's turn."  # type: ignore[union-attr]
    assert compare.run_action.isEnabled() and compare.export_action.isEnabled()


def _rect_in(widget: QWidget, window: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def test_a_four_stage_ladder_fits_1024x640_with_its_stage_names(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    compare = lineups_tests.ladder_window(qtbot, ladder)
    compare.columns[0].mode.set_mode("chat")
    compare.columns[0].set_aligned(True)
    assert compare.minimumSizeHint().width() <= 1024
    compare.resize(1024, 640)
    qtbot.waitUntil(lambda: compare.size().toTuple() == (1024, 640), timeout=2_000)
    window = compare.rect()
    for view in compare.columns:
        for widget in (view.stage, view.picker, view.close_button, view.view):
            assert widget.isVisibleTo(compare)
            assert window.contains(_rect_in(widget, compare)), widget.accessibleName()
        assert view.picker.width() > 60, view.picker.width()
    assert compare.columns[0].examples.isVisible()
    assert window.contains(_rect_in(compare.columns[0].examples, compare))


def test_the_line_up_menu_opens_from_the_keyboard(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    catalog, models = ladder
    compare = _compare(qtbot, catalog, models)
    compare.activateWindow()
    qtbot.waitUntil(compare.isActiveWindow, timeout=2_000)
    compare.input.setFocus()
    shown: list[bool] = []
    compare.lineup_menu.aboutToShow.connect(lambda: shown.append(True))
    qtbot.keyClick(compare.input, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: bool(shown), timeout=2_000)
    compare.lineup_menu.close()


def test_a_line_up_whose_model_vanished_from_disk_fails_in_its_column(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    catalog, models = ladder
    compare = _compare(qtbot, catalog, models)
    lineups_tests.apply_ladder(compare, catalog, models)
    gone = next(m for m in models if m.id == "t-dpo")
    Path(gone.path).unlink()
    compare.one_at_a_time.setChecked(True)
    _run(compare, qtbot)
    dpo = compare.columns[2]
    assert dpo.column is not None and dpo.column.error
    assert "Traceback" not in dpo.column.error
    others = [compare.columns[i].column for i in (0, 1, 3)]
    assert all(c is not None and c.done is not None for c in others)
    assert compare.run_action.isEnabled()


def test_stop_while_a_column_loads_its_model_stops_it_at_its_first_token(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One at a time, every column begins by loading its model, when an engine's cancel has no
    request to act on yet: Stop then must still end the column, not let it write on."""
    compare, _log, _engines = _watched_window(qtbot, ladder)
    compare.settings = AppSettings(sampling=SamplingParams(max_tokens=300, seed=3), n_ctx=1024)
    start = compare._start_column

    def start_then_stop(index: int) -> None:
        start(index)
        compare.stop()  # at once: the model has not begun loading

    monkeypatch.setattr(compare, "_start_column", start_then_stop)
    compare.input.setPlainText("Once upon a time")
    compare.run()
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    first = compare.columns[0].column
    assert first is not None and first.done is not None, first
    assert first.done.reason == p.StopReason.CANCELLED, first.done
    assert first.done.stats.generated_tokens < 20
    assert compare.columns[1].column.error == "Stopped before this column's turn."  # type: ignore[union-attr]


def test_a_closed_compare_window_opened_again_runs(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    catalog, models = ladder
    compare = _compare(qtbot, catalog, models)
    _run(compare, qtbot)
    compare.close()
    compare.show()  # Ctrl+K reuses the window
    _run(compare, qtbot)
    assert all(v.column is not None and v.column.done is not None for v in compare.columns)
