"""The main window's menu bar: File, Edit, View, Model, Try this, Help, where every action and
its shortcut can be found.

Each shortcut lives on exactly one QAction here. A QShortcut on the same keys as a menu action
makes Qt call both ambiguous and fire neither, so the window binds no keys of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QWidget

from desktop import __version__
from desktop.core.experiments import EXPERIMENTS
from desktop.core.settings import THEMES, ThemeChoice

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


@dataclass(frozen=True)
class Menus:
    """What the window changes after building: an action's state, a menu to add to."""

    export: QAction
    regenerate: QAction  # the chat's: not in raw mode, nor while a reply streams
    choose_model: QAction  # not while a reply streams
    view: QMenu


def build_menus(window: MainWindow) -> Menus:
    """Fill the window's menu bar. The toolbar's actions are the same QAction objects, so a
    state change (Stop enabled while a reply streams) shows in both places."""
    bar = window.menuBar()
    export = _file_menu(window, bar.addMenu("&File"))
    regenerate = _edit_menu(window, bar.addMenu("&Edit"))
    view = bar.addMenu("&View")
    _view_menu(window, view)
    choose_model = _model_menu(window, bar.addMenu("&Model"))
    _try_menu(window, bar.addMenu("&Try this"))
    _help_menu(window, bar.addMenu("&Help"))
    return Menus(export=export, regenerate=regenerate, choose_model=choose_model, view=view)


def _action(
    window: MainWindow,
    text: str,
    slot: Callable[[], object],
    keys: str | list[str] = "",
    tip: str = "",
) -> QAction:
    action = QAction(text, window)
    if keys:
        action.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)])
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    return action


def _file_menu(window: MainWindow, menu: QMenu) -> QAction:
    window.new_action.setShortcut(QKeySequence("Ctrl+N"))
    menu.addAction(window.new_action)
    menu.addAction(window.open_raw_action)
    menu.addSeparator()
    menu.addAction(
        _action(
            window, "Import chat…", window.import_chat, "Ctrl+O", "Open a chat exported as JSON"
        )
    )
    export = _action(
        window,
        "Export chat…",
        window.export_chat,
        "Ctrl+Shift+S",
        "Save the chat shown as Markdown or JSON, with each reply's model and settings",
    )
    menu.addAction(export)
    menu.addSeparator()
    menu.addAction(_action(window, "Quit", window.close, "Ctrl+Q"))
    return export


def _edit_menu(window: MainWindow, menu: QMenu) -> QAction:
    menu.addAction(
        _action(
            window,
            "Send",
            window.submit,
            ["Ctrl+Return", "Ctrl+Enter"],
            "Send the message, or continue the raw text",
        )
    )
    window.stop_action.setShortcut(QKeySequence("Esc"))
    menu.addAction(window.stop_action)
    regenerate = _action(
        window, "Regenerate", window.regenerate, "Ctrl+R", "Write the last reply again"
    )
    menu.addAction(regenerate)
    menu.addAction(
        _action(
            window,
            "Copy last reply",
            window.copy_last_reply,
            "Ctrl+Shift+C",
            "Copy the text of the last reply",
        )
    )
    menu.addSeparator()
    menu.addAction(
        _action(
            window,
            "Find in History",
            window.find_in_history,
            "Ctrl+F",
            "Search the titles and text of saved chats",
        )
    )
    return regenerate


def _view_menu(window: MainWindow, menu: QMenu) -> None:
    menu.addAction(
        _action(
            window,
            "Switch Raw / Chat",
            window.mode_toggle.toggle,
            "Ctrl+M",
            "Raw: text in, continuation out. Chat: the model's chat template",
        )
    )
    menu.addSeparator()
    # The panels in the order they read, left to right: Ctrl+1, Ctrl+2, Ctrl+3.
    order = ("history", "inspector", "sampling")
    docks = sorted(window.findChildren(QDockWidget), key=lambda d: order.index(d.objectName()))
    for number, dock in enumerate(docks, start=1):
        toggle = dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(f"Ctrl+{number}"))
        menu.addAction(toggle)
    _theme_menu(window, menu.addMenu("Theme"))
    menu.addAction(
        _action(
            window,
            "Show all panels",
            lambda: _show_all(docks),
            tip="Bring back closed panels",
        )
    )


