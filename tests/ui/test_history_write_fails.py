"""The history cannot be written (a full disk): the notebook's autosave and closing the window
say so in the error bar and keep the text, instead of an sqlite3 traceback from a timer or a
close that stops half way. The full disk is real (tests/full_disk.py): SQLite's next write
fails as it would on a full disk."""

from __future__ import annotations

from desktop.ui.main_window import MainWindow
from tests.full_disk import full_disk


def test_the_notebook_saved_to_a_full_disk_says_so_and_keeps_the_text(
    fake_window: MainWindow, qtbot: object
) -> None:
    win = fake_window
    win.set_mode("raw")
    text = "A long draft. " * 75_000  # about 1 MB
    win.raw_view.set_text(text)
    with full_disk():
        win.save_document()  # what the autosave timer calls
        message = win.error_bar.message
    assert "Could not save to the history" in message and "space" in message
    assert win.raw_view.text == text  # nothing the user wrote is lost
    win.save_document()  # room again: the next save works
    assert win.document_id is not None and win.store.document(win.document_id) == text


def test_closing_with_a_full_disk_still_closes(fake_window: MainWindow, qtbot: object) -> None:
    win = fake_window
    win.set_mode("raw")
    win.raw_view.set_text("A long draft. " * 75_000)
    with full_disk():
        win.close()  # pytest-qt fails the test on an exception inside closeEvent
    assert not win.isVisible()
