"""The real window, driven with qtbot (offscreen). Its behaviour is tested on the fake engine
(`fake_window`: the real starter pair's files and templates, canned replies, milliseconds); what
only llama.cpp does (refusing a truncated file, a real restart, the first-run page) on the real
starter models, marked slow."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.core.chat.hints import INSTRUCT_RAW_HINT
from desktop.core.chat.prompts import FALLBACK_NOTE
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.ui.main_window import MainWindow
from tests.fakes import FakeOpener
from tests.ui.conftest import wait_loaded

LONG = SamplingParams(max_tokens=2000, seed=1, repeat_penalty=1.2)
STORY = " ".join(f"word{i}" for i in range(2000))  # a reply that would take long to stream


def generating(win: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: win.busy and bool(win.reply), timeout=30_000)


def idle(win: MainWindow, qtbot, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=timeout)


def test_first_run_opens_on_the_starter_instruct_model_in_chat(fake_window: MainWindow) -> None:
    window = fake_window
    assert window.model is not None and window.model.id == "smollm2-135m-instruct"
    assert [model.id for model, _config in window.fake_engines.opened] == ["smollm2-135m-instruct"]
    assert window.mode_toggle.mode == "chat" and window.views.currentWidget() is window.chat_view
    assert window.picker.count() >= 2
    assert "gemma-3-270m  ·  base" in [
        window.picker.itemText(i) for i in range(window.picker.count())
    ]


def test_chat_reply_streams_and_stats_update(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Red, **green** and blue are three colours of the rainbow."]
    window.engine.token_delay = 0.01  # tokens arrive over ~100 ms, in several batches
    updates: list[str] = []
    original = window.chat_view.append_reply
    window.chat_view.append_reply = lambda text: (updates.append(text), original(text))  # type: ignore[method-assign]
    qtbot.keyClicks(window.chat_view.input, "Name three colours.")
    qtbot.keyClick(window.chat_view.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle(window, qtbot)
    assert len(updates) >= 2  # it streamed, in more than one piece
    reply = window.conversation.messages[-1]
    assert reply.role == "assistant"
    assert reply.content == "Red, **green** and blue are three colours of the rainbow."
    assert "".join(updates) == reply.content
    assert window.chat_view.bubbles[-1].raw_text == reply.content
    assert window.chat_view.bubbles[-1].body.textFormat() == Qt.TextFormat.MarkdownText
    assert re.fullmatch(r"\d+\.\d tok/s", window.status_speed.text())
    assert re.fullmatch(r"context \d+ / 4096", window.status_context.text())
    assert window.status_stop.text() == f"stopped: {p.StopReason.EOS.describe()}"
    assert "<|im_start|>user\nName three colours.<|im_end|>" in window.inspector.text
    assert window.engine.prompts[-1].text == window.inspector.text  # shown as it was sent
    assert re.search(r"\d+ tokens", window.inspector.summary.text())


def test_toggle_to_raw_keeps_each_modes_content_and_continues(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = ["Hello! How can I help?", " blue, and so are you."]
    window.send_chat("Hello")
    idle(window, qtbot)
    engine = window.engine
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert window.mode_toggle.mode == "raw" and window.views.currentWidget() is window.raw_view
    assert window.banner.text == INSTRUCT_RAW_HINT
    qtbot.keyClicks(window.raw_view.editor, "Roses are red, violets are")
    qtbot.keyClick(window.raw_view.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle(window, qtbot)
    assert window.raw_view.text == "Roses are red, violets are blue, and so are you."
    assert window.raw_view.generated_ranges()[0][0] == len("Roses are red, violets are")
    assert window.inspector.text == "Roses are red, violets are"  # raw: nothing added
    assert engine.prompts[-1].text == "Roses are red, violets are"
    # Switching modes reloads nothing: the same engine, loaded once.
    assert window.engine is engine and window.fake_engines.engines == [engine]
    assert engine.loads == 1
    window.mode_toggle.toggle()
    assert len(window.chat_view.bubbles) == 2  # the chat is still there
    window.mode_toggle.toggle()
    assert window.raw_view.undo_continuation()
    assert window.raw_view.text == "Roses are red, violets are"


def test_typed_text_is_never_in_the_generated_colour(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = [" there lived a lighthouse keeper."]
    window.set_mode("raw")
    window.raw_view.set_text("Once upon a time")
    window.continue_raw()
    idle(window, qtbot)
    generated = window.raw_view.generated_ranges()
    # The continuation, token by token, and nothing of what was typed.
    assert generated[0][0] == len("Once upon a time") and generated[-1][1] == len(
        window.raw_view.text
    )
    window.raw_view.editor.moveCursor(window.raw_view.editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(window.raw_view.editor, " MINE")
    end = len(window.raw_view.text)
    assert window.raw_view.generated_ranges() == generated
    assert all(stop <= end - 5 for _, stop in generated)


def test_esc_stops_mid_stream(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = [STORY]
    window.fake_engines.token_delay = 0.02  # 40 s to the end: only a stop ends it in time
    window.select_model("gemma-3-270m")  # a new engine, for the base model
    wait_loaded(qtbot, window)
    assert (
        window.engine is window.fake_engines.engines[-1] and len(window.fake_engines.engines) == 2
    )
    window.sampling.load(window.settings.__class__(sampling=LONG))
    window._settings_changed(window.sampling.settings())
    window.set_mode("raw")
    window.raw_view.set_text("Chapter one.")
    window.continue_raw()
    generating(window, qtbot)
    # Busy: nothing else can start, Stop can.
    assert window.stop_action.isEnabled() and not window.raw_view.continue_button.isEnabled()
    assert not window.chat_view.send_button.isEnabled() and not window.picker.isEnabled()
    assert not window.new_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    idle(window, qtbot, timeout=5_000)
    assert window.status_stop.text() == "stopped: stopped by you"
    assert len(window.raw_view.text) < len("Chapter one.") + len(STORY) // 2
    assert window.raw_view.undo_button.isEnabled()
    assert not window.stop_action.isEnabled() and window.raw_view.continue_button.isEnabled()
    assert window.chat_view.send_button.isEnabled() and window.picker.isEnabled()


def test_engine_crash_mid_stream_shows_error_and_retry_and_next_send_work(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    engine = window.engine
    window.fake_engines.replies = ["Once upon a time a dragon slept.", "The dragon woke."]
    engine.crash_next(after_tokens=4, in_generation=True)  # past the fitting of the chat
    window._settings_changed(window.settings.__class__(sampling=LONG))
    window.send_chat("Tell me a very long story about a dragon.")
    idle(window, qtbot)
    assert "stopped unexpectedly" in window.error_bar.message
    assert window.error_bar.button.isVisible()
    assert window.status_stop.text() == "engine crashed"
    # Nothing is lost: the message, and the reply so far.
    assert [(m.role, m.content) for m in window.conversation.messages] == [
        ("user", "Tell me a very long story about a dragon."),
        ("assistant", "Once upon a time"),
    ]
    qtbot.mouseClick(window.error_bar.button, Qt.MouseButton.LeftButton)  # Retry
    idle(window, qtbot)
    assert engine.loads == 2  # the crashed engine was started again
    assert [m.content for m in window.conversation.messages] == [
        "Tell me a very long story about a dragon.",
        "The dragon woke.",
    ]
    assert not window.error_bar.isVisible()
    kept = len(window.conversation.messages)
    window._settings_changed(
        window.settings.__class__(sampling=SamplingParams(max_tokens=16, seed=2))
    )
    window.send_chat("Hello again")
    idle(window, qtbot)
    assert len(window.conversation.messages) == kept + 2
    assert window.conversation.messages[-1].role == "assistant"
    assert not window.error_bar.isVisible()


def test_open_chat_as_raw_shows_the_template_turns(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Hello! How can I help?"]
    window.chat_view.system.setText("Be brief.")
    window.send_chat("Hi")
    idle(window, qtbot)
    window.open_chat_as_raw()  # the template renders off the UI thread
    qtbot.waitUntil(lambda: window.mode_toggle.mode == "raw", timeout=10_000)
    raw = window.raw_view.text
    assert window.mode_toggle.mode == "raw"
    assert raw.startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )
    assert "<|im_start|>assistant\nHello! How can I help?<|im_end|>" in raw


def test_base_model_in_chat_mode_gets_the_hint_and_a_reply(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = [" Paris is the capital of France."]
    window.select_model("gemma-3-270m")
    wait_loaded(qtbot, window)
    assert window.banner.text == FALLBACK_NOTE
    window.send_chat("What is the capital of France?")
    idle(window, qtbot)
    assert window.inspector.text == "<bos>User: What is the capital of France?\nAssistant:"
    assert window.engine.prompts[-1].text == window.inspector.text
    reply = window.conversation.messages[-1]
    assert reply.role == "assistant", window.error_bar.message
    assert reply.content == "Paris is the capital of France."  # after "Assistant:"'s space


def test_regenerate_and_edit(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Apple.", "Banana.", "Cherry."]
    window._settings_changed(window.settings.__class__(sampling=SamplingParams(max_tokens=24)))
    window.send_chat("Name a fruit.")
    idle(window, qtbot)
    window.regenerate()
    idle(window, qtbot)
    assert [(m.role, m.content) for m in window.conversation.messages] == [
        ("user", "Name a fruit."),
        ("assistant", "Banana."),
    ]
    assert [b.raw_text for b in window.chat_view.bubbles] == ["Name a fruit.", "Banana."]
    window.edit_message(0)
    assert (
        window.conversation.messages == []
        and window.chat_view.input.toPlainText() == "Name a fruit."
    )
    window.submit()
    idle(window, qtbot)
    assert [(m.role, m.content) for m in window.conversation.messages] == [
        ("user", "Name a fruit."),
        ("assistant", "Cherry."),
    ]
    # Each request sent the chat without the reply it replaces.
    assert all(
        "Apple." not in prompt.text and "Banana." not in prompt.text
        for prompt in window.engine.prompts
    )


@pytest.mark.slow
def test_settings_survive_a_restart(window: MainWindow, qtbot) -> None:
    window.sampling.spins["temperature"].setValue(0.35)
    window.sampling.seed.setValue(42)
    window.set_mode("raw")
    window.chat_view.system.setText("Talk like a pirate.")
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    wait_loaded(qtbot, again)
    assert again.settings.sampling.temperature == pytest.approx(0.35)
    assert again.sampling.spins["temperature"].value() == pytest.approx(0.35)
    assert again.settings.sampling.seed == 42
    assert again.mode_toggle.mode == "raw"
    assert again.chat_view.system.text() == "Talk like a pirate."


def test_invalid_settings_are_refused_in_the_widget(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    spin = window.sampling.spins["temperature"]
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "9")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert spin.value() <= 5.0
    assert window.settings.sampling.temperature <= 5.0
    top_p = window.sampling.spins["top_p"]
    top_p.setValue(3.0)
    assert top_p.value() == 1.0


def test_a_broken_settings_file_falls_back_to_defaults(
    qtbot, starter_paths, fake_engines: FakeOpener
) -> None:
    from desktop.core.settings import settings_path

    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('{"sampling": {"temperature": 99}, "n_ctx": "big", "mode": "raw"}')
    win = MainWindow(open_engine=fake_engines)
    qtbot.addWidget(win)
    wait_loaded(qtbot, win)
    assert win.settings.sampling.temperature == SamplingParams().temperature
    assert win.mode_toggle.mode == "raw"
    assert "temperature" in win.error_bar.message and "n_ctx" in win.error_bar.message


@pytest.mark.slow
def test_model_that_fails_to_load_offers_retry(
    window: MainWindow, qtbot, tmp_path: Path, instruct_path: Path
) -> None:
    from desktop.core.models.library import Library

    copy = tmp_path / "copy-instruct.gguf"
    shutil.copyfile(instruct_path, copy)
    Library().register(copy)
    try:
        window.scan_models()
        qtbot.waitUntil(lambda: any(m.id == "copy-instruct" for m in window.models), timeout=20_000)
        copy.write_bytes(instruct_path.read_bytes()[: 10 << 20])  # now truncated
        window.select_model("copy-instruct")
        qtbot.waitUntil(lambda: window.error_bar.isVisible(), timeout=30_000)
        assert "truncated" in window.error_bar.message
        shutil.copyfile(instruct_path, copy)
        qtbot.mouseClick(window.error_bar.button, Qt.MouseButton.LeftButton)
        wait_loaded(qtbot, window)
        assert not window.error_bar.isVisible()
    finally:
        Library().unregister(copy)


@pytest.mark.slow
def test_nothing_installed_shows_the_first_run_page(qtbot, fresh_settings, monkeypatch) -> None:
    import desktop.core.models.library as library

    monkeypatch.setattr(library, "starter_files", lambda: ())
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.empty_page, timeout=20_000)
    assert win.engine is None and "No model" in win.status_model.text()
    # The starter pair appears (tests/ui/test_first_run.py downloads it from a fake Hub):
    # "Check again" finds it and the window loads it.
    monkeypatch.undo()
    qtbot.mouseClick(win.empty_page.again_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.workspace, timeout=120_000)
    wait_loaded(qtbot, win)


def test_ctrl_n_starts_a_new_chat(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window._settings_changed(window.settings.__class__(sampling=SamplingParams(max_tokens=8)))
    window.send_chat("Hi")
    idle(window, qtbot)
    assert len(window.chat_view.bubbles) == 2
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.conversation.messages == [] and window.chat_view.bubbles == []
    assert window.conversation.chat_id is None
    assert QApplication.instance() is not None
