"""Replacing a file in one step: readers see the old file or the new one, never half of either.

Every file Duet saves (settings, the server list, downloads to continue, checksums, exports)
goes through `write_atomically`. The text is written to a temporary file of its own beside the
target, then renamed over it:
- the temporary name is unique (O_EXCL), so two Duet processes saving at once never write into
  one temporary file, and the last rename wins with a whole file;
- a full disk or a crash mid-write leaves the old file whole, and the temporary file is removed;
- a target that is not a regular file (a pipe, a device, a folder) is refused: a rename would
  replace the device node, or a read of the pipe would wait forever.

A list that is read, changed and saved again (the registered models, the server list) is
changed under `locked`, a lock file beside it (`NAME.lock`, left in place as file locks are), so
that two processes changing it at once take turns and neither loses the other's change.

The standard library has the pieces and no one-call form; the `atomicwrites` package that had
one is archived, hence these few lines.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


class NotARegularFile(OSError):
    """The target exists and is a pipe, a device or a folder: Duet does not replace it."""


def write_atomically(path: Path, data: str | bytes, *, durable: bool = False) -> None:
    """Replace `path` with `data` (str as UTF-8) in one step. `durable` waits until the bytes
    are on the disk before the rename, for files the user asked to save. Raises OSError."""
    refuse_special(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        # 0o666 lets the umask set the mode, as for any other file the user saves.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb") as file:
            file.write(raw)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):  # the folder may be gone or unwritable too
            partial.unlink(missing_ok=True)
        raise


def refuse_special(path: Path) -> None:
    """Raise NotARegularFile when `path` exists and is not a regular file (links followed)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe or a device"
        raise NotARegularFile(0, f"not a regular file: it is {kind}", str(path))


@contextlib.contextmanager
def locked(path: Path, timeout: float = 10.0) -> Iterator[None]:
    """Hold `path`'s lock file (creating its folder) while the block reads, changes and saves
    it. Another process holding it for `timeout` seconds is a TimeoutError, an OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=timeout):
            yield
    except Timeout:
        raise TimeoutError(
            0, f"another Duet has been changing it for {timeout:.0f} s", str(path)
        ) from None
