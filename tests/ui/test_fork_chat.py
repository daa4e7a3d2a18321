"""Fork a chat reply at a token (issue 14, part 2): click a token in a reply's token view, pick
an alternative (or type text), and a new branch of that reply starts with the text before the
token and the choice, the model going on from there. On the real starter instruct model; the
refusals on the fake engine."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from desktop.core.chat.fork import MAX_CHOICE_CHARS
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.base import SERVER
from desktop.core.models.served import ServerModel
from desktop.ui.main_window import MainWindow
from desktop.ui.views.chat import Bubble
from desktop.ui.views.tokens import TokenView
from tests.ui.conftest import done_of, wait_loaded

INSTRUCT = "smollm2-135m-instruct"


def idle(win: MainWindow, qtbot, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=timeout)


def settle(win: MainWindow, **changes: object) -> None:
    win._settings_changed(replace(win.settings, **changes))  # type: ignore[arg-type]


def reply_bubble(win: MainWindow, index: int = -1) -> Bubble:
    bubble = win.chat_view.bubbles[index]
    assert bubble.role == "assistant"
    return bubble


def token_view(bubble: Bubble) -> TokenView:
    bubble.tokens_button.setChecked(True)
    assert bubble.token_view is not None
    return bubble.token_view


def click_token(qtbot, view: TokenView, index: int) -> None:
    """A real click inside token `index` of a reply's token view."""
    start = sum(len(text) for text in view.texts[:index])
    cursor = QTextCursor(view.document())
    cursor.setPosition(start + 1)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.cursorRect(cursor).center()
    )


def a_token(view: TokenView, after: int = 4) -> int:
    for index in range(after, len(view.tokens)):
        text = view.texts[index]
        if len(text) >= 2 and "\n" not in text and len(view.tokens[index].top) >= 2:
            return index
    raise AssertionError("no token to click")


def test_a_reply_forked_with_an_alternative_is_its_second_branch(
    window: MainWindow, qtbot, monkeypatch
) -> None:
    settle(window, sampling=SamplingParams(max_tokens=40, temperature=0.0, seed=1))
    if window.model is None or window.model.id != INSTRUCT:
        window.select_model(INSTRUCT)
        wait_loaded(qtbot, window)
    window.set_mode("chat")
    window.send_chat("Describe a lighthouse at night in two sentences.")
    idle(window, qtbot)
    original = window.conversation.messages[-1].content
    bubble = reply_bubble(window)
    view = token_view(bubble)
    k = a_token(view)
    records, texts = list(view.tokens), list(view.texts)
    click_token(qtbot, view, k)
    panel = window.chat_view.alternatives
    assert panel.isVisible() and panel.index == k
    second = records[k].top[1]
    assert second.text != records[k].piece  # greedy: the model's own choice was the first
    seen = done_of(window, monkeypatch)

    qtbot.mouseClick(panel.buttons[1], Qt.MouseButton.LeftButton)
    assert window.busy and not panel.isVisible()
    idle(window, qtbot)

    begun = ("".join(texts[:k]) + second.text).lstrip()
    forked = window.conversation.messages[-1].content
    assert forked.startswith(begun) and len(forked) > len(begun), (forked, begun)
    assert len(window.conversation.messages) == 2
    bubble = reply_bubble(window)
    assert bubble.branch_label.text() == "2/2" and not bubble.branch_label.isHidden()
    # Its token records: the original's before the fork, the alternative, then the new ones.
    new_view = token_view(bubble)
    assert new_view.tokens[:k] == records[:k]
    assert new_view.tokens[k].token_id == second.token_id
    assert new_view.tokens[k].logprob == second.logprob
    assert len(new_view.tokens) > k + 1
    # The cache held the chat and the reply before the fork: only the choice on was new.
    assert seen, "the fork did not finish"
    stats = seen[-1].stats
    message_id = window.conversation.ids[-1]
    assert message_id is not None
    prompt = window.store.message(message_id).meta.prompt
    assert prompt.endswith(second.text)
    engine = window.engine
    assert engine is not None
    before_fork = len(engine.tokenize(prompt[: -len(second.text)]).ids)
    assert stats.cached_tokens >= before_fork - 3, (stats.cached_tokens, before_fork)

    # Back to the original, forward to the fork.
    qtbot.mouseClick(bubble.branch_prev, Qt.MouseButton.LeftButton)
    assert window.conversation.messages[-1].content == original
    assert reply_bubble(window).branch_label.text() == "1/2"
    qtbot.mouseClick(reply_bubble(window).branch_next, Qt.MouseButton.LeftButton)
    assert window.conversation.messages[-1].content == forked

    # Reopened, the fork is whole, with its tokens.
    chat_id = window.conversation.chat_id
    assert chat_id is not None
    window.new_chat()
    window.open_history(chat_id, "chat")
    assert window.conversation.messages[-1].content == forked
    bubble = reply_bubble(window)
    assert bubble.branch_label.text() == "2/2"
    assert token_view(bubble).tokens[:k] == records[:k]


