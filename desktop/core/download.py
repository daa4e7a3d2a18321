"""Downloads that survive anything: dropped connections, a closed app, a full disk, bad bytes.

huggingface_hub deletes its partial file when a download fails, so a stalled 4 GB download
starts again from zero. Duet keeps its own partial file in its data dir and continues it with
an HTTP Range request on the resolved URL: no byte is fetched twice, after a dropped connection
(automatically) or after Duet was closed (on the next request for the same file).

The Hub's answers are untrusted: its commit id must be 40 hex digits before it becomes a path.
The bytes are hashed as they arrive and checked against the sha256 the Hub publishes before the
file goes anywhere. Only then is it moved into the Hugging Face cache layout
(blobs/<sha256>, snapshots/<commit>/<file>, refs/<revision>), where huggingface_hub, llama.cpp's
`-hf` and other tools find it too, and where Duet's library already looks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

import httpx2
from filelock import FileLock, Timeout
from huggingface_hub import get_session
from huggingface_hub.file_download import are_symlinks_supported, repo_folder_name
from huggingface_hub.utils._headers import build_hf_headers

from desktop.core import fast_get
from desktop.core.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadCancelled,
    DownloadError,
    DownloadPaused,
)
from desktop.core.hub import _http_error, endpoint, file_metadata, is_safe_filename, require_online
from desktop.core.paths import app_dirs, hf_hub_cache

CHUNK = 1 << 20
_SPARE_BYTES = 64 * 1024 * 1024  # left free on the disk beyond the file itself
_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
_PROGRESS_EVERY = 0.1  # seconds
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done: int
    total: int
    rate: float  # bytes per second, smoothed
    resumed_from: int

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class Downloaded:
    path: Path
    repo_id: str
    filename: str
    size: int
    sha256: str | None
    fetched: int  # bytes transferred by this call (0 when the file was already there)
    already_cached: bool


class CancelToken:
    """Set from any thread; the download stops at the next chunk. Cancel deletes the partial
    file; pause (Duet closing) keeps it, so the next run continues from there."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.keep_partial = False

    def cancel(self) -> None:
        self._event.set()

    def pause(self) -> None:
        self.keep_partial = True
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


ProgressCallback = Callable[[DownloadProgress], None]


def cached_path(repo_id: str, filename: str, revision: str = "main") -> Path | None:
    """The file in the Hugging Face cache, if a finished copy is there for `revision`."""
    repo_dir = hf_hub_cache() / repo_folder_name(repo_id=repo_id, repo_type="model")
    if not is_safe_filename(revision) or not is_safe_filename(filename):
        return None
    ref = repo_dir / "refs" / revision
    commits = [ref.read_text(errors="replace").strip()] if ref.is_file() else []
    if not commits and _COMMIT.fullmatch(revision):
        commits = [revision]
    for commit in commits:
        if not _COMMIT.fullmatch(commit):  # a ref another tool damaged: not a path to follow
            continue
        path = repo_dir / "snapshots" / commit / filename
        if path.is_file():
            return path
    return None


def partial_dir() -> Path:
    return app_dirs().data / "downloads"


def download(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Downloaded:
    """Download one file into the Hugging Face cache, resuming and verifying. Returns where it is."""
    if not is_safe_filename(filename):
        raise DownloadError(
            f"Refusing the file name {filename!r}: it would be written outside the model folder."
        )
    if not is_safe_filename(revision):
        raise DownloadError(
            f"Refusing the revision {revision!r}: it would be written outside the model folder."
        )
    if found := cached_path(repo_id, filename, revision):
        size = found.stat().st_size
        return Downloaded(found, repo_id, filename, size, None, 0, already_cached=True)
    require_online()
    location, size, sha256, commit = file_metadata(repo_id, filename, revision)
    if commit is not None and not _COMMIT.fullmatch(commit):
        raise DownloadError(
            f"The Hub sent {commit[:80]!r} as the commit of {repo_id}, which is not a commit id "
            "(40 hex digits). Nothing was written; try again later."
        )
    key = sha256 or hashlib.sha256(f"{repo_id}/{commit}/{filename}".encode()).hexdigest()
    partial = (
        partial_dir() / f"{repo_folder_name(repo_id=repo_id, repo_type='model')}--{key}.partial"
    )
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(partial) + ".lock", timeout=0.5):
            transfer = _Transfer(partial, size, filename, progress, cancel)
            transfer.run(location, lambda: file_metadata(repo_id, filename, revision)[0])
            actual = transfer.hasher.hexdigest()
            if sha256 and actual != sha256:
                partial.unlink(missing_ok=True)
                raise ChecksumMismatch(
                    f"{filename} arrived corrupted (its sha256 is {actual[:12]}…, the Hub says "
                    f"{sha256[:12]}…). It was discarded; download it again."
                )
            path = _land_in_cache(partial, repo_id, filename, revision, commit, sha256 or actual)
    except Timeout:
        raise DownloadError(f"{filename} is already being downloaded by another Duet.") from None
    return Downloaded(
        path, repo_id, filename, size, sha256 or actual, transfer.fetched, already_cached=False
    )


