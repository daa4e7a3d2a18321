"""Aligned by examples in the window: the Sampling panel's option, on and off, decides how a
base model's chat is rendered, and the inspector's label, the status bar and the hint say
which; Edit examples… opens the user's examples file; a broken file is said, not hidden.
On the real window with the real starter files and a fake engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from desktop.core.chat.aligned import (
    ALIGNED_HINT,
    ALIGNED_STATUS,
    ALIGNED_TEMPLATE_NAME,
    default_preamble,
)
from desktop.core.chat.prompts import FALLBACK_TEMPLATE_NAME
from desktop.core.settings import load_settings
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import wait_loaded

BASE = "gemma-3-270m"


@pytest.fixture
def examples_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh examples file location (the settings stay where the window reads them)."""
    path = tmp_path / "aligned" / "preamble.txt"
    monkeypatch.setattr("desktop.core.chat.aligned.preamble_path", lambda: path)
    return path


def on_base(window: MainWindow, qtbot) -> None:
    window.select_model(BASE)
    wait_loaded(qtbot, window)


def send(window: MainWindow, qtbot, text: str) -> None:
    window.send_chat(text)
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)


def test_the_option_on_and_off_shows_in_the_inspectors_label_and_the_status_bar(
    fake_window: MainWindow, qtbot, examples_file: Path
) -> None:
    window = fake_window
    on_base(window, qtbot)
    window.fake_engines.replies = ["Paris.", "Paris is the capital."]
    assert window.status_mode.text() == "chat: fallback transcript"

    window.sampling.aligned.click()  # on
    assert window.settings.aligned and load_settings()[0].aligned  # saved
    assert window.status_mode.text() == ALIGNED_STATUS
    assert window.banner.text == ALIGNED_HINT
    send(window, qtbot, "What is the capital of France?")
    sent = window.engine.prompts[-1]
    assert sent.template_name == ALIGNED_TEMPLATE_NAME
    assert sent.text.endswith("# Query:\nWhat is the capital of France?\n\n# Answer:\n")
    assert sent.text.startswith("<bos>" + default_preamble().text.strip())
    assert window.inspector.text == sent.text  # shown exactly
    summary = window.inspector.summary.text()
    assert ALIGNED_TEMPLATE_NAME in summary
    assert "stop strings: &#x27;\\n# Query:&#x27;" in summary
    assert examples_file.is_file()  # made from the default on first use

    window.sampling.aligned.click()  # off
    assert not window.settings.aligned
    assert window.status_mode.text() == "chat: fallback transcript"
    window.new_chat()
    send(window, qtbot, "What is the capital of France?")
    assert window.engine.prompts[-1].template_name == FALLBACK_TEMPLATE_NAME
    summary = window.inspector.summary.text()
    assert FALLBACK_TEMPLATE_NAME in summary and ALIGNED_TEMPLATE_NAME not in summary


def test_an_instruct_model_keeps_its_template_with_the_option_on(
    fake_window: MainWindow, qtbot, examples_file: Path
) -> None:
    window = fake_window
    window.sampling.aligned.click()
    assert window.status_mode.text() == "chat template"
    send(window, qtbot, "Hi")
    assert window.engine.prompts[-1].template_name != ALIGNED_TEMPLATE_NAME
    assert not examples_file.exists()  # nothing read or made for a model that does not use it


def test_edit_examples_opens_the_users_file_made_from_the_default(
    fake_window: MainWindow, qtbot, examples_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    fake_window.sampling.edit_examples_button.click()
    assert [url.toLocalFile() for url in opened] == [str(examples_file)]
    assert examples_file.read_text(encoding="utf-8") == default_preamble().text


def test_edit_examples_without_an_editor_says_where_the_file_is(
    fake_window: MainWindow, qtbot, examples_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda _url: False)
    fake_window.sampling.edit_examples_button.click()
    assert fake_window.error_bar.isVisible()
    assert str(examples_file) in fake_window.error_bar.message


def test_an_edited_file_is_used_and_a_broken_one_is_said_in_the_window(
    fake_window: MainWindow, qtbot, examples_file: Path
) -> None:
    window = fake_window
    on_base(window, qtbot)
    window.sampling.aligned.click()
    examples_file.parent.mkdir(parents=True)
    examples_file.write_text("Be kind.\n\n# Query:\nHi\n\n# Answer:\nHello!\n", encoding="utf-8")
    send(window, qtbot, "Name a colour.")
    assert window.engine.prompts[-1].text == (
        "<bos>Be kind.\n\n# Query:\nHi\n\n# Answer:\nHello!\n\n"
        "# Query:\nName a colour.\n\n# Answer:\n"
    )
    examples_file.write_text("no examples at all", encoding="utf-8")
    window.new_chat()
    send(window, qtbot, "Name a colour.")
    assert window.engine.prompts[-1].text.startswith("<bos>" + default_preamble().text.strip())
    assert "needs example exchanges" in window.banner.text
    assert str(examples_file) in window.banner.text
