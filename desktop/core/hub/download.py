"""Downloads that survive anything: dropped connections, a closed app, a full disk, bad bytes.

huggingface_hub deletes its partial file when a download fails, so a stalled 4 GB download
starts again from zero. Duet keeps its own partial file in its data dir and continues it with
an HTTP Range request on the resolved URL: no byte is fetched twice, after a dropped connection
(automatically) or after Duet was closed (on the next request for the same file).

The bytes are hashed as they arrive and checked against the sha256 the Hub publishes before the
file goes anywhere; a file the Hub publishes no sha256 for is refused unless the caller accepts
it unverified. Only then is it moved into the Hugging Face cache layout
(blobs/<sha256>, snapshots/<commit>/<file>, refs/<revision>), where huggingface_hub, llama.cpp's
`-hf` and other tools find it too, and where Duet's library already looks.

Every answer is untrusted (see `fetch` for the HTTP rules): the commit id must be 40 hex digits
before it becomes a path; only a 200, or a 206 whose Content-Range starts where the partial file
ends, is written; every retry (a dropped connection, 416, 5xx, an empty or wrong answer) spends
one budget with backoff unless it brought new bytes, so a hostile server gets a few requests and
then a DownloadError. Cancel and pause take effect within a second in every state.
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

from filelock import FileLock, Timeout
from huggingface_hub.file_download import are_symlinks_supported, repo_folder_name
from huggingface_hub.utils._headers import build_hf_headers

from desktop.core.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadCancelled,
    DownloadError,
    DownloadPaused,
)
from desktop.core.hub import fetch
from desktop.core.hub.api import (
    _http_error,
    endpoint,
    file_metadata,
    is_safe_filename,
    require_online,
)
from desktop.core.paths import app_dirs, hf_hub_cache

CHUNK = 1 << 20
# Body reads go into a ring of buffers of this size. Measured on loopback, 256 or 512 KiB buffers
# ran twice as fast as 1 MiB ones: with those, the kernel spent the difference copying them into
# the page cache. A dropped connection also loses at most one buffer's worth.
_READ_SIZE = 256 * 1024
_RING = 8  # buffers: one being filled, the others written or waiting to be hashed
_SPARE_BYTES = 64 * 1024 * 1024  # left free on the disk beyond the file itself
# Waits before the retries that brought no new bytes; their number is the whole budget.
_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
# A retry after at least this many new bytes is free: a long download over a flaky line goes on,
# a server that drips a few bytes per answer does not.
_FREE_RETRY_AFTER = CHUNK
_TIMEOUT = 30.0  # seconds of silence before a request counts as failed
_PROGRESS_EVERY = 0.1  # seconds
_COMMIT = re.compile(r"[0-9a-f]{40}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


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
    """Set from any thread; the download stops within a second, whatever it is waiting for.
    Cancel deletes the partial file; pause (Duet closing) keeps it, so the next run continues
    from there. Waits that should end on cancel register an action with `on_cancel` (closing
    a socket) or sleep with `wait`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._actions: list[Callable[[], None]] = []
        self.keep_partial = False

    def cancel(self) -> None:
        self._set()

    def pause(self) -> None:
        self.keep_partial = True
        self._set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as the token is set."""
        return self._event.wait(seconds)

    def on_cancel(self, action: Callable[[], None]) -> Callable[[], None]:
        """Run `action` when the token is set (now, if it is); the result unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._actions.append(action)
                return lambda: self._forget(action)
        action()
        return lambda: None

    def _forget(self, action: Callable[[], None]) -> None:
        with self._lock:
            if action in self._actions:
                self._actions.remove(action)

    def _set(self) -> None:
        with self._lock:
            self._event.set()
            actions, self._actions = self._actions, []
        for action in actions:
            action()


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
    allow_unverified: bool = False,
) -> Downloaded:
    """Download one file into the Hugging Face cache, resuming and verifying. Returns where it is.

    A file the Hub publishes no sha256 for is refused with a DownloadError, before any byte is
    fetched, unless `allow_unverified` is set."""
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
    cancel = cancel if cancel is not None else CancelToken()

    def metadata() -> tuple[str, int, str | None, str | None]:
        require_online()
        return file_metadata(repo_id, filename, revision)

    location, size, sha256, commit = _before_transfer(metadata, cancel, filename)
    if commit is not None and not _COMMIT.fullmatch(commit):
        raise DownloadError(
            f"The Hub sent {commit[:80]!r} as the commit of {repo_id}, which is not a commit id "
            "(40 hex digits). Nothing was written; try again later."
        )
    if sha256 is None and not allow_unverified:
        raise DownloadError(
            f"The Hub publishes no sha256 for {filename}, so Duet cannot check the download. "
            f"If you trust {repo_id}, download it unverified with "
            f"`duet pull {repo_id}:{filename} --allow-unverified`."
        )
    key = sha256 or hashlib.sha256(f"{repo_id}/{commit}/{filename}".encode()).hexdigest()
    partial = (
        partial_dir() / f"{repo_folder_name(repo_id=repo_id, repo_type='model')}--{key}.partial"
    )
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(partial) + ".lock", timeout=0.5):
            transfer = _Transfer(partial, size, filename, progress, cancel)
            transfer.run(
                location,
                lambda: _before_transfer(metadata, cancel, filename)[0],
            )
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
    return Downloaded(path, repo_id, filename, size, sha256, transfer.fetched, already_cached=False)