def _theme_menu(window: MainWindow, menu: QMenu) -> None:
    """System (follows the platform as it changes), Light or Dark; the choice is saved."""
    group = QActionGroup(menu)
    for choice in THEMES:
        action = _action(window, choice.capitalize(), _theme_setter(window, choice))
        action.setCheckable(True)
        action.setChecked(choice == window.settings.theme)
        action.setData(choice)
        group.addAction(action)
        menu.addAction(action)


def _theme_setter(window: MainWindow, choice: ThemeChoice) -> Callable[[], None]:
    return lambda: window.set_theme(choice)


def _show_all(docks: list[QDockWidget]) -> None:
    for dock in docks:
        dock.show()


def _model_menu(window: MainWindow, menu: QMenu) -> QAction:
    choose = _action(
        window,
        "Choose model",
        window.picker.showPopup,
        "Ctrl+P",
        "The installed models and servers",
    )
    menu.addAction(choose)
    window.models_action.setShortcut(QKeySequence("Ctrl+L"))
    menu.addAction(window.models_action)
    window.compare_action.setShortcut(QKeySequence("Ctrl+K"))
    menu.addAction(window.compare_action)
    menu.addSeparator()
    menu.addAction(
        _action(window, "Add a GGUF file…", window.add_model_file, tip="Use a model file from disk")
    )
    menu.addAction(
        _action(
            window, "Look for models again", window.scan_models, "F5", "Scan for new model files"
        )
    )
    return choose


def _try_menu(window: MainWindow, menu: QMenu) -> None:
    """The guided experiments: each sets up the windows, runs, and says what to look for."""
    for experiment in EXPERIMENTS:
        menu.addAction(
            _action(
                window,
                experiment.title,
                _experiment_starter(window, experiment.id),
                tip=experiment.look_for,
            )
        )


def _experiment_starter(window: MainWindow, experiment_id: str) -> Callable[[], None]:
    def start() -> None:
        window.try_experiment(experiment_id)

    return start


def _help_menu(window: MainWindow, menu: QMenu) -> None:
    menu.addAction(_action(window, "Keyboard shortcuts", lambda: show_shortcuts(window), "F1"))
    menu.addAction(
        _action(
            window,
            "Welcome page",
            window.show_welcome,
            tip="What Duet is for, and the guided experiments, each in one click",
        )
    )
    menu.addAction(
        _action(
            window,
            "What is the difference?",
            window.show_difference,
            tip="Base and instruct models, in a page: how each is trained and when to use which",
        )
    )
    menu.addAction(_action(window, "About Duet", lambda: show_about(window)))


def shortcuts_text(window: QMainWindow) -> str:
    """Every menu action that has keys, as an HTML table, menu by menu."""
    rows: list[str] = []
    for top in window.findChildren(QMenu):
        if top.parent() is not window.menuBar():
            continue
        for action in top.actions():
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            if keys:
                name = action.text().replace("&", "")
                rows.append(
                    f"<tr><td>{escape(top.title().replace('&', ''))}</td><td>{escape(name)}</td>"
                    f"<td><b>{escape(' or '.join(keys))}</b></td></tr>"
                )
    return "<table cellspacing='6'>" + "".join(rows) + "</table>"


def show_shortcuts(window: QMainWindow) -> None:
    show_text(window, "Keyboard shortcuts", shortcuts_text(window))


def show_about(window: QWidget) -> None:
    show_text(
        window,
        "About Duet",
        f"<b>Duet {escape(__version__)}</b><p>Base and instruct language models side by side, "
        "offline, through llama.cpp.</p>",
    )


def show_text(parent: QWidget, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)
