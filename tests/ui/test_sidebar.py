"""The History sidebar in the real window (on a fake engine): the keys act on the chat clicked,
documents carry a real icon, long titles are elided, errors stay with their mode, and Undo after
a delete brings back the open chat."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLineEdit, QListWidgetItem

from desktop.core.chat.store import Store
from desktop.core.errors import EngineError
from desktop.ui.main_window import MainWindow
from desktop.ui.views.sidebar import Sidebar

LONG_TITLE = (
    "A very long title about the migration of arctic terns across the whole globe and back "
    "again, every single year of their lives"
)


def idle(window: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)


def active(window: MainWindow, qtbot) -> None:
    """Keys go where a person's would: to the focused widget of the active window."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def item_of(sidebar: Sidebar, chat_id: int) -> QListWidgetItem:
    for row in range(sidebar.list.count()):
        item = sidebar.list.item(row)
        if item.data(Qt.ItemDataRole.UserRole).id == chat_id:
            return item
    raise AssertionError(f"chat {chat_id} is not listed")


def click(qtbot, sidebar: Sidebar, chat_id: int) -> None:
    rect = sidebar.list.visualItemRect(item_of(sidebar, chat_id))
    qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def press(qtbot, key: Qt.Key) -> None:
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, key)


def titles(store: Store) -> dict[int, str]:
    return {chat.id: chat.title for chat in store.list_chats()}


def chat_with(window: MainWindow, qtbot, text: str) -> int:
    window.set_mode("chat")
    window.new()
    window.send_chat(text)
    idle(window, qtbot)
    assert window.conversation.chat_id is not None
    return window.conversation.chat_id


def document_with(window: MainWindow, text: str) -> int:
    window.set_mode("raw")
    window.new()
    window.raw_view.set_text(text)
    window.save_document()
    assert window.document_id is not None
    return window.document_id


# Bug 4 -----------------------------------------------------------------------------------------


def test_f2_and_delete_act_on_the_chat_clicked_in_history(fake_window: MainWindow, qtbot) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    active(window, qtbot)
    first = chat_with(window, qtbot, "Tell me about owls")
    document = document_with(window, "Ode to the sea")
    second = chat_with(window, qtbot, "Tell me about bees")

    # F2 on another chat, clicked: its title opens for editing, and Enter renames it.
    click(qtbot, sidebar, first)
    assert window.conversation.chat_id == first
    press(qtbot, Qt.Key.Key_F2)
    assert sidebar.list.state() == QAbstractItemView.State.EditingState
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "Tell me about owls"
    editor.selectAll()
    qtbot.keyClicks(editor, "Owls")
    press(qtbot, Qt.Key.Key_Return)  # the delegate commits on the next turn of the loop
    qtbot.waitUntil(lambda: titles(window.store)[first] == "Owls", timeout=5_000)

    # F2 on a clicked document (its list text is not its title): no RuntimeError, the editor
    # holds the bare title, and Escape leaves it as it was.
    click(qtbot, sidebar, document)
    assert window.document_id == document
    press(qtbot, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "Ode to the sea"
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: sidebar.list.state() != QAbstractItemView.State.EditingState)
    assert titles(window.store)[document] == "Ode to the sea"

    # Delete on another chat, clicked: that chat goes (with Undo), the others stay.
    click(qtbot, sidebar, second)
    click(qtbot, sidebar, first)
    press(qtbot, Qt.Key.Key_Delete)
    left = titles(window.store)
    assert first not in left and second in left and document in left
    assert not sidebar.undo_bar.isHidden()
    # Then F2 right away, on the list rebuilt by the delete: no RuntimeError.
    press(qtbot, Qt.Key.Key_F2)
    press(qtbot, Qt.Key.Key_Escape)


def test_the_keys_follow_a_rebuilt_list(fake_window: MainWindow, qtbot) -> None:
    """The list is rebuilt as replies land and titles change: the keys still act on the chat
    selected, found by its id, never on an item the rebuild deleted."""
    window, sidebar = fake_window, fake_window.sidebar
    active(window, qtbot)
    kept = chat_with(window, qtbot, "Keep this one")
    doomed = chat_with(window, qtbot, "Delete this one")
    click(qtbot, sidebar, doomed)
    sidebar.refresh()  # as a reply ending or a save does
    sidebar.refresh()
    press(qtbot, Qt.Key.Key_F2)
    press(qtbot, Qt.Key.Key_Escape)
    sidebar.refresh()
    press(qtbot, Qt.Key.Key_Delete)
    left = titles(window.store)
    assert doomed not in left and kept in left


def test_enter_opens_the_chat_and_moves_on_to_it(fake_window: MainWindow, qtbot) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    active(window, qtbot)
    older = chat_with(window, qtbot, "The older chat")
    chat_with(window, qtbot, "The newer chat")
    sidebar.list.setFocus()
    sidebar.list.setCurrentItem(item_of(sidebar, older))
    press(qtbot, Qt.Key.Key_Return)
    assert window.conversation.chat_id == older
    assert QApplication.focusWidget() is window.chat_view.input


