"""The guided experiments in the real window on the real starter pair (offscreen): each runs to
the end from the Try this menu, says what to look for, and leaves everything editable; the
welcome page lists them; the difference page opens from Help and from a mode hint's link."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMenu, QToolButton

import desktop.core.models.library as library
from desktop.core.chat.aligned import ALIGNED_TEMPLATE_NAME
from desktop.core.chat.sampling import SamplingParams
from desktop.core.experiments import EXPERIMENTS, experiment_named
from desktop.ui.experiments import DIFFERENCE_LINK, DifferenceDialog, ExperimentBar
from desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.slow

RUN_LIMIT_MS = 180_000  # two small models loading and writing 16 tokens each, on 2 shared cores


def _menu(window: MainWindow, title: str) -> QMenu:
    bar = window.menuBar()
    menus = bar.findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly)
    return next(m for m in menus if m.title().replace("&", "") == title)


def _short(window: MainWindow) -> None:
    """Short greedy runs: the tests check that an experiment runs, not what it writes."""
    window._settings_changed(
        window.settings.__class__(sampling=SamplingParams(max_tokens=16, seed=3, temperature=0.0))
    )


def _pair(window: MainWindow) -> dict[str, str]:
    base, instruct = window.compare_defaults()
    return {"base": base, "instruct": instruct}


@pytest.mark.parametrize("experiment_id", [e.id for e in EXPERIMENTS])
def test_each_experiment_runs_to_the_end_from_the_try_this_menu(
    window: MainWindow, qtbot, experiment_id: str
) -> None:
    experiment = experiment_named(experiment_id)
    _short(window)
    pair = _pair(window)
    assert pair == {"base": "gemma-3-270m", "instruct": "smollm2-135m-instruct"}
    action = next(a for a in _menu(window, "Try this").actions() if a.text() == experiment.title)
    runs: list[object] = []
    window.try_experiment = lambda i, run=window.try_experiment: runs.append(run(i)) or runs[-1]  # type: ignore[method-assign]
    action.trigger()
    assert len(runs) == 1
    run = runs[0]
    qtbot.waitUntil(lambda: run.done, timeout=RUN_LIMIT_MS)  # type: ignore[attr-defined]
    assert run.error == ""  # type: ignore[attr-defined]
    bar = run.bar  # type: ignore[attr-defined]
    # What to look for is on screen, above the experiment, in the window it runs in.
    assert bar.isVisible() and bar.label.text() == experiment.look_for
    assert experiment.title in bar.title.text() and bar.status.text().startswith("Done")

    if experiment.in_compare:
        compare = window.compare_window
        assert compare is not None and bar.window() is compare
        assert compare.input.toPlainText() == experiment.text
        assert compare.system.text() == experiment.system
        assert [(c.model.id, c.mode.mode, c.aligned) for c in compare.columns] == [
            (pair[s.role], s.mode, s.aligned) for s in experiment.columns
        ]
        for column, setup in zip(compare.columns, experiment.columns, strict=True):
            assert column.column is not None
            aligned = column.column.prompt.template_name == ALIGNED_TEMPLATE_NAME
            assert aligned == setup.aligned  # the base model's chat after the examples
        for column in compare.columns:  # every column ran and stopped by itself
            assert column.column is not None and column.column.done is not None
            assert column.stats.text().startswith("Stopped:")
        if experiment.shift:  # the instruct answer, scored by the base model
            scored = compare.columns[1]
            assert scored.chart.tokens and "gemma-3-270m" in scored.chart.title
            assert scored.column is not None and scored.column.shift is not None
        # Everything stays editable: the person can change the input and run again.
        assert compare.input.isEnabled() and compare.run_action.isEnabled()
        assert all(c.picker.isEnabled() and c.mode.isEnabled() for c in compare.columns)
        return

    assert experiment.main is not None
    assert bar.window() is window
    assert window.model is not None and window.model.id == pair[experiment.main.role]
    assert window.mode_toggle.mode == experiment.main.mode
    assert not window.busy
    if experiment.main.mode == "raw":
        text = window.raw_view.text
        assert text.startswith(experiment.input_text) and len(text) > len(experiment.input_text)
        assert "\nQ:" in window.settings.sampling.stop  # the scaffold's stop, in Sampling
        assert not window.raw_view.editor.isReadOnly()
    else:
        messages = window.conversation.messages
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content == experiment.text
        # Two replies to the same question: with the system prompt (1/2), then without (2/2).
        assert window.session.branches()[1] == (1, 2)
        assert window.chat_view.system.text() == ""
        assert window.conversation.system == ""
        window.switch_branch(1, -1)
        qtbot.waitUntil(lambda: window.session.branches()[1] == (0, 2), timeout=5_000)
        stored = window.session.stored_prompt()
        assert stored is not None and experiment.system in stored.prompt.text
        window.switch_branch(1, +1)
        stored = window.session.stored_prompt()
        assert stored is not None and experiment.system not in stored.prompt.text
        assert window.chat_view.input.isEnabled()


def test_an_experiment_waits_for_a_reply_under_way_to_be_stopped(window: MainWindow, qtbot) -> None:
    _short(window)
    window.set_mode("chat")
    window.send_chat("Hello")
    assert window.busy
    run = window.try_experiment("few-shot")
    assert run.done and "Stop what is running first" in run.error
    assert window.mode_toggle.mode == "chat"  # nothing was changed under the reply
    qtbot.waitUntil(lambda: not window.busy, timeout=RUN_LIMIT_MS)


def test_the_welcome_page_lists_the_experiments(qtbot, fresh_settings, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The first run, with nothing installed: the page welcomes and lists every experiment."""
    from desktop.core.hub.pending import save_pending

    monkeypatch.setattr(library, "starter_files", lambda: ())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    registered = library.Library().registered_paths()
    for path in registered:
        library.Library().unregister(path)
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.pages.currentWidget() is win.empty_page, timeout=20_000)
        page = win.empty_page
        assert any("Welcome to Duet" in label.text() for label in page.findChildren(QLabel))
        assert page.experiments.isVisible()
        listed = page.experiments.text()
        for experiment in EXPERIMENTS:
            assert experiment.title in listed
            assert experiment.look_for in page.experiments.toolTip()
        # With no model, an experiment from the menu says what to do instead of failing.
        run = win.try_experiment("instruction")
        assert run.done and "Install a base and an instruct model first" in run.error
    finally:
        win.downloads.pause_all()
        save_pending([])
        for path in registered:
            library.Library().register(path)