def test_an_earlier_reply_forks_with_typed_text_and_the_later_turns_stay_behind(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Red and blue.", "Green too.", " purple at dusk."]
    window.send_chat("Colours?")
    idle(window, qtbot)
    window.send_chat("More?")
    idle(window, qtbot)
    view = token_view(reply_bubble(window, 1))
    click_token(qtbot, view, 1)  # " and"
    panel = window.chat_view.alternatives
    assert panel.isVisible()
    panel.own.setText(" turning")
    qtbot.mouseClick(panel.go, Qt.MouseButton.LeftButton)
    idle(window, qtbot, 10_000)
    assert [m.content for m in window.conversation.messages] == [
        "Colours?",
        "Red turning purple at dusk.",
    ]
    assert reply_bubble(window).branch_label.text() == "2/2"
    window.switch_branch(1, -1)
    assert [m.content for m in window.conversation.messages] == [
        "Colours?",
        "Red and blue.",
        "More?",
        "Green too.",
    ]


def test_too_much_typed_text_is_refused_with_a_message(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Red and blue."]
    window.send_chat("Colours?")
    idle(window, qtbot)
    click_token(qtbot, token_view(reply_bubble(window)), 1)
    panel = window.chat_view.alternatives
    panel.own.setText("y" * (MAX_CHOICE_CHARS + 5))
    qtbot.keyClick(panel.own, Qt.Key.Key_Return)
    assert not window.busy and panel.isVisible() and panel.note.isVisible()
    assert f"at most {MAX_CHOICE_CHARS:,}" in panel.note.text()
    assert [m.content for m in window.conversation.messages] == ["Colours?", "Red and blue."]
    # Asked for anyway (not through the panel): refused in the error bar, the chat unchanged.
    window.chat_view.fork_requested.emit(1, 1, "y" * (MAX_CHOICE_CHARS + 5))
    assert not window.busy and window.error_bar.isVisible()
    assert f"at most {MAX_CHOICE_CHARS:,}" in window.error_bar.message
    assert [m.content for m in window.conversation.messages] == ["Colours?", "Red and blue."]


def test_no_fork_is_offered_while_a_reply_streams_or_a_message_is_edited(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Red and blue.", " ".join(["word"] * 40)]
    window.send_chat("Colours?")
    idle(window, qtbot)
    view = token_view(reply_bubble(window))
    click_token(qtbot, view, 1)
    panel = window.chat_view.alternatives
    assert panel.isVisible()
    window.engine.token_delay = 0.1  # type: ignore[union-attr]
    window.send_chat("More?")
    qtbot.waitUntil(lambda: window.busy, timeout=5_000)
    assert not panel.isVisible()  # closed as the model began to write
    view = token_view(reply_bubble(window, 1))
    click_token(qtbot, view, 1)
    assert not panel.isVisible()
    window.chat_view.fork_requested.emit(1, 1, " or")  # a late request changes nothing
    assert window.busy and window.conversation.messages[1].content == "Red and blue."
    window.stop()
    idle(window, qtbot, 10_000)

    window.edit_message(2)  # "More?": the reply above it stays in view
    assert window.chat_view.editing == 2
    click_token(qtbot, token_view(reply_bubble(window, 1)), 1)
    assert not panel.isVisible()
    window.session.cancel_edit()
    click_token(qtbot, token_view(reply_bubble(window, 1)), 1)
    assert panel.isVisible()


def test_a_server_that_renders_its_own_template_is_not_offered_a_fork(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Red and blue."]
    window.send_chat("Colours?")
    idle(window, qtbot)
    server = ServerModel("remote:lab/tiny", "tiny", "lab", "instruct", "name")
    window.fake_engines.capabilities = SERVER
    window._models_found([*window.models, server], [])
    window.select_model(server.id)
    wait_loaded(qtbot, window)
    bubble = reply_bubble(window)
    assert "renders" in bubble.tokens_button.toolTip()
    click_token(qtbot, token_view(bubble), 1)
    assert not window.chat_view.alternatives.isVisible()
    window.chat_view.fork_requested.emit(1, 1, " or")  # asked anyway: refused, saying why
    assert not window.busy and "chat messages" in window.error_bar.message
    assert [m.content for m in window.conversation.messages] == ["Colours?", "Red and blue."]
