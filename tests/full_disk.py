"""A real full disk for one test: a file size limit on this process, so that the next write
that would grow a file past it fails with EFBIG, as a write to a full disk fails with ENOSPC."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def full_disk(limit: int = 64 * 1024) -> Iterator[None]:
    """Files may not grow past `limit` bytes inside the block (pipes and sockets are not files)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a dead process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
