"""Export a chat from the window, as Markdown or JSON: the same files `duet chats export` writes."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from desktop.core.atomic_file import write_atomically
from desktop.core.chat.store import Store
from desktop.core.errors import DuetError

MARKDOWN = "Markdown (*.md)"
JSON = "JSON, to import again (*.json)"


def export_chat(parent: QWidget, store: Store, chat_id: int) -> str:
    """Ask where, then write the chat; returns what went wrong, or "" (also when cancelled)."""
    try:
        title = store.chat(chat_id).title
    except DuetError as exc:
        return str(exc)
    suggested = Path.home() / (_file_stem(title) + ".md")
    name, chosen = QFileDialog.getSaveFileName(
        parent, "Export the chat", str(suggested), f"{MARKDOWN};;{JSON}"
    )
    if not name:
        return ""
    path = Path(name)
    suffix = path.suffix.lower()
    # The name's own .md or .json decides; any other name is what the chosen filter says.
    as_json = suffix == ".json" or (suffix != ".md" and chosen == JSON)
    if as_json and suffix != ".json":
        path = path.with_name(path.name + ".json")
    elif not suffix:
        path = path.with_name(path.name + ".md")
    text = (
        json.dumps(store.export_json(chat_id), ensure_ascii=False, indent=2)
        if as_json
        else store.export_markdown(chat_id)
    )
    try:
        write_atomically(path, text, durable=True)  # a file the user asked for
    except OSError as exc:
        return f"Could not write {path}: {exc.strerror or exc}. Choose another folder."
    return ""


def _file_stem(title: str) -> str:
    """A chat title as a file name: no path separators or characters file systems refuse."""
    kept = "".join(c if c.isalnum() or c in " -_." else " " for c in title).strip(" .")
    return " ".join(kept.split())[:80] or "chat"
