"""Chat messages in the real window (issue 16, bug 5 and the message actions): a reply's token
probabilities survive a branch switch, reopening the chat and a restart, and the token view
sizes to its content; every message can be copied, says when it was written on hover, and a
reply is labelled with the model that wrote it (a chat can mix models). On the fake engine,
whose replies carry log-probabilities as the real engine's do."""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.core.chat.sampling import SamplingParams
from desktop.ui.main_window import MainWindow
from desktop.ui.views.chat import Bubble
from desktop.ui.views.widgets import KIND_COLOURS
from tests.ui.conftest import wait_loaded

INSTRUCT, BASE = "smollm2-135m-instruct", "gemma-3-270m"
LONG = "\n\n".join(
    f"Paragraph {n}: the keeper climbed the stairs, lit the lamp and watched the sea."
    for n in range(8)
)


def idle(win: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=10_000)


def settle(win: MainWindow, **changes: object) -> None:
    win._settings_changed(replace(win.settings, **changes))  # type: ignore[arg-type]


def reply_bubble(win: MainWindow) -> Bubble:
    bubble = win.chat_view.bubbles[-1]
    assert bubble.role == "assistant"
    return bubble


def tokens_shown(bubble: Bubble) -> str:
    """Click Tokens and return the token view's text ('' when there is no button)."""
    if bubble.tokens_button.isHidden():
        return ""
    bubble.tokens_button.setChecked(True)
    assert bubble.token_view is not None
    return bubble.token_view.toPlainText()


def reopen(win: MainWindow, chat_id: int) -> None:
    win.new_chat()
    assert win.chat_view.bubbles == []
    win.open_history(chat_id, "chat")
    assert win.conversation.chat_id == chat_id


