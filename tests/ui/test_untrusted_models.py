"""The window never reads a model file or renders a chat template on its UI thread: a hostile one
costs a worker thread some bounded time, the window stays responsive, and the outcome or a plain
error lands in the window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog

from desktop.core.models import gguf_info
from desktop.ui.main_window import MainWindow
from tests.ggufs import write_gguf, write_hostile_gguf

if TYPE_CHECKING:
    from desktop.ui.compare.window import CompareWindow

pytestmark = pytest.mark.slow

# About 16 million empty loop steps: seconds in any Jinja sandbox, stopped at 2 s by Duet's.
SLOW_TEMPLATE = (
    "{% for i in range(4000) %}{% for j in range(4000) %}{% endfor %}{% endfor %}"
    "{{ messages[0].content }}"
)


class Ticks:
    """Counts how often the UI thread's event loop runs a 20 ms timer: a frozen window does not."""

    def __init__(self) -> None:
        self.count = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(20)

    def _tick(self) -> None:
        self.count += 1


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def record_parse_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    threads: list[int] = []
    original = gguf_info._parse

    def recording(cur: object) -> object:
        threads.append(threading.get_ident())
        return original(cur)  # type: ignore[arg-type]

    monkeypatch.setattr(gguf_info, "_parse", recording)
    return threads


def test_adding_a_hostile_file_reads_it_off_the_ui_thread(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = write_hostile_gguf(tmp_path / "hostile.gguf", "many_keys", size=40 * 2**20)
    threads = record_parse_threads(monkeypatch)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(hostile), ""))
    assert timed(window.add_model_file) < 0.5
    qtbot.waitUntil(lambda: str(hostile) in window.error_bar.message, timeout=20_000)
    assert "limit" in window.error_bar.message
    assert threads and threading.main_thread().ident not in threads


def test_adding_a_good_file_lists_it(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_gguf(tmp_path / "Added-Chat-Model.gguf", chat_template="{{ messages }}")
    threads = record_parse_threads(monkeypatch)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(good), ""))
    try:
        window.add_model_file()
        qtbot.waitUntil(lambda: "added-chat-model" in {m.id for m in window.models}, timeout=20_000)
        assert threading.main_thread().ident not in threads
    finally:
        from desktop.core.models.library import Library

        Library().unregister(good)


def _hostile_template(window: MainWindow) -> None:
    assert window.model is not None
    window.model = replace(
        window.model, info=replace(window.model.info, chat_template=SLOW_TEMPLATE)
    )


def test_open_as_raw_renders_a_slow_template_off_the_ui_thread(window: MainWindow, qtbot) -> None:
    _hostile_template(window)
    window.conversation.add("user", "Hi")
    ticks = Ticks()
    assert timed(window.open_chat_as_raw) < 0.5
    qtbot.waitUntil(lambda: "ran longer than 2 s" in window.error_bar.message, timeout=20_000)
    assert "Use raw mode" in window.error_bar.message
    assert ticks.count >= 20  # the window kept running while the template did
    assert window.mode_toggle.mode == "chat"  # nothing was opened


def test_sending_with_a_slow_template_keeps_the_window_responsive(
    window: MainWindow, qtbot
) -> None:
    _hostile_template(window)
    ticks = Ticks()
    assert timed(lambda: window.send_chat("Hi")) < 0.5
    qtbot.waitUntil(lambda: "ran longer than 2 s" in window.error_bar.message, timeout=20_000)
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)
    assert ticks.count >= 20
    assert window.conversation.messages[0].content == "Hi"  # the message is kept


