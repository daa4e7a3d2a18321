"""The sha256 of a model file, recorded with every reply and export so the weights can be found
again: read from the file's name in the Hugging Face cache (the Hub names a blob by its sha256),
else computed once and remembered by path, size and modification time, never hashed twice."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from pathlib import Path

from desktop.core.atomic_file import write_atomically
from desktop.core.paths import app_dirs

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_REMEMBERED = 2000  # entries in checksums.json: a few hundred bytes each
MAX_FILE = 4 * 1024 * 1024  # a larger checksums.json is not Duet's: it is ignored, not read
_lock = threading.Lock()  # one writer at a time in this process; another process may rehash
_read: tuple[tuple[int, int], dict[str, str]] | None = None  # the file as last read, by its stat


def _remembered() -> Path:
    return app_dirs().data / "checksums.json"


def _key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _load() -> dict[str, str]:
    """The remembered checksums; read again only when the file changed (each reply asks)."""
    global _read
    try:
        stat = _remembered().stat()
        if stat.st_size > MAX_FILE:
            return {}
        if _read is not None and _read[0] == (stat.st_mtime_ns, stat.st_size):
            return dict(_read[1])
        data = json.loads(_remembered().read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return {}  # none yet, or damaged: files are hashed again, nothing else is lost
    if not isinstance(data, dict):
        return {}
    kept = {k: v for k, v in data.items() if isinstance(v, str) and _HEX64.fullmatch(v)}
    _read = ((stat.st_mtime_ns, stat.st_size), kept)
    return dict(kept)


def known_sha256(path: Path) -> str | None:
    """The sha256 if it costs no hashing: a Hub cache blob's name, or remembered. None else."""
    try:
        real = path.resolve()
        if real.parent.name == "blobs" and _HEX64.fullmatch(real.name):
            return real.name
        return _load().get(_key(path))
    except OSError:
        return None


def sha256_of(path: Path) -> str:
    """The file's sha256: known, or hashed now (seconds for a large file: never on the UI
    thread) and remembered. Raises OSError when the file cannot be read."""
    known = known_sha256(path)
    if known is not None:
        return known
    key = _key(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    sha = digest.hexdigest()
    with _lock:
        remembered = _load()
        remembered[key] = sha
        while len(remembered) > MAX_REMEMBERED:
            remembered.pop(next(iter(remembered)))  # the oldest first: dicts keep their order
        target = _remembered()
        with contextlib.suppress(OSError):  # a read-only home: hashed again next time
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, json.dumps(remembered))
    return sha
