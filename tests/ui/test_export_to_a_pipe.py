"""The window's chat export given a pipe or a folder as its file: a plain message, and the pipe
is still a pipe (the export renamed its file over it, and a reader of the pipe waited forever)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QWidget

from desktop.core.chat.store import Store
from desktop.ui.chat_files import MARKDOWN, export_chat


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_chat_exported_over_a_pipe_or_folder_is_a_message(
    qtbot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    store = Store(tmp_path / "history.sqlite3")
    chat_id = store.create_chat("Hello")
    target = tmp_path / "chat.md"
    if kind == "pipe":
        os.mkfifo(target)
    else:
        target.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), MARKDOWN))
    parent = QWidget()
    message = export_chat(parent, store, chat_id)
    assert message.startswith(f"Could not write {target}")
    assert ("a pipe or a device" if kind == "pipe" else "a folder") in message
    assert target.is_fifo() if kind == "pipe" else target.is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    store.close()
