"""The status bar tells the truth: it does not stay on "Looking for models…" when a scan finds
the model in use, and its mode label agrees with the inspector for a model without a template."""

from __future__ import annotations

from desktop.core.chat.prompts import FALLBACK_NOTE
from tests.ui.conftest import wait_loaded


def test_a_scan_that_finds_the_same_model_leaves_its_status(fake_window, qtbot) -> None:
    window = fake_window
    loaded = window.status_model.text()
    assert loaded == "smollm2-135m-instruct · instruct"
    window.scan_models()  # as after a download, or a server added in the Models window
    qtbot.waitUntil(lambda: window.status_model.text() != "Looking for models…", timeout=15_000)
    assert window.status_model.text() == loaded


def test_a_base_model_in_chat_mode_is_labelled_as_the_fallback_it_uses(fake_window, qtbot) -> None:
    window = fake_window
    assert window.status_mode.text() == "chat template"
    window.select_model("gemma-3-270m")
    wait_loaded(qtbot, window)
    assert window.banner.text == FALLBACK_NOTE
    assert window.status_mode.text() == "chat: fallback transcript"
    window.set_mode("raw")
    assert window.status_mode.text() == "raw continuation"
