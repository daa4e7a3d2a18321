"""A bug on the far side of a thread boundary (generation, model load, library scan, compare,
scoring) shows as an error with its text in the real window, leaves no view "busy", and loses
nothing: the typed text and the reply so far stay. The main window runs on the fake engine
(tests/fakes); the compare window opens its own engines through the real factory, so its test
runs the real models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.local.client import EngineClient
from desktop.ui.main_window import MainWindow
from tests.fakes import FakeEngine
from tests.ui.conftest import wait_loaded

BOOM = "RuntimeError: the parser tripped"
LONG = SamplingParams(max_tokens=200, seed=3, temperature=0.0)
# The fake's reply: longer than the tokens any test lets through before its bug.
STORY = " ".join(f"owl{i}" for i in range(60))


def trips_after(
    tokens: int, monkeypatch: pytest.MonkeyPatch, engine: type[Any] = FakeEngine
) -> None:
    """`engine`'s generate streams `tokens` tokens, then raises what no one expects."""
    real = engine.generate

    def flaky(self: object, *args: object, **kwargs: object) -> Iterator[p.Event]:
        seen = 0
        for event in real(self, *args, **kwargs):
            yield event
            if isinstance(event, p.Token):
                seen += 1
                if seen == tokens:
                    raise RuntimeError("the parser tripped")

    monkeypatch.setattr(engine, "generate", flaky)


def raises(*_: object, **__: object) -> object:
    raise RuntimeError("the parser tripped")


def idle(win: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=30_000)


def test_a_bug_mid_reply_ends_the_stream_and_keeps_the_reply_so_far(
    fake_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = fake_window
    window.fake_engines.reply = STORY
    window._settings_changed(window.settings.__class__(sampling=LONG))
    trips_after(10, monkeypatch)
    window.chat_view.input.setPlainText("Tell me a long story about owls.")
    window.submit()
    idle(window, qtbot)
    assert BOOM in window.error_bar.message and window.error_bar.isVisible()
    assert window.chat_view.send_button.isEnabled() and not window.stop_action.isEnabled()
    user, reply = window.conversation.messages
    assert user.content == "Tell me a long story about owls."
    assert reply.role == "assistant" and reply.content == " ".join(STORY.split()[:10])
    assert window.chat_view.bubbles[-1].raw_text == reply.content
    saved = window.store.path(window.conversation.chat_id)
    assert [m.content for m in saved] == [user.content, reply.content]
    assert saved[-1].meta.stop_reason == "failed"
    # And the window goes on working.
    monkeypatch.undo()
    window._settings_changed(window.settings.__class__(sampling=SamplingParams(max_tokens=4)))
    window.send_chat("Again")
    idle(window, qtbot)
    assert window.conversation.messages[-1].role == "assistant"


def test_a_bug_while_preparing_the_prompt_keeps_the_message(
    fake_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.core.chat.conversation import Conversation

    window = fake_window
    monkeypatch.setattr(Conversation, "fit", raises)
    window.send_chat("Keep this message")
    idle(window, qtbot)
    assert BOOM in window.error_bar.message
    assert [m.content for m in window.conversation.messages] == ["Keep this message"]
    assert window.chat_view.bubbles[-1].raw_text == "Keep this message"
    assert window.engine.calls == []  # nothing was sent


def test_a_bug_mid_continuation_keeps_the_notebook(
    fake_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = fake_window
    window.fake_engines.reply = " " + STORY
    window._settings_changed(window.settings.__class__(sampling=LONG))
    trips_after(10, monkeypatch)
    window.set_mode("raw")
    window.raw_view.set_text("Chapter one. The lighthouse")
    window.continue_raw()
    idle(window, qtbot)
    assert BOOM in window.error_bar.message
    assert window.raw_view.continue_button.isEnabled()
    ten = "".join(f" {word}" for word in STORY.split()[:10])
    assert window.raw_view.text == "Chapter one. The lighthouse" + ten  # the tokens so far
    assert window.raw_view.generated_ranges()


def test_a_bug_while_loading_a_model_is_shown_with_retry(
    fake_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = fake_window
    monkeypatch.setattr(FakeEngine, "load", raises)
    window.load_model()
    qtbot.waitUntil(lambda: window.error_bar.isVisible(), timeout=20_000)
    assert BOOM in window.error_bar.message
    assert window.status_model.text() == "Model failed to load"
    assert window.error_bar.button.isVisibleTo(window)
    monkeypatch.undo()
    window.error_bar.button.click()
    wait_loaded(qtbot, window)
    assert not window.error_bar.isVisible()
    assert len(window.fake_engines.engines) == 3  # at start, the failed load, the retry


def test_a_bug_while_listing_models_is_shown_with_retry(
    fake_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.core.models.library import Library

    window = fake_window
    monkeypatch.setattr(Library, "models", raises)
    window.scan_models()
    qtbot.waitUntil(lambda: window.error_bar.isVisible(), timeout=20_000)
    assert BOOM in window.error_bar.message
    assert "Looking for models" not in window.status_model.text()
    monkeypatch.undo()
    window.error_bar.button.click()
    qtbot.waitUntil(lambda: not window.error_bar.isVisible(), timeout=20_000)
    assert window.models


@pytest.mark.slow
def test_a_bug_in_a_compare_column_ends_it_and_keeps_its_tokens(
    window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window._settings_changed(window.settings.__class__(sampling=LONG))
    window.open_compare()
    compare = window.compare_window
    qtbot.addWidget(compare)
    trips_after(6, monkeypatch, EngineClient)
    compare.input.setPlainText("What is the capital of France?")
    compare.run()
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    for column in compare.columns:
        assert column.stats.text().startswith("Failed:") and BOOM in column.stats.text()
        assert len(column.view.tokens) >= 6
    assert compare.run_button.isEnabled()
    assert compare.input.toPlainText() == "What is the capital of France?"
    # Scoring runs on a thread of its own: a bug there is shown, and the button comes back.
    monkeypatch.setattr("desktop.ui.compare.window.score_with", raises)
    compare.score(0)
    left = compare.columns[0]
    qtbot.waitUntil(lambda: BOOM in left.stats.text() and left.score_button.isEnabled())
