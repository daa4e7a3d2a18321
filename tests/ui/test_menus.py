"""The menu bar: every action and its shortcut can be found, closed panels come back, a chat
is exported from the window, and the last chat opens again at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMenu

MENUS = ["&File", "&Edit", "&View", "&Model", "&Try this", "&Help"]


def _menus(window: object) -> dict[str, QMenu]:
    # By their parents, not QAction.menu(): PySide6 6.7 hands that back already deleted.
    bar = window.menuBar()  # type: ignore[attr-defined]
    menus = bar.findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly)
    return {m.title(): m for m in menus if m.title()}  # untitled: the bar's own overflow menu


def _all_actions(window: object) -> list[QAction]:
    found: list[QAction] = []

    def walk(menu: QMenu) -> None:
        submenus = {
            sub.menuAction(): sub
            for sub in menu.findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly)
        }
        for action in menu.actions():
            if action in submenus:
                walk(submenus[action])
            elif not action.isSeparator():
                found.append(action)

    for menu in _menus(window).values():
        walk(menu)
    return found


def _action(window: object, text: str) -> QAction:
    matches = [a for a in _all_actions(window) if a.text().replace("&", "") == text]
    assert len(matches) == 1, f"{text!r}: {[a.text() for a in _all_actions(window)]}"
    return matches[0]


def _chat(win: object, qtbot: object, text: str) -> None:
    """Send `text` in chat mode and wait for the whole reply."""
    win.set_mode("chat")  # type: ignore[attr-defined]
    win.send_chat(text)  # type: ignore[attr-defined]
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: not win.busy and len(win.conversation.messages) == 2,  # type: ignore[attr-defined]
        timeout=10_000,
    )


def _start_again(qtbot: object, fake_engines: object) -> Any:
    """A new window, as at the next start of Duet (the old one closed first)."""
    from desktop.ui.main_window import MainWindow

    again = MainWindow(open_engine=fake_engines)  # type: ignore[arg-type]
    qtbot.addWidget(again)  # type: ignore[attr-defined]
    return again


def _delete(chat_id: int) -> None:
    from desktop.core.chat.store import Store

    store = Store()
    store.delete(chat_id)
    store.close()


def test_the_menu_bar_has_file_edit_view_model_help(fake_window: object) -> None:
    assert list(_menus(fake_window)) == MENUS


def test_every_toolbar_action_and_shortcut_is_in_a_menu(fake_window: object) -> None:
    in_menus = _all_actions(fake_window)
    toolbar = fake_window.findChild(object, "main-toolbar")  # type: ignore[attr-defined]
    for action in toolbar.actions():
        if action.isSeparator() or not action.text():
            continue
        assert action in in_menus, f"toolbar action {action.text()!r} is in no menu"
    shortcuts = {
        s.toString(QKeySequence.SequenceFormat.PortableText)
        for a in in_menus
        for s in a.shortcuts()
    }
    for keys in ("Ctrl+Return", "Esc", "Ctrl+N", "Ctrl+M", "Ctrl+L", "Ctrl+K", "Ctrl+Q"):
        assert keys in shortcuts, f"{keys} is not shown in any menu: {sorted(shortcuts)}"


def test_no_shortcut_is_bound_twice(fake_window: object) -> None:
    """A QShortcut and a menu action on the same keys make both ambiguous: neither fires."""
    from PySide6.QtGui import QShortcut

    seen: dict[str, str] = {}
    for action in _all_actions(fake_window):
        for keys in action.shortcuts():
            text = keys.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in seen, f"{text}: {seen.get(text)!r} and {action.text()!r}"
            seen[text] = action.text()
    for shortcut in fake_window.findChildren(QShortcut):  # type: ignore[attr-defined]
        text = shortcut.key().toString(QKeySequence.SequenceFormat.PortableText)
        assert text not in seen, f"{text} is both a QShortcut and the menu's {seen[text]!r}"


def test_keyboard_shortcuts_still_work_through_the_menus(
    fake_window: object, qtbot: object
) -> None:
    win = fake_window
    win.set_mode("chat")  # type: ignore[attr-defined]
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
    assert win.mode_toggle.mode == "raw"  # type: ignore[attr-defined]
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
    assert win.mode_toggle.mode == "chat"  # type: ignore[attr-defined]
    win.chat_view.input.setFocus()  # type: ignore[attr-defined]
    win.chat_view.input.setPlainText("Hello there")  # type: ignore[attr-defined]
    qtbot.keyClick(  # type: ignore[attr-defined]
        win.chat_view.input,
        Qt.Key.Key_Return,
        Qt.KeyboardModifier.ControlModifier,  # type: ignore[attr-defined]
    )
    qtbot.waitUntil(lambda: len(win.conversation.messages) == 2, timeout=10_000)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not win.busy, timeout=10_000)  # type: ignore[attr-defined]


def test_the_view_menu_brings_a_closed_panel_back(fake_window: object, qtbot: object) -> None:
    win = fake_window
    for name, title in (
        ("history", "History"),
        ("inspector", "Prompt inspector"),
        ("sampling", "Sampling"),
    ):
        dock = win.findChild(QDockWidget, name)  # type: ignore[attr-defined]
        dock.close()
        qtbot.waitUntil(lambda d=dock: not d.isVisible(), timeout=2000)  # type: ignore[attr-defined]
        _action(win, title).trigger()
        qtbot.waitUntil(lambda d=dock: d.isVisible(), timeout=2000)  # type: ignore[attr-defined]


def test_reset_layout_brings_every_panel_back(fake_window: object, qtbot: object) -> None:
    win = fake_window
    docks = win.findChildren(QDockWidget)  # type: ignore[attr-defined]
    for dock in docks:
        dock.close()
    _action(win, "Show all panels").trigger()
    qtbot.waitUntil(lambda: all(d.isVisible() for d in docks), timeout=2000)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("suffix", "kind"), [(".md", "Markdown"), (".json", "JSON")])
def test_a_chat_is_exported_from_the_window(
    fake_window: object,
    qtbot: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    kind: str,
) -> None:
    win = fake_window
    win.fake_engines.replies = ["Paris is the capital."]  # type: ignore[attr-defined]
    _chat(win, qtbot, "What is the capital of France?")
    target = tmp_path / f"chat{suffix}"
    asked: list[str] = []

    def save_name(*args: object, **kwargs: object) -> tuple[str, str]:
        asked.append(str(args[3] if len(args) > 3 else kwargs.get("filter", "")))
        return str(target), f"{kind} (*{suffix})"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    export = _action(win, "Export chat…")
    assert export.isEnabled()
    export.trigger()
    qtbot.waitUntil(target.exists, timeout=5000)  # type: ignore[attr-defined]
    text = target.read_text(encoding="utf-8")
    assert "What is the capital of France?" in text
    assert "Paris is the capital." in text
    if suffix == ".json":
        data = json.loads(text)
        assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert "Markdown" in asked[0] and "JSON" in asked[0]


def test_export_is_disabled_without_a_saved_chat(fake_window: object) -> None:
    win = fake_window
    win.set_mode("chat")  # type: ignore[attr-defined]
    win.new()  # type: ignore[attr-defined]
    assert not _action(win, "Export chat…").isEnabled()


def test_an_export_that_cannot_be_written_says_so(
    fake_window: object, qtbot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = fake_window
    _chat(win, qtbot, "Hello")
    target = tmp_path / "no-such-dir" / "chat.md"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Markdown (*.md)")
    )
    _action(win, "Export chat…").trigger()
    qtbot.waitUntil(lambda: win.error_bar.isVisible(), timeout=5000)  # type: ignore[attr-defined]
    assert "chat.md" in win.error_bar.message  # type: ignore[attr-defined]


def test_the_last_chat_opens_again_at_start(
    fake_window: object, qtbot: object, fake_engines: object
) -> None:

    win = fake_window
    _chat(win, qtbot, "Remember this chat")
    chat_id = win.conversation.chat_id  # type: ignore[attr-defined]
    win.close()  # type: ignore[attr-defined]
    again = _start_again(qtbot, fake_engines)
    assert again.conversation.chat_id == chat_id
    assert again.conversation.messages[0].content == "Remember this chat"
    assert again.sidebar.current == chat_id
    again.close()


def test_the_last_raw_document_opens_again_at_start(
    fake_window: object, qtbot: object, fake_engines: object
) -> None:

    win = fake_window
    win.set_mode("raw")  # type: ignore[attr-defined]
    win.new()  # type: ignore[attr-defined]
    win.raw_view.editor.setPlainText("Once upon a time")  # type: ignore[attr-defined]
    win.close()  # type: ignore[attr-defined]
    again = _start_again(qtbot, fake_engines)
    assert again.mode_toggle.mode == "raw"
    assert again.raw_view.text == "Once upon a time"
    again.close()


def test_a_deleted_last_chat_is_not_reopened(
    fake_window: object, qtbot: object, fake_engines: object
) -> None:

    win = fake_window
    _chat(win, qtbot, "Forget me")
    chat_id = win.conversation.chat_id  # type: ignore[attr-defined]
    win.close()  # type: ignore[attr-defined]
    _delete(chat_id)
    again = _start_again(qtbot, fake_engines)
    assert again.conversation.chat_id is None
    assert not again.conversation.messages
    again.close()


def test_help_lists_every_shortcut(
    fake_window: object, qtbot: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.ui import menus

    shown: list[str] = []
    monkeypatch.setattr(menus, "show_text", lambda _parent, _title, text: shown.append(text))
    _action(fake_window, "Keyboard shortcuts").trigger()
    for action in _all_actions(fake_window):
        for keys in action.shortcuts():
            assert keys.toString(QKeySequence.SequenceFormat.NativeText) in shown[0]


def test_panels_have_numbered_shortcuts_in_readme_order(fake_window: object) -> None:
    keys = {
        _action(fake_window, title).shortcut().toString(): title
        for title in ("History", "Prompt inspector", "Sampling")
    }
    assert keys == {"Ctrl+1": "History", "Ctrl+2": "Prompt inspector", "Ctrl+3": "Sampling"}


def test_copy_last_reply_puts_the_reply_text_on_the_clipboard(
    fake_window: object, qtbot: object
) -> None:
    from PySide6.QtWidgets import QApplication

    win = fake_window
    win.fake_engines.replies = ["A **bold** answer."]  # type: ignore[attr-defined]
    _chat(win, qtbot, "Say something")
    QApplication.clipboard().clear()
    _action(win, "Copy last reply").trigger()
    assert QApplication.clipboard().text() == "A **bold** answer."


def test_the_theme_is_chosen_in_the_view_menu_and_kept(
    fake_window: object, qtbot: object, fake_engines: object
) -> None:
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    win = fake_window
    try:
        _action(win, "Dark").trigger()
        window_colour = QApplication.instance().palette().color(QPalette.ColorRole.Window)  # type: ignore[union-attr]
        assert window_colour.lightness() < 100
        assert win.settings.theme == "dark"  # type: ignore[attr-defined]
        win.close()  # type: ignore[attr-defined]
        again = MainWindow(open_engine=fake_engines)  # type: ignore[arg-type]
        qtbot.addWidget(again)  # type: ignore[attr-defined]
        assert _action(again, "Dark").isChecked() and not _action(again, "Light").isChecked()
        _action(again, "Light").trigger()
        window_colour = QApplication.instance().palette().color(QPalette.ColorRole.Window)  # type: ignore[union-attr]
        assert window_colour.lightness() > 150
        again.close()
    finally:
        from desktop.ui.theme import apply_theme

        apply_theme(QApplication.instance(), "system")  # type: ignore[arg-type]


def test_closing_the_window_mid_reply_saves_what_was_written(
    fake_window: object, qtbot: object
) -> None:
    """Quit while a reply streams: the reply's end arrives before the history closes, so the
    words written so far are saved, marked interrupted, and nothing raises."""
    from desktop.core.chat.store import Store

    win = fake_window
    win.engine.token_delay = 0.05  # type: ignore[attr-defined]
    win.fake_engines.replies = ["one two three four five six seven eight nine ten " * 4]  # type: ignore[attr-defined]
    win.set_mode("chat")  # type: ignore[attr-defined]
    win.send_chat("Count")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(win.session.reply_text.split()) >= 3, timeout=10_000)  # type: ignore[attr-defined]
    chat_id = win.conversation.chat_id  # type: ignore[attr-defined]
    win.close()  # type: ignore[attr-defined]
    store = Store()
    try:
        reply = store.path(chat_id)[-1]
    finally:
        store.close()
    assert reply.role == "assistant" and reply.content.startswith("one two three")
    assert not reply.complete or reply.meta.stop_reason == "cancelled"


@pytest.mark.parametrize("saved", [2**63, 10**30, True])
def test_a_settings_file_with_an_impossible_open_chat_still_starts(
    fake_window: object, qtbot: object, fake_engines: object, saved: object
) -> None:
    from desktop.core.settings import settings_path

    fake_window.close()  # type: ignore[attr-defined]
    settings_path().write_text(json.dumps({"open_chat": saved, "open_document": saved}))
    again = _start_again(qtbot, fake_engines)
    assert again.conversation.chat_id is None and again.document_id is None
    assert any("open_chat" in note for note in again.settings_notes)
    again.close()


def test_a_deleted_last_chat_does_not_keep_the_last_document_closed(
    fake_window: object, qtbot: object, fake_engines: object
) -> None:

    win = fake_window
    _chat(win, qtbot, "Forget me")
    chat_id = win.conversation.chat_id  # type: ignore[attr-defined]
    win.set_mode("raw")  # type: ignore[attr-defined]
    win.new()  # type: ignore[attr-defined]
    win.raw_view.editor.setPlainText("Keep this document")  # type: ignore[attr-defined]
    win.close()  # type: ignore[attr-defined]
    _delete(chat_id)
    again = _start_again(qtbot, fake_engines)
    assert again.raw_view.text == "Keep this document"
    again.close()


def test_regenerate_is_for_the_chat_only(fake_window: object, qtbot: object) -> None:
    win = fake_window
    _chat(win, qtbot, "Hi")
    calls = len(win.engine.calls)  # type: ignore[attr-defined]
    win.set_mode("raw")  # type: ignore[attr-defined]
    regenerate = _action(win, "Regenerate")
    assert not regenerate.isEnabled()
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
    qtbot.wait(100)  # type: ignore[attr-defined]
    assert len(win.engine.calls) == calls and not win.busy  # type: ignore[attr-defined]
    win.set_mode("chat")  # type: ignore[attr-defined]
    assert regenerate.isEnabled()


def test_the_model_cannot_be_chosen_while_a_reply_streams(
    fake_window: object, qtbot: object
) -> None:
    win = fake_window
    win.engine.token_delay = 0.1  # type: ignore[attr-defined]
    win.set_mode("chat")  # type: ignore[attr-defined]
    win.send_chat("Hello")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: win.busy, timeout=5000)  # type: ignore[attr-defined]
    choose = _action(win, "Choose model")
    assert not choose.isEnabled()
    choose.trigger()
    assert not win.picker.view().isVisible()  # type: ignore[attr-defined]
    win.stop()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not win.busy, timeout=5000)  # type: ignore[attr-defined]
    assert choose.isEnabled()


def test_find_in_history_brings_the_closed_history_back(fake_window: object, qtbot: object) -> None:
    win = fake_window
    dock = win.findChild(QDockWidget, "history")  # type: ignore[attr-defined]
    dock.close()
    _action(win, "Find in History").trigger()
    qtbot.waitUntil(lambda: dock.isVisible(), timeout=2000)  # type: ignore[attr-defined]


def test_the_json_filter_writes_json_whatever_the_name(
    fake_window: object, qtbot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.ui.chat_files import JSON

    win = fake_window
    _chat(win, qtbot, "Hi")
    target = tmp_path / "notes.txt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), JSON))
    _action(win, "Export chat…").trigger()
    written = tmp_path / "notes.txt.json"
    qtbot.waitUntil(written.exists, timeout=5000)  # type: ignore[attr-defined]
    assert json.loads(written.read_text())["messages"][0]["content"] == "Hi"
