"""The welcome page of a first start with models installed (issue 15, item 5), in the real window
on the real starter pair: it lists every guided experiment, one click runs one to the end and is
remembered, Start chatting leaves for the chat, Help › Welcome page brings it back, and a
settings file from before the page existed still loads (and shows the page once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMenu, QWidget

import desktop.core.models.library as library
from desktop.core.chat.sampling import SamplingParams
from desktop.core.experiments import EXPERIMENTS, experiment_named
from desktop.core.hub.pending import save_pending
from desktop.core.settings import AppSettings, load_settings, settings_path
from desktop.ui.experiments import DIFFERENCE_LINK, DifferenceDialog, ExperimentRun
from desktop.ui.main_window import MainWindow
from tests.fakes import FakeOpener
from tests.ui.conftest import wait_loaded
from tests.ui.test_keyboard_and_names import _named, _reachable, _tab_chain

RUN_LIMIT_MS = 180_000  # two small models loading and writing 16 tokens, on 2 shared cores


def _saved() -> dict[str, object]:
    data = json.loads(settings_path().read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _start(qtbot, open_engine: FakeOpener | None = None) -> MainWindow:  # type: ignore[no-untyped-def]
    win = MainWindow() if open_engine is None else MainWindow(open_engine=open_engine)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: bool(win.models), timeout=20_000)
    return win


@pytest.fixture
def first_start(starter_paths: object) -> None:
    """A machine where Duet never ran: no settings file; the starter pair is installed."""
    settings_path().unlink(missing_ok=True)


@pytest.fixture
def first_window(qtbot, first_start: None) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    """The first start's window, every engine a FakeEngine (the page does not need a model)."""
    fake = FakeOpener()
    win = _start(qtbot, fake)
    win.fake_engines = fake  # type: ignore[attr-defined]
    yield win


def _help(window: MainWindow, text: str) -> object:
    menus = window.menuBar().findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly)
    help_menu = next(m for m in menus if m.title().replace("&", "") == "Help")
    return next(a for a in help_menu.actions() if a.text() == text)