def test_importing_in_the_models_window_reads_files_off_the_ui_thread(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = write_hostile_gguf(tmp_path / "hostile.gguf", "many_keys", size=40 * 2**20)
    good = write_gguf(tmp_path / "Imported-Chat-Model.gguf", chat_template="{{ messages }}")
    window.open_models()
    dialog = window.models_dialog
    assert dialog is not None
    threads = record_parse_threads(monkeypatch)
    try:
        assert timed(lambda: dialog.installed_tab.import_files([hostile, good])) < 0.5
        qtbot.waitUntil(
            lambda: "limit" in dialog.installed_tab.installed_error.text(), timeout=20_000
        )
        qtbot.waitUntil(
            lambda: (
                dialog.installed_tab.installed_tree.currentItem() is not None
                and dialog.installed_tab.installed_tree.currentItem().text(0)
                == "imported-chat-model"
            ),
            timeout=20_000,
        )
        assert str(hostile) in dialog.installed_tab.installed_error.text()
        assert threads and threading.main_thread().ident not in threads
    finally:
        from desktop.core.models.library import Library

        Library().unregister(good)


def _compare_with_template(window: MainWindow, template: str) -> CompareWindow:
    """The compare window with "Hi" typed and its chat column's model given `template`."""
    window.open_compare()
    compare = window.compare_window
    assert compare is not None
    view = next(v for v in compare.columns if v.model.info.has_chat_template)
    model = view.model
    hostile = replace(model, info=replace(model.info, chat_template=template))
    view.set_models([hostile if m.id == model.id else m for m in view.models])
    view.mode.set_mode("chat")
    compare.input.setPlainText("Hi")
    return compare


def test_compare_renders_its_columns_off_the_ui_thread(
    window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    compare = _compare_with_template(window, SLOW_TEMPLATE)
    ticks = Ticks()
    assert timed(compare.run) < 0.5
    qtbot.waitUntil(lambda: "ran longer than 2 s" in compare.divergence.text(), timeout=20_000)
    assert ticks.count >= 20
    assert not compare.busy and compare.input.toPlainText() == "Hi"


def test_text_from_files_and_servers_is_shown_as_plain_text(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    from PySide6.QtCore import Qt

    hostile_name = '<a href="https://example.invalid">click</a><img src="x">'
    path = write_gguf(tmp_path / "Html-Name.gguf", name=hostile_name)
    window.open_models()
    dialog = window.models_dialog
    window.open_compare()
    compare = window.compare_window
    assert dialog is not None and compare is not None
    try:
        dialog.installed_tab.import_files([path])
        qtbot.waitUntil(
            lambda: (
                dialog.installed_tab.installed_tree.currentItem() is not None
                and dialog.installed_tab.installed_tree.currentItem().text(0) == "html-name"
            ),
            timeout=20_000,
        )
        details = dialog.installed_tab.details.text()
        assert "<a href" not in details and "&lt;a href" in details  # the name is escaped
        plain = Qt.TextFormat.PlainText
        labels = [
            dialog.installed_tab.installed_error,
            dialog.search_tab.search_status,
            compare.divergence,
        ]
        labels += [label for v in compare.columns for label in (v.stats, v.template)]
        labels += [window.empty_page.status, window.empty_page.hub_line]
        assert all(label.textFormat() == plain for label in labels)
    finally:
        from desktop.core.models.library import Library

        Library().unregister(path)


def test_stop_while_compare_renders_starts_nothing(
    window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = "{% for i in range(1000) %}{% for j in range(1500) %}{% endfor %}{% endfor %}{{ 'x' }}"
    compare = _compare_with_template(window, slow)  # about a second
    compare.run()
    compare.stop()
    qtbot.wait(3000)  # the render finishes meanwhile
    assert not compare.running and not compare.busy
    assert compare.run_button.isEnabled()


def test_the_models_window_lists_new_files_off_the_ui_thread(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download that finished lands a new file in the HF cache; listing it reads its header."""
    window.open_models()
    dialog = window.models_dialog
    assert dialog is not None
    snapshot = tmp_path / "hub" / "models--someone--Fresh-GGUF" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    write_gguf(snapshot / "Fresh-Download.gguf")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    threads = record_parse_threads(monkeypatch)
    assert timed(dialog.refresh_installed) < 0.5
    qtbot.waitUntil(
        lambda: any(
            dialog.installed_tab.installed_tree.topLevelItem(i).text(0) == "fresh-download"
            for i in range(dialog.installed_tab.installed_tree.topLevelItemCount())
        ),
        timeout=20_000,
    )
    assert threads and threading.main_thread().ident not in threads