def test_token_probabilities_survive_a_branch_switch(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Paris is the capital.", "It is Paris, of course."]
    window.send_chat("What is the capital of France?")
    idle(window, qtbot)
    window.regenerate()
    idle(window, qtbot)
    assert tokens_shown(reply_bubble(window)) == "It is Paris, of course."
    window.switch_branch(1, -1)  # back to the first reply
    assert window.conversation.messages[-1].content == "Paris is the capital."
    bubble = reply_bubble(window)
    assert not bubble.tokens_button.isHidden(), "the Tokens button is gone after the switch"
    assert tokens_shown(bubble) == "Paris is the capital."
    hover = bubble.token_view.hover  # type: ignore[union-attr]
    assert hover.tokens and hover.tokens[0].top  # the alternatives are there to hover
    window.switch_branch(1, +1)
    assert tokens_shown(reply_bubble(window)) == "It is Paris, of course."


def test_token_probabilities_survive_reopening_and_a_restart(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Blue, red and green."]
    window.send_chat("Name three colours.")
    idle(window, qtbot)
    chat_id = window.conversation.chat_id
    assert chat_id is not None
    reopen(window, chat_id)
    assert tokens_shown(reply_bubble(window)) == "Blue, red and green."

    window.close()
    again = MainWindow(open_engine=window.fake_engines)  # type: ignore[attr-defined]
    qtbot.addWidget(again)
    wait_loaded(qtbot, again)
    again.open_history(chat_id, "chat")
    bubble = reply_bubble(again)
    assert tokens_shown(bubble) == "Blue, red and green."
    assert [t.piece for t in bubble.token_view.tokens] == ["Blue,", " red", " and", " green."]  # type: ignore[union-attr]
    again.close()


def test_a_damaged_token_record_leaves_the_reply_without_tokens(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Blue, red and green.", "Another reply."]
    window.send_chat("Name three colours.")
    idle(window, qtbot)
    chat_id = window.conversation.chat_id
    with window.store._tx() as db:
        db.execute("UPDATE message_tokens SET data = ?", (b"damaged",))
    window.new_chat()
    window.send_chat("Something else")  # the window's last reply is now another one
    idle(window, qtbot)
    window.open_history(chat_id, "chat")  # type: ignore[arg-type]
    bubble = reply_bubble(window)
    assert not bubble.tokens_button.isHidden()  # kept, as far as the chat knows
    bubble.tokens_button.setChecked(True)  # read now: damaged, so no view and no error
    assert bubble.token_view is None and not bubble.body.isHidden()
    assert bubble.tokens_button.isHidden() and not bubble.tokens_button.isChecked()
    assert bubble.raw_text == "Blue, red and green."


def test_the_token_view_is_as_tall_as_its_text(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.resize(1200, 800)
    window.fake_engines.replies = [LONG]
    settle(window, sampling=SamplingParams(max_tokens=400, seed=1))
    window.send_chat("Tell me about the lighthouse.")
    idle(window, qtbot)
    bubble = reply_bubble(window)
    qtbot.waitUntil(lambda: bubble.body.height() > 100, timeout=5_000)
    text_height = bubble.body.height()
    bubble.tokens_button.setChecked(True)
    view = bubble.token_view
    assert view is not None
    qtbot.waitUntil(lambda: view.isVisible(), timeout=5_000)
    qtbot.wait(50)  # the layout settles
    line = view.fontMetrics().lineSpacing()
    # Every line of the reply is in view: no two-line box with a scroll bar inside the bubble.
    assert view.verticalScrollBar().maximum() == 0
    assert view.height() > 8 * line and view.height() >= text_height * 0.8
    bubble.tokens_button.setChecked(False)
    assert not view.isVisible() and bubble.body.isVisible()


def test_every_message_has_a_copy_button_that_copies_its_text(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["**Paris**, of course.\n\n- a list item"]
    window.send_chat("Which *city*?")
    idle(window, qtbot)
    user, reply = window.chat_view.bubbles
    for bubble, expected in (
        (user, "Which *city*?"),
        (reply, "**Paris**, of course.\n\n- a list item"),  # the text, not the rendered HTML
    ):
        assert bubble.copy_button.accessibleName() == "Copy message"
        assert not bubble.copy_button.isHidden()
        QApplication.clipboard().clear()
        qtbot.mouseClick(bubble.copy_button, Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == expected
    reopen(window, window.conversation.chat_id)  # type: ignore[arg-type]
    qtbot.mouseClick(reply_bubble(window).copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == "**Paris**, of course.\n\n- a list item"


def test_a_message_says_when_it_was_written_on_hover(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Hello there."]
    before = time.time()
    window.send_chat("Hi")
    idle(window, qtbot)
    chat_id = window.conversation.chat_id
    assert chat_id is not None
    # Written a day ago: the tooltip of a reopened chat says so, from the store.
    day_ago = before - 86_400
    with window.store._tx() as db:
        db.execute("UPDATE messages SET created = ? WHERE chat_id = ?", (day_ago, chat_id))
    for bubble in window.chat_view.bubbles:  # the live chat: now
        assert time.strftime("%H:%M", time.localtime(before)) in bubble.toolTip()
    reopen(window, chat_id)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(day_ago))
    for bubble in window.chat_view.bubbles:
        assert stamp in bubble.toolTip(), bubble.toolTip()
        assert bubble.toolTip().startswith("Written")


def test_each_reply_names_the_model_that_wrote_it(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Paris.", "Rome."]
    window.engine.token_delay = 0.2
    window.send_chat("Capital of France?")
    streaming = reply_bubble(window)
    assert streaming.who.text() == INSTRUCT  # while it streams too
    idle(window, qtbot)
    window.select_model(BASE)  # one chat, two models
    wait_loaded(qtbot, window)
    window.send_chat("Capital of Italy?")
    idle(window, qtbot)
    replies = [b for b in window.chat_view.bubbles if b.role == "assistant"]
    assert [b.who.text() for b in replies] == [INSTRUCT, BASE]
    assert [b.kind for b in replies] == ["instruct", "base"]
    assert [b.kind_dot.toolTip() for b in replies] == ["instruct model", "base model"]
    user = window.chat_view.bubbles[0]
    assert user.who.text() == "You" and user.kind_dot.isHidden()
    image = replies[1].kind_dot.grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert centre.name() == KIND_COLOURS["base"]
    reopen(window, window.conversation.chat_id)  # type: ignore[arg-type]
    replies = [b for b in window.chat_view.bubbles if b.role == "assistant"]
    assert [b.who.text() for b in replies] == [INSTRUCT, BASE]
    assert [b.kind for b in replies] == ["instruct", "base"]
