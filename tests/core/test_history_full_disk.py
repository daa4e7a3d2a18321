"""The history on a full disk: a write is a HistoryWriteFailed naming the file, the change is
rolled back whole, and the history works again once there is room."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat.store import Store
from desktop.core.errors import HistoryWriteFailed
from tests.full_disk import full_disk


def test_a_write_to_a_full_disk_is_a_plain_error_and_nothing_half_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "history.sqlite3")
    chat = store.create_chat("Before")
    with full_disk(), pytest.raises(HistoryWriteFailed) as failed:
        store.add_message(chat, None, "user", "x" * 1_000_000)
    assert failed.value.file == str(tmp_path / "history.sqlite3")
    assert "Free some disk space" in str(failed.value)
    assert store.path(chat) == []  # rolled back whole
    store.add_message(chat, None, "user", "room again")
    assert [m.content for m in store.path(chat)] == ["room again"]
    store.close()
