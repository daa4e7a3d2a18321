"""Downloads as plain data: what to fetch (a PullTarget), and the list of downloads that were
under way when Duet closed. Nothing here touches the network, so the window can read it at
start without importing the Hub client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from desktop.core.atomic_file import write_atomically
from desktop.core.paths import app_dirs


@dataclass(frozen=True)
class PullTarget:
    repo_id: str
    parts: tuple[str, ...]
    size: int
    quant: str

    @property
    def filename(self) -> str:
        return self.parts[0]


def pending_path() -> Path:
    return app_dirs().data / "downloads" / "pending.json"


def save_pending(targets: list[PullTarget]) -> None:
    """Downloads that were under way when Duet closed, to continue at the next start."""
    path = pending_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [
        {"repo_id": t.repo_id, "parts": list(t.parts), "size": t.size, "quant": t.quant}
        for t in targets
    ]
    write_atomically(path, json.dumps(data, indent=2))


def load_pending() -> list[PullTarget]:
    try:
        data = json.loads(pending_path().read_text(encoding="utf-8"))
        return [
            PullTarget(d["repo_id"], tuple(d["parts"]), int(d["size"]), str(d["quant"]))
            for d in data
        ]
    except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
        return []  # read as the window opens: a damaged list is no list, never a failed start
