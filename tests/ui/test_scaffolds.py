"""Scaffolds in the raw notebook and the stop strings in the Sampling panel."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLineEdit

from desktop.core.chat.scaffolds import scaffold_named


def _insert(win: object, name: str) -> None:
    win.raw_view.insert_scaffold(scaffold_named(name))  # type: ignore[attr-defined]


def _open_at(win: object, text: str, cursor_at: int | None = None) -> None:
    """The notebook shows `text`, the cursor at `cursor_at` (None: the end)."""
    win.set_mode("raw")  # type: ignore[attr-defined]
    win.raw_view.open_document(text, None)  # type: ignore[attr-defined]
    cursor = win.raw_view.editor.textCursor()  # type: ignore[attr-defined]
    cursor.setPosition(len(text) if cursor_at is None else cursor_at)
    win.raw_view.editor.setTextCursor(cursor)  # type: ignore[attr-defined]


@pytest.mark.parametrize("existing", ["My notes", "My notes\n", "My notes\n\n"])
def test_a_scaffold_after_text_is_set_apart_by_one_blank_line(
    fake_window: object, existing: str
) -> None:
    win = fake_window
    _open_at(win, existing)
    _insert(win, "Document opening")
    text = win.raw_view.text  # type: ignore[attr-defined]
    assert text.startswith("My notes\n\n# A Beginner's Guide")


def test_a_scaffold_in_the_middle_keeps_a_blank_line_on_both_sides(fake_window: object) -> None:
    win = fake_window
    _open_at(win, "Before.After.", len("Before."))
    _insert(win, "Few-shot Q/A")
    text = win.raw_view.text  # type: ignore[attr-defined]
    assert text.startswith("Before.\n\nQ: What is the capital of Italy?")
    assert text.endswith("A:\n\nAfter.")


def test_a_scaffold_is_one_undo_step(fake_window: object) -> None:
    win = fake_window
    _open_at(win, "Draft")
    _insert(win, "Few-shot Q/A")
    win.raw_view.editor.undo()  # type: ignore[attr-defined]
    assert win.raw_view.text == "Draft"  # type: ignore[attr-defined]


def test_the_few_shot_scaffold_sets_its_stop_string_in_the_sampling_panel(
    fake_window: object,
) -> None:
    win = fake_window
    win.set_mode("raw")  # type: ignore[attr-defined]
    _insert(win, "Few-shot Q/A")
    assert "\nQ:" in win.settings.sampling.stop  # type: ignore[attr-defined]
    assert win.sampling.stops.text() == r"\nQ:"  # type: ignore[attr-defined]
    _insert(win, "Few-shot Q/A")  # twice: still once
    assert win.settings.sampling.stop.count("\nQ:") == 1  # type: ignore[attr-defined]


def test_stop_strings_typed_in_the_panel_end_a_reply_and_show_in_the_inspector(
    fake_window: object, qtbot: object
) -> None:
    win = fake_window
    field = win.sampling.findChild(QLineEdit, "stop-strings")  # type: ignore[attr-defined]
    assert field is not None and field.accessibleName() == "stop strings"
    assert "\\n" in field.toolTip()
    field.setText("brown")
    field.editingFinished.emit()
    assert win.settings.sampling.stop == ("brown",)  # type: ignore[attr-defined]
    win.fake_engines.replies = ["The quick brown fox jumps"]  # type: ignore[attr-defined]
    win.set_mode("chat")  # type: ignore[attr-defined]
    win.send_chat("Tell me")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not win.busy and len(win.conversation.messages) == 2, timeout=10_000)  # type: ignore[attr-defined]
    assert win.conversation.messages[-1].content.strip() == "The quick"  # type: ignore[attr-defined]
    assert "brown" in win.inspector.summary.text()  # type: ignore[attr-defined]


def test_a_bad_stop_list_is_refused_where_it_is_typed(fake_window: object) -> None:
    win = fake_window
    field = win.sampling.findChild(QLineEdit, "stop-strings")  # type: ignore[attr-defined]
    field.setText(", ".join(f"s{i}" for i in range(40)))
    field.editingFinished.emit()
    assert win.settings.sampling.stop == ()  # type: ignore[attr-defined]
    assert "at most" in win.sampling.stop_note.text()  # type: ignore[attr-defined]
    assert win.sampling.stop_note.isVisible()  # type: ignore[attr-defined]


def test_a_scaffold_with_no_room_for_its_stop_says_so(fake_window: object) -> None:
    win = fake_window
    field = win.sampling.findChild(QLineEdit, "stop-strings")  # type: ignore[attr-defined]
    field.setText(", ".join(f"s{i}" for i in range(16)))
    field.editingFinished.emit()
    assert len(win.settings.sampling.stop) == 16  # type: ignore[attr-defined]
    win.set_mode("raw")  # type: ignore[attr-defined]
    _insert(win, "Few-shot Q/A")
    assert win.sampling.stop_note.isVisible()  # type: ignore[attr-defined]
    assert "\\nQ:" in win.sampling.stop_note.text()  # type: ignore[attr-defined]


def test_no_scaffold_goes_in_while_the_model_writes(fake_window: object, qtbot: object) -> None:
    win = fake_window
    win.engine.token_delay = 0.1  # type: ignore[attr-defined]
    win.set_mode("raw")  # type: ignore[attr-defined]
    win.raw_view.open_document("Once upon a time", None)  # type: ignore[attr-defined]
    win.continue_raw()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: win.busy, timeout=5000)  # type: ignore[attr-defined]
    assert not win.raw_view.scaffolds.isEnabled()  # type: ignore[attr-defined]
    win.stop()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not win.busy, timeout=5000)  # type: ignore[attr-defined]
    assert win.raw_view.scaffolds.isEnabled()  # type: ignore[attr-defined]
