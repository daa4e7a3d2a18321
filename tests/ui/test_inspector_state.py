"""The prompt inspector says the truth about the mode shown (issue 16, bug 7): a reopened chat
shows the stored prompt of its last reply, labelled as such, with its model; a mode switch
shows that mode's last prompt or says none was sent yet; "counting tokens…" only while a
request is under way. On the real window with a fake engine."""

from __future__ import annotations

from desktop.core.errors import EngineError
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import wait_loaded

INSTRUCT = "smollm2-135m-instruct"
COUNTING = "counting tokens"


def idle(win: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=10_000)


def summary(win: MainWindow) -> str:
    return win.inspector.summary.text()


def test_a_reopened_chat_shows_the_stored_prompt_of_its_last_reply(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Blue, red and green.", "Something else."]
    window.send_chat("Name three colours.")
    idle(window, qtbot)
    chat_id = window.conversation.chat_id
    assert chat_id is not None
    sent = window.engine.prompts[-1].text
    assert window.inspector.text == sent and COUNTING not in summary(window)
    window.new_chat()
    assert window.inspector.text == ""  # a new chat has sent nothing
    assert "No prompt sent yet in this chat" in summary(window)
    window.open_history(chat_id, "chat")
    assert window.inspector.text == sent
    text = summary(window)
    assert "stored with the last reply" in text and INSTRUCT in text
    assert COUNTING not in text and "No prompt sent yet" not in text
    assert "tokens" in text  # the counts saved with the reply

    window.close()  # and after a restart
    again = MainWindow(open_engine=window.fake_engines)  # type: ignore[attr-defined]
    qtbot.addWidget(again)
    wait_loaded(qtbot, again)
    again.open_history(chat_id, "chat")
    assert again.inspector.text == sent
    assert "stored with the last reply" in again.inspector.summary.text()
    again.close()


def test_a_mode_switch_shows_that_modes_prompt_never_a_stale_count(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Blue, red and green.", " and the sea was calm", "Fine."]
    window.send_chat("Name three colours.")
    idle(window, qtbot)
    chat_prompt = window.inspector.text
    window.set_mode("raw")
    assert window.inspector.text == ""  # nothing sent in raw mode yet: no chat prompt here
    assert "No prompt sent yet in raw mode" in summary(window)
    window.raw_view.set_text("The night was dark")
    window.engine.token_delay = 0.3
    window.continue_raw()
    assert window.inspector.text == "The night was dark" and COUNTING in summary(window)
    window.set_mode("chat")  # while the continuation runs
    assert window.inspector.text == chat_prompt and COUNTING not in summary(window)
    window.engine.token_delay = 0
    idle(window, qtbot)
    assert window.inspector.text == chat_prompt and COUNTING not in summary(window)
    window.set_mode("raw")  # the continuation's count arrived while chat was shown
    assert window.inspector.text == "The night was dark"
    assert COUNTING not in summary(window) and "tokens" in summary(window)


def test_a_failed_request_is_not_left_counting(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.engine.fail_next(EngineError("The model ran out of memory."), in_generation=True)
    window.send_chat("Hi")
    idle(window, qtbot)
    assert window.error_bar.message == "The model ran out of memory."
    assert COUNTING not in summary(window)
    assert "not answered" in summary(window)


def test_open_chat_as_raw_leaves_no_count_pending(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Hello! How can I help?"]
    window.send_chat("Hi")
    idle(window, qtbot)
    window.open_chat_as_raw()
    qtbot.waitUntil(lambda: window.mode_toggle.mode == "raw", timeout=10_000)
    assert COUNTING not in summary(window)
    assert "No prompt sent yet in raw mode" in summary(window)
    window.set_mode("chat")
    assert COUNTING not in summary(window) and "tokens" in summary(window)
