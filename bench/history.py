"""History at scale: open a chat of 10,000 messages, and fill the sidebar with 5,000 chats, in
the real window (medians of several rounds, memory reported).

    python -m bench.history [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["DUET_HOME"] = tempfile.mkdtemp(prefix="duet-bench-history-")

from bench.common import median, memory_mb
from desktop.core.chat.store import MessageMeta, Store

TEXT = "A line of conversation about lighthouses, tides and the keepers who watch them. " * 3


def populate(store: Store) -> int:
    big = store.create_chat("Ten thousand messages")
    parent = None
    with store._tx() as db:  # one transaction: this is set-up, not what is measured
        for i in range(10_000):
            role = "user" if i % 2 == 0 else "assistant"
            meta = (
                MessageMeta(model_id="smollm2-135m-instruct", seed=i).to_json()
                if role == "assistant"
                else "{}"
            )
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created, complete, meta) VALUES (?, ?, ?, ?, ?, 1, ?)",
                (big, parent, role, f"{i}: {TEXT}", 1000.0 + i, meta),
            )
            parent = cursor.lastrowid
        db.execute("UPDATE chats SET active_leaf = ?, updated = ? WHERE id = ?", (parent, 1.0, big))
        for c in range(4_999):
            chat = db.execute(
                "INSERT INTO chats (title, created, updated, kind, system) VALUES (?, ?, ?, 'chat', '')",
                (f"Chat number {c}", 2000.0 + c, 2000.0 + c),
            ).lastrowid
            first = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created) VALUES (?, NULL, 'user', ?, ?)",
                (chat, f"Question {c}", 2000.0 + c),
            ).lastrowid
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (first, chat))
    return big


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    store = Store(Path(os.environ["DUET_HOME"]) / "data" / "duet.sqlite3")
    big = populate(store)
    store.close()

    from desktop.core.settings import AppSettings, save_settings
    from desktop.ui.app import make_app

    save_settings(AppSettings(welcomed=True))  # the chat is shown, not the welcome page
    app = make_app()
    from desktop.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()
    before = memory_mb(os.getpid())
    open_times, sidebar_times = [], []
    for _ in range(args.rounds + 1):
        window.new()
        app.processEvents()
        started = time.perf_counter()
        window.open_history(big, "chat")
        app.processEvents()  # laid out and painted
        open_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        window.sidebar.refresh()
        app.processEvents()
        sidebar_times.append(time.perf_counter() - started)
    after = memory_mb(os.getpid())
    assert len(window.conversation.messages) == 10_000 and window.sidebar.list.count() == 5_000
    window.close()
    print(f"\nhistory in the window, {args.rounds} rounds (after one warm-up), medians:")
    print(
        f"  open a chat of 10,000 messages   {median(open_times[1:]) * 1000:7.1f} ms  (the last {window.chat_view.SHOWN} shown, the rest on request)"
    )
    print(f"  sidebar with 5,000 chats         {median(sidebar_times[1:]) * 1000:7.1f} ms")
    print(f"  window process memory            {before:7.0f} MB before, {after:.0f} MB after")


if __name__ == "__main__":
    main()
