"""The window, the Models dialog and compare with a remote model: a real `llama_cpp.server` on
127.0.0.1 serving the starter instruct model."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import servers as remote
from desktop.core.models.served import ServerModel
from desktop.core.paths import app_dirs
from desktop.ui.main_window import MainWindow
from tests.remote.hostile import Hostile, MemoryKeyring, chat_chunk, memory_keyring, sse
from tests.remote.test_remote import free_port, start_server
from tests.ui.conftest import wait_loaded

pytestmark = pytest.mark.slow
SHORT = SamplingParams(max_tokens=24, seed=3, temperature=0.0)


@pytest.fixture
def served(instruct_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = start_server(instruct_path)
    yield proc, url
    proc.kill()
    proc.wait()
    (app_dirs().config / "remotes.json").unlink(missing_ok=True)


def idle(win: MainWindow, qtbot, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=timeout)


def use_remote(window: MainWindow, qtbot) -> str:
    qtbot.waitUntil(lambda: any(isinstance(m, ServerModel) for m in window.models), timeout=20_000)
    model_id = next(m.id for m in window.models if isinstance(m, ServerModel))
    window.select_model(model_id)
    wait_loaded(qtbot, window)
    window._settings_changed(window.settings.__class__(sampling=SHORT))
    return model_id


def test_a_server_added_in_the_models_dialog_chats_and_continues_raw(
    window: MainWindow, qtbot, served
) -> None:
    _, url = served
    window.open_models()
    dialog = window.models_dialog
    dialog.tabs.setCurrentIndex(dialog.tabs.count() - 1)
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Servers"
    qtbot.keyClicks(dialog.server_name, "lab")
    qtbot.keyClicks(dialog.server_url, url)
    dialog.add_server()
    assert dialog.servers_tree.topLevelItemCount() == 1
    qtbot.waitUntil(
        lambda: dialog.servers_tree.topLevelItem(0).text(3).endswith(".gguf"), timeout=10_000
    )
    dialog.close()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    model_id = use_remote(window, qtbot)
    labels = [window.picker.itemText(i) for i in range(window.picker.count())]
    assert f"{model_id}  ·  instruct  ·  remote" in labels
    assert "runs on the server lab" in window.banner.text
    assert not window.open_raw_action.isEnabled()

    window.send_chat("Say hello.")
    idle(window, qtbot)
    reply = window.conversation.messages[-1]
    assert reply.role == "assistant" and reply.content.strip()
    assert json.loads(window.inspector.text) == [{"role": "user", "content": "Say hello."}]

    qtbot.mouseClick(window.mode_toggle.buttons["raw"], Qt.MouseButton.LeftButton)
    assert window.mode_toggle.mode == "raw"
    qtbot.keyClicks(window.raw_view.editor, "Roses are red, violets are")
    qtbot.keyClick(window.raw_view.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle(window, qtbot)
    assert window.inspector.text == "Roses are red, violets are"  # reached the server as typed
    assert len(window.raw_view.text) > len("Roses are red, violets are")
    assert window.raw_view.generated_ranges()[0][0] == len("Roses are red, violets are")

    window.open_models()
    dialog.servers_tree.setCurrentItem(dialog.servers_tree.topLevelItem(0))
    dialog.remove_selected_server()
    assert remote.servers() == []
    qtbot.waitUntil(
        lambda: not any(isinstance(m, ServerModel) for m in window.models), timeout=20_000
    )


def test_bad_server_input_is_a_message_in_the_dialog(window: MainWindow, qtbot, served) -> None:
    window.open_models()
    dialog = window.models_dialog
    dialog.server_name.setText("lab")
    dialog.server_url.setText("127.0.0.1:8080")
    dialog.add_server()
    assert "is not an http(s) URL" in dialog.servers_status.text()
    dialog.remove_selected_server()
    assert dialog.servers_status.text() == "Select a server to remove."
    assert remote.servers() == []
    # A server that is down: the dialog and the window say so, the local models stay.
    dialog.server_name.setText("gone")
    dialog.server_url.setText(f"http://127.0.0.1:{free_port()}")
    dialog.add_server()
    qtbot.waitUntil(
        lambda: "Cannot reach the server gone" in dialog.servers_tree.topLevelItem(0).text(3),
        timeout=10_000,
    )
    qtbot.waitUntil(
        lambda: "Cannot reach the server gone" in window.error_bar.message, timeout=20_000
    )
    assert window.model is not None and not isinstance(window.model, ServerModel)


def test_a_server_killed_mid_reply_is_an_error_and_the_chat_stays(
    window: MainWindow, qtbot, served
) -> None:
    proc, url = served
    remote.add_server("lab", url)
    window.scan_models()
    use_remote(window, qtbot)
    window._settings_changed(
        window.settings.__class__(
            sampling=SamplingParams(max_tokens=800, seed=2, repeat_penalty=1.3)
        )
    )
    window.send_chat("Tell me a very long story about a dragon.")
    qtbot.waitUntil(lambda: window.busy and len(window.reply) > 20, timeout=30_000)
    proc.kill()
    idle(window, qtbot)
    assert "broke during the reply" in window.error_bar.message
    assert window.conversation.messages[0].content == "Tell me a very long story about a dragon."
    assert len(window.chat_view.bubbles) == 2  # the partial reply is kept on screen
    assert window.chat_view.bubbles[1].raw_text.strip()


def test_compare_puts_a_local_model_beside_a_remote_one(
    window: MainWindow, qtbot, served, tmp_path: Path
) -> None:
    _, url = served
    remote.add_server("lab", url)
    window.scan_models()
    qtbot.waitUntil(lambda: any(isinstance(m, ServerModel) for m in window.models), timeout=20_000)
    window._settings_changed(window.settings.__class__(sampling=SHORT))
    window.open_compare()
    view = window.compare_window
    qtbot.addWidget(view)
    remote_id = next(m.id for m in window.models if isinstance(m, ServerModel))
    right = view.columns[1]
    right.picker.setCurrentIndex(right.picker.findData(remote_id))
    right.mode.set_mode("chat")
    assert view.columns[0].model.id == "gemma-3-270m"
    view.input.setPlainText("What is the capital of France?")
    view.run()
    qtbot.waitUntil(lambda: not view.busy, timeout=120_000)
    left, right = view.columns
    assert left.view.tokens and right.view.tokens
    assert right.template.text() == "the chat template of the server lab"
    assert left.stats.text().startswith("Stopped:") and right.stats.text().startswith("Stopped:")
    assert right.column is not None and right.column.text.strip()
    # The remote column cannot score the local one's text; the local model can score the remote.
    assert not left.score_button.isEnabled() and right.score_button.isEnabled()
    view.export(tmp_path / "compare.json")
    exported = json.loads((tmp_path / "compare.json").read_text())
    assert exported["columns"][1]["model"]["server"] == "lab"
    assert exported["columns"][1]["model"]["sha256"] is None
    assert exported["columns"][0]["model"]["sha256"]


class _ChatOnly(BaseHTTPRequestHandler):
    """A server with no /v1/completions (like some hosted chat-only APIs): only models and chat."""

    def do_GET(self) -> None:
        self._json(200, {"object": "list", "data": [{"id": "chat-only-instruct"}]})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path != "/v1/chat/completions":
            self._json(404, {"detail": "Not Found"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if "fail" in body:  # what llama-server and vLLM send when a request fails mid-stream
            error = {"error": {"code": 500, "message": "out of memory", "type": "server_error"}}
            self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
            return
        for piece in ("Hello", " there"):
            chunk = {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_without_completions_disables_raw_mode_and_says_why(
    window: MainWindow, qtbot
) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ChatOnly)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        remote.add_server("chatonly", f"http://127.0.0.1:{httpd.server_address[1]}")
        window.scan_models()
        use_remote(window, qtbot)
        window.send_chat("Hi")
        idle(window, qtbot)
        assert window.conversation.messages[-1].content == "Hello there"
        assert window.status_context.text() == "context: on the server"
        window.send_chat("Please fail")
        idle(window, qtbot)
        assert "stopped with an error: out of memory" in window.error_bar.message
        window.set_mode("raw")
        qtbot.keyClicks(window.raw_view.editor, "Once upon a time")
        window.raw_view.continue_button.click()
        idle(window, qtbot)
        assert "has no /v1/completions, so raw mode is unavailable" in window.error_bar.message
        raw = window.mode_toggle.buttons["raw"]
        assert not raw.isEnabled() and "no /v1/completions" in raw.toolTip()
        assert window.mode_toggle.mode == "chat"
        assert window.raw_view.text == "Once upon a time"  # the typed text is kept
    finally:
        httpd.shutdown()
        (app_dirs().config / "remotes.json").unlink(missing_ok=True)


def test_a_key_typed_in_the_dialog_goes_to_the_keyring_and_opens_a_keyed_server(
    window: MainWindow, qtbot, instruct_path: Path
) -> None:
    proc, url = start_server(instruct_path, "--api_key", "sekrit")
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        window.open_models()
        dialog = window.models_dialog
        dialog.server_name.setText("keyed")
        dialog.server_url.setText(url)
        dialog.server_key.setText("sekrit")
        dialog.add_server()
        assert list(memory.saved.values()) == ["sekrit"]
        assert "sekrit" not in (app_dirs().config / "remotes.json").read_text()
        qtbot.waitUntil(
            lambda: dialog.servers_tree.topLevelItem(0).text(3).endswith(".gguf"), timeout=10_000
        )
        memory.saved.clear()  # without the key the server refuses, in plain words
        dialog.refresh_servers()
        qtbot.waitUntil(
            lambda: "refused the API key (401)" in dialog.servers_tree.topLevelItem(0).text(3),
            timeout=10_000,
        )
    finally:
        keyring.set_keyring(previous)
        proc.kill()
        proc.wait()
        (app_dirs().config / "remotes.json").unlink(missing_ok=True)


# Untrusted servers (no model on the server side: scripted servers on 127.0.0.1) ----------------------


@pytest.fixture
def keys() -> Iterator[MemoryKeyring]:
    yield from memory_keyring()


@pytest.fixture
def hostiles() -> Iterator[list[Hostile]]:
    started: list[Hostile] = []
    yield started
    for server in started:
        server.close()
    (app_dirs().config / "remotes.json").unlink(missing_ok=True)
    for backup in app_dirs().config.glob("remotes.json.bak*"):
        backup.unlink()


def hostile(hostiles: list[Hostile], *args: object, **kwargs: object) -> Hostile:
    server = Hostile(*args, **kwargs)  # type: ignore[arg-type]
    hostiles.append(server)
    return server


def add_in_dialog(dialog, name: str, url: str, key: str = "") -> None:
    dialog.server_name.setText(name)
    dialog.server_url.setText(url)
    dialog.server_key.setText(key)
    dialog.add_server()


def test_a_removed_servers_key_does_not_follow_its_name(
    window: MainWindow, qtbot, keys: MemoryKeyring, hostiles: list[Hostile]
) -> None:
    first, second = hostile(hostiles), hostile(hostiles)
    window.open_models()
    dialog = window.models_dialog
    add_in_dialog(dialog, "lab", first.url, "sekrit")
    qtbot.waitUntil(lambda: dialog.servers_tree.topLevelItem(0).text(3) == "hostile-instruct")
    assert ("GET", "/v1/models", "Bearer sekrit") in first.requests
    dialog.servers_tree.setCurrentItem(dialog.servers_tree.topLevelItem(0))
    dialog.remove_selected_server()
    assert keys.saved == {}  # the key went with its server
    add_in_dialog(dialog, "lab", second.url)
    qtbot.waitUntil(lambda: dialog.servers_tree.topLevelItem(0).text(3) == "hostile-instruct")
    assert second.requests and all(auth is None for _, _, auth in second.requests)
    # A name the dialog refuses keeps no key either.
    add_in_dialog(dialog, "a/b", second.url, "other")
    assert "cannot name a server" in dialog.servers_status.text()
    add_in_dialog(dialog, "lab", second.url, "other")
    assert "already a server named lab" in dialog.servers_status.text()
    assert keys.saved == {}


def test_a_key_over_plain_http_to_another_machine_asks_first(
    window: MainWindow, qtbot, keys: MemoryKeyring, hostiles: list[Hostile], monkeypatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    window.open_models()
    dialog = window.models_dialog
    far = f"http://0.0.0.0:{free_port()}"  # not loopback; on Linux refused at once
    add_in_dialog(dialog, "far", far, "sekrit")
    assert len(asked) == 1 and "plain http" in asked[0]
    assert keys.saved == {} and remote.servers() == []
    assert "Not added" in dialog.servers_status.text()
    answer[0] = QMessageBox.StandardButton.Yes
    add_in_dialog(dialog, "far", far, "sekrit")
    assert len(asked) == 2 and remote.server("far").insecure_key_ok
    assert list(keys.saved.values()) == ["sekrit"]
    # This machine over http needs no question.
    add_in_dialog(dialog, "near", hostile(hostiles).url, "sekrit")
    assert len(asked) == 2 and [s.name for s in remote.servers()] == ["far", "near"]


def test_a_malformed_stream_is_an_error_and_the_reply_so_far_stays(
    window: MainWindow, qtbot, hostiles: list[Hostile]
) -> None:
    server = hostile(hostiles, sse(chat_chunk("Hello"), chat_chunk(" there"), chat_chunk(5)))
    remote.add_server("odd", server.url)
    window.scan_models()
    use_remote(window, qtbot)
    window.send_chat("Hi")
    idle(window, qtbot, timeout=10_000)
    assert "The server odd sent" in window.error_bar.message
    assert window.status_stop.text() == "failed"
    assert len(window.chat_view.bubbles) == 2
    assert window.chat_view.bubbles[1].raw_text == "Hello there"
    assert window.conversation.messages[-1].content == "Hello there"


def test_a_line_without_an_end_is_an_error_within_seconds_and_the_text_stays(
    window: MainWindow, qtbot, hostiles: list[Hostile]
) -> None:
    server = hostile(hostiles)
    endless = server.endless_line(30.0, b"x" * 65536)

    def script(out) -> None:
        out.write(sse(chat_chunk("Hello")))
        out.flush()
        endless(out)

    server.script = script
    remote.add_server("flood", server.url)
    window.scan_models()
    use_remote(window, qtbot)
    window.send_chat("Hi")
    idle(window, qtbot, timeout=10_000)
    assert "longer than 1 MiB" in window.error_bar.message
    assert window.chat_view.bubbles[1].raw_text == "Hello"


def test_stop_ends_a_reply_within_a_second_while_a_line_is_received(
    window: MainWindow, qtbot, hostiles: list[Hostile]
) -> None:
    server = hostile(hostiles)
    trickle = server.endless_line(20.0, b"x", pause=0.05)

    def script(out) -> None:
        out.write(sse(chat_chunk("Hello")))
        out.flush()
        trickle(out)

    server.script = script
    remote.add_server("slow", server.url)
    window.scan_models()
    use_remote(window, qtbot)
    window.send_chat("Hi")
    qtbot.waitUntil(lambda: window.reply == "Hello", timeout=10_000)
    window.stop()
    idle(window, qtbot, timeout=1_000)
    assert window.chat_view.bubbles[1].raw_text == "Hello"


@pytest.fixture
def damaged_list() -> Iterator[Path]:
    path = app_dirs().config / "remotes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"5")
    yield path
    path.unlink(missing_ok=True)
    for backup in path.parent.glob("remotes.json.bak*"):
        backup.unlink()


def test_a_damaged_server_list_is_said_at_start_and_kept(
    damaged_list: Path, window: MainWindow, qtbot, hostiles: list[Hostile]
) -> None:
    qtbot.waitUntil(lambda: "could not be read" in window.error_bar.message, timeout=20_000)
    assert window.model is not None and not isinstance(window.model, ServerModel)
    window.open_models()
    dialog = window.models_dialog
    assert "could not be read" in dialog.servers_status.text()
    add_in_dialog(dialog, "lab", hostile(hostiles).url)
    assert [b.read_bytes() for b in damaged_list.parent.glob("remotes.json.bak*")] == [b"5"]


def test_an_html_error_body_is_plain_text_in_the_error_bar(
    window: MainWindow, qtbot, hostiles: list[Hostile]
) -> None:
    page = b'<a href="x">click</a><img src="http://192.0.2.7/i.png"><b>bold</b>'
    server = hostile(hostiles, status=500, body=page, content_type="text/html")
    remote.add_server("web", server.url)
    window.scan_models()
    use_remote(window, qtbot)
    window.send_chat("Hi")
    idle(window, qtbot, timeout=10_000)
    label = window.error_bar.label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert "HTTP 500" in label.text() and "click" in label.text()
    assert "<" not in label.text()  # no tag left to render, whatever the format
    # Even a message that carries markup shows it as text, never as a link or an image.
    window.error_bar.show_error('<a href="x">click</a><img src="y">')
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.text() == '<a href="x">click</a><img src="y">'
