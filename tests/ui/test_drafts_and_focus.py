"""Nothing the user wrote is lost, and the keyboard stays where the user types (issue 16, bugs 1,
3 and 10): Open chat as raw text opens a new document, replacing the notebook's text can be
undone, Regenerate and Send leave the focus in the chat input, and Edit shows an editing bar
whose Cancel brings the chat back as it was. All on the real window with a fake engine."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolButton, QWidget

from desktop.core.chat.store import ChatSummary
from desktop.ui.main_window import MainWindow
from desktop.ui.views.sidebar import ROLE

CTRL = Qt.KeyboardModifier.ControlModifier


def idle(win: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=10_000)


def activate(win: MainWindow, qtbot) -> None:
    """Keyboard focus needs an active window, offscreen too."""
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def listed_ids(win: MainWindow) -> list[int]:
    items = (win.sidebar.list.item(row) for row in range(win.sidebar.list.count()))
    summaries = (item.data(ROLE) for item in items)
    return [s.id for s in summaries if isinstance(s, ChatSummary)]


def chat_with_two_replies(win: MainWindow, qtbot) -> None:
    """One question, answered, then regenerated: the reply shows "2/2"."""
    win.fake_engines.replies = ["Apple.", "Pear."]
    win.send_chat("Name a fruit.")
    idle(win, qtbot)
    win.regenerate()
    idle(win, qtbot)
    assert win.chat_view.bubbles[-1].branch_label.text() == "2/2"


def edit_button(win: MainWindow, index: int) -> QToolButton:
    buttons = win.chat_view.bubbles[index].findChildren(QToolButton)
    return next(b for b in buttons if b.text() == "Edit")


# Bug 1: Open chat as raw text overwrote the open document, saved the overwrite, no undo ----------


def test_open_chat_as_raw_opens_a_new_document_and_keeps_the_draft(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    win.send_chat("Hi")
    idle(win, qtbot)
    activate(win, qtbot)
    # The steps: in raw mode, Ctrl+N, type a draft, wait a second, Ctrl+M, then Open
    # chat as raw text.
    win.set_mode("raw")
    assert focused() is win.raw_view.editor
    qtbot.keyClick(focused(), Qt.Key.Key_N, CTRL)
    draft = "My draft, typed by hand."
    qtbot.keyClicks(focused(), draft)
    qtbot.waitUntil(lambda: win.document_id is not None, timeout=5_000)
    draft_id = win.document_id
    assert draft_id is not None and win.store.document(draft_id) == draft
    qtbot.keyClick(focused(), Qt.Key.Key_M, CTRL)
    assert win.mode_toggle.mode == "chat"
    win.open_raw_action.trigger()
    qtbot.waitUntil(lambda: win.mode_toggle.mode == "raw", timeout=10_000)

    prompt = win.raw_view.text
    assert "<|im_start|>user\nHi<|im_end|>" in prompt
    assert win.document_id is not None and win.document_id != draft_id  # a new document
    qtbot.wait(1_300)  # past the autosave
    assert win.store.document(draft_id) == draft  # the draft is untouched, in the database
    assert win.store.document(win.document_id) == prompt
    assert draft_id in listed_ids(win) and win.document_id in listed_ids(win)
    win.open_history(draft_id, "document")
    assert win.raw_view.text == draft


def test_replacing_the_notebooks_text_can_be_undone(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    win.set_mode("raw")
    editor = win.raw_view.editor
    qtbot.keyClicks(editor, "Words I wrote")
    win.raw_view.set_text("Something else")
    assert win.raw_view.text == "Something else"
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL)
    assert win.raw_view.text == "Words I wrote"
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert win.raw_view.text == "Something else"


def test_undo_after_open_chat_as_raw_brings_the_draft_back(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    win.send_chat("Hi")
    idle(win, qtbot)
    win.set_mode("raw")
    qtbot.keyClicks(win.raw_view.editor, "Half a poem")
    win.set_mode("chat")
    win.open_raw_action.trigger()
    qtbot.waitUntil(lambda: win.mode_toggle.mode == "raw", timeout=10_000)
    assert "Half a poem" not in win.raw_view.text
    qtbot.keyClick(win.raw_view.editor, Qt.Key.Key_Z, CTRL)
    assert win.raw_view.text == "Half a poem"


def test_undo_across_documents_saves_into_the_document_the_text_came_from(
    fake_window, qtbot
) -> None:
    win: MainWindow = fake_window
    win.set_mode("raw")
    qtbot.keyClicks(win.raw_view.editor, "Alpha draft")
    win.save_document()
    alpha = win.document_id
    beta = win.history.save_document(None, "Beta, kept elsewhere")
    assert alpha is not None
    win.open_history(beta, "document")
    assert win.raw_view.text == "Beta, kept elsewhere" and win.document_id == beta

    qtbot.keyClick(win.raw_view.editor, Qt.Key.Key_Z, CTRL)  # back across the switch
    assert win.raw_view.text == "Alpha draft" and win.document_id == alpha
    qtbot.wait(1_300)  # past the autosave
    assert win.store.document(beta) == "Beta, kept elsewhere"  # not overwritten by Alpha
    qtbot.keyClick(win.raw_view.editor, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert win.raw_view.text == "Beta, kept elsewhere" and win.document_id == beta

    qtbot.keyClick(win.raw_view.editor, Qt.Key.Key_Z, CTRL)
    qtbot.keyClicks(win.raw_view.editor, "!")  # an edit after the undo: no redo to Beta now
    assert win.document_id == alpha
    win.save_document()
    assert win.store.document(alpha) == "Alpha draft!"
    assert win.store.document(beta) == "Beta, kept elsewhere"


def test_typing_after_a_replacement_is_its_own_undo_step(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    win.set_mode("raw")
    win.raw_view.set_text("Swapped in")
    qtbot.keyClicks(win.raw_view.editor, " and typed")
    qtbot.keyClick(win.raw_view.editor, Qt.Key.Key_Z, CTRL)
    assert win.raw_view.text == "Swapped in"


# Bug 3: Regenerate moved the keyboard focus to the History search box ------------------------


def test_after_regenerate_typing_goes_into_the_chat_input(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    win.send_chat("Name a fruit.")
    idle(win, qtbot)
    activate(win, qtbot)
    listed = win.sidebar.list.count()
    qtbot.mouseClick(win.chat_view.regen_button, Qt.MouseButton.LeftButton)
    assert focused() is win.chat_view.input  # while the reply streams
    idle(win, qtbot)
    qtbot.keyClicks(focused(), "and a vegetable")
    assert win.chat_view.input.toPlainText() == "and a vegetable"
    assert win.sidebar.search.text() == ""
    assert win.sidebar.list.count() == listed  # the history did not go blank


def test_after_send_and_stop_typing_goes_into_the_chat_input(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    activate(win, qtbot)
    win.chat_view.input.setPlainText("Hello")
    qtbot.mouseClick(win.chat_view.send_button, Qt.MouseButton.LeftButton)
    assert focused() is win.chat_view.input
    idle(win, qtbot)
    assert focused() is win.chat_view.input  # after the finished reply
    win.engine.token_delay = 0.05
    win.chat_view.input.setPlainText("Tell me more")
    qtbot.mouseClick(win.chat_view.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(win.reply), timeout=5_000)
    stop = win.findChild(QWidget, "main-toolbar").widgetForAction(win.stop_action)
    qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
    idle(win, qtbot)
    qtbot.keyClicks(focused(), "next")
    assert win.chat_view.input.toPlainText() == "next"
    assert win.sidebar.search.text() == ""


def test_after_a_branch_arrow_typing_goes_into_the_chat_input(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    chat_with_two_replies(win, qtbot)
    activate(win, qtbot)
    qtbot.mouseClick(win.chat_view.bubbles[-1].branch_prev, Qt.MouseButton.LeftButton)
    assert win.conversation.messages[-1].content == "Apple."
    qtbot.keyClicks(focused(), "more")
    assert win.chat_view.input.toPlainText() == "more"
    assert win.sidebar.search.text() == ""


# Bug 10: Edit made the message and everything after it vanish, with no bar and no Cancel ------


def test_edit_shows_a_bar_and_cancel_brings_the_chat_back(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    chat_with_two_replies(win, qtbot)
    before = list(win.conversation.messages)
    win.chat_view.input.setPlainText("a draft I had")
    edit_button(win, 0).click()

    bar = win.chat_view.editing_bar
    assert bar.isVisible()
    assert "Editing message 1" in bar.label.text() and "Cancel" in bar.label.text()
    assert win.chat_view.input.toPlainText() == "Name a fruit."
    assert win.chat_view.bubbles == []  # what is being edited, and what follows, wait

    bar.cancel_button.click()
    assert not bar.isVisible()
    assert win.conversation.messages == before
    assert [b.raw_text for b in win.chat_view.bubbles] == ["Name a fruit.", "Pear."]
    reply = win.chat_view.bubbles[-1]
    assert reply.branch_label.text() == "2/2" and not reply.branch_prev.isHidden()
    assert win.chat_view.input.toPlainText() == "a draft I had"  # the draft is back too
    reply.branch_prev.click()  # the branch controls work
    assert win.conversation.messages[-1].content == "Apple."


def test_escape_cancels_an_edit(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    chat_with_two_replies(win, qtbot)
    activate(win, qtbot)
    win.edit_message(0)
    assert win.chat_view.editing_bar.isVisible()
    qtbot.keyClick(focused(), Qt.Key.Key_Escape)
    assert not win.chat_view.editing_bar.isVisible()
    assert len(win.conversation.messages) == 2


def test_an_edit_sent_is_a_new_branch(fake_window, qtbot) -> None:
    win: MainWindow = fake_window
    chat_with_two_replies(win, qtbot)
    win.fake_engines.replies = ["Carrot."]
    win.edit_message(0)
    assert win.chat_view.editing_bar.isVisible()
    win.chat_view.input.setPlainText("Name a vegetable.")
    win.chat_view.send_button.click()
    assert not win.chat_view.editing_bar.isVisible()
    idle(win, qtbot)
    first = win.chat_view.bubbles[0]
    assert first.raw_text == "Name a vegetable." and first.branch_label.text() == "2/2"
    assert win.conversation.messages[-1].content == "Carrot."
    first.branch_prev.click()
    assert [m.content for m in win.conversation.messages] == ["Name a fruit.", "Pear."]


@pytest.mark.parametrize("leave", ["new", "open", "branch"])
def test_leaving_the_chat_ends_the_edit(fake_window, qtbot, leave: str) -> None:
    win: MainWindow = fake_window
    chat_with_two_replies(win, qtbot)
    chat_id = win.conversation.chat_id
    assert chat_id is not None
    win.send_chat("And another?")
    idle(win, qtbot)
    win.edit_message(2)
    assert win.chat_view.editing_bar.isVisible()
    if leave == "new":
        win.new()
    elif leave == "open":
        win.open_history(chat_id, "chat")
    else:
        win.switch_branch(1, -1)
    assert not win.chat_view.editing_bar.isVisible()
    assert win.session.editing is None