# Bug 11 ----------------------------------------------------------------------------------------


def test_a_document_has_a_real_icon_and_says_document(fake_window: MainWindow) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    document = document_with(window, "Ode to the moon")
    item = item_of(sidebar, document)
    assert item.text() == "Ode to the moon"  # no emoji, which shows as a box without its font
    assert all(ord(ch) < 0x2000 for ch in item.text())
    assert not item.icon().isNull() and not item.icon().pixmap(16, 16).isNull()
    spoken = item.data(Qt.ItemDataRole.AccessibleTextRole)
    assert "document" in spoken and "Ode to the moon" in spoken


def test_long_titles_are_elided_with_the_full_title_in_the_tooltip(
    fake_window: MainWindow, qtbot
) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    chat_id = window.store.create_chat(LONG_TITLE)
    sidebar.refresh()
    qtbot.waitUntil(lambda: sidebar.list.viewport().width() > 0, timeout=5_000)
    item = item_of(sidebar, chat_id)
    assert item.text() == LONG_TITLE  # the model keeps it whole: rename edits the whole title
    assert LONG_TITLE in item.toolTip()
    assert sidebar.list.textElideMode() == Qt.TextElideMode.ElideRight
    assert sidebar.list.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    qtbot.wait(50)
    assert sidebar.list.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways to
    rect = sidebar.list.visualItemRect(item)
    assert rect.right() <= sidebar.list.viewport().width()  # drawn inside, so cut with "…"


def test_a_raw_error_does_not_follow_into_chat_mode(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.set_mode("raw")
    window.new()
    window.continue_raw()  # nothing written
    assert "Write some text first" in window.error_bar.message
    window.set_mode("chat")
    assert window.error_bar.message == ""
    window.set_mode("raw")

    # A raw continuation that fails: its error stays in raw mode.
    window.raw_view.set_text("Once upon a time")
    window.engine.fail_next(EngineError("The model ran out of memory."), in_generation=True)
    window.continue_raw()
    idle(window, qtbot)
    assert window.error_bar.message == "The model ran out of memory."
    window.set_mode("chat")
    assert window.error_bar.message == ""

    # And a chat reply that fails: its error stays in chat mode.
    window.engine.fail_next(EngineError("The chat failed."), in_generation=True)
    window.send_chat("Hello")
    idle(window, qtbot)
    assert window.error_bar.message == "The chat failed."
    window.set_mode("raw")
    assert window.error_bar.message == ""


def test_an_error_of_neither_mode_stays_when_the_mode_changes(
    fake_window: MainWindow, qtbot, tmp_path: Path
) -> None:
    window = fake_window
    (tmp_path / "bad.json").write_text("{not json")
    window.import_chat(tmp_path / "bad.json")
    qtbot.waitUntil(lambda: "Cannot import bad.json" in window.error_bar.message, timeout=10_000)
    window.set_mode("raw")
    window.set_mode("chat")
    assert "Cannot import bad.json" in window.error_bar.message


def test_undo_after_deleting_the_open_chat_opens_it_again(fake_window: MainWindow, qtbot) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    chat_id = chat_with(window, qtbot, "Remember the owls")
    shown = [bubble.raw_text for bubble in window.chat_view.bubbles]
    sidebar.list.setCurrentItem(item_of(sidebar, chat_id))
    sidebar.delete_selected()
    assert window.conversation.chat_id is None and window.chat_view.bubbles == []
    qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert window.conversation.chat_id == chat_id
    assert [bubble.raw_text for bubble in window.chat_view.bubbles] == shown
    assert sidebar.list.currentItem() is item_of(sidebar, chat_id)


def test_undo_after_deleting_the_open_document_opens_it_again(
    fake_window: MainWindow, qtbot
) -> None:
    window, sidebar = fake_window, fake_window.sidebar
    document = document_with(window, "The lighthouse keeper's log")
    sidebar.list.setCurrentItem(item_of(sidebar, document))
    sidebar.delete_selected()
    assert window.document_id is None and window.raw_view.text == ""
    qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert window.document_id == document
    assert window.raw_view.text == "The lighthouse keeper's log"


def test_undo_leaves_alone_a_chat_opened_since(fake_window: MainWindow, qtbot) -> None:
    """Undo brings back what the delete closed, not over a chat the person went on to."""
    window, sidebar = fake_window, fake_window.sidebar
    deleted = chat_with(window, qtbot, "Delete me")
    sidebar.list.setCurrentItem(item_of(sidebar, deleted))
    sidebar.delete_selected()
    other = chat_with(window, qtbot, "Then this")
    qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert deleted in titles(window.store)
    assert window.conversation.chat_id == other