def test_a_first_start_with_models_opens_on_the_welcome_page_with_every_experiment(
    first_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    win = first_window
    page = win.welcome_page
    assert win.pages.currentWidget() is page and page.isVisible()
    assert not win.workspace.isVisible()
    assert list(page.experiment_buttons) == [e.id for e in EXPERIMENTS]
    for experiment in EXPERIMENTS:
        button = page.experiment_buttons[experiment.id]
        assert button.isVisible() and button.isEnabled()
        assert button.text() == experiment.title
        assert button.description() == experiment.first_look
        assert button.description().endswith(".") and button.description() in experiment.look_for
        assert button.accessibleName() == f"Try this: {experiment.title}"
    assert DIFFERENCE_LINK in page.difference_link.text()
    assert page.start_button.text() == "Start chatting"
    # Every control on the page is named for a screen reader and reached by Tab, in order.
    controls = [w for w in page.findChildren(QWidget) if _reachable(w)]
    assert controls and all(_named(w) for w in controls), [type(w).__name__ for w in controls]
    chain = _tab_chain(win, win.picker)
    order = [*page.experiment_buttons.values(), page.difference_link, page.start_button]
    positions = [chain.index(w) for w in order]
    assert positions == sorted(positions)
    # It fits a 1024x640 window beside the docks: no sideways scrolling, and each button
    # is tall enough for its wrapped sentence (the page scrolls down instead).
    win.resize(1024, 640)
    qtbot.waitUntil(lambda: win.width() <= 1024, timeout=5_000)
    QApplication.processEvents()
    content = page.scroll_area.widget()
    assert content.width() <= page.scroll_area.viewport().width()
    for button in page.experiment_buttons.values():
        assert button.height() >= button.heightForWidth(button.width())
        assert button.geometry().right() <= content.width()
    # The installed app's start tests read which page a start shows (DUET_PRINT_STARTUP).
    monkeypatch.setenv("DUET_PRINT_STARTUP", "1")
    win.show_welcome()
    win.pages.setCurrentWidget(win.workspace)
    win.show_welcome()
    assert f"welcome page: offered: {len(EXPERIMENTS)} experiments" in capfd.readouterr().err
    # The difference link opens the page it names.
    page.difference_link.linkActivated.emit(DIFFERENCE_LINK)  # what a click on it sends
    dialog = win.findChild(DifferenceDialog)
    assert dialog is not None and dialog.isVisible()
    assert win.pages.currentWidget() is page  # the welcome page stays behind it
    # Nothing is remembered until the page is left.
    assert load_settings()[0].welcomed is False


@pytest.mark.slow
def test_an_experiment_from_the_welcome_page_runs_to_the_end_and_is_remembered(
    qtbot, first_start: None
) -> None:
    experiment = experiment_named("few-shot")  # in the main window, on the base model
    win = _start(qtbot)  # the real engine
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.welcome_page, timeout=5_000)
    # Short greedy runs: the test checks that the experiment runs, not what it writes.
    win._settings_changed(
        AppSettings(sampling=SamplingParams(max_tokens=16, seed=3, temperature=0))
    )
    qtbot.mouseClick(win.welcome_page.experiment_buttons[experiment.id], Qt.MouseButton.LeftButton)
    assert win.pages.currentWidget() is win.workspace and not win.welcome_page.isVisible()
    runs = win.findChildren(ExperimentRun)
    assert len(runs) == 1
    run = runs[0]
    qtbot.waitUntil(lambda: run.done, timeout=RUN_LIMIT_MS)
    assert run.error == ""
    assert win.experiment_bar.isVisible() and win.experiment_bar.label.text() == experiment.look_for
    assert win.model is not None and win.model.id == "gemma-3-270m"
    text = win.raw_view.text
    assert text.startswith(experiment.input_text) and len(text) > len(experiment.input_text)
    # Remembered, and not undone by the experiment's own change to Sampling (its stop string).
    assert "\nQ:" in win.settings.sampling.stop
    assert win.settings.welcomed and _saved()["welcomed"] is True
    win.close()

    again = _start(qtbot, FakeOpener())
    wait_loaded(qtbot, again, timeout=20_000)
    assert again.pages.currentWidget() is again.workspace
    assert not again.welcome_page.isVisible()


def test_start_chatting_shows_the_chat_ready_to_type_in(first_window: MainWindow, qtbot) -> None:
    win = first_window
    win.set_mode("raw")  # wherever the window was, Start chatting leads to the chat
    win.show_welcome()  # (picking a mode left the page: Help › Welcome page brings it back)
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.welcome_page, timeout=5_000)
    win.activateWindow()
    qtbot.mouseClick(win.welcome_page.start_button, Qt.MouseButton.LeftButton)
    assert win.pages.currentWidget() is win.workspace and win.chat_view.isVisible()
    assert win.mode_toggle.mode == "chat"
    qtbot.waitUntil(lambda: QApplication.focusWidget() is win.chat_view.input, timeout=5_000)
    assert win.settings.welcomed and _saved()["welcomed"] is True


def test_help_welcome_page_shows_it_again_and_a_scan_keeps_it(
    fake_window: MainWindow, qtbot
) -> None:
    win = fake_window  # a returning user: the window opened on the workspace
    assert win.pages.currentWidget() is win.workspace
    _help(win, "Welcome page").trigger()  # type: ignore[attr-defined]
    page = win.welcome_page
    assert win.pages.currentWidget() is page and page.isVisible()
    # A scan while it is up (F5, a download ending) does not take it away.
    win._models_found(win.models, [])
    assert win.pages.currentWidget() is page
    qtbot.keyClick(page.start_button, Qt.Key.Key_Space)  # keyboard alone
    assert win.pages.currentWidget() is win.workspace


