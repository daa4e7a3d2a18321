"""Two Duet processes on one DUET_HOME (the window and a `duet` command, or two windows): the
history opened by both at its first start or after an update, and settings saved by both while
a third reads them. Real processes, bounded in count and time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.core.chat import store as store_module
from desktop.core.chat.store import Store
from desktop.core.errors import DuetError
from desktop.core.settings import load_settings

OPEN_STORE = """
import sys, time
from pathlib import Path
from desktop.core.chat.store import Store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time() - 0.05))
while time.time() < start:  # all at the same instant: a staggered start hid the race
    pass
Store(Path(sys.argv[1]))
"""

SAVE_SETTINGS = """
import sys, time
from dataclasses import replace
from pathlib import Path
from desktop.core.settings import AppSettings, save_settings
path, until = Path(sys.argv[1]), float(sys.argv[2])
settings = replace(AppSettings(), system_prompt="x" * 100_000)
while time.time() < until:
    save_settings(settings, path)
"""


def _spawn(count: int, code: str, *args: object) -> list[subprocess.Popen[str]]:
    """`count` Duet processes running `code` with `args`, their stderr kept for the assertion."""
    argv = [sys.executable, "-c", code, *map(str, args)]
    return [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(count)]


def test_processes_opening_a_new_history_at_once_all_open_it(tmp_path: Path) -> None:
    """Each ran the schema script and the migrations on its own: the others failed with
    "table meta already exists" or "duplicate column name", and were told to move a good
    history aside."""
    for round_ in range(4):
        file = tmp_path / f"round{round_}" / "duet.sqlite3"
        start = time.time() + 1.5  # after every interpreter has started
        procs = _spawn(4, OPEN_STORE, file, start)
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, errors
        store = Store(file)
        assert store.schema_version() == 3
        store.create_chat("after")
        store.close()


def test_settings_saved_by_two_processes_are_always_whole(tmp_path: Path) -> None:
    """Both wrote through the same settings.tmp: a save failed with FileNotFoundError and a
    reader found half a file, so a window starting then fell back to the defaults."""
    path = tmp_path / "settings.json"
    until = time.time() + 3
    writers = _spawn(2, SAVE_SETTINGS, path, until)
    notes: list[str] = []
    while time.time() < until + 0.5 and any(w.poll() is None for w in writers):
        if path.exists():
            notes += load_settings(path)[1]
    errors = [w.communicate(timeout=30)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert notes == []
    assert load_settings(path)[0].system_prompt == "x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temporary files left


def test_a_history_opens_at_once_while_another_duet_is_writing(tmp_path: Path) -> None:
    """Opening took the write lock to look at the schema: while the window was saving, a `duet`
    command waited 10 s and then said the disk was full."""
    file = tmp_path / "duet.sqlite3"
    Store(file).close()
    writer = sqlite3.connect(file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO meta (key, value) VALUES ('busy', 'yes')")
    try:
        started = time.monotonic()
        store = Store(file)
        assert time.monotonic() - started < 2
        assert store.schema_version() == 3
        store.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_new_history_opens_once_the_duet_creating_it_lets_go(tmp_path: Path) -> None:
    """Switching a new history to WAL takes its write lock without SQLite's busy wait: a second
    Duet starting at the same instant as the first was told "database is locked" at once, and
    to move a history aside that was being created."""
    file = tmp_path / "duet.sqlite3"
    creator = sqlite3.connect(file, isolation_level=None, check_same_thread=False)  # rollback mode
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE first_write (x)")
    release = threading.Timer(0.5, lambda: creator.execute("COMMIT"))
    release.start()
    try:
        store = Store(file)
        assert store.schema_version() == 3
        store.close()
    finally:
        release.join()
        creator.close()


def test_a_history_held_too_long_says_so_and_not_to_move_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history another program kept locked was reported as unreadable, with advice to move
    it aside, which would have hidden every chat in it from the next start."""
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.5)
    file = tmp_path / "duet.sqlite3"
    holder = sqlite3.connect(file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE first_write (x)")
    try:
        with pytest.raises(DuetError) as raised:
            Store(file)
        assert "held by another program" in str(raised.value)
        assert "Move it aside" not in str(raised.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