class _Transfer:
    """Brings a partial file up to `size` bytes, hashing every byte once, resuming with Range
    after any dropped connection."""

    def __init__(
        self,
        partial: Path,
        size: int,
        filename: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.partial, self.size, self.filename = partial, size, filename
        self.progress, self.cancel = progress, cancel
        self.hasher = hashlib.sha256()
        self.fetched = 0
        self.meter = _RateMeter()
        # Receive buffers, reused in turn: one is filled while others wait to be hashed.
        self.ring = [memoryview(bytearray(CHUNK)) for _ in range(8)]
        if partial.exists() and partial.stat().st_size > size:  # not this file: start over
            partial.unlink()
        self.have = 0
        if partial.exists():  # left by an earlier run: hash what is there, once
            with partial.open("rb") as handle:
                while block := handle.read(CHUNK * 4):
                    self.hasher.update(block)
                    self.have += len(block)
        self.resumed_from = self.have

    def run(self, location: str, refresh: Callable[[], str]) -> None:
        _check_disk(self.partial.parent, self.size - self.have, self.filename)
        failures, refreshed = 0, False
        while self.have < self.size:
            self._check_cancel()
            try:
                status, got = self._get(location)
            except (
                httpx2.TransportError,
                httpx2.TimeoutException,
                _ConnectionBroke,
                OSError,
            ) as exc:
                if isinstance(exc, OSError) and getattr(exc, "filename", None) is not None:
                    raise DownloadError(
                        f"Cannot write {exc.filename}: {exc.strerror or exc}."
                    ) from None
                failures += 1
                if failures > len(_RETRY_DELAYS):
                    raise DownloadError(
                        f"The connection kept dropping while downloading {self.filename} "
                        f"({type(exc).__name__}). {self.have:,} of {self.size:,} bytes are kept: "
                        "run the same download again to continue."
                    ) from None
                time.sleep(_RETRY_DELAYS[failures - 1])
                continue
            if status in (403, 410) and not refreshed:
                # A signed CDN URL can expire while a download sits paused: ask the Hub again.
                location, refreshed = refresh(), True
            elif status >= 400 and status != 416:
                raise _http_error(status, f"downloading {self.filename}")
            if got:
                failures = 0
            elif status < 400:
                failures += 1  # an empty answer: count it like a dropped connection
                if failures > len(_RETRY_DELAYS):
                    raise DownloadError(
                        f"The server kept sending nothing for {self.filename}; try again later."
                    )
                time.sleep(_RETRY_DELAYS[failures - 1])
        if self.have != self.size:
            self.partial.unlink(missing_ok=True)
            raise DownloadError(
                f"{self.filename} came out at {self.have:,} bytes instead of {self.size:,}; it was discarded."
            )

    def _restart(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.hasher = hashlib.sha256()
        self.have = 0

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            if self.cancel.keep_partial:
                raise DownloadPaused(f"Download of {self.filename} paused; it continues next time.")
            self.partial.unlink(missing_ok=True)
            raise DownloadCancelled(f"Download of {self.filename} cancelled; nothing was kept.")

    def _get(self, location: str) -> tuple[int, int]:
        """One ranged GET from where the partial file ends. Returns (status, bytes received)."""
        headers = {"Range": f"bytes={self.have}-", "Accept-Encoding": "identity"}
        if _same_host(location, endpoint()):
            headers.update(build_hf_headers())  # the token goes to the Hub only, never to a CDN
        if fast_get.usable():
            with fast_get.get(
                location, headers, timeout=30, auth_host=urlparse(endpoint()).hostname
            ) as stream:
                if stream.length is not None or stream.status >= 300:
                    return self._receive(stream.status, _socket_chunks(stream, self.ring))
        with get_session().stream(
            "GET", location, headers=headers, follow_redirects=True, timeout=30
        ) as response:
            # Unsized reads hand over every byte as it arrives: a sized iterator would drop
            # its half-filled buffer when the connection breaks, and those bytes would be
            # fetched again.
            return self._receive(response.status_code, response.iter_raw())

    def _receive(self, status: int, chunks: Iterator[bytes | memoryview]) -> tuple[int, int]:
        if status == 416:  # the range is past the end: what we hold is not this file
            self._restart()
            return status, 0
        if status >= 400:
            return status, 0
        if status == 200 and self.have:
            self._restart()  # the server ignored Range and sends it all: start over
        got = 0
        hasher = _ParallelHash(self.hasher, queue_depth=len(self.ring) - 2)
        try:
            with self._open_partial() as out:
                for chunk in chunks:
                    self._check_cancel()
                    out.write(chunk)
                    hasher.update(chunk)
                    self.have += len(chunk)
                    self.fetched += len(chunk)
                    got += len(chunk)
                    if self.progress is not None and self.meter.due(self.have):
                        self._report()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(
                    f"The disk filled up while downloading {self.filename}. Free some space and "
                    "run the download again: it continues where it stopped."
                ) from None
            if getattr(exc, "filename", None) is not None:
                raise  # the partial file itself cannot be written: not a network problem
            raise _ConnectionBroke(str(exc)) from None
        finally:
            hasher.finish()
        if self.progress is not None:
            self._report()
        return status, got

    def _open_partial(self) -> BinaryIO:
        return self.partial.open("ab")

    def _report(self) -> None:
        assert self.progress is not None
        self.progress(
            DownloadProgress(
                self.filename, self.have, self.size, self.meter.rate, self.resumed_from
            )
        )


def _check_disk(folder: Path, needed: int, filename: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + _SPARE_BYTES:
        raise DiskFull(
            f"Not enough disk space for {filename}: it needs {needed / 1e9:.2f} GB more and "
            f"{free / 1e9:.2f} GB are free in {folder}. Free some space and try again."
        )


def _same_host(url: str, base: str) -> bool:
    a, b = urlparse(url), urlparse(base)
    return (a.hostname, a.port) == (b.hostname, b.port)


def _land_in_cache(
    partial: Path, repo_id: str, filename: str, revision: str, commit: str | None, blob_id: str
) -> Path:
    """Move a verified file into the Hugging Face cache layout, where every tool finds it."""
    repo_dir = hf_hub_cache() / repo_folder_name(repo_id=repo_id, repo_type="model")
    commit = commit or "0" * 40
    blob = repo_dir / "blobs" / blob_id
    target = repo_dir / "snapshots" / commit / filename
    blob.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(partial, blob)
    except OSError:  # another filesystem: copy, then remove
        shutil.move(str(partial), str(blob))
    if target.exists() or target.is_symlink():
        target.unlink()
    if are_symlinks_supported(str(repo_dir)):
        os.symlink(os.path.relpath(blob, target.parent), target)
    else:
        os.replace(blob, target)
    if revision != commit:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / revision).write_text(commit)
    return target


class _RateMeter:
    """Bytes per second, smoothed, and a throttle for progress callbacks."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last_time = self.started
        self.last_done = -1
        self.rate = 0.0

    def due(self, done: int) -> bool:
        now = time.perf_counter()
        if now - self.last_time < _PROGRESS_EVERY:
            return False
        if self.last_done >= 0:
            instant = (done - self.last_done) / (now - self.last_time)
            self.rate = instant if self.rate == 0 else 0.7 * self.rate + 0.3 * instant
        self.last_time, self.last_done = now, done
        return True


class _ConnectionBroke(Exception):
    """The connection failed mid-body (an OSError from the socket, not from the file)."""


def _socket_chunks(stream: fast_get.Stream, ring: list[memoryview]) -> Iterator[memoryview]:
    remaining, turn = stream.length, 0
    while remaining is None or remaining > 0:
        buffer = ring[turn % len(ring)]
        turn += 1
        n = stream.readinto(buffer if remaining is None else buffer[: min(len(buffer), remaining)])
        if n == 0:
            return
        if remaining is not None:
            remaining -= n
        yield buffer[:n]


class _ParallelHash:
    """sha256 on a second thread. hashlib releases the GIL while it hashes, so hashing overlaps
    receiving and writing: on a 2-core machine the download runs at the speed of the disk and
    the network instead of the speed of sha256. The queue is shorter than the buffer ring, so a
    buffer is never refilled before it was hashed."""

    def __init__(self, hasher: Any, queue_depth: int) -> None:
        self.hasher = hasher
        self.queue: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=queue_depth)
        self.thread = threading.Thread(target=self._run, name="duet-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            self.hasher.update(data)

    def update(self, data: bytes | memoryview) -> None:
        self.queue.put(data)

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()