def test_opening_a_document_from_history_leaves_the_welcome_page(
    first_window: MainWindow,
) -> None:
    win = first_window
    document_id = win.history.save_document(None, "Once upon a time")
    win.sidebar.refresh()
    win.sidebar.open_chat.emit(document_id, "document")  # a click in History
    assert win.pages.currentWidget() is win.workspace and win.settings.welcomed
    assert win.raw_view.text == "Once upon a time" and win.raw_view.isVisible()


def test_ctrl_n_leaves_the_welcome_page(first_window: MainWindow) -> None:
    win = first_window
    win.new_action.trigger()  # Ctrl+N: the new chat is shown, not left behind the page
    assert win.pages.currentWidget() is win.workspace and win.settings.welcomed


def test_an_old_settings_file_without_welcomed_loads_and_shows_the_page_once(
    qtbot, starter_paths: object
) -> None:
    old = {"sampling": {"temperature": 0.5}, "n_ctx": 2048, "mode": "raw", "aligned": True}
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps(old), encoding="utf-8")
    settings, notes = load_settings()
    assert notes == [] and settings.welcomed is False
    assert (settings.sampling.temperature, settings.n_ctx, settings.mode, settings.aligned) == (
        0.5,
        2048,
        "raw",
        True,
    )
    win = _start(qtbot, FakeOpener())
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.welcome_page, timeout=5_000)
    assert win.settings_notes == [] and win.mode_toggle.mode == "raw"
    win.welcome_page.start_button.click()
    saved = _saved()
    assert saved["welcomed"] is True and saved["n_ctx"] == 2048 and saved["aligned"] is True


def test_a_welcomed_that_is_not_true_or_false_falls_back_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"welcomed": "yes"}), encoding="utf-8")
    settings, notes = load_settings(path)
    assert settings.welcomed is False and len(notes) == 1 and "welcomed" in notes[0]


def test_the_window_keeps_its_own_settings_when_sampling_changes(
    first_window: MainWindow,
) -> None:
    """The Sampling panel holds a copy of the settings from the start: a change there must not
    put back its old welcomed or theme."""
    win = first_window
    win.start_chatting()
    win.set_theme("dark")
    try:
        win.sampling.add_stops(("###",))  # what a scaffold or an experiment does
        assert win.settings.welcomed and win.settings.theme == "dark"
        saved = _saved()
        assert saved["welcomed"] is True and saved["theme"] == "dark"
        assert "###" in saved["sampling"]["stop"]  # type: ignore[index]
    finally:
        win.set_theme("system")


def test_after_installing_on_the_first_run_page_the_welcome_page_follows(
    qtbot, first_start: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(library, "starter_files", lambda: ())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    registered = library.Library().registered_paths()
    for path in registered:
        library.Library().unregister(path)
    win = MainWindow(open_engine=FakeOpener())
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.pages.currentWidget() is win.empty_page, timeout=20_000)
        _help(win, "Welcome page").trigger()  # type: ignore[attr-defined]
        assert win.pages.currentWidget() is win.empty_page  # no model: the first-run page
        monkeypatch.undo()  # the starter pair is here now, as after its download
        win.empty_page.installed.emit()
        qtbot.waitUntil(lambda: win.pages.currentWidget() is win.welcome_page, timeout=20_000)
        assert {"gemma-3-270m", "smollm2-135m-instruct"} <= {m.id for m in win.models}
    finally:
        win.downloads.pause_all()
        save_pending([])
        for path in registered:
            library.Library().register(path)


def test_the_mode_toggle_over_the_welcome_page_shows_that_view(first_window: MainWindow) -> None:
    win = first_window
    assert win.pages.currentWidget() is win.welcome_page
    other = "raw" if win.mode_toggle.mode == "chat" else "chat"
    win.mode_toggle.buttons[other].click()  # visible above the page: it must not act unseen
    assert win.pages.currentWidget() is win.workspace and win.settings.welcomed
    assert win.views.currentWidget() is (win.raw_view if other == "raw" else win.chat_view)