def _before_transfer(
    work: Callable[[], tuple[str, int, str | None, str | None]],
    cancel: CancelToken,
    filename: str,
) -> tuple[str, int, str | None, str | None]:
    """The Hub's metadata, asked on a helper thread so that cancel need not wait for it."""
    try:
        return fetch.run_cancellable(work, cancel, lambda _result: None)
    except fetch.FetchCancelled:
        if cancel.keep_partial:
            raise DownloadPaused(
                f"Download of {filename} paused; it continues next time."
            ) from None
        raise DownloadCancelled(f"Download of {filename} cancelled before it started.") from None


class _Expired(Exception):
    """403 or 410 from the download URL: a signed CDN URL may have expired."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Transfer:
    """Brings a partial file up to `size` bytes, hashing every byte once, resuming with Range
    after any dropped connection."""

    def __init__(
        self,
        partial: Path,
        size: int,
        filename: str,
        progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> None:
        self.partial, self.size, self.filename = partial, size, filename
        self.progress, self.cancel = progress, cancel
        self.hasher = hashlib.sha256()
        self.fetched = 0
        self.meter = _RateMeter()
        # Receive buffers, reused in turn: one is filled while others wait to be hashed.
        self.ring = [memoryview(bytearray(_READ_SIZE)) for _ in range(_RING)]
        self.have = self.resumed_from = 0

    def _resume(self) -> None:
        """Hash what an earlier run left, once (cancel is heard between blocks)."""
        if self.partial.exists() and self.partial.stat().st_size > self.size:  # not this file
            self.partial.unlink()
        if self.partial.exists():
            with self.partial.open("rb") as handle:
                while not self.cancel.cancelled and (block := handle.read(CHUNK * 4)):
                    self.hasher.update(block)
                    self.have += len(block)
            self._check_cancel()  # the file is closed before a cancel deletes it
        self.resumed_from = self.have

    def run(self, location: str, refresh: Callable[[], str]) -> None:
        self._resume()
        _check_disk(self.partial.parent, self.size - self.have, self.filename)
        budget = _RetryBudget(self.filename, self.size, self.have)
        refreshed = False
        while self.have < self.size:
            self._check_cancel()
            try:
                reason = self._attempt(location)
            except _Expired as expired:
                if refreshed:
                    raise _http_error(expired.status, f"downloading {self.filename}") from None
                # A signed CDN URL can expire while a download sits paused: ask the Hub again.
                try:
                    location, refreshed = refresh(), True
                except DownloadCancelled:
                    self._check_cancel()  # a cancel deletes the partial file, a pause keeps it
                    raise
                continue
            self._check_cancel()
            if self.have < self.size:
                budget.retry(reason or "the answer ended early", self.have, self.cancel)

    def _attempt(self, location: str) -> str | None:
        """One ranged GET from where the partial file ends, its body written if it is the part
        asked for. Returns why it did not finish the file, or None."""
        hub_headers = build_hf_headers()
        token = {k: v for k, v in hub_headers.items() if k.lower() == "authorization"}
        headers = {k: v for k, v in hub_headers.items() if k.lower() != "authorization"}
        headers |= {"Range": f"bytes={self.have}-", "Accept-Encoding": "identity"}
        try:
            response = fetch.get(
                location,
                headers,
                hub=endpoint(),
                hub_headers=token,  # the token goes to the Hub only, never to a CDN
                cancel=self.cancel,
                timeout=_TIMEOUT,
            )
        except fetch.FetchCancelled:
            self._check_cancel()
            raise  # pragma: no cover - the token was set
        except fetch.FetchFailed as exc:
            return f"the request failed ({exc})"
        with response:
            status = response.status
            if status in (403, 410):
                raise _Expired(status)
            if 300 <= status < 400:
                return f"a redirect (HTTP {status}) without a Location"
            if status == 416:
                return f"HTTP 416: the server says the file ends before byte {self.have:,}"
            if status >= 500:
                return f"HTTP {status} from the server"
            if status >= 400:
                raise _http_error(status, f"downloading {self.filename}")
            if status not in (200, 206):
                return f"HTTP {status} instead of the file"
            expected = self._expected_length(response)
            if isinstance(expected, str):
                return expected
            if status == 200 and self.have:
                self._restart()  # the server ignored Range and sends it all: start over
            return self._receive(response, expected)

    def _expected_length(self, response: fetch.Response) -> int | str:
        """How many body bytes this answer must bring, or why it is not the part asked for."""
        if response.status == 206:
            match = _CONTENT_RANGE.fullmatch((response.header("content-range") or "").strip())
            if match is None:
                return "a 206 answer without a valid Content-Range"
            first, last, total = int(match[1]), int(match[2]), match[3]
            if first != self.have or last < first or last >= self.size:
                return f"a 206 answer for bytes {first:,}-{last:,} when {self.have:,}- was asked"
            if total != "*" and int(total) != self.size:
                return f"a 206 answer for a file of {int(total):,} bytes, not {self.size:,}"
            expected = last - first + 1
        else:
            expected = self.size
        length = response.header("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) != expected):
            return f"an answer with Content-Length {length[:40]!r} when {expected:,} was due"
        return expected

    def _restart(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.hasher = hashlib.sha256()
        self.have = 0

    def _check_cancel(self) -> None:
        if self.cancel.cancelled:
            if self.cancel.keep_partial:
                raise DownloadPaused(f"Download of {self.filename} paused; it continues next time.")
            self.partial.unlink(missing_ok=True)
            raise DownloadCancelled(f"Download of {self.filename} cancelled; nothing was kept.")

    def _receive(self, response: fetch.Response, expected: int) -> str | None:
        got, reason = 0, None
        hasher = _ParallelHash(self.hasher, queue_depth=len(self.ring) - 2)
        try:
            with self._open_partial() as out:
                for chunk in _body_chunks(response, self.ring, expected):
                    out.write(chunk)  # first: a pause keeps every byte received
                    hasher.update(chunk)
                    self.have += len(chunk)
                    self.fetched += len(chunk)
                    got += len(chunk)
                    if self.progress is not None and self.meter.due(self.have):
                        self._report()
                    if self.cancel.cancelled:
                        break  # the file is closed before a cancel deletes it
        except fetch.FetchFailed as exc:
            reason = f"the connection dropped ({exc})"
        except OSError as exc:  # the partial file: the network's errors are FetchFailed
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(
                    f"The disk filled up while downloading {self.filename}. Free some space and "
                    "run the download again: it continues where it stopped."
                ) from None
            raise DownloadError(
                f"Cannot write {exc.filename or self.partial}: {exc.strerror or exc}."
            ) from None
        finally:
            hasher.finish()
        self._check_cancel()
        if self.progress is not None:
            self._report()
        if reason is None and got == 0:
            reason = "an empty answer"
        return reason

    def _open_partial(self) -> BinaryIO:
        return self.partial.open("ab")

    def _report(self) -> None:
        assert self.progress is not None
        self.progress(
            DownloadProgress(
                self.filename, self.have, self.size, self.meter.rate, self.resumed_from
            )
        )


class _RetryBudget:
    """One budget for every kind of retry. A retry after at least a megabyte of new bytes is
    free and immediate; any other waits with backoff and spends one unit; when the budget is
    spent, the download ends with a DownloadError that says what the server last did."""

    def __init__(self, filename: str, size: int, have: int) -> None:
        self.filename, self.size = filename, size
        self.best = have  # the furthest the partial file has reached
        self.spent = 0

    def retry(self, reason: str, have: int, cancel: CancelToken) -> None:
        if have >= self.best + _FREE_RETRY_AFTER:
            self.best, self.spent = have, 0
            return
        self.best = max(self.best, have)
        if self.spent >= len(_RETRY_DELAYS):
            raise DownloadError(
                f"The download of {self.filename} kept failing ({reason}). {have:,} of "
                f"{self.size:,} bytes are kept: run the same download again later to continue."
            )
        cancel.wait(_RETRY_DELAYS[self.spent])
        self.spent += 1


def _check_disk(folder: Path, needed: int, filename: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + _SPARE_BYTES:
        raise DiskFull(
            f"Not enough disk space for {filename}: it needs {needed / 1e9:.2f} GB more and "
            f"{free / 1e9:.2f} GB are free in {folder}. Free some space and try again."
        )


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


def _body_chunks(
    response: fetch.Response, ring: list[memoryview], length: int
) -> Iterator[memoryview]:
    """At most `length` body bytes, read into the ring's buffers in turn: every byte is handed
    over as soon as a buffer holds it, and no more than was asked for is ever read."""
    remaining, turn = length, 0
    while remaining > 0:
        buffer = ring[turn % len(ring)]
        turn += 1
        n = response.readinto(buffer[: min(len(buffer), remaining)])
        if n == 0:
            return
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