def test_the_difference_page_opens_from_help(fake_window: MainWindow, qtbot) -> None:
    action = next(
        a for a in _menu(fake_window, "Help").actions() if a.text() == "What is the difference?"
    )
    action.trigger()
    dialog = fake_window.findChild(DifferenceDialog)
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    text = dialog.text
    for words in ("next token", "Supervised instruction tuning", "Preference tuning"):
        assert words in text
    assert "chat template" in text and "When to use which" in text
    action.trigger()  # again: the same page, brought to the front
    assert fake_window.findChildren(DifferenceDialog) == [dialog]


def test_the_difference_page_opens_from_a_mode_hints_link(fake_window: MainWindow, qtbot) -> None:
    fake_window.select_model("smollm2-135m-instruct")
    fake_window.set_mode("raw")  # an instruct model in raw mode: a hint about the two kinds
    link = fake_window.difference_link
    assert fake_window.banner.isVisible() and link.isVisible()
    assert DIFFERENCE_LINK in link.text()
    assert fake_window.findChild(DifferenceDialog) is None
    link.linkActivated.emit(DIFFERENCE_LINK)  # what a click on the link sends
    dialog = fake_window.findChild(DifferenceDialog)
    assert dialog is not None and dialog.isVisible()
    fake_window.set_mode("chat")  # no hint for an instruct model in chat: no link
    assert not link.isVisible()


def test_the_experiment_note_can_be_closed(fake_window: MainWindow) -> None:
    bar = fake_window.experiment_bar
    assert isinstance(bar, ExperimentBar) and not bar.isVisible()
    bar.show_experiment(experiment_named("hedge"))
    assert bar.isVisible()
    close = next(
        b
        for b in bar.findChildren(QToolButton)
        if b.accessibleName() == "Close the experiment's note"
    )
    close.click()
    assert not bar.isVisible()
